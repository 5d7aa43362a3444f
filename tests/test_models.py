"""Tests of ddf.models: shapes, parameter counts, attention, dtype, remat, freeze, masks, sharding."""

import itertools
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs.default import get_config, get_mesh_config
from ddf.models import (
  BRANCHES,
  BiLSTM,
  TemporalAttention,
  build_detector,
  frame_features,
  get_backbone,
)
from ddf.models.detector import (
  SpatialConfig,
  backbone_frames,
  laplacian_residual,
  scale_free_residual,
)


def _count(arch: str) -> int:
  m = get_backbone(arch)
  v = jax.eval_shape(lambda: m.init(jax.random.key(0), jnp.zeros((1, 224, 224, 3)), train=False))
  return int(sum(np.prod(x.shape) for x in jax.tree.leaves(nn.meta.unbox(v))))


def test_param_counts_match_keras():
  assert _count("resnet50") == 23_587_712
  assert _count("vgg16") == 14_714_688


def _train_apply(det, v, params, **inputs):
  """((logits, aux), batch-stat updates) of `det` in train mode, `params` in place of v's."""
  return det.apply(
    {**v, "params": params},
    **inputs,
    train=True,
    rngs={"dropout": jax.random.key(3)},
    mutable=["batch_stats"],
  )


def _cfg(stack: bool = False, **kw):
  """Tiny model config; single-layer LSTM stacks unless `stack` (keeps XLA compile time down)."""
  c = get_config("tiny").model
  if not stack:
    c.update_from_flattened_dict({"temporal.hidden_sizes": (4,), "micro.hidden_sizes": (4,)})
  c.update_from_flattened_dict(kw)
  return c


def _clips(b=2, t=4, s=32, seed=0):
  return jax.random.randint(jax.random.key(seed), (b, t, s, s, 3), 0, 256).astype(jnp.uint8)


def _init(det, clips):
  return jax.jit(
    lambda c: det.init({"params": jax.random.key(1), "dropout": jax.random.key(2)}, c, train=False)
  )(clips)


SUBSETS = [",".join(s) for r in range(1, 5) for s in itertools.combinations(BRANCHES, r)]


@pytest.mark.slow  # compiles large models (seconds to minutes)
@pytest.mark.parametrize("fusion", ["concat", "attention"])
def test_every_branch_subset_shapes(fusion):
  clips = jax.ShapeDtypeStruct((2, 3, 32, 32, 3), jnp.uint8)
  for branches in SUBSETS:
    det = build_detector(_cfg(stack=True, branches=branches, fusion=fusion))
    v = jax.eval_shape(
      lambda c, det=det: det.init(
        {"params": jax.random.key(1), "dropout": jax.random.key(2)}, c, train=False
      ),
      clips,
    )
    (logits, aux), upd = jax.eval_shape(
      lambda v, c, det=det: det.apply(
        v, c, train=True, rngs={"dropout": jax.random.key(0)}, mutable=["batch_stats"]
      ),
      v,
      clips,
    )
    assert logits.shape == (2,) and logits.dtype == jnp.float32, branches
    names = branches.split(",")
    expect = set()
    if "spatial" in names or "temporal" in names:
      expect.add("spatial_attention")
      assert aux["spatial_attention"].shape[:2] == (2, 3)
    if "temporal" in names:
      expect.add("temporal_attention")
    if "micro" in names or "micro_temporal" in names:
      expect.add("micro_spatial_attention")
      assert aux["micro_spatial_attention"].shape == (2, 3, 2, 2)  # 16 / 2^3
    if "micro_temporal" in names:
      expect.add("micro_temporal_attention")
    if fusion == "attention":
      expect.add("fusion_attention")
      assert aux["fusion_attention"].shape == (2, len(names))
    assert set(aux) == expect, branches


