"""Training: sharded state creation, jitted train/eval steps, the loop, checkpoints and metrics.

`train_and_evaluate(config, workdir)` is the whole job: data (built if missing), mesh, state
(initialised directly sharded), loop with periodic val evaluation and orbax checkpoints (with the
grain iterator state), then the val-selected checkpoint evaluated on `config.eval_splits`.
"""


import functools
import json
import logging
import signal
import time
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp
from clu import metric_writers, metrics, periodic_actions
from flax import struct
from flax.training import train_state
from grain import checkpoint as grain_checkpoint
from jax.experimental import multihost_utils

from ddf import eval_lib, sharding
from ddf.data import build as data_build
from ddf.data import provenance
from ddf.data.pipeline import ClipRule, RecordSource, train_loader
from ddf.models import build_detector


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
      init_value=0.0, peak_value=config.learning_rate, warmup_steps=config.warmup_steps,
      decay_steps=steps, end_value=config.learning_rate * 0.01)


def _param_labels(params: Any) -> Any:
  return jax.tree_util.tree_map_with_path(
      lambda p, _: "frozen" if is_backbone_path(p) else "trained", params)


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """AdamW + warm-up/cosine + global-norm clipping; the backbone is left alone when frozen."""
  tx = optax.chain(
      optax.clip_by_global_norm(config.grad_clip_norm),
      optax.adamw(make_schedule(config), weight_decay=config.weight_decay))
  if config.model.spatial.freeze:
    tx = optax.multi_transform({"trained": tx, "frozen": optax.set_to_zero()}, _param_labels)
  return tx


def _dummy_clips(config: ml_collections.ConfigDict, batch: int) -> jax.ShapeDtypeStruct:
  s = config.data.crop_size
  return jax.ShapeDtypeStruct((batch, config.data.clip_len, s, s, 3), jnp.uint8)


def _load_pretrained(config: ml_collections.ConfigDict, variables: dict[str, Any]) -> dict[str, Any]:
  pretrained = config.model.spatial.pretrained
  if not pretrained:
    return variables
  from ddf import weights

  backbone = weights.load_backbone_variables(pretrained, config.model.spatial.arch)
  return weights.merge_pretrained(variables, backbone, config.model.spatial.arch)


def create_train_state(config: ml_collections.ConfigDict, model: nn.Module, mesh: jax.sharding.Mesh,
                       rules: sharding.Rules, rng: jax.Array) -> tuple[TrainState, Any]:
  """The train state, initialised directly with its shardings; returns (state, shardings)."""
  tx = make_optimizer(config)

  def init(rng: jax.Array, boxed: bool) -> TrainState:
    params_rng, dropout_rng = jax.random.split(rng)
    clips = jnp.zeros(_dummy_clips(config, 1).shape, jnp.uint8)
    variables = model.init({"params": params_rng, "dropout": dropout_rng}, clips, train=False)
    if not boxed:
      variables = nn.meta.unbox(variables)
    params = variables["params"]
    return TrainState.create(apply_fn=model.apply, params=params, tx=tx,
                             batch_stats=variables.get("batch_stats", {}))

  with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
    abstract = jax.eval_shape(functools.partial(init, boxed=True), rng)
    shardings = sharding.tree_shardings(abstract, mesh, rules)
    state = jax.jit(functools.partial(init, boxed=False), out_shardings=shardings)(rng)
  if config.model.spatial.pretrained:
    variables = _load_pretrained(config, {"params": state.params, "batch_stats": state.batch_stats})
    variables = jax.device_put(variables, {"params": shardings.params,
                                           "batch_stats": shardings.batch_stats})
    state = state.replace(params=variables["params"], batch_stats=variables["batch_stats"])
  return state, shardings


