"""grain input pipeline: clips, balancing, determinism, checkpointable iterator, eval coverage."""

from __future__ import annotations

import ml_collections
import numpy as np

from ddf.data import augment, pipeline, sampling
from tests.conftest import TINY_CROP, TINY_FRAMES_PER_VIDEO


def _data_cfg(**kw) -> ml_collections.ConfigDict:
  cfg = ml_collections.ConfigDict(
    dict(
      clip_len=2,
      balance=True,
      num_workers=0,
      augment=dict(flip=True, color_jitter=0.1, jpeg_prob=0.5, blur_prob=0.5),
    )
  )
  cfg.update(kw)
  return cfg


def _take(iterator, n):
  return [next(iterator) for _ in range(n)]


def test_train_batches_shapes_and_balance(tiny_dataset):
  builder, _ = tiny_dataset
  loader = pipeline.train_loader(builder, _data_cfg(), local_batch_size=8, seed=0)
  batches = _take(iter(loader), 10)
  assert batches[0]["clips"].shape == (8, 2, TINY_CROP, TINY_CROP, 3)
  assert batches[0]["clips"].dtype == np.uint8
  labels = np.concatenate([b["label"] for b in batches])
  # 1 real : 4 fake on disk; balanced sampling brings reals to about half.
  assert 0.3 < labels.mean() < 0.7


def test_unbalanced_loader_keeps_dataset_ratio(tiny_dataset):
  builder, _ = tiny_dataset
  source = pipeline.RecordSource(builder, "train")
  labels = source.labels()
  assert labels.mean() == 0.8
  balanced = pipeline.BalancedSource(source, labels)
  idx_labels = np.array([balanced[i]["label"] for i in range(len(balanced))])
  assert idx_labels.mean() == 0.5


def test_same_seed_same_batches_and_other_seed_differs(tiny_dataset):
  builder, _ = tiny_dataset
  a = _take(iter(pipeline.train_loader(builder, _data_cfg(), 4, seed=1)), 3)
  b = _take(iter(pipeline.train_loader(builder, _data_cfg(), 4, seed=1)), 3)
  c = _take(iter(pipeline.train_loader(builder, _data_cfg(), 4, seed=2)), 3)
  for x, y in zip(a, b, strict=True):
    np.testing.assert_array_equal(x["clips"], y["clips"])
  assert any(not np.array_equal(x["clips"], z["clips"]) for x, z in zip(a, c, strict=True))


def test_iterator_state_restores_exact_position(tiny_dataset):
  builder, _ = tiny_dataset
  loader = pipeline.train_loader(builder, _data_cfg(), 4, seed=0)
  it = iter(loader)
  _take(it, 3)
  state = it.get_state()
  expected = _take(it, 3)
  fresh = iter(pipeline.train_loader(builder, _data_cfg(), 4, seed=0))
  fresh.set_state(state)
  for x, y in zip(expected, _take(fresh, 3), strict=True):
    np.testing.assert_array_equal(x["clips"], y["clips"])
    np.testing.assert_array_equal(x["label"], y["label"])


def test_per_process_shards_are_disjoint_and_cover(tiny_dataset):
  builder, _ = tiny_dataset
  source = pipeline.RecordSource(builder, "val")
  seen = []
  for pi in range(2):
    rule = pipeline.ClipRule(clip_len=2, clips_per_video=2)
    for batch in pipeline.eval_batches(
      source, rule, local_batch_size=3, process_index=pi, process_count=2
    ):
      assert batch.inputs["clips"].shape[0] == 3
      seen += [r for r, m in zip(batch.records, batch.mask, strict=True) if m]
  # every video exactly twice (two fixed clips), across the two processes
  counts = np.bincount(seen, minlength=len(source))
  assert counts.tolist() == [2] * len(source)


def test_eval_clips_are_fixed_and_evenly_spaced():
  assert sampling.uniform_clip_starts(32, 8, 4).tolist() == [0, 8, 16, 24]
  assert sampling.uniform_clip_starts(TINY_FRAMES_PER_VIDEO, 2, 1).tolist() == [0]


def test_augmentation_is_deterministic_and_clip_consistent():
  rng_clip = np.random.default_rng(0).integers(0, 255, (4, 16, 16, 3), dtype=np.uint8)
  clip = np.repeat(rng_clip[:1], 4, axis=0)  # four identical frames
  cfg = ml_collections.ConfigDict(dict(flip=True, color_jitter=0.2, jpeg_prob=1.0, blur_prob=1.0))
  a = augment.augment_clip(clip, np.random.default_rng(5), cfg)
  b = augment.augment_clip(clip, np.random.default_rng(5), cfg)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, clip)
  for frame in a[1:]:  # the same transform on every frame of a clip
    np.testing.assert_array_equal(frame, a[0])


def test_shift_moves_every_frame_alike_and_leaves_the_other_draws_alone():
  rng = np.random.default_rng(1)
  clip = rng.integers(0, 255, (3, 20, 24, 3), dtype=np.uint8)
  base = dict(flip=True, color_jitter=0.1, jpeg_prob=0.0, blur_prob=0.0)
  unshifted = augment.augment_clip(clip, np.random.default_rng(7), ml_collections.ConfigDict(base))
  draws = np.random.default_rng(7)
  shifted = augment.augment_clip(clip, draws, ml_collections.ConfigDict(dict(base, shift=4)))
  replay = np.random.default_rng(7)
  augment.augment_clip(clip, replay, ml_collections.ConfigDict(base))
  dy, dx = replay.integers(-4, 5, size=2)  # the draw the shift made, after the others
  assert draws.random() == replay.random()
  # independent definition: output pixel (y, x) is input pixel (y - dy, x - dx) where that exists
  h, w = clip.shape[1:3]
  ys, xs = slice(max(dy, 0), h + min(dy, 0)), slice(max(dx, 0), w + min(dx, 0))
  src_ys, src_xs = slice(max(-dy, 0), h + min(-dy, 0)), slice(max(-dx, 0), w + min(-dx, 0))
  np.testing.assert_array_equal(shifted[:, ys, xs], unshifted[:, src_ys, src_xs])
  assert shifted.shape == clip.shape and (dy, dx) != (0, 0)


def test_global_batches_do_not_depend_on_the_process_count(tiny_dataset):
  builder, _ = tiny_dataset
  cfg = _data_cfg(augment=dict(flip=False, color_jitter=0.0, jpeg_prob=0.0, blur_prob=0.0))
  one = _take(pipeline.train_loader(builder, cfg, 4, seed=0, process_index=0, process_count=1), 3)
  two = [
    _take(pipeline.train_loader(builder, cfg, 2, seed=0, process_index=p, process_count=2), 3)
    for p in range(2)
  ]
  for step in range(3):
    # row for row: process 0 holds rows 0-1 of the global batch, process 1 rows 2-3
    joined = np.concatenate([two[0][step]["clips"], two[1][step]["clips"]])
    np.testing.assert_array_equal(joined, one[step]["clips"])
