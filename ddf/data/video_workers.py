"""Worker processes that turn videos into examples (decode + face detection) for the builders."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os

from ddf.data import ffpp_examples


class VideoWorkers:
  """Worker processes for decode + face detection, started once and shared by all splits.

  CPU detection: `num_workers` spawned processes (0 = all cores), one thread each. Detection on
  an accelerator: this process alone, one video's frames per detector batch.
  """

  def __init__(self, num_workers: int, on_accelerator: bool):
    self._workers = 1 if on_accelerator else (num_workers or os.cpu_count() or 1)
    self._pool: concurrent.futures.ProcessPoolExecutor | None = None

  def map(self, entries, options: ffpp_examples.ExampleOptions, targets):
    """Yields an ExampleResult per entry (in order); `targets` are the fakes' target tracks."""
    if self._workers <= 1 or len(entries) <= 1:
      for entry, target in zip(entries, targets, strict=True):
        yield ffpp_examples.make_example(entry, options, target)
      return
    if self._pool is None:
      self._pool = concurrent.futures.ProcessPoolExecutor(
        self._workers,
        mp_context=multiprocessing.get_context("spawn"),  # JAX is not fork-safe.
        initializer=ffpp_examples.init_worker,
        initargs=(options,),
      )
    yield from self._pool.map(
      ffpp_examples.make_example, entries, [options] * len(entries), targets, chunksize=2
    )

  def close(self) -> None:
    if self._pool is not None:
      self._pool.shutdown(cancel_futures=True)
      self._pool = None