def _all_finite(tree: Any) -> jax.Array:
  return jnp.all(jnp.array([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))


def train_step(state: TrainState, batch: dict[str, jax.Array], rng: jax.Array, *,
               config: ml_collections.ConfigDict) -> tuple[TrainState, TrainMetrics, jax.Array]:
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
        {"params": params, "batch_stats": batch_stats}, **inputs, train=True,
        rngs={"dropout": dropout_rng}, mutable=["batch_stats"])
    loss = optax.sigmoid_binary_cross_entropy(logits, labels.astype(jnp.float32)).mean()
    accuracy = jnp.mean((logits > 0).astype(jnp.int32) == labels)
    return loss, (updates.get("batch_stats", {}), accuracy)

  grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
  inputs = {k: v for k, v in batch.items() if k != "label"}
  labels = batch["label"]
  if accum == 1:
    (loss, (batch_stats, accuracy)), grads = grad_fn(
        state.params, state.batch_stats, inputs, labels, step_rng)
  else:
    micro = jax.tree.map(lambda x: x.reshape((accum, -1) + x.shape[1:]), (inputs, labels))

    def body(carry, inputs):
      batch_stats, grads_sum, loss_sum, acc_sum, i = carry
      (loss, (batch_stats, acc)), grads = grad_fn(
          state.params, batch_stats, inputs[0], inputs[1], jax.random.fold_in(step_rng, i))
      grads_sum = jax.tree.map(jnp.add, grads_sum, grads)
      return (batch_stats, grads_sum, loss_sum + loss, acc_sum + acc, i + 1), None

    zeros = jax.tree.map(jnp.zeros_like, state.params)
    (batch_stats, grads, loss, accuracy, _), _ = jax.lax.scan(
        body, (state.batch_stats, zeros, 0.0, 0.0, 0), micro)
    grads = jax.tree.map(lambda g: g / accum, grads)
    loss, accuracy = loss / accum, accuracy / accum
  finite = jnp.isfinite(loss) & _all_finite(grads)
  new_state = state.apply_gradients(grads=grads, batch_stats=batch_stats)
  new_state = jax.tree.map(lambda new, old: jnp.where(finite, new, old), new_state, state)
  new_state = new_state.replace(step=state.step + 1)
  step_metrics = TrainMetrics.single_from_model_output(
      loss=loss, accuracy=accuracy, grad_norm=optax.global_norm(grads),
      learning_rate=make_schedule(config)(state.step))
  return new_state, step_metrics, finite


def make_predict_fn(model: nn.Module, state_shardings: TrainState, mesh: jax.sharding.Mesh,
                    rules: sharding.Rules):
  """jit(variables, inputs) -> P(fake) [B], with the batch sharded like the inputs.

  `inputs`: {'clips': [B, T, S, S, 3] uint8} or a frozen backbone's cached features.
  """
  batch_sh = sharding.batch_sharding(mesh, rules)

  def predict(params, batch_stats, inputs):
    logits, _ = model.apply({"params": params, "batch_stats": batch_stats}, **inputs, train=False)
    return jax.nn.sigmoid(logits.astype(jnp.float32))

  jitted = jax.jit(predict, in_shardings=(state_shardings.params, state_shardings.batch_stats,
                                          batch_sh), out_shardings=batch_sh)

  def bind(state: TrainState) -> eval_lib.PredictFn:
    def fn(inputs):
      with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
        return jitted(state.params, state.batch_stats, inputs)
    return fn

  return bind


