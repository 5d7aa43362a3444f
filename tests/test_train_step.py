"""The train step in-process (seconds): gradient accumulation, non-finite steps, frozen backbone."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import default
from ddf import sharding, train_step, weights_lib
from ddf.models import build_detector, frame_features

pytestmark = pytest.mark.usefixtures("fast_prng")  # tests/conftest.py


def _config(**changes):
  """The tiny config, without BatchNorm (vgg_tiny, no micro branch) and without dropout."""
  c = default.get_config("tiny")
  c.update_from_flattened_dict(
    {
      "model.spatial.arch": "vgg_tiny",
      "model.branches": "spatial,temporal",
      "model.temporal.hidden_sizes": (4,),
      "model.temporal.dropout": 0.0,
      "model.head.dropout": 0.0,
      "batch_size": 4,
      "learning_rate": 1e-2,
      "warmup_steps": 0,
      **changes,
    }
  )
  return c


@functools.cache
def _initial_state(freeze: bool):
  """The initial state of `_config` (its init takes seconds to compile; the steps do not donate
  it, so the tests share it)."""
  config = _config(**{"model.spatial.freeze": freeze})
  mesh = sharding.create_mesh(config.mesh)
  rules = sharding.logical_rules(config.mesh)
  model = build_detector(config.model)
  state, _ = train_step.create_train_state(config, model, mesh, rules, jax.random.key(0))
  return state


def _state(config):
  return _initial_state(bool(config.model.spatial.freeze))


def _batch(config, seed=0):
  rng = np.random.default_rng(seed)
  s, t = config.data.crop_size, config.data.clip_len
  return {
    "clips": jnp.asarray(rng.integers(0, 256, (config.batch_size, t, s, s, 3), np.uint8)),
    "label": jnp.asarray([0, 1, 1, 0][: config.batch_size], jnp.int32),
  }


def _step(config, state, batch):
  return jax.jit(lambda st, b: train_step.train_step(st, b, jax.random.key(3), config=config))(
    state, batch
  )


def _leaves(tree):
  return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_two_accumulation_micro_steps_equal_one_step():
  one, two = _config(), _config(grad_accum_steps=2)
  state = _state(one)
  batch = _batch(one)
  a, metrics_a, finite_a = _step(one, state, batch)
  b, metrics_b, finite_b = _step(two, _state(two), batch)
  assert bool(finite_a) and bool(finite_b)
  for x, y in zip(_leaves(a.params), _leaves(b.params), strict=True):
    np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
  assert float(metrics_a.loss.compute()) == pytest.approx(float(metrics_b.loss.compute()), rel=1e-5)
  assert any(
    not np.array_equal(x, y) for x, y in zip(_leaves(state.params), _leaves(a.params), strict=True)
  )


def test_a_non_finite_step_leaves_the_state_unchanged():
  config = _config(**{"model.spatial.freeze": True})
  state = _state(config)
  batch = _batch(config)
  # The frozen backbone's cached maps with one NaN: loss and gradients are not finite.
  variables = {"params": state.params, "batch_stats": state.batch_stats}
  frames = batch["clips"].reshape(-1, *batch["clips"].shape[2:])
  features = frame_features(build_detector(config.model), variables, frames)
  poisoned = np.asarray(features["backbone_maps"]).copy()
  poisoned[0, 0, 0, 0] = np.nan
  nan_batch = {
    "backbone_maps": jnp.asarray(poisoned.reshape(4, -1, *poisoned.shape[1:])),
    "label": batch["label"],
  }
  new, _, finite = _step(config, state, nan_batch)
  assert not bool(finite)
  assert int(new.step) == int(state.step) + 1
  for x, y in zip(
    _leaves((state.params, state.opt_state, state.batch_stats)),
    _leaves((new.params, new.opt_state, new.batch_stats)),
    strict=True,
  ):
    np.testing.assert_array_equal(x, y)


def test_frozen_backbone_does_not_move_and_the_rest_does():
  config = _config(**{"model.spatial.freeze": True})
  state = _state(config)
  new, _, finite = _step(config, state, _batch(config))
  assert bool(finite)
  for x, y in zip(_leaves(state.params["backbone"]), _leaves(new.params["backbone"]), strict=True):
    np.testing.assert_array_equal(x, y)
  rest = [k for k in state.params if k != "backbone"]
  assert any(
    not np.array_equal(x, y)
    for k in rest
    for x, y in zip(_leaves(state.params[k]), _leaves(new.params[k]), strict=True)
  )


def test_the_state_starts_from_the_pretrained_backbone(tmp_path):
  config = _config()
  initial = _initial_state(False)
  pretrained = jax.tree.map(lambda a: np.asarray(a) + 0.5, initial.params["backbone"])
  weights_lib.save_backbone_variables(
    str(tmp_path), {"params": pretrained}, {"arch": config.model.spatial.arch}
  )
  config.model.spatial.pretrained = str(tmp_path)
  mesh = sharding.create_mesh(config.mesh)
  rules = sharding.logical_rules(config.mesh)
  state, _ = train_step.create_train_state(
    config, build_detector(config.model), mesh, rules, jax.random.key(0)
  )
  for x, y in zip(_leaves(state.params["backbone"]), _leaves(pretrained), strict=True):
    np.testing.assert_array_equal(x, y)
  rest = {k: v for k, v in state.params.items() if k != "backbone"}
  for x, y in zip(_leaves(rest), _leaves({k: initial.params[k] for k in rest}), strict=True):
    np.testing.assert_array_equal(x, y)
