"""Training: the loop around `ddf.train_step`.

`train_and_evaluate(config, workdir)` is the whole job: data (built if missing), mesh, state
(initialised directly sharded), the loop with its periodic hooks (logging, val evaluation with the
best checkpoint, orbax checkpoints with the grain iterator state, preemption), then the
val-selected checkpoint evaluated on `config.eval_splits`.
"""

# No `from __future__ import annotations`: clu's metric collections read their annotations.
import dataclasses
import functools
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
from clu import periodic_actions

from ddf import checkpoints as checkpoints_lib
from ddf import eval_lib, sharding
from ddf.context import Context, check_cached_backbone, input_sources, setup
from ddf.data.pipeline import ClipRule, train_loader
from ddf.prefetch import DevicePrefetch
from ddf.train_step import TrainMetrics, TrainState, create_train_state, train_step
from ddf.writers import make_writer

# A periodic action (clu) called after every step as `hook(step, loop=loop)`.
Hook = periodic_actions.PeriodicAction


class NonFiniteLossError(FloatingPointError):
  pass


@dataclasses.dataclass(frozen=True)
class TrainResult:
  """How a run ended: `completed` (reports of the val-selected checkpoint on `eval_splits`) or
  `preempted` (saved at `step`; rerun the same command to resume)."""

  status: str
  step: int
  best_step: int | None = None
  reports: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)


def run_rngs(config: ml_collections.ConfigDict) -> tuple[jax.Array, jax.Array]:
  """(parameter init key, dropout key) of a run, from `config.seed`."""
  init_rng, dropout_rng = jax.random.split(jax.random.key(config.seed))
  return init_rng, dropout_rng


def precompute_features(
  config: ml_collections.ConfigDict, splits: tuple[str, ...]
) -> dict[str, Any]:
  """The frozen-backbone feature caches `train_and_evaluate` would compute (same init, seed and
  pretrained weights), for `splits`: {split: FeatureSource}."""
  ctx = setup(config)
  init_rng, _ = run_rngs(config)
  state, _ = create_train_state(config, ctx.model, ctx.mesh, ctx.rules, init_rng)
  return input_sources(config, ctx, state, splits)


@jax.jit
def _note_finite(
  bad_step: jax.Array,
  bad_loss: jax.Array,
  skipped: jax.Array,
  finite: jax.Array,
  step: jax.Array,
  loss: jax.Array,
) -> tuple[jax.Array, jax.Array, jax.Array]:
  first = (bad_step < 0) & ~finite
  return (
    jnp.where(first, step, bad_step),
    jnp.where(first, loss, bad_loss),
    skipped + (~finite).astype(jnp.int32),
  )


@dataclasses.dataclass
class Loop:
  """What the periodic hooks see and change: the train state, the metrics since the last log,
  and (on device, read at log steps only) the first non-finite step since then."""

  state: TrainState
  metrics: TrainMetrics | None = None
  start_time: float = dataclasses.field(default_factory=time.monotonic)
  start_step: int = 0
  bad_step: jax.Array = dataclasses.field(default_factory=lambda: jnp.asarray(-1, jnp.int32))
  bad_loss: jax.Array = dataclasses.field(default_factory=lambda: jnp.asarray(0.0, jnp.float32))
  skipped: jax.Array = dataclasses.field(default_factory=lambda: jnp.asarray(0, jnp.int32))

  def record(self, step: int, metrics: TrainMetrics, finite: jax.Array) -> None:
    """Adds a step's metrics and finiteness, without waiting for the step to finish."""
    self.metrics = metrics if self.metrics is None else self.metrics.merge(metrics)
    self.bad_step, self.bad_loss, self.skipped = _note_finite(
      self.bad_step,
      self.bad_loss,
      self.skipped,
      finite,
      jnp.asarray(step, jnp.int32),
      metrics.loss.compute().astype(jnp.float32),
    )

  def check_finite(self, policy: str) -> None:
    """Stops (`policy` 'stop') or warns ('skip') if a step since the last check was not finite;
    non-finite steps left the state as it was."""
    bad = int(self.bad_step)
    if bad < 0:
      return
    message = (
      f"Non-finite loss or gradient at step {bad} (loss={float(self.bad_loss)}); the "
      "update was not applied."
    )
    if policy == "stop":
      raise NonFiniteLossError(
        message + " Lower learning_rate, check the data, or set --config.nan_policy=skip."
      )
    logging.warning(
      "%s %d such step(s) skipped since the last log (nan_policy=skip).", message, int(self.skipped)
    )
    self.bad_step, self.skipped = jnp.asarray(-1, jnp.int32), jnp.asarray(0, jnp.int32)


def _every(steps: int) -> int | None:
  return steps or None


