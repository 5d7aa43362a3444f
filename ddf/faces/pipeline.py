"""Per-video face pipeline: detect (MTCNN) -> one face track -> 5-point aligned crops.

`FacePipeline()(frames)` takes T frames [T, H, W, 3] uint8 RGB of one video and returns a
`FaceTrackResult`. Frames larger than `detect_max_side` are downscaled (area) for detection only,
but never so far that a face of `min_face_size` pixels gets smaller than `detect_min_face` pixels
(see `FacePipeline`); boxes/landmarks are mapped back to the original frame and crops are warped
from the full-res frames. When no face is found in any frame, `face_found` is all False,
`num_faces_found` is 0, the crops are the centre square of each frame resized to S x S, boxes are
that square and landmarks are the template points: the caller (e.g. the dataset builder) decides
to skip.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import cv2
import numpy as np

from ddf.faces import align as align_lib
from ddf.faces import boxes as box_lib
from ddf.faces.mtcnn import MTCNN, FaceDetections
from ddf.faces.track import FaceTrack, track_faces

__all__ = ["FacePipeline", "FaceTrackResult", "centre_square_crops"]


@dataclasses.dataclass
class FaceTrackResult:
  """Aligned face crops of one video (T frames, crop side S).

  Attributes:
    crops: [T, S, S, 3] uint8 RGB aligned crops.
    landmarks: [T, 5, 2] float32 landmarks in crop coordinates.
    boxes: [T, 4] float32 face boxes (x1, y1, x2, y2) in original-frame coordinates.
    face_found: [T] bool, True where a detection of the kept track was in that frame.
    interpolated: [T] bool, True where box/landmarks were interpolated over a short gap.
    matrices: [T, 2, 3] float32 affine maps from frame to crop coordinates.
    num_faces_found: number of frames with face_found.
  """

  crops: np.ndarray
  landmarks: np.ndarray
  boxes: np.ndarray
  face_found: np.ndarray
  interpolated: np.ndarray
  matrices: np.ndarray
  num_faces_found: int


def centre_square_crops(frames: np.ndarray, crop_size: int) -> tuple[np.ndarray, np.ndarray]:
  """Centre square of each frame [T, H, W, 3] resized to S: (crops [T,S,S,3], box [4])."""
  _, h, w, _ = frames.shape
  side = min(h, w)
  y0, x0 = (h - side) // 2, (w - side) // 2
  interp = cv2.INTER_AREA if side > crop_size else cv2.INTER_LINEAR
  crops = (
    np.stack(
      [
        cv2.resize(f[y0 : y0 + side, x0 : x0 + side], (crop_size, crop_size), interpolation=interp)
        for f in frames
      ]
    )
    if len(frames)
    else (np.zeros((0, crop_size, crop_size, 3), frames.dtype))
  )
  return crops, np.array([x0, y0, x0 + side, y0 + side], np.float32)


@dataclasses.dataclass
class _DetectionJob:
  """One video's detection inputs (`FacePipeline._detection_job`)."""

  small: np.ndarray  # [T, h, w, 3] the frames at the detection scale
  keys: np.ndarray  # [K] positions the full detector runs on
  min_face: float  # smallest face, in detection-image pixels
  scale: float  # detection scale f (`FacePipeline.detect_scale`)
  fx: float  # exact x / y ratios of the detection image to the frame
  fy: float

  def key_images(self) -> np.ndarray:
    return self.small if len(self.keys) == len(self.small) else self.small[self.keys]


