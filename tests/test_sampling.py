"""Frame sampling (windows / uniform) and which clips are trained on and scored."""

from __future__ import annotations

import ml_collections
import numpy as np
import pytest

from ddf.data import pipeline, sampling
from ddf.data.ffpp_examples import encode_jpeg


def test_windows_are_consecutive_and_spread_over_the_video():
  idx = sampling.frame_indices(300, 32, "windows", 4)
  assert idx.shape == (32,)
  windows = idx.reshape(4, 8)
  assert np.all(np.diff(windows, axis=1) == 1)  # consecutive frames inside a window
  assert windows[0, 0] == 0 and windows[-1, -1] == 299  # first and last frame of the video
  assert np.all(np.diff(windows[:, 0]) > 8)  # windows do not overlap on a long video
  assert sampling.runs(idx) == [(0, 8), (8, 8), (16, 8), (24, 8)]


def test_uniform_sampling_is_linspace():
  np.testing.assert_array_equal(
    sampling.frame_indices(300, 32, "uniform"), np.linspace(0, 299, 32).round().astype(int)
  )


@pytest.mark.parametrize("total", [8, 9, 20, 31, 32, 33])
def test_windows_on_short_videos_stay_inside_the_video(total):
  idx = sampling.frame_indices(total, 32, "windows", 4)
  assert idx.min() >= 0 and idx.max() <= total - 1
  for _, length in sampling.runs(idx):
    assert length >= 8  # each window is still 8 consecutive frames (windows may overlap)
  assert sum(length for _, length in sampling.runs(idx)) == 32


def test_video_shorter_than_a_window_has_no_clip():
  idx = sampling.frame_indices(5, 16, "windows", 2)
  assert idx.max() == 4
  assert sampling.train_starts(idx, np.ones(16, bool), 8, "windows").size == 0
  assert sampling.eval_starts(idx, np.ones(16, bool), 8, "windows", 1).size == 0


def test_bad_window_counts_are_rejected():
  with pytest.raises(ValueError, match="divide"):
    sampling.frame_indices(100, 30, "windows", 4)
  with pytest.raises(ValueError, match="sampling"):
    sampling.frame_indices(100, 32, "random", 4)


def test_window_clips_never_straddle_windows():
  idx = sampling.frame_indices(300, 32, "windows", 4)
  found = np.ones(32, bool)
  starts = sampling.train_starts(idx, found, 4, "windows")
  assert starts.tolist() == [w * 8 + k for w in range(4) for k in range(5)]
  assert sampling.eval_starts(idx, found, 8, "windows", 1).tolist() == [0, 8, 16, 24]
  assert sampling.eval_starts(idx, found, 4, "windows", 1).tolist() == list(range(0, 32, 4))
  # uniform: any consecutive stored frames; evaluation takes evenly spaced clips
  uni = sampling.frame_indices(300, 32, "uniform")
  assert sampling.train_starts(uni, found, 8, "uniform").tolist() == list(range(25))
  assert sampling.eval_starts(uni, found, 8, "uniform", 4).tolist() == [0, 8, 16, 24]


def test_clips_with_faceless_frames_are_not_used():
  idx = sampling.frame_indices(300, 32, "windows", 4)
  found = np.ones(32, bool)
  found[10] = False  # a frame of window 1 without a face
  assert sampling.eval_starts(idx, found, 8, "windows", 1).tolist() == [0, 16, 24]
  train = sampling.train_starts(idx, found, 4, "windows")
  assert not any(s <= 10 < s + 4 for s in train)
  assert 11 in train and 4 in train and 6 not in train  # 6..9 would straddle two windows
  # a lower threshold admits clips with some faceless frames
  assert sampling.eval_starts(idx, found, 8, "windows", 1, 0.875).tolist() == [0, 8, 16, 24]


def test_default_config_scores_several_clips_per_video():
  from configs import default, ffpp

  for config, total in ((default.get_config(), 24), (ffpp.get_config("c23,resnet50"), 400)):
    rule = pipeline.ClipRule.from_config(config.data)
    idx = sampling.frame_indices(
      total, config.data.frames_per_video, config.data.sampling, config.data.num_windows
    )
    starts = rule.eval_starts({"frame_indices": idx, "face_found": np.ones(len(idx), bool)})
    assert len(starts) >= 2
    for s in starts:  # each clip is consecutive video frames
      assert np.all(np.diff(idx[s : s + rule.clip_len]) == 1)


class _ListSource:
  """A split held in memory: records with JPEG frames, and their index."""

  def __init__(self, records):
    self.records = records
    self.reads = 0

  def __len__(self):
    return len(self.records)

  def __getitem__(self, i):
    self.reads += 1
    return self.records[int(i)]

  def index(self):
    return [pipeline.index_entry(r) for r in self.records]


def _record(video_id, label, found, total=40, frames_per_video=16, windows=2):
  idx = sampling.frame_indices(total, frames_per_video, "windows", windows)
  frames = [encode_jpeg(np.full((8, 8, 3), 10 * k, np.uint8), 95) for k in range(len(idx))]
  return {
    "video_id": video_id,
    "label": label,
    "method": "original" if label == 0 else "X",
    "compression": "c23",
    "frames": frames,
    "face_found": np.asarray(found, bool),
    "frame_indices": idx,
  }


def test_eval_batches_skip_faceless_clips_and_read_each_record_once():
  all_found = np.ones(16, bool)
  second_window_faceless = all_found.copy()
  second_window_faceless[12] = False
  faceless = np.zeros(16, bool)
  source = _ListSource(
    [_record("a", 0, all_found), _record("b", 1, second_window_faceless), _record("c", 1, faceless)]
  )
  rule = pipeline.ClipRule(clip_len=8, sampling="windows")
  rows = []
  for batch in pipeline.eval_batches(
    source, rule, local_batch_size=2, process_index=0, process_count=1
  ):
    for r, m, clip in zip(batch.records, batch.mask, batch.inputs["clips"], strict=True):
      if m:
        rows.append((r, int(clip[0, 0, 0, 0])))
  assert [r for r, _ in rows] == [0, 0, 1]  # a: both windows; b: its first; c: none
  assert rows[1][1] == pytest.approx(80, abs=2)  # a's second clip starts at stored frame 8
  assert source.reads == 2 + 1  # each scored record parsed once (+1 for the padding shape)
  meta = pipeline.video_metadata(source, rule)
  assert [m["num_clips"] for m in meta] == [2, 1, 0]
  assert "min_face_fraction" in meta[2]["not_scored"]


def test_training_never_draws_a_faceless_clip():
  found = np.ones(16, bool)
  found[[3, 12]] = False
  source = _ListSource(
    [
      _record("a", 0, found),
      _record("b", 1, np.zeros(16, bool)),
      _record("c", 1, np.ones(16, bool)),
    ]
  )
  data = ml_collections.ConfigDict(
    dict(
      clip_len=4,
      sampling="windows",
      min_face_fraction=1.0,
      balance=False,
      num_workers=0,
      augment={},
    )
  )
  it = pipeline.train_loader(
    None, data, local_batch_size=2, seed=0, source=source, process_index=0, process_count=1
  )
  labels = []
  for _ in range(20):
    batch = next(it)
    labels += batch["label"].tolist()
    for clip, label in zip(batch["clips"], batch["label"], strict=True):
      first = int(round(clip[0, 0, 0, 0] / 10))
      if label == 0:  # video a: stored frames 4..7 or 8..11 are the only clips without 3 or 12
        assert first in (4, 8)
  assert set(labels) == {0, 1}
