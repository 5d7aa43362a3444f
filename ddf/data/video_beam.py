"""The Apache Beam pipeline every video builder generates its examples with.

One element per video: decode, detect and align in a worker (`MakeExamples`; the face pipeline
is set up once per worker in `DoFn.setup`), one example per built video. With
`videos_per_batch` > 1 an element of the reals' step is a fixed group of that many videos, whose
faces are detected in shared batches (`MakeExampleGroups`; for an accelerator worker). Per
split, the reals run first and their face tracks become a side input of the fakes' step, so a
fake is cropped with its target's track on any runner. Every video, built or skipped, also yields a small JSON
record (`video_report.result_record`) written as text shards under `REPORT_PARTS` in the
dataset's folder; the builder sums them into `build_report.json` once the pipeline has run.

A build that fails or is preempted leaves every finished video in a `ResultCache` beside the
dataset's folder (TFDS itself discards an unfinished build); the rerun takes those from it and
makes only the others. A build that completes removes the cache.

Where it runs (`pipeline_options`): without options, on this machine with Beam's DirectRunner,
in this process for one worker or in `multi_processing` mode for more; with
`--beam_pipeline_options` (the `tfds build` flag, or `python -m ddf.data.build`), on whatever
runner they name (Flink, Spark, Dataflow; README "Building on a cluster"). The videos may be in
a bucket (`gs://`, `s3://`; `ddf.data.storage`); an output in a bucket is untested (README).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import uuid
from collections.abc import Sequence
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from ddf.data import ffpp_examples, storage, video_report
from ddf.data.ffpp_layout import VideoEntry

REPORT_PARTS = "build_report_parts"  # folder of per-video report records (removed when summed).
CACHE_SUFFIX = (
  "unfinished_videos"  # `<version>.unfinished_videos/`: a ResultCache beside the dataset.
)
_REPORT, _TRACK = "report", "track"


def local_workers(num_workers: int, on_accelerator: bool) -> int:
  """Worker processes of a local build: 1 when detecting on the accelerator (this process owns
  it), else `num_workers` (0 = every core)."""
  return 1 if on_accelerator else (num_workers or os.cpu_count() or 1)


def pipeline_options(
  flags: str | Sequence[str] | None, num_workers: int, on_accelerator: bool
) -> PipelineOptions:
  """The pipeline options of a build.

  `flags`: Beam pipeline options, `--runner=FlinkRunner,--flink_master=h:8081,...` style (commas
  between options, leading dashes optional, as `tfds build --beam_pipeline_options` takes them),
  or None for a local build on `local_workers(num_workers, on_accelerator)` processes.
  """
  if isinstance(flags, str):
    flags = [f for f in flags.split(",") if f.strip()]
  if flags:
    return PipelineOptions([f if f.startswith("--") else f"--{f}" for f in flags])
  workers = local_workers(num_workers, on_accelerator)
  options = PipelineOptions([])  # not sys.argv (the build command's own flags)
  options.view_as(StandardOptions).runner = "DirectRunner"
  direct = options.view_as(DirectOptions)
  direct.direct_num_workers = workers
  direct.direct_running_mode = "in_memory" if workers == 1 else "multi_processing"
  return options


def describe(options: PipelineOptions) -> tuple[str, str]:
  """(runner, workers) of a build's options, in words, for the log and the report."""
  runner = options.view_as(StandardOptions).runner or "DirectRunner"
  if runner.endswith("DirectRunner"):
    direct = options.view_as(DirectOptions)
    workers = max(1, direct.direct_num_workers or 1)
    mode = direct.direct_running_mode
    where = "this process" if mode == "in_memory" else f"{mode}, {workers} processes"
    return runner, f"{workers} ({where})"
  all_options = options.get_all_options(drop_default=True)
  counts = [f"{k}={all_options[k]}" for k in ("num_workers", "max_num_workers") if k in all_options]
  return runner, ", ".join(counts) or "as the runner decides"


def runs_in_this_process(options: PipelineOptions) -> bool:
  """True when the examples are made in the process that builds (DirectRunner in memory)."""
  runner = options.view_as(StandardOptions).runner or "DirectRunner"
  return runner.endswith("DirectRunner") and (
    options.view_as(DirectOptions).direct_running_mode == "in_memory"
  )


class ResultCache:
  """Each video's outcome (`ExampleResult`, pickled), kept while a build runs, so that a rerun
  after a failure or preemption makes only the videos that were not finished.

  One file per video, named by a digest of the video file (path, size, modification time),
  the example options and, for a fake, its target's track: a changed file or option is made
  again. Files are written whole (to a temporary name, then renamed).
  """

  def __init__(self, root: str | os.PathLike):
    self.root = storage.as_path(root)

  def digest(
    self,
    entry: VideoEntry,
    options: ffpp_examples.ExampleOptions,
    target: ffpp_examples.TargetTrack | None,
  ) -> str:
    size, mtime = storage.size_and_mtime(entry.path)
    h = hashlib.sha256(
      repr((entry.key, str(entry.path), size, mtime, dataclasses.astuple(options))).encode()
    )
    if target is not None:
      h.update(repr(target.total_frames).encode())
      h.update(target.landmarks.tobytes() + target.face_found.tobytes())
    return h.hexdigest()[:40]

  def get(self, digest: str) -> ffpp_examples.ExampleResult | None:
    path = self.root / f"{digest}.pkl"
    try:
      return pickle.loads(path.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError):
      return None  # not there, or unreadable: made again

  def put(self, digest: str, result: ffpp_examples.ExampleResult) -> None:
    self.root.mkdir(parents=True, exist_ok=True)
    tmp = self.root / f".{digest}.{uuid.uuid4().hex}.tmp"
    tmp.write_bytes(pickle.dumps(result))
    tmp.replace(self.root / f"{digest}.pkl")


