"""The train state and one jitted optimizer step (no data, loop or writers: imports only JAX,
flax, optax and clu's metrics, so a benchmark or a new loop can use it alone).

`create_train_state` initialises the state directly with its shardings; `train_step` is the pure
step the loop jits.
"""

# No `from __future__ import annotations`: clu's metric collections read their annotations.
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax
from clu import metrics
from flax import struct
from flax.training import train_state

from ddf import sharding, weights_lib


class TrainState(train_state.TrainState):
  batch_stats: Any = None


@struct.dataclass
class TrainMetrics(metrics.Collection):
  loss: metrics.Average.from_output("loss")
  accuracy: metrics.Average.from_output("accuracy")
  grad_norm: metrics.Average.from_output("grad_norm")
  learning_rate: metrics.LastValue.from_output("learning_rate")


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
    variables = weights_lib.maybe_load_pretrained(
      {"params": state.params, "batch_stats": state.batch_stats}, config.model
    )
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
