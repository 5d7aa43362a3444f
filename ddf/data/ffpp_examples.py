"""Turns one FF++ video into one dataset example: sample frames, find the face track, align, encode.

Runs inside worker processes of the dataset builder; never raises for a bad video, returns a reason.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import cv2
import numpy as np

from ddf.data.ffpp_layout import VideoEntry

# A video is kept when at least this fraction of its sampled frames has a detected face.
MIN_FACE_FRACTION = 0.25

_PIPELINE = None  # per-process FacePipeline, built once by `init_worker`.


@dataclasses.dataclass(frozen=True)
class ExampleOptions:
  frames_per_video: int
  crop_size: int
  margin: float = 1.3
  min_face_size: int = 20
  jpeg_quality: int = 95


@dataclasses.dataclass
class ExampleResult:
  """Outcome for one video: an example, or a reason it was skipped; plus warnings."""

  key: str
  example: dict[str, Any] | None = None
  skipped: str | None = None  # reason when no example was made.
  warnings: list[str] = dataclasses.field(default_factory=list)
  frames_without_face: int = 0


def init_worker(options: ExampleOptions) -> None:
  """Builds the face pipeline once per worker process."""
  global _PIPELINE
  from ddf.faces import FacePipeline  # imported here: workers start with a fresh JAX.

  _PIPELINE = FacePipeline(crop_size=options.crop_size, margin=options.margin,
                           min_face_size=options.min_face_size)


def encode_jpeg(image_rgb: np.ndarray, quality: int) -> bytes:
  ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR),
                         [cv2.IMWRITE_JPEG_QUALITY, quality])
  if not ok:
    raise RuntimeError("OpenCV failed to encode a JPEG frame")
  return buf.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray:
  """JPEG bytes -> [H, W, 3] uint8 RGB."""
  image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
  if image is None:
    raise ValueError("corrupt JPEG frame in dataset record")
  return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def make_example(entry: VideoEntry, options: ExampleOptions) -> ExampleResult:
  """Reads, detects, aligns and encodes one video. Never raises for bad input."""
  from ddf.data.video import VideoError, read_frames

  result = ExampleResult(key=entry.key)
  if _PIPELINE is None:
    init_worker(options)
  try:
    video = read_frames(entry.path, options.frames_per_video)
  except VideoError as e:
    result.skipped = f"unreadable: {e}"
    return result
  except Exception as e:  # noqa: BLE001 - a decoder bug must not abort a build.
    result.skipped = f"unreadable: {entry.path}: {type(e).__name__}: {e}"
    return result
  if video.short:
    result.warnings.append(
        f"{entry.path}: only {video.total_frames} frames, fewer than the "
        f"{options.frames_per_video} asked; frames repeat")
  track = _PIPELINE(video.frames)
  found = np.asarray(track.face_found, bool)
  result.frames_without_face = int((~found).sum())
  if found.mean() < MIN_FACE_FRACTION:
    result.skipped = (f"no face: {entry.path}: a face was found in {int(found.sum())} of "
                      f"{len(found)} sampled frames")
    return result
  if result.frames_without_face:
    result.warnings.append(f"{entry.path}: no face in {result.frames_without_face} of "
                           f"{len(found)} sampled frames (kept, flagged in face_found)")
  result.example = {
      "video_id": entry.video_id,
      "label": entry.label,
      "method": entry.method,
      "compression": entry.compression,
      "target_id": entry.target_id,
      "source_id": entry.source_id,
      "frames": [encode_jpeg(c, options.jpeg_quality) for c in track.crops],
      "landmarks": np.asarray(track.landmarks, np.float32),
      "face_found": found,
      "frame_indices": np.asarray(video.indices, np.int32),
      "fps": np.float32(video.fps),
      "original_height": np.int32(video.height),
      "original_width": np.int32(video.width),
  }
  return result