class FacePipeline:
  """Detect -> track -> align for one video.

  Detection scale: frames are detected at `f * (H, W)` with
  `f = min(1, max(detect_max_side / max(H, W), detect_min_face / min_face_size))`, so big frames
  are shrunk towards `detect_max_side` only as far as a face of `min_face_size` original pixels
  keeps at least `detect_min_face` (default 24) pixels in the detection image. MTCNN's P-Net
  window is 12 px and its R-/O-Net inputs are 24 / 48 px: a face shrunk to ~12 px is still
  proposed by P-Net, but R-/O-Net then see an upsampled blur and reject dim or noisy faces, and
  boxes / landmarks lose precision. E.g. 1920x1080 frames: `min_face_size=40` detects at
  1152x648, `min_face_size=72` or more at 640x360 (`detect_max_side`), `min_face_size=24` or less
  at full resolution. P-Net's cost barely depends on `f` (its first pyramid level is always
  `12 / min_face_size` of the original frame); the price of a larger `f` is the resize and the
  larger images held for R-/O-Net crops.

  Args:
    crop_size: side S of the aligned crops.
    margin: the face spans 1/margin of the crop (see `align.crop_template`).
    min_face_size: smallest face side to find, in original-frame pixels (MTCNN is given
      `max(min_face_size * f, 12)` pixels of the detection image).
    detect_max_side: frames whose longer side exceeds this are downscaled for detection, as far as
      `detect_min_face` allows (None: detect at full resolution).
    thresholds: MTCNN P/R/O-Net thresholds.
    batch_size: frames per detector call (None: all frames of the video at once).
    max_gap: longest gap (frames) filled by linear interpolation.
    iou_threshold: IoU for linking detections into a track.
    detector: an `MTCNN` to share (default: a new one).
    detect_min_face: smallest side, in detection-image pixels, that a face of `min_face_size` may
      be shrunk to (24: R-Net's input size; MTCNN's P-Net window, 12, is its hard limit).
    detect_every: run the full detector on every k-th frame of each run of consecutive frames
      (and on its last frame) only; in between, every face of the key frame before is tracked
      forward one frame at a time, its previous box refined by O-Net alone (`MTCNN.refine`).
      Frames after a key frame without a face, or after O-Net lost a face, fall back to the
      full detector. 1: every frame.
  """

  def __init__(
    self,
    crop_size: int = 256,
    margin: float = 1.3,
    min_face_size: float = 20,
    detect_max_side: int | None = 640,
    thresholds: Sequence[float] = (0.6, 0.7, 0.7),
    batch_size: int | None = None,
    max_gap: int = 3,
    iou_threshold: float = 0.3,
    detector: MTCNN | None = None,
    detect_min_face: float = 24.0,
    detect_every: int = 1,
  ):
    if detect_every < 1:
      raise ValueError(f"detect_every must be >= 1, got {detect_every}")
    self.crop_size = crop_size
    self.margin = margin
    self.min_face_size = min_face_size
    self.detect_max_side = detect_max_side
    self.thresholds = tuple(thresholds)
    self.batch_size = batch_size
    self.max_gap = max_gap
    self.iou_threshold = iou_threshold
    self.detector = detector if detector is not None else MTCNN()
    self.detect_min_face = detect_min_face
    self.detect_every = detect_every

  def __call__(
    self, frames: np.ndarray, frame_indices: np.ndarray | None = None
  ) -> FaceTrackResult:
    """frames [T, H, W, 3] uint8 RGB -> `FaceTrackResult`.

    frame_indices: [T] position of each frame in its video (None: 0..T-1); a frame whose index
    does not follow its predecessor's starts a new run of consecutive frames, and key frames
    (`detect_every`) are chosen per run.
    """
    frames = self._check(frames)
    return self.track_and_align(frames, self.detect(frames, frame_indices))

  @staticmethod
  def _check(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
      raise ValueError(f"expected frames [T, H, W, 3] uint8, got {frames.shape} {frames.dtype}")
    return frames

  def detect_scale(self, height: int, width: int) -> float:
    """Downscale factor f <= 1 of the detection image for frames of this size (class doc)."""
    if not self.detect_max_side or max(height, width) <= self.detect_max_side:
      return 1.0
    f = self.detect_max_side / max(height, width)
    if self.min_face_size > 0:
      f = max(f, self.detect_min_face / self.min_face_size)
    return min(f, 1.0)

  def key_frames(self, num_frames: int, frame_indices: np.ndarray | None = None) -> np.ndarray:
    """[K] sorted positions (0..T-1) that the full detector runs on: every `detect_every`-th
    frame of each run of consecutive `frame_indices`, and each run's last frame."""
    if frame_indices is None:
      frame_indices = np.arange(num_frames)
    frame_indices = np.asarray(frame_indices).reshape(-1)
    if len(frame_indices) != num_frames:
      raise ValueError(f"{len(frame_indices)} frame_indices for {num_frames} frames")
    starts = np.nonzero(np.diff(frame_indices, prepend=-2) != 1)[0]
    ends = np.append(starts[1:], num_frames)
    keys = [
      np.append(np.arange(a, b, self.detect_every), b - 1)
      for a, b in zip(starts, ends, strict=True)
    ]
    return np.unique(np.concatenate(keys)) if keys else np.zeros((0,), np.int64)

  def detect(
    self, frames: np.ndarray, frame_indices: np.ndarray | None = None
  ) -> list[FaceDetections]:
    """Per-frame detections in original-frame coordinates (downscaled for detection); with
    `detect_every` > 1, frames between key frames hold the refined track box (class doc)."""
    return self.detect_many([(frames, frame_indices)])[0]

  def detect_many(
    self, videos: Sequence[tuple[np.ndarray, np.ndarray | None]]
  ) -> list[list[FaceDetections]]:
    """`detect` for several videos [(frames [T_i, H_i, W_i, 3] uint8, frame_indices | None)],
    with the key frames of every video whose detection images share a size in one batch (of up to
    `batch_size` frames): on an accelerator, a batch of many videos' frames keeps it busier than
    one video's. Per video the same detections as `detect`, up to float rounding (a frame's
    detector outputs may round differently in a batch of another size)."""
    jobs = [self._detection_job(frames, indices) for frames, indices in videos]
    key_dets: list[list[FaceDetections]] = [[] for _ in jobs]
    groups: dict[tuple, list[int]] = {}
    for j, job in enumerate(jobs):
      groups.setdefault((job.small.shape[1:], job.min_face), []).append(j)
    for (_, min_face), members in groups.items():
      images = [jobs[j].key_images() for j in members]
      found = self._detect_full(np.concatenate(images), min_face)
      ends = np.cumsum([len(x) for x in images])
      for j, a, b in zip(members, ends - [len(x) for x in images], ends, strict=True):
        key_dets[j] = found[a:b]
    return [self._complete(job, dets) for job, dets in zip(jobs, key_dets, strict=True)]

  def _detection_job(self, frames: np.ndarray, frame_indices: np.ndarray | None) -> _DetectionJob:
    """One video's detection images (downscaled, `detect_scale`), key frames and smallest face."""
    frames = self._check(frames)
    t, h, w, _ = frames.shape
    f = self.detect_scale(h, w)
    if f < 1.0:
      hs, ws = max(int(round(h * f)), 1), max(int(round(w * f)), 1)
      small = np.stack([cv2.resize(x, (ws, hs), interpolation=cv2.INTER_AREA) for x in frames])
      fy, fx = hs / h, ws / w
    else:
      small, fy, fx = frames, 1.0, 1.0
    min_face = max(self.min_face_size * f, 12.0)
    return _DetectionJob(small, self.key_frames(t, frame_indices), min_face, f, fx, fy)

  def _complete(self, job: _DetectionJob, key_dets: list[FaceDetections]) -> list[FaceDetections]:
    """A video's per-frame detections from those of its key frames: frames between key frames
    tracked (`_refine_between_keys`), lost ones detected in full; mapped to frame coordinates."""
    t = len(job.small)
    dets = [FaceDetections.empty() for _ in range(t)]
    for i, d in zip(job.keys, key_dets, strict=True):
      dets[i] = d
    if len(job.keys) < t:
      retry = self._refine_between_keys(job.small, dets, job.keys)
      for i, d in zip(retry, self._detect_full(job.small[retry], job.min_face), strict=True):
        dets[i] = d
    if job.scale != 1.0:
      s4 = np.array([job.fx, job.fy, job.fx, job.fy], np.float32)
      s2 = np.array([job.fx, job.fy], np.float32)
      dets = [FaceDetections(d.boxes / s4, d.scores, d.landmarks / s2) for d in dets]
    return dets

  def _detect_full(self, images: np.ndarray, min_face: float) -> list[FaceDetections]:
    """MTCNN on all images, `batch_size` frames per call."""
    bs = self.batch_size or max(len(images), 1)
    dets: list[FaceDetections] = []
    for i in range(0, len(images), bs):
      dets += self.detector.detect(
        images[i : i + bs], min_face_size=min_face, thresholds=self.thresholds
      )
    return dets

  def _refine_between_keys(
    self, images: np.ndarray, dets: list[FaceDetections], keys: np.ndarray
  ) -> np.ndarray:
    """Fills the frames between key frames (in place) by tracking every face of the key frame
    before them forward, one frame at a time: each face's box in frame t is O-Net's refinement
    of its box in frame t-1 (one batched call per step for all gaps). Returns the frames that
    need the full detector: those after a key frame without faces, or after a face was lost."""
    gaps = [(a, b) for a, b in zip(keys[:-1], keys[1:], strict=True) if b - a > 1]
    faces = [(a, box) for a, b in gaps for box in dets[a].boxes]  # (key frame, box) per track
    retry = [t for a, b in gaps if not len(dets[a]) for t in range(a + 1, b)]
    end = {a: b for a, b in gaps}
    alive = list(range(len(faces)))
    boxes = np.asarray([box for _, box in faces], np.float64).reshape(-1, 4)
    for step in range(1, self.detect_every):
      alive = [j for j in alive if faces[j][0] + step < end[faces[j][0]]]
      if not alive:
        break
      frames = np.asarray([faces[j][0] + step for j in alive])
      used, idx = np.unique(frames, return_inverse=True)
      new_boxes, landmarks, scores, is_face = self.detector.refine(
        images[used], boxes[alive], idx, self.thresholds[2]
      )
      survivors = []
      for t in used:
        here = [n for n in range(len(alive)) if frames[n] == t]
        lost = [n for n in here if not is_face[n]]
        for n in lost:  # the rest of this gap goes to the full detector.
          retry += range(int(t), end[faces[alive[n]][0]])
        found = [n for n in here if is_face[n]]
        if not found:
          continue
        # Two tracks that converged on one face are one face: MTCNN's last NMS ("min" overlap).
        keep = [
          found[i]
          for i in box_lib.nms(
            new_boxes[found], scores[found], self.detector.nms_thresholds[3], "min"
          )
        ]
        dets[int(t)] = FaceDetections(new_boxes[keep], scores[keep], landmarks[keep])
        for n in keep:
          boxes[alive[n]] = new_boxes[n]
        survivors += [alive[n] for n in keep]
      alive = sorted(survivors)
    return np.unique(np.asarray(retry, np.int64))

  def track_and_align(
    self, frames: np.ndarray, detections: Sequence[FaceDetections]
  ) -> FaceTrackResult:
    """Keeps one face track over the frames and warps aligned crops from full-res frames."""
    frames = self._check(frames)
    t = frames.shape[0]
    s = self.crop_size
    track: FaceTrack | None = track_faces(detections, self.iou_threshold, self.max_gap)
    if track is None:
      crops, box = centre_square_crops(frames, s)
      side = box[2] - box[0]
      tmpl = align_lib.crop_template(s, self.margin).astype(np.float32)
      mat = np.array(
        [[s / side, 0, -box[0] * s / side], [0, s / side, -box[1] * s / side]], np.float32
      )
      return FaceTrackResult(
        crops=crops,
        landmarks=np.broadcast_to(tmpl, (t, 5, 2)).copy(),
        boxes=np.broadcast_to(box, (t, 4)).copy(),
        face_found=np.zeros((t,), bool),
        interpolated=np.zeros((t,), bool),
        matrices=np.broadcast_to(mat, (t, 2, 3)).copy(),
        num_faces_found=0,
      )
    crops = np.empty((t, s, s, 3), np.uint8)
    matrices = np.empty((t, 2, 3), np.float32)
    for i in range(t):
      crops[i], matrices[i] = align_lib.align_face(frames[i], track.landmarks[i], s, self.margin)
    landmarks = (
      np.stack([align_lib.transform_points(track.landmarks[i], matrices[i]) for i in range(t)])
      if t
      else np.zeros((0, 5, 2), np.float32)
    )
    return FaceTrackResult(
      crops=crops,
      landmarks=landmarks.astype(np.float32),
      boxes=track.boxes.astype(np.float32),
      face_found=track.face_found.copy(),
      interpolated=track.interpolated.copy(),
      matrices=matrices,
      num_faces_found=track.num_found,
    )
