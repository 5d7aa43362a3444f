"""The cue-isolating diagnostics (ddf/data/synthetic_diagnostics.py, configs/diagnostics.py).

Fast checks of the properties the diagnostics rely on: a Shuffled clip is invisible to the
order-invariant branches and visible to the temporal ones (the test a mis-wired temporal branch
fails), ChromaShift keeps the luma the micro branches see, FrozenMouth holds the mouth only.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import diagnostics as diagnostics_config
from configs.default import get_config
from ddf.data import synthetic_diagnostics as diag
from ddf.data import synthetic_faces as faces
from ddf.data import synthetic_lib
from ddf.models import build_detector, layers
from ddf.models.detector import micro_frames

pytestmark = pytest.mark.usefixtures("fast_prng")  # tests/conftest.py

SIZE, FRAMES = 96, 16


@pytest.fixture(scope="module")
def real_video():
  photos = faces.builtin_photos()
  ident = faces.make_identity(photos, 0, 5, SIZE)
  motion = faces.make_motion(0, 5, FRAMES, 25.0, SIZE)
  return ident, motion, faces.render(ident, motion, SIZE).frames


@pytest.mark.parametrize("num_frames,block", [(24, 8), (19, 8), (9, 4), (1, 8)])
def test_block_derangement_moves_every_frame_inside_its_block(num_frames, block):
  order = diag.block_derangement(num_frames, np.random.default_rng(num_frames), block)
  assert sorted(order) == list(range(num_frames))
  for a in range(0, num_frames, block):
    b = min(a + block, num_frames)
    assert set(order[a:b]) == set(range(a, b))
    if b - a > 1:
      assert np.all(order[a:b] != np.arange(a, b))


def _model(branches: str):
  c = get_config("tiny").model
  c.update_from_flattened_dict(
    {
      "branches": branches,
      "temporal.hidden_sizes": (4,),
      "micro.hidden_sizes": (4,),
    }
  )
  return build_detector(c)


@pytest.mark.parametrize(
  "branches,sees_order",
  [
    ("spatial", False),
    ("micro", False),
    ("temporal", True),
    ("micro_temporal", True),
  ],
)
def test_shuffled_clip_is_seen_only_by_the_temporal_branches(branches, sees_order):
  det = _model(branches)
  clips = jax.random.randint(jax.random.key(0), (2, 8, 32, 32, 3), 0, 256).astype(jnp.uint8)
  order = diag.block_derangement(8, np.random.default_rng(0))
  variables = jax.jit(lambda c: det.init({"params": jax.random.key(1)}, c, train=False))(clips)
  apply = jax.jit(lambda c: det.apply(variables, c, train=False)[0])
  plain, shuffled = np.asarray(apply(clips)), np.asarray(apply(clips[:, order]))
  change = np.abs(plain - shuffled) / np.abs(plain)
  if sees_order:
    assert change.max() > 1e-3, f"the temporal branch ignores frame order: {change}"
  else:
    assert change.max() < 1e-4, f"an order-invariant branch sees frame order: {change}"


def test_shuffled_keeps_pose_and_permutes_expression(real_video):
  ident, motion, real = real_video
  order = diag.block_derangement(FRAMES, np.random.default_rng(1))
  shuffled = diag.shuffled_motion(motion, order)
  for name in ("dx", "dy", "angle", "scale"):
    np.testing.assert_array_equal(getattr(shuffled, name), getattr(motion, name))
  for name in ("mouth", "blink", "gain", "gamma", "pan"):
    np.testing.assert_array_equal(getattr(shuffled, name), getattr(motion, name)[order])
  frames = diag.make_diagnostic("Shuffled", ident, motion, SIZE, np.random.default_rng(1), 0.5)
  assert frames.shape == real.shape and frames.dtype == np.uint8
  assert np.abs(frames.astype(float) - real).mean() > 0.1  # not the real video


def test_chroma_shift_keeps_luma_and_the_micro_input(real_video):
  ident, motion, real = real_video
  fake = diag.make_diagnostic("ChromaShift", ident, motion, SIZE, np.random.default_rng(2), 0.5)
  y_real = diag.luma(real.astype(np.float32))
  y_fake = diag.luma(fake.astype(np.float32))
  assert np.abs(y_fake - y_real).max() <= 0.5
  changed = np.abs(fake.astype(int) - real).sum(-1) > 6
  assert 0.02 < changed.mean() < 0.6  # the face region, not the frame
  # The micro branch's grayscale input is the same up to rounding.
  gray = lambda x: np.asarray(micro_frames(jnp.asarray(x, jnp.float32), 24))  # noqa: E731
  assert np.abs(gray(fake) - gray(real)).max() < 2.0 / 255 + 1e-3


def test_frozen_mouth_holds_mouth_and_eyes_per_block(real_video):
  _, motion, _ = real_video
  frozen = diag.frozen_motion(motion, block=8)
  for a in range(0, FRAMES, 8):
    assert np.all(frozen.mouth[a : a + 8] == motion.mouth[a])
    assert np.all(frozen.blink[a : a + 8] == motion.blink[a])
  np.testing.assert_array_equal(frozen.dx, motion.dx)
  np.testing.assert_array_equal(frozen.gain, motion.gain)


def test_generator_writes_diagnostic_methods(tmp_path):
  report = synthetic_lib.generate(
    tmp_path, pairs=(1, 0, 0), methods=diag.DIAGNOSTIC_METHODS, size=64, num_frames=8, workers=1
  )
  assert report.num_videos == 2 + 2 * 3
  for m in diag.DIAGNOSTIC_METHODS:
    assert len(list((tmp_path / "manipulated_sequences" / m / "c23" / "videos").glob("*.mp4"))) == 2


def test_config_names_method_and_branch():
  c = diagnostics_config.get_config("ChromaShift,micro")
  assert c.data.methods == "ChromaShift" and c.model.branches == "micro"
  assert diagnostics_config.get_config("Shuffled,full").model.branches.count(",") == 3
  with pytest.raises(ValueError, match="Method in"):
    diagnostics_config.get_config("Deepfakes,spatial")


def test_dynamics_speeds_up_lighting_and_leaves_default_trees_alone():
  from configs.default import get_config as default_config

  assert "dynamics" not in synthetic_lib.settings_from_config(default_config().data)
  c = diagnostics_config.get_config("Shuffled,temporal")
  assert synthetic_lib.settings_from_config(c.data)["dynamics"] == 12.0
  slow = faces.make_motion(0, 3, 24, 25.0, 96)
  np.testing.assert_array_equal(slow.gain, faces.make_motion(0, 3, 24, 25.0, 96, 1.0).gain)
  fast = faces.make_motion(0, 3, 24, 25.0, 96, 5.0)
  np.testing.assert_array_equal(fast.mouth, slow.mouth)  # only the lighting changes speed
  assert np.abs(np.diff(fast.gain)).mean() > 3 * np.abs(np.diff(slow.gain)).mean()
  with pytest.raises(ValueError, match="dynamics"):
    synthetic_lib.generate("/nonexistent", pairs=(1, 0, 0), dynamics=0.5)


def test_standardize_over_time_keeps_only_how_frames_differ():
  rng = np.random.default_rng(0)
  x = rng.normal(5.0, 3.0, (3, 8, 5)).astype(np.float32)
  lengths = np.array([8, 5, 1])
  mask = np.arange(8)[None] < lengths[:, None]
  out = np.asarray(layers.standardize_over_time(jnp.asarray(x), jnp.asarray(mask)))
  for b, n in enumerate(lengths):  # independent definition, one sequence at a time
    valid = x[b, :n].astype(np.float64)
    expected = (valid - valid.mean(0)) / np.sqrt(valid.var(0) + 1e-3)
    np.testing.assert_allclose(out[b, :n], expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(out[b, n:], 0.0)
  # What all frames of a sequence share (a constant per feature) is removed.
  shifted = x + rng.normal(0.0, 50.0, (3, 1, 5)).astype(np.float32)
  np.testing.assert_allclose(
    np.asarray(layers.standardize_over_time(jnp.asarray(shifted), jnp.asarray(mask))),
    out,
    atol=1e-3,
  )
