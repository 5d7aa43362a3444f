"""Turns one video into one dataset example: sample frames, find the face track, align, encode.

Runs inside the dataset builder's worker processes; never raises for a bad video, returns a reason.
A fake video of FF++ is frame-aligned with its target (real) video, so a fake is cropped with its
target's face track (`TargetTrack`) when both have the same number of frames: the fake shows the
same person, at the same place, as its real counterpart, even in a video with several faces.
"""

from __future__ import annotations

import dataclasses
import os
import resource
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from ddf.data import sampling as sampling_lib
from ddf.data import storage
from ddf.data.ffpp_layout import VideoEntry

# A video is stored when at least this fraction of its sampled frames has a detected face (which
# clips of it are then used is decided by `data.min_face_fraction`, see `ddf.data.sampling`).
MIN_FACE_FRACTION = 0.25

_PIPELINE = None  # per-process FacePipeline, built once by `init_worker`.
_WORKER: dict[str, Any] = {}  # how this process was set up (reported in the build report).


@dataclasses.dataclass(frozen=True)
class ExampleOptions:
  """How frames are sampled, detected and cropped (the builder config's data options)."""

  frames_per_video: int
  crop_size: int
  margin: float = 1.3
  min_face_size: int = 40
  sampling: str = "uniform"
  num_windows: int = 1
  jpeg_quality: int = 95
  detect_on_accelerator: bool = False  # else: CPU, one thread per worker process.
  detect_every: int = 1  # full face detection on every k-th frame of a window (FacePipeline).
  # Real videos made together, their faces detected in shared batches (`make_examples`); 1 = alone.
  videos_per_batch: int = 1

  def indices(self, total: int) -> np.ndarray:
    return sampling_lib.frame_indices(total, self.frames_per_video, self.sampling, self.num_windows)


@dataclasses.dataclass(frozen=True)
class TargetTrack:
  """A real video's face track over its stored frames, reused for the fakes made from it.

  Attributes:
    total_frames: frames decoded from the real video.
    landmarks: [T, 5, 2] float32 landmarks in frame coordinates.
    face_found: [T] bool.
  """

  total_frames: int
  landmarks: np.ndarray
  face_found: np.ndarray


@dataclasses.dataclass
class ExampleResult:
  """Outcome for one video: an example, or a reason it was skipped; plus warnings."""

  key: str
  example: dict[str, Any] | None = None
  skipped: str | None = None  # reason when no example was made.
  warnings: list[str] = dataclasses.field(default_factory=list)
  frames_without_face: int = 0
  track: TargetTrack | None = None  # a real video's track, for its fakes.
  face_source: str = (
    "detected"  # "detected", or "target" for a fake cropped with its target's track.
  )
  own_track_reason: str | None = None  # why a fake did not use its target's track.
  worker: dict[str, Any] = dataclasses.field(default_factory=dict)


def _limit_threads(on_accelerator: bool) -> None:
  """One CPU thread per worker for decoding and detection, and no accelerator unless asked.

  Runs before JAX starts its backend in this process (workers are spawned fresh): JAX would
  otherwise take most of a GPU's memory in every worker and size its CPU pool to all cores.
  """
  for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"
  flags = os.environ.get("XLA_FLAGS", "")
  for flag in ("--xla_cpu_multi_thread_eigen=false", "intra_op_parallelism_threads=1"):
    if flag.split("=")[0] not in flags:
      flags += " " + flag
  os.environ["XLA_FLAGS"] = flags.strip()
  if not on_accelerator:
    os.environ["JAX_PLATFORMS"] = "cpu"
  cv2.setNumThreads(1)


def init_worker(options: ExampleOptions, worker_process: bool = True) -> None:
  """Builds the face pipeline once per process (`worker_process`: a spawned build worker)."""
  global _PIPELINE
  if worker_process:
    _limit_threads(options.detect_on_accelerator)
  import jax  # after _limit_threads: the backend reads XLA_FLAGS / JAX_PLATFORMS when it starts.

  if worker_process and not options.detect_on_accelerator:
    jax.config.update("jax_platforms", "cpu")
  from ddf.faces import FacePipeline

  _PIPELINE = FacePipeline(
    crop_size=options.crop_size,
    margin=options.margin,
    min_face_size=options.min_face_size,
    detect_every=options.detect_every,
  )
  _WORKER.update(
    options=_face_options(options),
    pid=os.getpid(),
    platform=jax.devices()[0].platform,
    cv2_threads=cv2.getNumThreads(),
    xla_flags=os.environ.get("XLA_FLAGS", ""),
  )


