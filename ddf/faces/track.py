"""One face track per video from per-frame detections.

Detections are linked greedily frame to frame by IoU with each track's last box (tracks may skip
up to `max_link_gap` frames). The kept track maximises sum(area * score) over its frames: the
largest, most persistent face wins over spurious or short-lived detections. Frames without a
linked detection get a box and landmarks anyway so a crop can always be made:
  - inside a gap of <= `max_gap` frames: linear interpolation (`interpolated` True);
  - otherwise: copied from the nearest linked frame (`interpolated` False).
`face_found` is True only where a detection was linked.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from ddf.faces import boxes as box_lib
from ddf.faces.mtcnn import FaceDetections

__all__ = ["FaceTrack", "link_tracks", "track_faces"]


@dataclasses.dataclass
class FaceTrack:
  """A face track over T frames.

  Attributes:
    boxes: [T, 4] float32 (x1, y1, x2, y2).
    landmarks: [T, 5, 2] float32 (x, y).
    scores: [T] float32 detector score (0 where no detection was linked).
    face_found: [T] bool, True where a detection was linked.
    interpolated: [T] bool, True where boxes/landmarks were interpolated over a short gap.
    det_index: [T] int32 index of the linked detection in that frame (-1 if none).
  """

  boxes: np.ndarray
  landmarks: np.ndarray
  scores: np.ndarray
  face_found: np.ndarray
  interpolated: np.ndarray
  det_index: np.ndarray

  @property
  def num_found(self) -> int:
    return int(self.face_found.sum())


def link_tracks(
  detections: Sequence[FaceDetections], iou_threshold: float = 0.3, max_link_gap: int = 8
) -> list[dict[int, int]]:
  """Greedy IoU linking: list of tracks, each {frame: detection index}."""
  tracks: list[dict[int, int]] = []
  last: list[tuple[int, np.ndarray]] = []  # (frame, box) of each track's last detection
  for t, det in enumerate(detections):
    k = len(det)
    if k == 0:
      continue
    live = [i for i, (f, _) in enumerate(last) if t - f - 1 <= max_link_gap]
    taken = np.zeros(k, bool)
    if live:
      ious = box_lib.iou_matrix(np.stack([last[i][1] for i in live]), det.boxes)
      for flat in np.argsort(-ious, axis=None, kind="stable"):
        r, c = divmod(int(flat), k)
        if ious[r, c] < iou_threshold:
          break
        ti = live[r]
        if taken[c] or last[ti][0] == t:
          continue
        tracks[ti][t] = c
        last[ti] = (t, det.boxes[c])
        taken[c] = True
    for c in np.nonzero(~taken)[0]:
      tracks.append({t: int(c)})
      last.append((t, det.boxes[c]))
  return tracks


def track_faces(
  detections: Sequence[FaceDetections],
  iou_threshold: float = 0.3,
  max_gap: int = 3,
  max_link_gap: int = 8,
) -> FaceTrack | None:
  """Keeps the best face track over T = len(detections) frames; None if no face anywhere."""
  num_frames = len(detections)
  tracks = link_tracks(detections, iou_threshold, max_link_gap)
  if not tracks:
    return None

  def track_score(tr: dict[int, int]) -> float:
    return float(
      sum(
        box_lib.box_area(detections[t].boxes[c : c + 1])[0] * detections[t].scores[c]
        for t, c in tr.items()
      )
    )

  best = max(tracks, key=track_score)
  boxes = np.zeros((num_frames, 4), np.float32)
  landmarks = np.zeros((num_frames, 5, 2), np.float32)
  scores = np.zeros((num_frames,), np.float32)
  det_index = np.full((num_frames,), -1, np.int32)
  for t, c in best.items():
    boxes[t] = detections[t].boxes[c]
    landmarks[t] = detections[t].landmarks[c]
    scores[t] = detections[t].scores[c]
    det_index[t] = c
  found = det_index >= 0
  interpolated = np.zeros((num_frames,), bool)
  frames = np.nonzero(found)[0]
  for t in np.nonzero(~found)[0]:
    j = np.searchsorted(frames, t)
    prev = frames[j - 1] if j > 0 else None
    nxt = frames[j] if j < len(frames) else None
    if prev is not None and nxt is not None and nxt - prev - 1 <= max_gap:
      w = (t - prev) / (nxt - prev)
      boxes[t] = (1 - w) * boxes[prev] + w * boxes[nxt]
      landmarks[t] = (1 - w) * landmarks[prev] + w * landmarks[nxt]
      interpolated[t] = True
    else:
      near = min((f for f in (prev, nxt) if f is not None), key=lambda f: abs(f - t))
      boxes[t] = boxes[near]
      landmarks[t] = landmarks[near]
  return FaceTrack(boxes, landmarks, scores, found, interpolated, det_index)