@pytest.fixture(scope="module")
def full_model():
  """All branches, attention fusion, vgg_tiny: (config, clips [2,4,32,32,3], variables).

  (Concat fusion and resnet_tiny run numerically in the remat / freeze tests.)
  """
  cfg = _cfg(fusion="attention", **{"spatial.arch": "vgg_tiny"})
  clips = _clips()
  return cfg, clips, _init(build_detector(cfg), clips), _forward(cfg)


def _forward(cfg):
  return jax.jit(lambda v, c, n: build_detector(cfg).apply(v, c, train=False, seq_lengths=n))


@pytest.mark.slow  # compiles large models (seconds to minutes)
def test_detector_train_step_attention_fusion(full_model):
  cfg, clips, v, _ = full_model
  det = build_detector(cfg)

  def loss(params):
    (logits, aux), upd = _train_apply(det, v, params, clips=clips)
    return jnp.mean(logits**2), (logits, aux, upd)

  (loss_value, (logits, aux, upd)), g = jax.jit(jax.value_and_grad(loss, has_aux=True))(v["params"])
  g = nn.meta.unbox(g)
  assert logits.shape == (2,) and logits.dtype == jnp.float32 and np.isfinite(loss_value)
  assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(g))
  for name in (
    "backbone",
    "spatial_attention",
    "temporal",
    "micro_encoder",
    "micro_temporal",
    "fusion_score",
    "head_0",
  ):
    assert any(np.any(x != 0) for x in jax.tree.leaves(g[name])), name
  for k in ("temporal_attention", "micro_temporal_attention", "fusion_attention"):
    np.testing.assert_allclose(np.sum(aux[k], -1), 1.0, rtol=1e-5)
  for k in ("spatial_attention", "micro_spatial_attention"):
    assert np.all((aux[k] > 0) & (aux[k] < 1))
  # BatchNorm running stats change in train mode.
  old, new = jax.tree.leaves(v["batch_stats"]), jax.tree.leaves(upd["batch_stats"])
  assert any(not np.allclose(a, b) for a, b in zip(old, new, strict=True))


@pytest.mark.slow  # compiles large models (seconds to minutes)
def test_bfloat16_close_to_float32(full_model):
  cfg, clips, v, fwd = full_model
  n = jnp.array([4, 4])
  l32, aux32 = fwd(v, clips, n)
  l16, aux16 = _forward(_cfg(dtype="bfloat16", fusion="attention", **{"spatial.arch": "vgg_tiny"}))(
    v, clips, n
  )
  assert l16.dtype == jnp.float32 and np.all(np.isfinite(l16))
  assert not np.array_equal(l16, l32)  # really computed in bf16
  np.testing.assert_allclose(l16, l32, atol=0.05 * max(1.0, float(np.abs(l32).max())))
  np.testing.assert_allclose(aux16["temporal_attention"], aux32["temporal_attention"], atol=0.02)
  np.testing.assert_allclose(np.sum(aux32["temporal_attention"], -1), 1.0, rtol=1e-5)


@pytest.fixture(scope="module")
def spatial_temporal():
  cfg = _cfg(branches="spatial")
  clips = _clips(t=2)
  return clips, _init(build_detector(cfg), clips)


def _grad(det, v, clips):
  def loss(p):
    (lo, _), _ = _train_apply(det, v, p, clips=clips)
    return jnp.sum(lo)

  return jax.jit(jax.value_and_grad(loss))(v["params"])


@pytest.mark.slow  # compiles large models (seconds to minutes)
def test_remat_same_output_and_grads(spatial_temporal):
  clips, v = spatial_temporal
  l0, g0 = _grad(build_detector(_cfg(branches="spatial")), v, clips)
  l1, g1 = _grad(build_detector(_cfg(branches="spatial", **{"spatial.remat": True})), v, clips)
  np.testing.assert_allclose(l0, l1, rtol=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), g0, g1)