class MakeExamples(beam.DoFn):
  """VideoEntry -> (key, example) for a built video; a report record (tagged `report`) for
  every video; a real's face track (tagged `track`, (video_id, TargetTrack)) for its fakes.
  Outcomes are kept in (and taken from) the build's `ResultCache` at `cache_dir`."""

  def __init__(
    self,
    split: str,
    options: ffpp_examples.ExampleOptions,
    worker_process: bool,
    cache_dir: str,
  ):
    self._split = split
    self._options = options
    self._worker_process = worker_process
    self._cache_dir = cache_dir

  def setup(self):
    ffpp_examples.init_worker(self._options, worker_process=self._worker_process)
    self._cache = ResultCache(self._cache_dir)

  def process(self, entry: VideoEntry, tracks: dict[str, Any] | None = None):
    target = (tracks or {}).get(entry.target_id) if entry.label == 1 else None
    digest = self._cache.digest(entry, self._options, target)
    result = self._cache.get(digest)
    reused = result is not None
    if result is None:
      result = ffpp_examples.make_example(entry, self._options, target)
      self._cache.put(digest, result)
    yield from self._outputs(entry, result, reused)

  def _outputs(self, entry: VideoEntry, result: ffpp_examples.ExampleResult, reused: bool):
    """The report record, a real's track and the example of one video's outcome."""
    built = result.example is not None
    beam.metrics.Metrics.counter(self._split, "built" if built else "skipped").inc()
    record = video_report.result_record(self._split, result, reused=reused)
    yield beam.pvalue.TaggedOutput(_REPORT, json.dumps(record))
    if not built:
      return
    if result.track is not None:
      yield beam.pvalue.TaggedOutput(_TRACK, (entry.video_id, result.track))
    yield result.key, result.example


class MakeExampleGroups(MakeExamples):
  """A group of real videos (a tuple of `VideoEntry`) -> the outputs `MakeExamples` gives for
  each, the faces of the group's unfinished videos detected in shared batches
  (`ffpp_examples.make_examples`)."""

  def process(self, group: tuple[VideoEntry, ...]):
    digests = [self._cache.digest(entry, self._options, None) for entry in group]
    results = [self._cache.get(d) for d in digests]
    todo = [i for i, r in enumerate(results) if r is None]
    made = ffpp_examples.make_examples([group[i] for i in todo], self._options) if todo else []
    for i, result in zip(todo, made, strict=True):
      self._cache.put(digests[i], result)
      results[i] = result
    for i, result in enumerate(results):
      yield from self._outputs(group[i], result, reused=i not in todo)


def video_groups(entries: Sequence[VideoEntry], size: int) -> list[tuple[VideoEntry, ...]]:
  """Consecutive groups of `size` videos (the last may be shorter), the same on every runner and
  worker count, so a build's detector batches, and so its bytes, do not depend on them."""
  return [tuple(entries[i : i + size]) for i in range(0, len(entries), size)]


def generate_split(
  split: str,
  entries: list[VideoEntry],
  options: ffpp_examples.ExampleOptions,
  report_dir: str,
  worker_process: bool,
  cache_dir: str,
) -> beam.PTransform:
  """The PTransform a builder's `_generate_examples` returns for one split: pipeline ->
  PCollection of (key, example); report records go to `report_dir/<split>-*.jsonl`, finished
  videos to the `ResultCache` at `cache_dir`."""
  reals = [e for e in entries if e.label == 0]
  fakes = [e for e in entries if e.label == 1]

  group = options.videos_per_batch
  if group < 1:
    raise ValueError(f"videos_per_batch must be >= 1, got {group}")

  @beam.ptransform_fn
  def _generate(root):
    def make(name, videos, maker, **side):
      return (
        root
        | f"List {name}" >> beam.Create(videos)
        | f"Spread {name}" >> beam.Reshuffle()  # over the workers, not one bundle
        | f"Build {name}"
        >> beam.ParDo(maker(split, options, worker_process, cache_dir), **side).with_outputs(
          _REPORT, _TRACK, main="examples"
        )
      )

    if group > 1:  # the reals' faces are detected; a fake mostly takes its target's track
      made_reals = make("reals", video_groups(reals, group), MakeExampleGroups)
    else:
      made_reals = make("reals", reals, MakeExamples)
    made_fakes = make("fakes", fakes, MakeExamples, tracks=beam.pvalue.AsDict(made_reals[_TRACK]))
    _ = (
      (made_reals[_REPORT], made_fakes[_REPORT])
      | "Report records" >> beam.Flatten()
      | "Write report"
      >> beam.io.WriteToText(os.path.join(report_dir, split), file_name_suffix=".jsonl")
    )
    return (made_reals.examples, made_fakes.examples) | "Examples" >> beam.Flatten()

  return _generate()
