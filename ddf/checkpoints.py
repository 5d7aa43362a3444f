"""A run's checkpoints: the latest N (to resume, with the data iterator) and the best on val.

  with Checkpoints(workdir, max_to_keep=3) as checkpoints:      # training
    state = checkpoints.restore_latest(abstract_state(state, shardings), data_iter) or state
    ...
    checkpoints.save(step, state, data_iter)
    checkpoints.save_best(step, state, val_score)
    if checkpoints.reached_preemption(step): ...
  with Checkpoints(workdir) as checkpoints:                     # evaluate / predict
    state, step = checkpoints.restore_best(abstract_state(state, shardings))

Layout: `WORKDIR/checkpoints/<step>/{state,data_iter}` (orbax, async saves) and
`WORKDIR/best_checkpoint/<step>/state` (the step with the highest val score). Leaving the `with`
block waits for pending saves and closes the managers, on every exit path.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp
from grain import checkpoint as grain_checkpoint

LATEST = "checkpoints"
BEST = "best_checkpoint"


def abstract_state(state: Any, shardings: Any) -> Any:
  """The shapes, dtypes and shardings of `state`: what a restore fills in."""
  return jax.tree.map(
    lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), state, shardings
  )


def exists(workdir: str | Path) -> bool:
  """Whether `workdir` holds checkpoints of a run."""
  workdir = Path(workdir).expanduser()
  return (workdir / BEST).exists() or (workdir / LATEST).exists()


class Checkpoints:
  """Latest-N checkpoints with the data iterator, the best-on-val one, and preemption.

  With `catch_sigterm` (training), SIGTERM (or, with several processes, a pod's preemption
  notice) makes `reached_preemption` true at the next step, so the caller saves and exits
  cleanly; the previous SIGTERM handler is back after `close`.
  """

  def __init__(self, workdir: str | Path, max_to_keep: int = 3, catch_sigterm: bool = False):
    workdir = Path(workdir).expanduser().absolute()
    # Both managers may save the same step; on several hosts their async-save barriers need
    # distinct names (orbax keys them by step otherwise).
    self.latest = ocp.CheckpointManager(
      workdir / LATEST,
      options=ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep,
        create=True,
        multiprocessing_options=ocp.options.MultiprocessingOptions(
          barrier_sync_key_prefix="latest"
        ),
      ),
      item_names=("state", "data_iter"),
    )
    self.best = ocp.CheckpointManager(
      workdir / BEST,
      options=ocp.CheckpointManagerOptions(
        max_to_keep=1,
        best_fn=lambda m: m["score"],
        best_mode="max",
        create=True,
        multiprocessing_options=ocp.options.MultiprocessingOptions(barrier_sync_key_prefix="best"),
      ),
      item_names=("state",),
    )
    self._sigterm = False
    self._previous_handler = None
    if catch_sigterm:
      try:
        self._previous_handler = signal.signal(signal.SIGTERM, self._on_sigterm)
      except ValueError:  # not the main thread
        pass

  def __enter__(self) -> Checkpoints:
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()

  def _on_sigterm(self, signum, frame) -> None:
    del signum, frame
    self._sigterm = True

  def latest_step(self) -> int | None:
    return self.latest.latest_step()

  def save(self, step: int, state: Any, data_iter: Any) -> None:
    """Saves the train state and the data iterator's position at `step` (async)."""
    self.latest.save(
      step,
      args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), data_iter=grain_checkpoint.CheckpointSave(data_iter)
      ),
    )

  def restore_latest(self, abstract: Any, data_iter: Any) -> Any | None:
    """The latest saved state (and `data_iter` moved to its position), or None."""
    step = self.latest.latest_step()
    if step is None:
      return None
    restored = self.latest.restore(
      step,
      args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract),
        data_iter=grain_checkpoint.CheckpointRestore(data_iter),
      ),
    )
    return restored["state"]

  def save_best(self, step: int, state: Any, score: float) -> None:
    """Keeps `state` if `score` (val) is the best so far."""
    score = float(score) if np.isfinite(score) else -1.0
    self.best.save(
      step, args=ocp.args.Composite(state=ocp.args.StandardSave(state)), metrics={"score": score}
    )

  def restore_best(self, abstract: Any) -> tuple[Any, int]:
    """(state, step) of the best val checkpoint; the latest one when no val evaluation ran."""
    self.best.wait_until_finished()
    manager, step = self.best, self.best.best_step()
    if step is None:
      self.latest.wait_until_finished()
      manager, step = self.latest, self.latest.latest_step()
    if step is None:
      raise FileNotFoundError(
        f"no checkpoint in {self.latest.directory.parent}: train first with `python -m ddf.train`"
      )
    restored = manager.restore(
      step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract))
    )
    return restored["state"], int(step)

  def reached_preemption(self, step: int) -> bool:
    """SIGTERM received, or (several processes) the pod's preemption sync point reached."""
    if jax.process_count() > 1 and self.latest.reached_preemption(step):
      return True
    return self._sigterm

  def close(self) -> None:
    """Waits for pending saves and releases the managers."""
    self.latest.wait_until_finished()
    self.best.wait_until_finished()
    self.latest.close()
    self.best.close()
    if self._previous_handler is not None:
      signal.signal(signal.SIGTERM, self._previous_handler)
      self._previous_handler = None