def _face_options(options: ExampleOptions) -> tuple:
  return (options.crop_size, options.margin, options.min_face_size, options.detect_every)


def worker_stats() -> dict[str, Any]:
  """This process's setup and peak resident memory so far (MB)."""
  peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KB on Linux
  stats = {k: v for k, v in _WORKER.items() if k != "options"}
  return dict(stats, pid=os.getpid(), peak_rss_mb=round(peak_mb, 1))


def encode_jpeg(image_rgb: np.ndarray, quality: int) -> bytes:
  ok, buf = cv2.imencode(
    ".jpg", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
  )
  if not ok:
    raise RuntimeError("OpenCV failed to encode a JPEG frame")
  return buf.tobytes()


def decode_jpeg(data: bytes) -> np.ndarray:
  """JPEG bytes -> [H, W, 3] uint8 RGB."""
  image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
  if image is None:
    raise ValueError("corrupt JPEG frame in dataset record")
  return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def frame_landmarks(crop_landmarks: np.ndarray, matrices: np.ndarray) -> np.ndarray:
  """Crop-coordinate landmarks [T, 5, 2] -> frame coordinates, through the crop matrices."""
  out = np.empty_like(np.asarray(crop_landmarks, np.float32))
  for i, (points, matrix) in enumerate(zip(crop_landmarks, matrices, strict=True)):
    inverse = cv2.invertAffineTransform(np.asarray(matrix, np.float64))
    out[i] = points @ inverse[:, :2].T + inverse[:, 2]
  return out


def _target_usable(
  entry: VideoEntry, video, target: TargetTrack | None, result: ExampleResult
) -> bool:
  """True for a fake that is cropped with its target's track; else (a real, or a fake whose
  target was not built or differs in length, reason in `result`) its own faces are detected."""
  if entry.label != 1:
    return False
  if target is None:
    result.own_track_reason = f"target {entry.target_id} was not built"
  elif target.total_frames != video.total_frames:
    result.own_track_reason = (
      f"target {entry.target_id} has {target.total_frames} frames, this fake {video.total_frames}"
    )
  else:
    return True
  return False