class _Checkpoints:
  """Latest-N checkpoints (for resume, with the data iterator) and the best-on-val one."""

  def __init__(self, workdir: Path, config: ml_collections.ConfigDict):
    # Both managers may save the same step; on several hosts their async-save barriers need
    # distinct names (orbax keys them by step otherwise).
    self.latest = ocp.CheckpointManager(
        (workdir / "checkpoints").absolute(),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=config.max_to_keep, create=True,
            multiprocessing_options=ocp.options.MultiprocessingOptions(
                barrier_sync_key_prefix="latest")),
        item_names=("state", "data_iter"))
    self.best = ocp.CheckpointManager(
        (workdir / "best_checkpoint").absolute(),
        options=ocp.CheckpointManagerOptions(
            max_to_keep=1, best_fn=lambda m: m["score"], best_mode="max", create=True,
            multiprocessing_options=ocp.options.MultiprocessingOptions(
                barrier_sync_key_prefix="best")),
        item_names=("state",))

  def save(self, step: int, state: TrainState, data_iter: Any) -> None:
    self.latest.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), data_iter=grain_checkpoint.CheckpointSave(data_iter)))

  def restore_latest(self, abstract: TrainState, data_iter: Any):
    step = self.latest.latest_step()
    if step is None:
      return None
    restored = self.latest.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), data_iter=grain_checkpoint.CheckpointRestore(data_iter)))
    return restored["state"]

  def save_best(self, step: int, state: TrainState, score: float) -> None:
    score = float(score) if np.isfinite(score) else -1.0
    self.best.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state)),
                   metrics={"score": score})

  def restore_best(self, abstract: TrainState) -> tuple[TrainState, int]:
    self.best.wait_until_finished()
    step = self.best.best_step()
    manager = self.best
    if step is None:  # no evaluation happened: fall back to the latest checkpoint.
      self.latest.wait_until_finished()
      manager, step = self.latest, self.latest.latest_step()
    restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
    return restored["state"], step

  def close(self) -> None:
    self.latest.wait_until_finished()
    self.best.wait_until_finished()
    self.latest.close()
    self.best.close()


def _abstract(state: TrainState, shardings: TrainState) -> TrainState:
  return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s),
                      state, shardings)


class _Preemption:
  """SIGTERM (or a pod's preemption notice) -> save at the next step and exit cleanly."""

  def __init__(self):
    self.requested = False
    try:
      signal.signal(signal.SIGTERM, self._handler)
    except ValueError:  # not the main thread
      pass

  def _handler(self, signum, frame):
    del signum, frame
    self.requested = True

  def reached(self, step: int, manager: ocp.CheckpointManager) -> bool:
    if jax.process_count() > 1:
      return bool(manager.reached_preemption(step)) or self.requested
    return self.requested


