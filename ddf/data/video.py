"""Video I/O shared by the whole project (OpenCV, RGB uint8 frames).

`read_frames` samples frames evenly over the frames actually decoded (never trusting
`CAP_PROP_FRAME_COUNT` alone) and keeps only the sampled frames in memory, also on its fallback
path; `write_video` writes `.mp4` with the `mp4v` codec.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Sequence

import cv2
import numpy as np

from ddf.data import storage

__all__ = ["VideoError", "VideoFrames", "read_frames", "sample_indices", "write_video"]


class VideoError(Exception):
  """A video that cannot be read or written (message names the file and what to do)."""


@dataclasses.dataclass
class VideoFrames:
  """Frames sampled from one video.

  Attributes:
    frames: [T, H, W, 3] uint8 RGB.
    indices: [T] int32 frame indices (0-based, in decoding order) of each frame.
    fps: frames per second reported by the container (0.0 if unknown).
    height: frame height in pixels.
    width: frame width in pixels.
    total_frames: number of frames actually decoded from the video.
    short: True when the video has fewer frames than asked (indices repeat).
  """

  frames: np.ndarray
  indices: np.ndarray
  fps: float
  height: int
  width: int
  total_frames: int
  short: bool = False


def sample_indices(total: int, num_frames: int | None) -> np.ndarray:
  """Evenly spaced indices `linspace(0, total-1, num_frames).round()` (all if None)."""
  if num_frames is None:
    return np.arange(total, dtype=np.int32)
  if num_frames <= 0:
    raise ValueError(f"num_frames must be positive or None, got {num_frames}")
  return np.linspace(0, total - 1, num_frames).round().astype(np.int32)


def _not_found(path: str) -> VideoError:
  return VideoError(
    f"Video file not found: {path!r}. Check the path (and the dataset's manual_dir)."
  )


def _open(path: str) -> cv2.VideoCapture:
  if not os.path.exists(path):
    raise _not_found(path)
  if os.path.isdir(path):
    raise VideoError(f"Expected a video file but {path!r} is a directory.")
  cap = cv2.VideoCapture(path)
  if not cap.isOpened():
    cap.release()
    raise VideoError(
      f"OpenCV cannot open video {path!r}: the file is corrupt, truncated or in an unsupported "
      "format. Re-download or re-encode it (e.g. `ffmpeg -i in -c:v libx264 out.mp4`), or remove it."
    )
  return cap


def _corrupt(path: str) -> VideoError:
  return VideoError(
    f"Decoded 0 frames from video {path!r}: the file is empty, corrupt or truncated. "
    "Re-download or re-encode it, or remove it from the dataset."
  )


def _to_rgb(frame: np.ndarray) -> np.ndarray:
  if frame.ndim == 2:
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
  return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def _read_all(path: str) -> tuple[list[np.ndarray], float]:
  """Every decoded frame (RGB, converted as decoded so only one copy is kept) and the fps."""
  cap = _open(path)
  try:
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    frames = []
    while True:
      ok, frame = cap.read()
      if not ok or frame is None:
        break
      frames.append(_to_rgb(frame))
  finally:
    cap.release()
  return frames, fps


def _decode_wanted(
  path: str, wanted: np.ndarray, *, sequential_read: bool
) -> tuple[dict[int, np.ndarray], int, float]:
  """One decoding pass over the video keeping only `wanted` (RGB). Returns (frames, count, fps).

  `grab()` every frame and `retrieve()` the wanted ones (the fast way), or, with
  `sequential_read`, `read()` every frame (slower, but stable on files where grab/retrieve is
  not). Memory is the kept frames plus one decoded frame, whatever the length of the video.
  """
  want = set(int(i) for i in wanted)
  cap = _open(path)
  out: dict[int, np.ndarray] = {}
  try:
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    n = 0
    while True:
      if sequential_read:
        ok, frame = cap.read()
        if not ok or frame is None:
          break
      elif not cap.grab():
        break
      if n in want:
        if not sequential_read:
          ok, frame = cap.retrieve()
        if ok and frame is not None:
          out[n] = _to_rgb(frame)
      n += 1
  finally:
    cap.release()
  return out, n, fps


def _read_wanted(path: str, wanted: np.ndarray) -> tuple[dict[int, np.ndarray], int, float]:
  """`_decode_wanted` with sequential `cap.read()`."""
  return _decode_wanted(path, wanted, sequential_read=True)


def _count_by_grab(path: str) -> int:
  cap = _open(path)
  try:
    n = 0
    while cap.grab():
      n += 1
  finally:
    cap.release()
  return n


def _grab_retrieve(path: str, wanted: np.ndarray) -> tuple[dict[int, np.ndarray], int, float]:
  """`_decode_wanted` with grab/retrieve."""
  return _decode_wanted(path, wanted, sequential_read=False)


def read_frames(
  path: str | os.PathLike,
  num_frames: int | None = None,
  *,
  sampler: Callable[[int], np.ndarray] | None = None,
) -> VideoFrames:
  """Reads `num_frames` evenly spaced RGB frames (all frames if None), or the frames `sampler`
  picks.

  Indices are `sampler(n)` over the `n` frames actually decoded, by default
  `np.linspace(0, n-1, num_frames).round()`; when indices repeat (a video shorter than asked)
  `short` is True.

  Raises:
    VideoError: missing, unreadable or corrupt file, or a video with zero frames.
  """
  path = os.fspath(path)
  if storage.is_remote(path):  # decoded from a temporary local copy; errors name the URL
    try:
      with storage.local_copy(path) as local:
        try:
          return read_frames(local, num_frames, sampler=sampler)
        except VideoError as e:
          raise VideoError(str(e).replace(local, path)) from None
    except FileNotFoundError:
      raise _not_found(path) from None
    # Any other OSError (network, a full temporary folder) is not the video's fault: it propagates.
  if num_frames is None and sampler is None:
    frames, fps = _read_all(path)
    if not frames:
      raise _corrupt(path)
    idx = np.arange(len(frames), dtype=np.int32)
    return _pack(frames, idx, fps, len(frames), short=False)

  if sampler is None:
    if num_frames <= 0:
      raise ValueError(f"num_frames must be positive or None, got {num_frames}")

    def sampler(total: int) -> np.ndarray:
      return sample_indices(total, num_frames)

  def pack(frames: list[np.ndarray], idx: np.ndarray, n: int) -> VideoFrames:
    return _pack(frames, idx, fps, n, short=len(np.unique(idx)) < len(idx))

  cap = _open(path)
  hint = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
  cap.release()

  if hint > 0:
    # Fast path: trust the hint for choosing frames, then verify against the decoded count.
    idx = sampler(hint)
    got, n, fps = _grab_retrieve(path, idx)
    if n == 0:
      raise _corrupt(path)
    if n == hint and all(int(i) in got for i in idx):
      return pack([got[int(i)] for i in idx], idx, n)
    # Hint was wrong: redo with the true count (one more grab/retrieve pass).
    idx = sampler(n)
    got, n2, fps = _grab_retrieve(path, idx)
    if n2 == n and all(int(i) in got for i in idx):
      return pack([got[int(i)] for i in idx], idx, n)
  else:
    n = _count_by_grab(path)
    if n == 0:
      raise _corrupt(path)
    idx = sampler(n)
    got, n2, fps = _grab_retrieve(path, idx)
    if n2 == n and all(int(i) in got for i in idx):
      return pack([got[int(i)] for i in idx], idx, n)

  # Last resort (unstable grab/retrieve on odd files): sequential `cap.read()` passes keeping only
  # the wanted frames. The first pass trusts the grab count `n`; if `read` decodes a different
  # number of frames, that pass has counted them and the next one keeps the right indices.
  for _ in range(3):
    idx = sampler(n)
    got, n_read, fps = _read_wanted(path, idx)
    if n_read == 0:
      raise _corrupt(path)
    if n_read == n:
      return pack([got[int(i)] for i in idx], idx, n)
    n = n_read
  raise VideoError(
    f"Video {path!r} decodes a different number of frames on every pass: the file is corrupt. "
    "Re-encode it (e.g. `ffmpeg -i in -c:v libx264 out.mp4`) or remove it from the dataset."
  )


def _pack(
  frames: list[np.ndarray], idx: np.ndarray, fps: float, total: int, short: bool
) -> VideoFrames:
  arr = np.stack(frames).astype(np.uint8, copy=False)
  return VideoFrames(
    frames=arr,
    indices=np.asarray(idx, dtype=np.int32),
    fps=float(fps),
    height=int(arr.shape[1]),
    width=int(arr.shape[2]),
    total_frames=int(total),
    short=bool(short),
  )


def write_video(
  path: str | os.PathLike, frames: np.ndarray | Sequence[np.ndarray], fps: float = 25.0
) -> None:
  """Writes [T, H, W, 3] uint8 RGB frames to `path` (`.mp4`, codec `mp4v`)."""
  path = os.fspath(path)
  frames = np.asarray(frames)
  if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] == 0:
    raise ValueError(f"write_video expects [T>0, H, W, 3] frames, got shape {frames.shape}")
  if frames.dtype != np.uint8:
    raise ValueError(f"write_video expects uint8 frames, got {frames.dtype}")
  parent = os.path.dirname(path)
  if parent:
    os.makedirs(parent, exist_ok=True)
  h, w = frames.shape[1:3]
  writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (int(w), int(h)))
  if not writer.isOpened():
    raise VideoError(
      f"OpenCV cannot write video {path!r} with codec mp4v: check that the folder is writable "
      "and that the name ends in .mp4."
    )
  try:
    for f in frames:
      writer.write(cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2BGR))
  finally:
    writer.release()
