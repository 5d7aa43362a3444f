"""The DeeperForensics-1.0 perturbations: definitions, severity order, determinism."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ddf.data import perturb


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
  import skimage

  face = cv2.resize(
    skimage.data.astronaut()[30:230, 130:330], (64, 64), interpolation=cv2.INTER_AREA
  )
  return np.stack([np.roll(face, k, axis=1) for k in range(4)])


def test_there_are_seven_types_of_five_levels():
  names = perturb.names()
  assert len(names) == 35 and names[0] == "CS1" and names[-1] == "JPEG5"
  assert perturb.parse("GB3") == ("GB", 3)
  for bad in ("GB6", "XX1", "GB", "gb3"):
    with pytest.raises(ValueError, match="perturbation"):
      perturb.parse(bad)


@pytest.mark.parametrize("kind", list(perturb.TYPES))
def test_each_level_is_harsher_than_the_last(clip, kind):
  change = []
  for level in perturb.LEVELS:
    out = perturb.apply(clip, f"{kind}{level}", seed=0)
    assert out.shape == clip.shape and out.dtype == np.uint8
    change.append(float(np.abs(out.astype(np.float32) - clip).mean()))
  assert change[0] > 0
  assert all(b >= a - 0.05 for a, b in zip(change, change[1:], strict=False)), change
  assert change[-1] > change[0]


def test_saturation_keeps_luma_and_removes_chroma(clip):
  grey = perturb.apply(clip, "CS5")
  ycc = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2YCrCb) for f in grey]).astype(int)
  assert np.abs(ycc[..., 1:] - 128).max() <= 1
  luma = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2YCrCb)[..., 0] for f in clip]).astype(int)
  assert np.abs(ycc[..., 0] - luma).max() <= 2


def test_random_perturbations_are_seeded_and_the_same_on_every_frame(clip):
  a, b = perturb.apply(clip, "BW3", seed=7), perturb.apply(clip, "BW3", seed=7)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, perturb.apply(clip, "BW3", seed=8))
  mask = (a != clip).any(-1)
  assert (mask[0] == mask[1]).mean() > 0.95  # the same blocks on every frame of the clip
