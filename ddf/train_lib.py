"""Training: sharded state creation, the jitted train step, and the loop.

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
import optax
from clu import metrics, periodic_actions
from flax import struct
from flax.training import train_state

from ddf import checkpoints as checkpoints_lib
from ddf import eval_lib, sharding
from ddf.context import Context, check_cached_backbone, input_sources, setup
from ddf.data.pipeline import ClipRule, train_loader
from ddf.prefetch import DevicePrefetch
from ddf.writers import make_writer

# A periodic action (clu) called after every step as `hook(step, loop=loop)`.
Hook = periodic_actions.PeriodicAction


class TrainState(train_state.TrainState):
  batch_stats: Any = None


@struct.dataclass
class TrainMetrics(metrics.Collection):
  loss: metrics.Average.from_output("loss")
  accuracy: metrics.Average.from_output("accuracy")
  grad_norm: metrics.Average.from_output("grad_norm")
  learning_rate: metrics.LastValue.from_output("learning_rate")


class NonFiniteLossError(FloatingPointError):
  pass


def is_backbone_path(path: tuple[Any, ...]) -> bool:
  """True for parameters of the per-frame spatial backbone (frozen with `spatial.freeze`)."""
  return any("backbone" in str(getattr(k, "key", k)).lower() for k in path)


def make_schedule(config: ml_collections.ConfigDict) -> optax.Schedule:
  steps = max(config.num_train_steps, config.warmup_steps + 1)
  return optax.warmup_cosine_decay_schedule(
    init_value=0.0,
    peak_value=config.learning_rate,
    warmup_steps=config.warmup_steps,
    decay_steps=steps,
    end_value=config.learning_rate * 0.01,
  )


def _param_labels(params: Any) -> Any:
  return jax.tree_util.tree_map_with_path(
    lambda p, _: "frozen" if is_backbone_path(p) else "trained", params
  )


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """AdamW + warm-up/cosine + global-norm clipping; the backbone is left alone when frozen."""
  tx = optax.chain(
    optax.clip_by_global_norm(config.grad_clip_norm),
    optax.adamw(make_schedule(config), weight_decay=config.weight_decay),
  )
  if config.model.spatial.freeze:
    tx = optax.multi_transform({"trained": tx, "frozen": optax.set_to_zero()}, _param_labels)
  return tx


def _dummy_clips(config: ml_collections.ConfigDict, batch: int) -> jax.ShapeDtypeStruct:
  s = config.data.crop_size
  return jax.ShapeDtypeStruct((batch, config.data.clip_len, s, s, 3), jnp.uint8)


def _load_pretrained(
  config: ml_collections.ConfigDict, variables: dict[str, Any]
) -> dict[str, Any]:
  pretrained = config.model.spatial.pretrained
  if not pretrained:
    return variables
  from ddf import weights_lib

  backbone = weights_lib.load_backbone_variables(pretrained, config.model.spatial.arch)
  return weights_lib.merge_pretrained(variables, backbone, config.model.spatial.arch)


def create_train_state(
  config: ml_collections.ConfigDict,
  model: nn.Module,
  mesh: jax.sharding.Mesh,
  rules: sharding.Rules,
  rng: jax.Array,
) -> tuple[TrainState, Any]:
  """The train state, initialised directly with its shardings; returns (state, shardings)."""
  tx = make_optimizer(config)

  def init(rng: jax.Array, boxed: bool) -> TrainState:
    params_rng, dropout_rng = jax.random.split(rng)
    clips = jnp.zeros(_dummy_clips(config, 1).shape, jnp.uint8)
    variables = model.init({"params": params_rng, "dropout": dropout_rng}, clips, train=False)
    if not boxed:
      variables = nn.meta.unbox(variables)
    params = variables["params"]
    return TrainState.create(
      apply_fn=model.apply, params=params, tx=tx, batch_stats=variables.get("batch_stats", {})
    )

  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    abstract = jax.eval_shape(functools.partial(init, boxed=True), rng)
    shardings = sharding.tree_shardings(abstract, mesh, rules)
    state = jax.jit(functools.partial(init, boxed=False), out_shardings=shardings)(rng)
  if config.model.spatial.pretrained:
    variables = _load_pretrained(config, {"params": state.params, "batch_stats": state.batch_stats})
    variables = jax.device_put(
      variables, {"params": shardings.params, "batch_stats": shardings.batch_stats}
    )
    state = state.replace(params=variables["params"], batch_stats=variables["batch_stats"])
  return state, shardings


def _all_finite(tree: Any) -> jax.Array:
  return jnp.all(jnp.array([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def train_step(
  state: TrainState,
  batch: dict[str, jax.Array],
  rng: jax.Array,
  *,
  config: ml_collections.ConfigDict,
) -> tuple[TrainState, TrainMetrics, jax.Array]:
  """One optimizer step over the global batch (split into `grad_accum_steps` micro-batches).

  `batch`: `label` [B] and the model inputs (`clips` [B, T, S, S, 3] uint8, or the cached
  `backbone_maps` / `micro_inputs` of a frozen backbone).

  Returns (new state, metrics, finite flag). A non-finite loss or gradient leaves the state as it
  was (the caller stops or skips, per `config.nan_policy`).
  """
  step_rng = jax.random.fold_in(rng, state.step)
  accum = config.grad_accum_steps

  def loss_fn(params, batch_stats, inputs, labels, dropout_rng):
    (logits, _), updates = state.apply_fn(
      {"params": params, "batch_stats": batch_stats},
      **inputs,
      train=True,
      rngs={"dropout": dropout_rng},
      mutable=["batch_stats"],
    )
    loss = optax.sigmoid_binary_cross_entropy(logits, labels.astype(jnp.float32)).mean()
    accuracy = jnp.mean((logits > 0).astype(jnp.int32) == labels)
    return loss, (updates.get("batch_stats", {}), accuracy)

  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
  inputs = {k: v for k, v in batch.items() if k != "label"}
  labels = batch["label"]
  if accum == 1:
    (loss, (batch_stats, accuracy)), grads = grad_fn(
      state.params, state.batch_stats, inputs, labels, step_rng
    )
  else:
    micro = jax.tree.map(lambda x: x.reshape((accum, -1) + x.shape[1:]), (inputs, labels))

    def body(carry, inputs):
      batch_stats, grads_sum, loss_sum, acc_sum, i = carry
      (loss, (batch_stats, acc)), grads = grad_fn(
        state.params, batch_stats, inputs[0], inputs[1], jax.random.fold_in(step_rng, i)
      )
      grads_sum = jax.tree.map(jnp.add, grads_sum, grads)
      return (batch_stats, grads_sum, loss_sum + loss, acc_sum + acc, i + 1), None

    zeros = jax.tree.map(jnp.zeros_like, state.params)
    (batch_stats, grads, loss, accuracy, _), _ = jax.lax.scan(
      body, (state.batch_stats, zeros, 0.0, 0.0, 0), micro
    )
    grads = jax.tree.map(lambda g: g / accum, grads)
    loss, accuracy = loss / accum, accuracy / accum
  finite = jnp.isfinite(loss) & _all_finite(grads)
  new_state = state.apply_gradients(grads=grads, batch_stats=batch_stats)
  new_state = jax.tree.map(lambda new, old: jnp.where(finite, new, old), new_state, state)
  new_state = new_state.replace(step=state.step + 1)
  step_metrics = TrainMetrics.single_from_model_output(
    loss=loss,
    accuracy=accuracy,
    grad_norm=optax.tree.norm(grads),
    learning_rate=make_schedule(config)(state.step),
  )
  return new_state, step_metrics, finite


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
