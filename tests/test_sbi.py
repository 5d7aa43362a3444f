"""Self-blended clips: where they change a clip, consistency over frames, the training stream."""

from __future__ import annotations

import cv2
import ml_collections
import numpy as np
import pytest

from ddf.data import pipeline, sampling, sbi
from ddf.data.ffpp_examples import encode_jpeg
from ddf.faces import align


@pytest.fixture(scope="module")
def face_clip():
  """An aligned 64 px face crop (astronaut) repeated over 4 frames, with template landmarks."""
  import skimage

  image = skimage.data.astronaut()
  points = np.array([[204, 100], [245, 102], [224, 126], [202, 139], [244, 140]], np.float32)
  crop, matrix = align.align_face(image, points, 64, 1.3)
  landmarks = align.transform_points(points, matrix)
  return np.repeat(crop[None], 4, axis=0), np.repeat(landmarks[None], 4, axis=0)


def test_self_blending_changes_the_face_only_and_every_frame_alike(face_clip):
  clip, landmarks = face_clip
  out = sbi.self_blend_clip(clip, landmarks, np.random.default_rng(0))
  assert out.shape == clip.shape and out.dtype == np.uint8
  diff = np.abs(out.astype(int) - clip).sum(-1)
  centre = landmarks[0].mean(0).round().astype(int)
  inner = diff[:, centre[1] - 6 : centre[1] + 6, centre[0] - 6 : centre[0] + 6]
  assert inner.mean() > 3  # the face is blended
  assert diff[:, :4, :].max() == 0 and diff[:, :, :2].max() == 0  # the border is untouched
  for t in range(1, 4):  # identical frames and landmarks -> identical blends
    np.testing.assert_array_equal(out[t], out[0])


def test_self_blending_is_seeded(face_clip):
  clip, landmarks = face_clip
  a = sbi.self_blend_clip(clip, landmarks, np.random.default_rng(3))
  b = sbi.self_blend_clip(clip, landmarks, np.random.default_rng(3))
  c = sbi.self_blend_clip(clip, landmarks, np.random.default_rng(4))
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)


def _laplacian_energy(frames: np.ndarray, box: tuple[int, int]) -> float:
  lo, hi = box
  grey = frames.astype(np.float32).mean(-1)
  lap = np.stack([cv2.Laplacian(g, cv2.CV_32F) for g in grey])
  return float((lap[:, lo:hi, lo:hi] ** 2).mean())


@pytest.mark.parametrize("seed", range(6))
def test_frequency_scale_changes_only_the_blur_or_sharpening(face_clip, seed):
  clip, landmarks = face_clip
  full = sbi.SelfBlend(np.random.default_rng(seed), 64, frequency=1.0)
  none = sbi.SelfBlend(np.random.default_rng(seed), 64, frequency=0.0)
  half = sbi.SelfBlend(np.random.default_rng(seed), 64, frequency=0.5)
  # The same draws: mask, colour, geometry and blend ratio do not depend on the scale.
  for name in ("grow", "hue", "sat", "val", "contrast", "scale", "morph", "feather", "ratio"):
    assert getattr(full, name) == getattr(none, name) == getattr(half, name)
  np.testing.assert_array_equal(full.mask(landmarks[0]), none.mask(landmarks[0]))
  assert (full.blur, full.sharpen) != (0.0, 0.0) and none.blur == none.sharpen == 0.0
  assert half.blur == pytest.approx(full.blur / 2) and half.sharpen == pytest.approx(
    full.sharpen / 2
  )
  # The default is SBI's blend, unchanged.
  np.testing.assert_array_equal(
    full(clip, landmarks), sbi.self_blend_clip(clip, landmarks, np.random.default_rng(seed))
  )
  # Inside the face the blur lowers the high-pass energy and the sharpening raises it; without
  # the frequency transform the source keeps the frame's own (the colour shift scales it a little).
  box = (26, 38)
  energy = {
    k: _laplacian_energy(b(clip, landmarks), box) for k, b in (("full", full), ("none", none))
  }
  if full.blur:
    assert energy["full"] < 0.8 * energy["none"]
  else:
    assert energy["full"] > 1.2 * energy["none"]
  with pytest.raises(ValueError, match="frequency"):
    sbi.SelfBlend(np.random.default_rng(seed), 64, frequency=-1.0)


def test_a_cubic_warp_keeps_the_high_frequencies_a_bilinear_one_smooths(face_clip):
  """The source's scale / shift by bilinear interpolation is a low-pass of its own, the same way
  in every self-blend; a cubic one keeps most of the face's high-pass energy."""
  clip, landmarks = face_clip
  box = (26, 38)
  original = _laplacian_energy(clip, box)
  ratios = {"linear": [], "cubic": []}
  for seed in range(8):
    for warp in ratios:
      blend = sbi.SelfBlend(np.random.default_rng(seed), 64, frequency=0.0, warp=warp)
      blend.ratio = 1.0  # the whole source inside the mask, its colour as it was
      blend.hue, blend.sat, blend.val, blend.contrast = 0.0, 1.0, 0.0, 1.0
      ratios[warp].append(_laplacian_energy(blend(clip, landmarks), box) / original)
  # On this sharp, noiseless crop the subpixel shift costs bilinear 60-75% of the energy and
  # cubic 10-50%.
  assert np.mean(ratios["linear"]) < 0.6 * np.mean(ratios["cubic"])
  assert np.mean(ratios["cubic"]) > 0.6
  np.testing.assert_array_equal(  # "linear" is the default
    sbi.SelfBlend(np.random.default_rng(1), 64, warp="linear")(clip, landmarks),
    sbi.self_blend_clip(clip, landmarks, np.random.default_rng(1)),
  )
  with pytest.raises(ValueError, match="warp"):
    sbi.SelfBlend(np.random.default_rng(0), 64, warp="nearest")