@pytest.mark.slow  # compiles large models (seconds to minutes)
def test_freeze_zero_backbone_grads(spatial_temporal):
  clips, v = spatial_temporal
  det = build_detector(_cfg(branches="spatial", **{"spatial.freeze": True}))
  _, g = _grad(det, v, clips)
  g = nn.meta.unbox(g)
  assert all(np.all(x == 0) for x in jax.tree.leaves(g["backbone"]))
  assert any(np.any(x != 0) for x in jax.tree.leaves(g["spatial_attention"]))


@pytest.mark.slow  # compiles large models (seconds to minutes)
def test_bilstm_padding_mask_matches_unpadded():
  m = BiLSTM((6, 3))
  x = jax.random.normal(jax.random.key(0), (2, 5, 4))
  # Row 0: x[0] padded with noise to 8 steps (length 5); row 1: 8 valid steps.
  pad = jnp.concatenate([x, jax.random.normal(jax.random.key(1), (2, 3, 4))], axis=1)
  v = jax.jit(lambda x: m.init(jax.random.key(0), x))(x)
  apply = jax.jit(lambda v, x, n: m.apply(v, x, seq_lengths=n))
  ref = apply(v, x, jnp.array([5, 5]))
  out = apply(v, pad, jnp.array([5, 8]))
  np.testing.assert_allclose(out[0, :5], ref[0], rtol=1e-5, atol=1e-6)
  assert not np.allclose(out[1, :5], ref[1], atol=1e-3)  # row 1 sees its 3 extra steps (backward)
  # Temporal attention ignores padded steps.
  att = TemporalAttention()
  va = att.init(jax.random.key(0), ref)
  c_ref, _ = att.apply(va, ref[:1])
  c, w = att.apply(va, out[:1], jnp.arange(8)[None] < 5)
  np.testing.assert_allclose(c, c_ref, rtol=1e-5, atol=1e-6)
  assert np.all(w[:, 5:] == 0)


@pytest.mark.slow  # compiles large models (seconds to minutes)
def test_detector_seq_lengths_ignore_padding(full_model):
  cfg, clips, v, fwd = full_model
  padded = jnp.concatenate([clips, _clips(t=2, seed=5)], axis=1)
  ref, _ = fwd(v, clips, jnp.array([4, 4]))
  out, aux = fwd(v, padded, jnp.array([4, 4]))
  np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
  assert np.all(aux["temporal_attention"][:, 4:] == 0)


@pytest.mark.slow  # compiles large models (seconds to minutes)
def test_logical_axes_and_mesh_sharding():
  det = build_detector(_cfg(fusion="attention"))
  v = jax.eval_shape(
    lambda c: det.init({"params": jax.random.key(1), "dropout": jax.random.key(2)}, c, train=False),
    jax.ShapeDtypeStruct((2, 2, 32, 32, 3), jnp.uint8),
  )
  spec = nn.get_partition_spec(v)
  p = spec["params"]
  assert tuple(p["backbone"]["conv1_conv"]["kernel"]) == (None, None, "conv_in", "conv_out")
  assert "bias" not in p["backbone"]["conv1_conv"]  # tiny nets: no redundant pre-BN bias
  assert tuple(p["backbone"]["conv1_bn"]["scale"]) == ("conv_out",)
  assert tuple(p["head_0"]["kernel"]) == ("embed", "mlp")
  assert tuple(p["head_0"]["bias"]) == ("mlp",)
  cell = p["temporal"]["bilstm_0"]["forward"]
  assert tuple(cell["ii"]["kernel"]) == ("embed", "lstm_gates")
  assert tuple(cell["hi"]["kernel"]) == ("mlp", "lstm_gates")
  assert tuple(cell["hi"]["bias"]) == ("lstm_gates",)
  # Every parameter leaf is boxed with names.
  boxed = jax.tree.leaves(v["params"], is_leaf=lambda x: isinstance(x, nn.LogicallyPartitioned))
  assert all(isinstance(x, nn.LogicallyPartitioned) for x in boxed)
  mesh_cfg = get_mesh_config()
  mesh = jax.make_mesh((1, 1, 1), mesh_cfg.axes, axis_types=(jax.sharding.AxisType.Auto,) * 3)
  shardings = nn.logical_to_mesh_sharding(spec, mesh, mesh_cfg.rules)
  assert shardings["params"]["head_0"]["kernel"].spec == jax.sharding.PartitionSpec("fsdp", "model")
  # Apply under the mesh with rules (activation constraints active).
  det = build_detector(_cfg(branches="spatial,micro"))
  clips = _clips(t=2)
  with jax.set_mesh(mesh), nn.logical_axis_rules(mesh_cfg.rules):
    vv = _init(det, clips)
    logits, _ = jax.jit(lambda v: det.apply(v, clips, train=False))(vv)
  assert logits.shape == (2,)


