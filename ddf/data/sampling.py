"""Which frames of a video are stored, and which clips of the stored frames a model reads.

Two modes (`data.sampling`, and the `sampling` of a builder config):

  windows  `num_windows` windows of `frames_per_video // num_windows` consecutive frames, the
           window starts evenly spaced over the video. A clip lies inside a run of consecutive
           video frames, so the temporal branches see real motion; at evaluation every run is cut
           into clips of `clip_len` (a window of `clip_len` frames is one clip).
  uniform  `frames_per_video` frames evenly spaced over the whole video (`np.linspace`), the
           protocol of frame-level results. A clip is any `clip_len` consecutive stored frames
           (frames far apart in time); evaluation takes `clips_per_video` evenly spaced clips.

In both modes a clip is used (for training or scoring) only when at least `min_face_fraction` of
its frames had a detected face (`face_found`); the default 1.0 never shows the model a frame where
no face was detected.
"""

from __future__ import annotations

import numpy as np

SAMPLINGS = ("windows", "uniform")


def check_sampling(sampling: str, frames_per_video: int, num_windows: int) -> None:
  """Raises ValueError for an unknown mode or windows that do not divide the stored frames."""
  if sampling not in SAMPLINGS:
    raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
  if sampling == "windows" and (num_windows < 1 or frames_per_video % num_windows):
    raise ValueError(
      f"sampling='windows' needs num_windows (got {num_windows}) to divide "
      f"frames_per_video (got {frames_per_video})"
    )


def window_length(frames_per_video: int, sampling: str, num_windows: int) -> int:
  """Consecutive frames per window (1 in uniform mode)."""
  return frames_per_video // num_windows if sampling == "windows" else 1


def frame_indices(
  total: int, frames_per_video: int, sampling: str = "uniform", num_windows: int = 1
) -> np.ndarray:
  """[frames_per_video] int32 indices of the frames to store from a video of `total` frames.

  Indices repeat when the video is too short (fewer than `frames_per_video` frames in uniform
  mode, fewer than one window in windows mode).
  """
  check_sampling(sampling, frames_per_video, num_windows)
  if total < 1:
    raise ValueError(f"a video needs at least one frame, got {total}")
  if sampling == "uniform":
    return np.linspace(0, total - 1, frames_per_video).round().astype(np.int32)
  length = frames_per_video // num_windows
  if total < length:  # too short for one window: spread what there is over each window.
    window = np.linspace(0, total - 1, length).round().astype(np.int32)
    return np.tile(window, num_windows)
  starts = np.linspace(0, total - length, num_windows).round().astype(np.int32)
  return (starts[:, None] + np.arange(length, dtype=np.int32)[None]).reshape(-1)


def runs(indices: np.ndarray) -> list[tuple[int, int]]:
  """Maximal runs of consecutive video frames in stored order: [(first position, length)]."""
  indices = np.asarray(indices)
  if len(indices) == 0:
    return []
  breaks = np.flatnonzero(np.diff(indices) != 1) + 1
  bounds = np.concatenate([[0], breaks, [len(indices)]])
  return [(int(a), int(b - a)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _with_faces(
  starts: np.ndarray, face_found: np.ndarray, clip_len: int, min_face_fraction: float
) -> np.ndarray:
  found = np.asarray(face_found, np.float64)
  keep = [s for s in starts if found[s : s + clip_len].mean() >= min_face_fraction - 1e-9]
  return np.asarray(keep, np.int32)


def train_starts(
  indices: np.ndarray,
  face_found: np.ndarray,
  clip_len: int,
  sampling: str,
  min_face_fraction: float = 1.0,
) -> np.ndarray:
  """Start positions of every clip a training step may draw from one stored video."""
  n = len(indices)
  if sampling == "uniform":
    starts = np.arange(0, max(n - clip_len + 1, 0))
  else:
    starts = np.array(
      [a + k for a, length in runs(indices) for k in range(length - clip_len + 1)], np.int64
    )
  return _with_faces(starts, face_found, clip_len, min_face_fraction)


def uniform_clip_starts(num_frames: int, clip_len: int, clips_per_video: int) -> np.ndarray:
  """`clips_per_video` evenly spaced clip starts over `num_frames` stored frames."""
  if num_frames < clip_len:
    raise ValueError(f"clip_len={clip_len} exceeds the {num_frames} frames stored per video")
  return np.unique(np.linspace(0, num_frames - clip_len, clips_per_video).round().astype(int))


def eval_starts(
  indices: np.ndarray,
  face_found: np.ndarray,
  clip_len: int,
  sampling: str,
  clips_per_video: int,
  min_face_fraction: float = 1.0,
) -> np.ndarray:
  """Fixed start positions of the clips scored for one stored video (possibly none)."""
  if sampling == "uniform":
    if len(indices) < clip_len:
      return np.zeros([0], np.int32)
    starts = uniform_clip_starts(len(indices), clip_len, clips_per_video)
  else:
    starts = np.array(
      [a + k * clip_len for a, length in runs(indices) for k in range(length // clip_len)], np.int64
    )
  return _with_faces(starts, face_found, clip_len, min_face_fraction)