@pytest.mark.parametrize("option", [dict(frequency=0.0), dict(warp="cubic")])
def test_self_blend_options_reach_the_training_stream(face_clip, option):
  from configs import default

  defaults = dict(frequency=1.0, warp="linear")
  assert {k: default.get_config().data.sbi[k] for k in defaults} == defaults
  old = ml_collections.ConfigDict(dict(sbi=dict(mode="reals_only", fraction=0.5)))
  assert pipeline.sbi_options(old) == defaults  # configs written before the keys existed
  clip, landmarks = face_clip
  source = _Source([_record("r1", 0, clip, landmarks), _record("r2", 0, clip, landmarks)])
  batches = []
  for options in (defaults, {**defaults, **option}):
    data = _stream_config(dict(mode="reals_only", fraction=0.5, **options))
    assert pipeline.sbi_options(data) == options
    it = pipeline.train_loader(
      None, data, local_batch_size=8, seed=0, source=source, process_index=0, process_count=1
    )
    batches.append(next(it))
  np.testing.assert_array_equal(batches[0]["label"], batches[1]["label"])
  fakes = batches[0]["label"] == 1
  assert fakes.any() and (~fakes).any()
  for batch in batches:  # the reals are the frames as stored
    for c in batch["clips"][~fakes]:
      np.testing.assert_array_equal(c, batches[0]["clips"][~fakes][0])
  assert not np.array_equal(batches[0]["clips"][fakes], batches[1]["clips"][fakes])


class _Source:
  def __init__(self, records):
    self.records = records

  def __len__(self):
    return len(self.records)

  def __getitem__(self, i):
    return self.records[int(i)]

  def index(self):
    return [pipeline.index_entry(r) for r in self.records]


def _stream_config(sbi_settings: dict) -> ml_collections.ConfigDict:
  """The data config of a 4-frame training stream without augmentation."""
  return ml_collections.ConfigDict(
    dict(clip_len=4, sampling="windows", balance=False, num_workers=0, augment={}, sbi=sbi_settings)
  )


def _record(video_id, label, clip, landmarks):
  idx = sampling.frame_indices(20, 4, "windows", 1)
  return {
    "video_id": video_id,
    "label": label,
    "method": "original" if label == 0 else "X",
    "compression": "c23",
    "frames": [encode_jpeg(f, 95) for f in clip],
    "face_found": np.ones(4, bool),
    "frame_indices": idx,
    "landmarks": landmarks,
  }


@pytest.mark.parametrize("mode", ["reals_only", "mixed"])
def test_training_stream_with_self_blended_fakes(face_clip, mode):
  clip, landmarks = face_clip
  noise = np.random.default_rng(0).integers(0, 255, clip.shape, dtype=np.uint8)
  source = _Source(
    [
      _record("r1", 0, clip, landmarks),
      _record("r2", 0, clip, landmarks),
      _record("f1", 1, noise, landmarks),
    ]
  )
  data = _stream_config(dict(mode=mode, fraction=0.5))
  it = pipeline.train_loader(
    None, data, local_batch_size=4, seed=0, source=source, process_index=0, process_count=1
  )
  labels, noisy = [], 0
  for _ in range(15):
    batch = next(it)
    labels += batch["label"].tolist()
    noisy += sum(int(np.abs(c.astype(int) - clip).mean() > 40) for c in batch["clips"])
  assert 0.3 < np.mean(labels) < 0.8
  if mode == "reals_only":
    assert noisy == 0  # the dataset's own fake is never read
  else:
    assert noisy > 0


def test_a_blended_clip_looks_like_a_face_swap(face_clip, tmp_path):
  clip, landmarks = face_clip
  tiles = [sbi.self_blend_clip(clip, landmarks, np.random.default_rng(s))[0] for s in range(6)]
  sheet = np.concatenate([clip[0], *tiles], axis=1)
  path = tmp_path / "sbi.png"
  cv2.imwrite(str(path), cv2.cvtColor(cv2.resize(sheet, None, fx=3, fy=3), cv2.COLOR_RGB2BGR))
  assert path.stat().st_size > 0


def test_face_ring_log_ratio_reads_a_noisier_face():
  """White noise twice as strong inside the face box: the Laplacian's energy ratio is 4."""
  from ddf import baselines_lib
  from ddf.sbi_highpass_lib import face_ring_log_ratio

  rng = np.random.default_rng(0)
  noise = rng.normal(0.0, 4.0, (8, 96, 96, 1)).repeat(3, axis=-1)
  lo, hi = baselines_lib.face_box(96, 2.0)
  noise[:, lo:hi, lo:hi] *= 2.0
  clip = np.clip(128 + noise, 0, 255).round().astype(np.uint8)
  assert face_ring_log_ratio(clip, 2.0) == pytest.approx(np.log(4.0), abs=0.1)
  flat = np.full((8, 96, 96, 3), 128, np.uint8)
  assert face_ring_log_ratio(flat, 2.0) == pytest.approx(0.0, abs=1e-6)
  with pytest.raises(ValueError, match="no face region or no ring"):
    face_ring_log_ratio(clip, 1.0)