@pytest.mark.slow  # compiles large models (seconds to minutes)
@pytest.mark.parametrize("highpass", [False, True])
def test_precomputed_features_match_frames(highpass):
  """A frozen backbone's cached inputs give the same logits, BN updates and gradients as frames
  (also when the backbone sees the frames' Laplacian residual)."""
  cfg = _cfg(fusion="attention", **{"spatial.freeze": True, "spatial.highpass": highpass})
  det = build_detector(cfg)
  clips = _clips(b=3)
  v = _init(det, clips)
  # Non-trivial running statistics, so the frozen backbone's inference-mode BN matters.
  keys = iter(jax.random.split(jax.random.key(7), 1000))
  stats = jax.tree.map(
    lambda x: x + jax.random.uniform(next(keys), x.shape, x.dtype), v["batch_stats"]
  )
  v = {**v, "batch_stats": stats}
  frames = clips.reshape(-1, *clips.shape[2:])
  feats = jax.jit(lambda v, f: frame_features(det, v, f))(v, frames)
  assert set(feats) == {"backbone_maps", "micro_inputs"}
  feats = {k: x.reshape(3, 4, *x.shape[1:]) for k, x in feats.items()}
  assert feats["micro_inputs"].shape == (3, 4, 16, 16, 1)

  def loss(params, inputs):
    (logits, _), upd = _train_apply(det, v, params, **inputs)
    return jnp.sum(logits), (logits, upd)

  grad = jax.jit(jax.value_and_grad(loss, has_aux=True))
  (_, (l_frames, u_frames)), g_frames = grad(v["params"], {"clips": clips})
  (_, (l_feats, u_feats)), g_feats = grad(v["params"], feats)
  np.testing.assert_allclose(l_feats, l_frames, rtol=1e-5, atol=1e-5)
  g_frames, g_feats = nn.meta.unbox(g_frames), nn.meta.unbox(g_feats)
  assert set(g_feats) == set(g_frames)
  # rtol 1e-3: the two paths round the backbone differently (~1e-7), and the default fusion_norm
  # divides each branch's context by its spread (micro_temporal's is ~0.005 at init), which
  # turns that into up to 3e-4 in a few gradient entries (measured); a wrong path is off by O(1).
  for name in g_frames:
    jax.tree.map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-6),
      g_feats[name],
      g_frames[name],
    )
  # The micro CNN is trained (its BN statistics move) on both paths; the backbone's do not.
  jax.tree.map(
    lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
    u_feats["batch_stats"]["micro_encoder"],
    u_frames["batch_stats"]["micro_encoder"],
  )
  for upd in (u_feats, u_frames):
    jax.tree.map(np.testing.assert_array_equal, upd["batch_stats"]["backbone"], stats["backbone"])
  eval_logits, _ = jax.jit(lambda v, x: det.apply(v, **x, train=False))(v, feats)
  ref_logits, _ = jax.jit(lambda v, x: det.apply(v, x, train=False))(v, clips)
  np.testing.assert_allclose(eval_logits, ref_logits, rtol=1e-5, atol=1e-5)
  with pytest.raises(ValueError, match="frozen backbone"):
    build_detector(_cfg()).apply(v, **feats, train=False)


