"""Box utilities (numpy): IoU, greedy non-maximum suppression, squaring, calibration.

Boxes are float arrays [K, 4] as (x1, y1, x2, y2) in pixels.
"""

from __future__ import annotations

import numpy as np

__all__ = ["box_area", "iou_matrix", "nms", "square_boxes", "calibrate_boxes"]


def box_area(boxes: np.ndarray) -> np.ndarray:
  """Areas [K] of boxes [K, 4] (no +1 convention; empty boxes give 0)."""
  boxes = np.asarray(boxes, np.float64)
  return np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)


def iou_matrix(a: np.ndarray, b: np.ndarray, method: str = "union") -> np.ndarray:
  """Pairwise overlap [Ka, Kb] of boxes a [Ka, 4] and b [Kb, 4].

  method: "union" (intersection over union) or "min" (intersection over the smaller area).
  """
  a = np.asarray(a, np.float64).reshape(-1, 4)
  b = np.asarray(b, np.float64).reshape(-1, 4)
  iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
  ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
  inter = np.maximum(iw, 0) * np.maximum(ih, 0)
  area_a, area_b = box_area(a)[:, None], box_area(b)[None, :]
  if method == "union":
    denom = area_a + area_b - inter
  elif method == "min":
    denom = np.minimum(area_a, area_b)
  else:
    raise ValueError(f"method must be 'union' or 'min', got {method!r}")
  return inter / np.maximum(denom, 1e-12)


def nms(
  boxes: np.ndarray, scores: np.ndarray, threshold: float, method: str = "union"
) -> np.ndarray:
  """Greedy NMS: indices [M] (into boxes [K, 4]) kept, by descending score.

  A box is dropped when its overlap (`method`, see `iou_matrix`) with an already kept
  box is > threshold.
  """
  boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
  if boxes.shape[0] == 0:
    return np.zeros((0,), np.int64)
  order = np.argsort(-np.asarray(scores), kind="stable")
  overlap = iou_matrix(boxes[order], boxes[order], method)
  suppressed = np.zeros(len(order), bool)
  keep = []
  for i in range(len(order)):
    if suppressed[i]:
      continue
    keep.append(order[i])
    suppressed |= overlap[i] > threshold
  return np.asarray(keep, np.int64)


def square_boxes(boxes: np.ndarray) -> np.ndarray:
  """Boxes [K, 4] grown to squares (side = max(w, h)) about their centres."""
  boxes = np.asarray(boxes, np.float64).copy()
  w = boxes[:, 2] - boxes[:, 0]
  h = boxes[:, 3] - boxes[:, 1]
  side = np.maximum(w, h)
  boxes[:, 0] += 0.5 * (w - side)
  boxes[:, 1] += 0.5 * (h - side)
  boxes[:, 2] = boxes[:, 0] + side
  boxes[:, 3] = boxes[:, 1] + side
  return boxes


def calibrate_boxes(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
  """Applies MTCNN regression offsets [K, 4] (fractions of w+1, h+1) to boxes [K, 4]."""
  boxes = np.asarray(boxes, np.float64)
  w = boxes[:, 2] - boxes[:, 0] + 1
  h = boxes[:, 3] - boxes[:, 1] + 1
  return boxes + np.asarray(offsets, np.float64) * np.stack([w, h, w, h], axis=-1)
