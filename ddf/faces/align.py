"""5-point similarity alignment of faces to a canonical template, with a margin.

The template is the ArcFace 112x112 five-point template (left eye, right eye, nose, left mouth
corner, right mouth corner). For a crop of side S and margin m, the template is shrunk about
the crop centre so that the 112x112 face box spans the central S/m pixels: the face occupies
1/m of the crop (m = 1.3 by default) and the rest is context.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
  "ARCFACE_TEMPLATE_112",
  "align_face",
  "crop_template",
  "estimate_similarity",
  "transform_points",
]

ARCFACE_TEMPLATE_112 = np.array(
  [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
  ],
  np.float64,
)


def crop_template(crop_size: int = 256, margin: float = 1.3) -> np.ndarray:
  """Template points [5, 2] (x, y) in a crop of side crop_size with the given margin."""
  unit = ARCFACE_TEMPLATE_112 / 112.0 - 0.5
  return (unit / margin + 0.5) * crop_size


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
  """Least-squares similarity (Umeyama, no reflection) mapping src [K, 2] to dst [K, 2].

  Returns:
    [2, 3] float64 matrix M with dst ~ M[:, :2] @ src + M[:, 2].
  """
  src = np.asarray(src, np.float64)
  dst = np.asarray(dst, np.float64)
  mu_s, mu_d = src.mean(0), dst.mean(0)
  s0, d0 = src - mu_s, dst - mu_d
  var_s = (s0**2).sum() / len(src)
  cov = d0.T @ s0 / len(src)
  u, sig, vt = np.linalg.svd(cov)
  d = np.ones(2)
  if np.linalg.det(u) * np.linalg.det(vt) < 0:
    d[-1] = -1
  rot = u @ np.diag(d) @ vt
  scale = (sig * d).sum() / max(var_s, 1e-12)
  m = np.zeros((2, 3))
  m[:, :2] = scale * rot
  m[:, 2] = mu_d - m[:, :2] @ mu_s
  return m


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
  """Applies affine matrix [2, 3] to points [..., 2] -> [..., 2] float32."""
  points = np.asarray(points, np.float64)
  matrix = np.asarray(matrix, np.float64)
  return (points @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)


def align_face(
  image: np.ndarray, landmarks5: np.ndarray, crop_size: int = 256, margin: float = 1.3
) -> tuple[np.ndarray, np.ndarray]:
  """Warps image [H, W, 3] so landmarks5 [5, 2] land on `crop_template(crop_size, margin)`.

  Returns:
    crop [S, S, 3] (image dtype; bilinear, border replicated) and matrix [2, 3] (image -> crop).
  """
  matrix = estimate_similarity(landmarks5, crop_template(crop_size, margin))
  crop = cv2.warpAffine(
    image, matrix, (crop_size, crop_size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
  )
  return crop, matrix.astype(np.float32)