def test_laplacian_residual_matches_neighbour_sums():
  """Against an independent definition: 4-neighbour sum minus 4x the centre, zero outside."""
  rng = np.random.default_rng(0)
  frames = rng.uniform(0, 255, (2, 7, 9, 3)).astype(np.float32)
  p = np.pad(frames, ((0, 0), (1, 1), (1, 1), (0, 0)))
  lap = p[:, :-2, 1:-1] + p[:, 2:, 1:-1] + p[:, 1:-1, :-2] + p[:, 1:-1, 2:] - 4 * frames
  got = np.asarray(laplacian_residual(jnp.asarray(frames), gain=2.0))
  np.testing.assert_allclose(got, 127.5 + 2.0 * lap, rtol=0, atol=1e-3)
  # A brightness ramp has no residual away from the border; the backbone then sees flat grey.
  ramp = np.broadcast_to(np.arange(9, dtype=np.float32)[None, None, :, None] * 20, (1, 7, 9, 3))
  interior = np.asarray(laplacian_residual(jnp.asarray(ramp)))[:, 1:-1, 1:-1]
  np.testing.assert_allclose(interior, 127.5, atol=1e-4)
  # The flag is what the backbone input follows (the model and `frame_features` both use it).
  square = rng.uniform(0, 255, (2, 9, 9, 3)).astype(np.float32)
  on = backbone_frames(jnp.asarray(square), SpatialConfig(image_size=9, highpass=True))
  off = backbone_frames(jnp.asarray(square), SpatialConfig(image_size=9, highpass=False))
  np.testing.assert_allclose(np.asarray(on), np.asarray(laplacian_residual(square)), atol=1e-3)
  np.testing.assert_array_equal(np.asarray(off), square)


@pytest.mark.parametrize("size", [12, 20])
def test_scale_free_residual_keeps_relative_energy_only(size):
  """highpass_norm: one video's frames filmed with 3x the noise and contrast give the same input,
  its RMS is 32 about 127.5 per frame, and a face noisier than its ring still shows as such."""
  rng = np.random.default_rng(size)
  content = rng.uniform(60, 200, (2, size, size, 3)).astype(np.float32)
  noise = rng.normal(0, 1, content.shape).astype(np.float32)
  quiet = np.asarray(scale_free_residual(jnp.asarray(content + 2.0 * noise)))
  loud = np.asarray(scale_free_residual(jnp.asarray(3.0 * (content + 2.0 * noise) - 200.0)))
  # Away from the zero-padded border (which sees the offset) the two are the same.
  np.testing.assert_allclose(quiet[:, 1:-1, 1:-1], loud[:, 1:-1, 1:-1], atol=2e-3)
  lap = np.asarray(laplacian_residual(jnp.asarray(content + 2.0 * noise), gain=1.0)) - 127.5
  rms = np.sqrt((lap[:, 1:-1, 1:-1] ** 2).mean(axis=(1, 2, 3)))  # numpy, interior of each frame
  np.testing.assert_allclose(
    np.asarray(quiet) - 127.5, 32.0 * lap / (rms + 1e-3)[:, None, None, None], atol=2e-3
  )
  side = 2 * size  # enough pixels in the ring for its mean to be stable
  flat = np.full((4, side, side, 3), 128.0) + rng.normal(0, 1, (4, side, side, 3))
  lo, hi = side // 4, side - side // 4
  flat[:, lo:hi, lo:hi] += 3.0 * rng.normal(0, 1, (4, hi - lo, hi - lo, 3))  # std 3.2x the ring's
  out = np.abs(np.asarray(scale_free_residual(jnp.asarray(flat.astype(np.float32)))) - 127.5)
  assert out[:, lo + 1 : hi - 1, lo + 1 : hi - 1].mean() > 2.5 * out[:, 1 : lo - 1, 1:-1].mean()
  cfg = SpatialConfig(image_size=size, highpass=True, highpass_norm=True)
  np.testing.assert_array_equal(
    np.asarray(backbone_frames(jnp.asarray(content), cfg)),
    np.asarray(scale_free_residual(jnp.asarray(content))),
  )
  with pytest.raises(ValueError, match="needs model.spatial.highpass"):
    SpatialConfig(highpass=False, highpass_norm=True)