def default_hooks(
  config: ml_collections.ConfigDict,
  ctx: Context,
  writer,
  checkpoints,
  data_iter: Any,
  val_source: Any,
  predict_bind,
) -> list[Hook]:
  """Logging, val evaluation (+ best checkpoint) and checkpointing, each at its period and on
  the last step. A hook is a clu periodic action called as `hook(step, loop=loop)`."""
  last = [config.num_train_steps]

  def log(step: int, t: float, loop: Loop) -> None:
    loop.check_finite(config.nan_policy)
    summary = {f"train_{k}": v for k, v in loop.metrics.compute().items()}
    rate = (step - loop.start_step) / max(t - loop.start_time, 1e-9)
    writer.write_scalars(step, {**summary, "train_steps_per_sec": rate})
    loop.metrics = None

  def evaluate(step: int, t: float, loop: Loop) -> None:
    del t
    report = eval_lib.evaluate_split(
      val_source,
      predict_bind(loop.state),
      ctx.mesh,
      ctx.rules,
      ClipRule.from_config(config.data),
      config.eval_batch_size,
    )
    writer.write_scalars(
      step, {f"val_{k}": report[k] for k in ("video_auc", "video_acc", "video_eer", "clip_auc")}
    )
    checkpoints.save_best(step, loop.state, report[config.select_metric])

  def save(step: int, t: float, loop: Loop) -> None:
    del t
    checkpoints.save(step, loop.state, data_iter)

  hooks = [
    periodic_actions.PeriodicCallback(
      every_steps=_every(config.log_every_steps), on_steps=last, callback_fn=log
    )
  ]
  if config.eval_every_steps:
    hooks.append(
      periodic_actions.PeriodicCallback(
        every_steps=config.eval_every_steps, on_steps=last, callback_fn=evaluate
      )
    )
  hooks.append(
    periodic_actions.PeriodicCallback(
      every_steps=_every(config.checkpoint_every_steps), on_steps=last, callback_fn=save
    )
  )
  return hooks


def train_and_evaluate(
  config: ml_collections.ConfigDict, workdir: str, hooks: Sequence[Hook] = ()
) -> TrainResult:
  """Trains, selects the best checkpoint on val, evaluates it on `config.eval_splits`.

  `hooks`: extra clu periodic actions, called after every step as `hook(step, loop=loop)`.
  """
  workdir = Path(workdir).expanduser()
  workdir.mkdir(parents=True, exist_ok=True)
  if jax.process_index() == 0:
    (workdir / "config.json").write_text(config.to_json_best_effort(indent=1))
  ctx = setup(config)
  writer = make_writer(workdir, config.num_train_steps)
  init_rng, dropout_rng = run_rngs(config)
  state, shardings = create_train_state(config, ctx.model, ctx.mesh, ctx.rules, init_rng)
  local_bs = sharding.local_batch_size(config.batch_size, ctx.mesh, ctx.rules)
  sources = input_sources(config, ctx, state, ("train", "val", *config.eval_splits))
  batch_sh = sharding.batch_sharding(ctx.mesh, ctx.rules)
  batches = DevicePrefetch(
    train_loader(ctx.builder, config.data, local_bs, seed=config.seed, source=sources["train"]),
    batch_sh,
  )
  step_fn = jax.jit(
    functools.partial(train_step, config=config),
    in_shardings=(shardings, batch_sh, None),
    out_shardings=(shardings, None, None),
    donate_argnums=(0,),
  )
  with checkpoints_lib.Checkpoints(workdir, config.max_to_keep, catch_sigterm=True) as checkpoints:
    abstract = checkpoints_lib.abstract_state(state, shardings)
    restored = checkpoints.restore_latest(abstract, batches)
    if restored is not None:
      state = restored
      check_cached_backbone(state, sources, workdir)
      print(f"Resumed from {workdir / 'checkpoints'} at step {int(state.step)}", flush=True)
    loop = Loop(state=state, start_step=int(state.step))
    predict_bind = eval_lib.make_predict_fn(ctx.model, shardings, ctx.mesh, ctx.rules)
    progress = periodic_actions.ReportProgress(num_train_steps=config.num_train_steps)  # logs ETA
    all_hooks = [
      *default_hooks(config, ctx, writer, checkpoints, batches, sources["val"], predict_bind),
      *hooks,
    ]
    for step in range(loop.start_step + 1, config.num_train_steps + 1):
      batch = next(batches)  # already on its way to the devices
      with jax.set_mesh(ctx.mesh), nn.logical_axis_rules(ctx.rules):
        loop.state, metrics, finite = step_fn(loop.state, batch, dropout_rng)
      loop.record(step, metrics, finite)  # no host sync: finiteness is read at log steps
      progress(step)
      for hook in all_hooks:
        hook(step, loop=loop)
      if checkpoints.reached_preemption(step):
        if checkpoints.latest_step() != step:
          checkpoints.save(step, loop.state, batches)
        print(f"Preempted: saved step {step}; rerun the same command to resume.", flush=True)
        return TrainResult("preempted", step)
    writer.flush()
    if not config.eval_splits:
      return TrainResult("completed", config.num_train_steps)
    best_state, best_step = checkpoints.restore_best(abstract)
  reports = eval_lib.evaluate_checkpoint(
    config, ctx, best_state, shardings, tuple(config.eval_splits), best_step, sources
  )
  for split, report in reports.items():
    eval_lib.write_report(workdir, config.data.name, split, report)
  if jax.process_index() == 0:
    print(
      f"\nBest checkpoint on val: step {best_step}\n{eval_lib.format_table(reports)}", flush=True
    )
    print(f"Metrics written to {workdir / 'eval'}", flush=True)
  return TrainResult("completed", config.num_train_steps, best_step, reports)