def _faces(
  entry: VideoEntry,
  video,
  options: ExampleOptions,
  target: TargetTrack | None,
  result: ExampleResult,
  detections: list | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """(crops [T, S, S, 3], crop landmarks [T, 5, 2], face_found [T]) of one video; `detections`:
  its frames' detections when already made (`FacePipeline.detect_many`)."""
  from ddf.faces import align as align_lib

  if _target_usable(entry, video, target, result):
    result.face_source = "target"
    crops, landmarks = [], []
    for frame, points in zip(video.frames, target.landmarks, strict=True):
      crop, matrix = align_lib.align_face(frame, points, options.crop_size, options.margin)
      crops.append(crop)
      landmarks.append(align_lib.transform_points(points, matrix))
    return np.stack(crops), np.stack(landmarks), np.asarray(target.face_found, bool)
  if detections is None:
    track = _PIPELINE(video.frames, video.indices)
  else:
    track = _PIPELINE.track_and_align(video.frames, detections)
  found = np.asarray(track.face_found, bool)
  if entry.label == 0:
    result.track = TargetTrack(
      video.total_frames, frame_landmarks(track.landmarks, track.matrices), found
    )
  return track.crops, track.landmarks, found


def make_example(
  entry: VideoEntry, options: ExampleOptions, target: TargetTrack | None = None
) -> ExampleResult:
  """Reads, aligns and encodes one video (a fake with `target`'s track). Raises only when a
  video in a bucket could not be copied (a network error: the runner retries the video)."""
  return make_examples([entry], options, [target])[0]


def make_examples(
  entries: Sequence[VideoEntry],
  options: ExampleOptions,
  targets: Sequence[TargetTrack | None] | None = None,
) -> list[ExampleResult]:
  """`make_example` for several videos, the faces of all those that need detection found in
  one batch (`FacePipeline.detect_many`: key frames of equal size share detector calls). Each
  video is read, skipped or kept on its own; if the batch's detection fails, each of its videos
  is detected alone."""
  from ddf.data.video import read_frames

  targets = list(targets) if targets is not None else [None] * len(entries)
  if _PIPELINE is None or _WORKER.get("options") != _face_options(options):
    init_worker(options, worker_process=False)
  results = [ExampleResult(key=e.key) for e in entries]
  videos = [
    _guarded(e, r, lambda e=e, r=r: _read(e, options, r, read_frames))
    for e, r in zip(entries, results, strict=True)
  ]
  detect = [
    i
    for i, (e, v) in enumerate(zip(entries, videos, strict=True))
    if v is not None and not _target_usable(e, v, targets[i], ExampleResult(key=e.key))
  ]
  detections: dict[int, list] = {}
  if len(detect) > 1:
    try:
      found = _PIPELINE.detect_many([(videos[i].frames, videos[i].indices) for i in detect])
      detections = dict(zip(detect, found, strict=True))
    except Exception:  # noqa: BLE001 - one bad video must not cost the others: each alone below
      detections = {}
  for i, (e, v, r) in enumerate(zip(entries, videos, results, strict=True)):
    if v is not None:
      r.example = _guarded(
        e,
        r,
        lambda e=e, v=v, r=r, i=i: _finish(
          e, v, options, r, _faces(e, v, options, targets[i], r, detections.get(i))
        ),
      )
    r.worker = worker_stats()
  return results


def _guarded(entry: VideoEntry, result: ExampleResult, make):
  """`make()`, with a video's failure recorded in `result.skipped` (None returned) instead of
  raised; only a video in a bucket that could not be copied raises (the runner retries it)."""
  from ddf.data.video import VideoError

  try:
    return make()
  except VideoError as e:
    result.skipped = f"unreadable: {e}"
  except Exception as e:  # noqa: BLE001 - a decoder bug must not abort a build.
    if isinstance(e, OSError) and storage.is_remote(entry.path):
      raise  # copying it from the bucket failed (network, full disk): the runner retries it
    result.skipped = f"unreadable: {entry.path}: {type(e).__name__}: {e}"
  return None


def _read(entry: VideoEntry, options: ExampleOptions, result: ExampleResult, read_frames):
  """The video's sampled frames, or None (reason in `result`) when it is too short."""
  video = read_frames(entry.path, sampler=options.indices)
  window = sampling_lib.window_length(
    options.frames_per_video, options.sampling, options.num_windows
  )
  if video.total_frames < window:
    result.skipped = (
      f"too short: {entry.path}: {video.total_frames} frames, fewer than one "
      f"window of {window} consecutive frames"
    )
    return None
  if video.total_frames < options.frames_per_video and options.sampling == "uniform":
    result.warnings.append(
      f"{entry.path}: only {video.total_frames} frames, fewer than the "
      f"{options.frames_per_video} asked; frames repeat"
    )
  return video


def _finish(
  entry: VideoEntry,
  video,
  options: ExampleOptions,
  result: ExampleResult,
  faces: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> dict[str, Any] | None:
  """The example of a read video with its `faces` (`_faces`), or None when too few were found."""
  crops, landmarks, found = faces
  result.frames_without_face = int((~found).sum())
  if found.mean() < MIN_FACE_FRACTION:
    result.skipped = (
      f"no face: {entry.path}: a face was found in {int(found.sum())} of "
      f"{len(found)} sampled frames"
    )
    result.track = None
    return None
  if result.frames_without_face:
    result.warnings.append(
      f"{entry.path}: no face in {result.frames_without_face} of "
      f"{len(found)} sampled frames (kept, flagged in face_found)"
    )
  return {
    "video_id": entry.video_id,
    "label": entry.label,
    "method": entry.method,
    "compression": entry.compression,
    "target_id": entry.target_id,
    "source_id": entry.source_id,
    "frames": [encode_jpeg(c, options.jpeg_quality) for c in crops],
    "landmarks": np.asarray(landmarks, np.float32),
    "face_found": found,
    "frame_indices": np.asarray(video.indices, np.int32),
    "fps": np.float32(video.fps),
    "original_height": np.int32(video.height),
    "original_width": np.int32(video.width),
  }