@pytest.mark.parametrize("branches", ["spatial,temporal,micro,micro_temporal", "spatial,micro"])
def test_fusion_norm_puts_every_branch_on_one_scale(branches):
  """With fusion_norm, each branch's context enters the head zero-mean, unit-variance per clip,
  through a LayerNorm of its own (one per branch used, none otherwise)."""
  clips = _clips(b=3)
  plain = build_detector(_cfg(branches=branches, fusion_norm=False))
  normed = build_detector(_cfg(branches=branches, fusion_norm=True))
  keys = {"params": jax.random.key(1), "dropout": jax.random.key(2)}
  plain_shapes = jax.eval_shape(lambda c: plain.init(keys, c, train=False), clips)
  assert not [k for k in plain_shapes["params"] if k.startswith("fusion_norm")]
  variables = _init(normed, clips)
  expected = sorted(f"fusion_norm_{n}" for n in branches.split(","))
  assert sorted(k for k in variables["params"] if k.startswith("fusion_norm")) == expected
  (logits, _), state = jax.jit(
    lambda v, c: normed.apply(
      v, c, train=False, capture_intermediates=True, mutable=["intermediates"]
    )
  )(variables, clips)
  fused = {
    k: np.asarray(v["__call__"][0])
    for k, v in state["intermediates"].items()
    if k.startswith("fusion_norm")
  }
  assert sorted(fused) == expected
  for name, x in fused.items():
    assert x.shape[0] == 3, name
    np.testing.assert_allclose(x.mean(-1), 0.0, atol=1e-4, err_msg=name)
    # (LayerNorm eps 1e-6 shrinks the tiniest contexts, ~0.005 at init, by under 1%)
    np.testing.assert_allclose(x.std(-1), 1.0, rtol=2e-2, err_msg=name)
  assert logits.shape == (3,) and np.all(np.isfinite(np.asarray(logits)))


def test_zero_init_head_starts_at_a_constant_logit_and_learns_from_the_first_step():
  """head.zero_init (the default outside the tiny test variant): the untrained model outputs its
  bias (0) for every clip, so only the logit layer gets a gradient at step 0; without it the
  logits vary across clips."""
  clips = _clips(b=3)
  zero = build_detector(_cfg(**{"head.zero_init": True}))
  assert zero.head.zero_init and not build_detector(_cfg()).head.zero_init
  v = _init(zero, clips)
  logits, _ = jax.jit(lambda v, c: zero.apply(v, c, train=False))(v, clips)
  np.testing.assert_array_equal(np.asarray(logits), 0.0)

  def loss(params):
    (lg, _), _ = _train_apply(zero, v, params, clips=clips)
    return jnp.mean((lg - jnp.array([1.0, -1.0, 1.0])) ** 2)

  grads = nn.meta.unbox(jax.jit(jax.grad(loss))(v["params"]))
  norms = {k: float(optax.tree.norm(g)) for k, g in grads.items()}
  assert norms.pop("logit") > 0 and not any(norms.values()), norms
  random_head = build_detector(_cfg(**{"head.zero_init": False}))
  logits, _ = jax.jit(lambda v, c: random_head.apply(v, c, train=False))(
    _init(random_head, clips), clips
  )
  assert np.ptp(np.asarray(logits)) > 0