def setup(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """Everything the loop, the evaluator and the predictor share: data, mesh, model."""
  if jax.process_index() == 0:
    builder = data_build.builder_from_config(config.data, prepare=True)
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices("dataset ready")
  builder = data_build.builder_from_config(config.data, prepare=False)
  mesh = sharding.create_mesh(config.mesh)
  rules = sharding.logical_rules(config.mesh)
  model = build_detector(config.model)
  return {"builder": builder, "mesh": mesh, "rules": rules, "model": model}


def input_sources(config: ml_collections.ConfigDict, ctx: dict[str, Any], state: TrainState,
                  splits: tuple[str, ...]) -> dict[str, Any]:
  """split -> grain source: the built frames, or (`data.feature_cache`) the frozen backbone's
  precomputed features, computed on first use (`ddf.data.feature_cache`)."""
  if not config.data.get("feature_cache", False):
    return {split: RecordSource(ctx["builder"], split) for split in splits}
  if not config.model.spatial.freeze:
    raise ValueError("data.feature_cache=True precomputes the backbone's features, which is only "
                     "valid for a frozen backbone: also set --config.model.spatial.freeze=True")
  augment = {k: v for k, v in config.data.augment.items() if v}
  if augment and jax.process_index() == 0:
    print(f"Note: data.feature_cache=True trains on features of un-augmented frames; pixel "
          f"augmentation ({', '.join(sorted(augment))}) is not applied.", flush=True)
  from ddf.data import feature_cache

  variables = feature_cache.backbone_variables(state.params, state.batch_stats)
  return feature_cache.prepare(config.data, ctx["builder"], splits, ctx["model"], variables)


def _check_cached_backbone(state: TrainState, sources: dict[str, Any], workdir: Path) -> None:
  """A resumed frozen backbone must be the one the cached features were computed with."""
  from ddf.data import feature_cache

  cached = {getattr(s, "fingerprint", {}).get("backbone_digest") for s in sources.values()} - {None}
  if not cached:
    return
  digest = feature_cache.weights_digest(
      feature_cache.backbone_variables(state.params, state.batch_stats))
  if cached != {digest}:
    raise ValueError(f"the checkpoint in {workdir / 'checkpoints'} holds a different frozen "
                     "backbone than the one its feature cache was computed from (did "
                     "model.spatial.pretrained change?); resume with the original weights or use a "
                     "new --workdir")


def evaluate_checkpoint(config: ml_collections.ConfigDict, ctx: dict[str, Any], state: TrainState,
                        shardings: TrainState, splits: tuple[str, ...],
                        sources: dict[str, Any] | None = None) -> dict[str, dict[str, Any]]:
  """Reports for `splits`, read from the built frames unless `sources` gives them."""
  predict = make_predict_fn(ctx["model"], shardings, ctx["mesh"], ctx["rules"])(state)
  reports = {}
  for split in splits:
    source = sources[split] if sources else RecordSource(ctx["builder"], split)
    reports[split] = eval_lib.evaluate_split(
        source, predict, ctx["mesh"], ctx["rules"], ClipRule.from_config(config.data),
        config.eval_batch_size, progress=f"{split}")
    reports[split]["data"] = provenance.data_record(ctx["builder"], split, reports[split])
  return reports


def run_rngs(config: ml_collections.ConfigDict) -> tuple[jax.Array, jax.Array]:
  """(parameter init key, dropout key) of a run, from `config.seed`."""
  init_rng, dropout_rng = jax.random.split(jax.random.key(config.seed))
  return init_rng, dropout_rng


def _describe_inputs(source: Any) -> str:
  directory = getattr(source, "directory", None)
  return f"feature_cache:{directory}" if directory is not None else "frames"


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, dict[str, Any]]:
  """Trains, selects the best checkpoint on val, evaluates it; returns {split: report}."""
  workdir_path = Path(workdir).expanduser()
  workdir_path.mkdir(parents=True, exist_ok=True)
  if jax.process_index() == 0:
    (workdir_path / "config.json").write_text(config.to_json_best_effort(indent=1))
  ctx = setup(config)
  mesh, rules, model = ctx["mesh"], ctx["rules"], ctx["model"]
  writer = metric_writers.create_default_writer(
      str(workdir_path / "tensorboard"), just_logging=jax.process_index() > 0)

  init_rng, dropout_rng = run_rngs(config)
  state, shardings = create_train_state(config, model, mesh, rules, init_rng)
  abstract = _abstract(state, shardings)
  local_bs = sharding.local_batch_size(config.batch_size, mesh, rules)
  sources = input_sources(config, ctx, state, ("train", "val", *config.eval_splits))
  data_iter = train_loader(ctx["builder"], config.data, local_bs, seed=config.seed,
                           source=sources["train"])
  checkpoints = _Checkpoints(workdir_path, config)
  restored = checkpoints.restore_latest(abstract, data_iter)
  if restored is not None:
    state = restored
    _check_cached_backbone(state, sources, workdir_path)
    logging.info("Resumed from step %d", int(state.step))
    print(f"Resumed from {workdir_path / 'checkpoints'} at step {int(state.step)}", flush=True)

  batch_sh = sharding.batch_sharding(mesh, rules)
  step_fn = jax.jit(
      functools.partial(train_step, config=config),
      in_shardings=(shardings, batch_sh, None),
      out_shardings=(shardings, None, None), donate_argnums=(0,))
  predict_bind = make_predict_fn(model, shardings, mesh, rules)
  val_source = sources["val"]
  preemption = _Preemption()
  report_progress = periodic_actions.ReportProgress(
      num_train_steps=config.num_train_steps, writer=writer)
  train_metrics = None
  start_step = int(state.step)
  t0, t_step0 = time.time(), start_step
  for step in range(start_step + 1, config.num_train_steps + 1):
    batch = next(data_iter)
    batch = sharding.to_global(batch, batch_sh)
    with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
      state, step_metrics, finite = step_fn(state, batch, dropout_rng)
    if not bool(finite):
      message = (f"Non-finite loss or gradient at step {step} (loss="
                 f"{float(step_metrics.loss.compute())}); the update was not applied.")
      if config.nan_policy == "stop":
        checkpoints.close()
        raise NonFiniteLossError(message + " Lower learning_rate, check the data, or set "
                                 "--config.nan_policy=skip.")
      logging.warning(message + " Skipping (nan_policy=skip).")
    train_metrics = step_metrics if train_metrics is None else train_metrics.merge(step_metrics)
    report_progress(step)
    if step % config.log_every_steps == 0 or step == config.num_train_steps:
      summary = {f"train_{k}": v for k, v in train_metrics.compute().items()}
      writer.write_scalars(step, summary)
      rate = (step - t_step0) / max(time.time() - t0, 1e-9)
      eta = (config.num_train_steps - step) / max(rate, 1e-9)
      if jax.process_index() == 0:
        with open(workdir_path / "train_log.jsonl", "a") as f:
          f.write(json.dumps({"step": step, **{k: float(v) for k, v in summary.items()}}) + "\n")
        print(f"step {step}/{config.num_train_steps}  loss {summary['train_loss']:.4f}  "
              f"acc {summary['train_accuracy']:.3f}  {rate:.2f} steps/s  ETA {eta:.0f}s", flush=True)
      train_metrics = None
    if config.eval_every_steps and (step % config.eval_every_steps == 0
                                    or step == config.num_train_steps):
      report = eval_lib.evaluate_split(
          val_source, predict_bind(state), mesh, rules, ClipRule.from_config(config.data),
          config.eval_batch_size)
      writer.write_scalars(step, {f"val_{k}": report[k] for k in
                                  ("video_auc", "video_acc", "video_eer", "clip_auc")})
      if jax.process_index() == 0:
        print(f"step {step}: val video AUC {report['video_auc']:.4f}  ACC "
              f"{report['video_acc']:.4f}", flush=True)
      checkpoints.save_best(step, state, report[config.select_metric])
    if step % config.checkpoint_every_steps == 0 or step == config.num_train_steps:
      checkpoints.save(step, state, data_iter)
    if preemption.reached(step, checkpoints.latest):
      if checkpoints.latest.latest_step() != step:
        checkpoints.save(step, state, data_iter)
      checkpoints.close()
      print(f"Preempted: saved step {step}; rerun the same command to resume.", flush=True)
      return {}
    if config.get("debug_step_delay_s", 0.0):
      time.sleep(config.debug_step_delay_s)  # fault-injection tests only.
  writer.flush()

  if not config.eval_splits:
    checkpoints.close()
    return {}
  best_state, best_step = checkpoints.restore_best(abstract)
  checkpoints.close()
  reports = evaluate_checkpoint(config, ctx, best_state, shardings, tuple(config.eval_splits),
                                sources)
  for split, report in reports.items():
    report.update(dataset=config.data.name, split=split, checkpoint_step=int(best_step),
                  builder_config=ctx["builder"].builder_config.name,
                  inputs=_describe_inputs(sources[split]))
    path = eval_lib.write_report(workdir_path, config.data.name, split, report)
    logging.info("Wrote %s", path)
  if jax.process_index() == 0:
    print(f"\nBest checkpoint on val: step {best_step}\n{eval_lib.format_table(reports)}", flush=True)
    print(f"Metrics written to {workdir_path / 'eval'}", flush=True)
  return reports
