"""Tests for ddf.data.video (OpenCV video I/O)."""

import tracemalloc

import cv2
import numpy as np
import pytest

from ddf.data import video
from ddf.data.video import VideoError, read_frames, write_video


def _ramp_video(path, n, size=64):
  """Frame i is uniform grey of level 10 + 20 * i (so decoded frames identify their index)."""
  frames = np.stack([np.full((size, size, 3), 10 + 20 * i, np.uint8) for i in range(n)])
  write_video(str(path), frames, fps=25)
  return frames


def _frame_ids(frames):
  return np.round((frames.reshape(len(frames), -1).mean(1) - 10) / 20).astype(int)


def test_linspace_indices_and_content(tmp_path):
  path = tmp_path / "v.mp4"
  _ramp_video(path, 10)
  v = read_frames(path, 4)
  np.testing.assert_array_equal(v.indices, [0, 3, 6, 9])
  assert v.indices.dtype == np.int32
  assert v.frames.shape == (4, 64, 64, 3) and v.frames.dtype == np.uint8
  np.testing.assert_array_equal(_frame_ids(v.frames), v.indices)
  assert (v.height, v.width, v.total_frames, v.short) == (64, 64, 10, False)
  assert v.fps == pytest.approx(25.0)


def test_rgb_order(tmp_path):
  path = tmp_path / "red.mp4"
  frames = np.zeros((3, 32, 32, 3), np.uint8)
  frames[..., 0] = 200  # red
  write_video(str(path), frames, fps=10)
  v = read_frames(path, 2)
  means = v.frames.reshape(-1, 3).mean(0)
  assert means[0] > 150 and means[2] < 50


def test_all_frames(tmp_path):
  path = tmp_path / "v.mp4"
  _ramp_video(path, 7)
  v = read_frames(path, None)
  np.testing.assert_array_equal(v.indices, np.arange(7))
  np.testing.assert_array_equal(_frame_ids(v.frames), np.arange(7))
  assert v.total_frames == 7 and not v.short


def test_short_video_repeats_indices(tmp_path):
  path = tmp_path / "short.mp4"
  _ramp_video(path, 5)
  v = read_frames(path, 8)
  expected = np.linspace(0, 4, 8).round().astype(np.int32)
  np.testing.assert_array_equal(v.indices, expected)
  np.testing.assert_array_equal(_frame_ids(v.frames), expected)
  assert v.short and v.total_frames == 5 and len(v.frames) == 8


class _WrongCount:
  """Wraps cv2.VideoCapture and reports a wrong CAP_PROP_FRAME_COUNT."""

  def __init__(self, real_cls, wrong, *args):
    self._cap = real_cls(*args)
    self._wrong = wrong

  def get(self, prop):
    if prop == cv2.CAP_PROP_FRAME_COUNT:
      return self._wrong
    return self._cap.get(prop)

  def __getattr__(self, name):
    return getattr(self._cap, name)


@pytest.mark.parametrize("wrong", [0, 3, 40])
def test_wrong_frame_count_hint(tmp_path, monkeypatch, wrong):
  path = tmp_path / "v.mp4"
  _ramp_video(path, 10)
  real_cls = cv2.VideoCapture
  monkeypatch.setattr(video.cv2, "VideoCapture", lambda *a: _WrongCount(real_cls, wrong, *a))
  v = read_frames(path, 4)
  np.testing.assert_array_equal(v.indices, [0, 3, 6, 9])
  np.testing.assert_array_equal(_frame_ids(v.frames), [0, 3, 6, 9])
  assert v.total_frames == 10


def test_missing_file(tmp_path):
  path = tmp_path / "nope.mp4"
  with pytest.raises(VideoError, match="nope.mp4"):
    read_frames(path, 4)


@pytest.mark.parametrize("content", [b"", None])
def test_corrupt_file(tmp_path, content):
  path = tmp_path / "x.mp4"
  path.write_bytes(np.random.default_rng(0).bytes(4096) if content is None else content)
  with pytest.raises(VideoError, match="x.mp4"):
    read_frames(path, 4)
  with pytest.raises(VideoError, match="x.mp4"):
    read_frames(path, None)


def test_write_video_validates(tmp_path):
  with pytest.raises(ValueError):
    write_video(str(tmp_path / "a.mp4"), np.zeros((2, 8, 8, 3), np.float32), 25)
  with pytest.raises(ValueError):
    write_video(str(tmp_path / "a.mp4"), np.zeros((2, 8, 8), np.uint8), 25)


def test_write_is_deterministic(tmp_path):
  frames = np.random.default_rng(0).integers(0, 255, (6, 48, 48, 3), dtype=np.uint8)
  write_video(str(tmp_path / "a.mp4"), frames, 25)
  write_video(str(tmp_path / "b.mp4"), frames, 25)
  assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()


@pytest.mark.parametrize("wrong_count", [0, 5])
def test_fallback_keeps_only_wanted_frames(tmp_path, monkeypatch, wrong_count):
  """The last-resort decoder returns the normal path's frames without keeping every frame.

  `wrong_count`: grab/retrieve also miscounts the frames, so the fallback must recount.
  """
  n, h, w = 120, 240, 320
  rng = np.random.default_rng(0)
  base = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
  frames = np.stack([np.roll(base, 3 * i, axis=1) for i in range(n)])  # distinct frames
  path = tmp_path / "long.mp4"
  write_video(str(path), frames, fps=25)
  want = read_frames(path, 10)

  real = video._grab_retrieve

  def flaky(p, wanted):  # grab/retrieve loses a wanted frame: forces the fallback decoder
    got, count, fps = real(p, wanted)
    got.pop(int(wanted[len(wanted) // 2]), None)
    return got, count + wrong_count, fps

  monkeypatch.setattr(video, "_grab_retrieve", flaky)
  tracemalloc.start()
  try:
    tracemalloc.reset_peak()
    got = read_frames(path, 10)
    _, peak = tracemalloc.get_traced_memory()
  finally:
    tracemalloc.stop()
  np.testing.assert_array_equal(got.indices, want.indices)
  np.testing.assert_array_equal(got.frames, want.frames)
  assert (got.total_frames, got.fps, got.short) == (n, want.fps, False)
  # Keeping every decoded frame would need n * h * w * 3 bytes (numpy/cv2 arrays are traced).
  assert peak < 0.4 * n * h * w * 3, peak / (n * h * w * 3)
