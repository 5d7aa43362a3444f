"""Self-blended clips (Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images",
CVPR 2022), on the fly in the training pipeline.

A real clip becomes a fake one by blending a slightly transformed copy of each frame back onto the
frame itself inside a face mask: the source and the target are the same person, so the only cues
left are the ones every face swap leaves (blend boundary, colour and frequency mismatch, small
misalignment). Everything is drawn once per clip and applied to every frame, so the clip stays
temporally consistent. The mask follows each frame's 5 stored landmarks (crop coordinates), so
no detector runs at train time.

  source transform  colour (hue / saturation / brightness / contrast shifts), frequency (blur or
                    sharpen), geometry (scale 0.95-1.05, shift up to 3% of the face width)
  mask              convex hull of the landmarks extended to brows, cheeks and chin, elastically
                    deformed, eroded or dilated, blurred by a random sigma, times a blend ratio
"""

from __future__ import annotations

import cv2
import numpy as np

BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)
# Interpolation of the source's scale / shift. Bilinear resampling at the stored crop's scale is a
# low-pass of its own: every self-blend's face then has less high-frequency energy than the
# frame around it (README, "Self-blended training"); cubic keeps it.
WARPS = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}


def _hull_points(landmarks: np.ndarray, grow: float) -> np.ndarray:
  """[5, 2] landmarks (eyes, nose, mouth corners) -> [8, 2] points around the inner face."""
  left_eye, right_eye, _, mouth_left, mouth_right = landmarks
  eyes, mouth = (left_eye + right_eye) / 2, (mouth_left + mouth_right) / 2
  across = right_eye - left_eye
  down = mouth - eyes
  points = np.array(
    [
      left_eye - 0.45 * across - 0.55 * down,
      right_eye + 0.45 * across - 0.55 * down,
      left_eye - 0.6 * across + 0.3 * down,
      right_eye + 0.6 * across + 0.3 * down,
      mouth_left - 0.35 * across + 0.2 * down,
      mouth_right + 0.35 * across + 0.2 * down,
      mouth + 0.7 * down - 0.2 * across,
      mouth + 0.7 * down + 0.2 * across,
    ],
    np.float32,
  )
  centre = points.mean(0)
  return (points - centre) * grow + centre


class SelfBlend:
  """One clip's self-blending transform, drawn from `rng` (apply with `__call__`).

  `frequency` scales the frequency transform (the blur's sigma or the sharpening amount; 0 = none,
  1 = the ranges above); `warp` is the interpolation of the source's scale and shift (`WARPS`).
  The draws depend on neither, so every other part is the same blend."""

  def __init__(
    self, rng: np.random.Generator, size: int, frequency: float = 1.0, warp: str = "linear"
  ):
    if frequency < 0:
      raise ValueError(f"SBI frequency scale must be >= 0, got {frequency}")
    if warp not in WARPS:
      raise ValueError(f"SBI warp must be one of {sorted(WARPS)}, got {warp!r}")
    self.size = size
    self.warp = warp
    self.grow = rng.uniform(0.9, 1.1)
    self.hue, self.sat, self.val = (
      rng.uniform(-8, 8),
      rng.uniform(0.85, 1.15),
      rng.uniform(-0.08, 0.08),
    )
    self.contrast = rng.uniform(0.85, 1.15)
    blur = rng.uniform(0.3, 0.8) * size / 64 if rng.random() < 0.5 else 0.0
    sharpen = 0.0 if blur else rng.uniform(0.3, 1.0)
    self.blur, self.sharpen = blur * frequency, sharpen * frequency
    self.scale = rng.uniform(0.95, 1.05)
    self.shift = rng.uniform(-0.03, 0.03, 2)
    self.morph = int(rng.integers(-2, 3))  # erode (<0) / dilate (>0) iterations
    self.feather = rng.uniform(1.0, 4.0) * size / 64
    self.ratio = float(rng.choice(BLEND_RATIOS))
    # A smooth displacement field for the mask edge, in pixels.
    cells = 4
    field = rng.normal(0.0, 0.04 * size, (cells, cells, 2)).astype(np.float32)
    self.field = cv2.resize(field, (size, size), interpolation=cv2.INTER_CUBIC)

  def source(self, frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The transformed copy of one frame [S, S, 3] uint8 -> float32 [0, 255]."""
    hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + self.hue * 256 / 360) % 256
    hsv[..., 1] *= self.sat
    hsv[..., 2] += 255 * self.val
    out = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB_FULL)
    out = out.astype(np.float32)
    out = (out - out.mean()) * self.contrast + out.mean()
    if self.blur:
      out = cv2.GaussianBlur(out, (0, 0), self.blur)
    else:
      out = out + self.sharpen * (out - cv2.GaussianBlur(out, (0, 0), 1.0))
    width = float(np.linalg.norm(landmarks[1] - landmarks[0])) * 2.0
    centre = landmarks.mean(0)
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), 0.0, self.scale)
    matrix[:, 2] += self.shift * width
    return cv2.warpAffine(
      out,
      matrix,
      (self.size, self.size),
      flags=WARPS[self.warp],
      borderMode=cv2.BORDER_REFLECT,
    )

  def mask(self, landmarks: np.ndarray) -> np.ndarray:
    """[S, S] float32 blend weights in [0, ratio] for one frame's landmarks."""
    m = np.zeros((self.size, self.size), np.float32)
    hull = cv2.convexHull(_hull_points(landmarks, self.grow).round().astype(np.int32))
    cv2.fillConvexPoly(m, hull, 1.0)
    grid = np.indices((self.size, self.size))[::-1].astype(np.float32)
    m = cv2.remap(m, grid[0] + self.field[..., 0], grid[1] + self.field[..., 1], cv2.INTER_LINEAR)
    kernel = np.ones((3, 3), np.uint8)
    if self.morph > 0:
      m = cv2.dilate(m, kernel, iterations=self.morph)
    elif self.morph < 0:
      m = cv2.erode(m, kernel, iterations=-self.morph)
    return cv2.GaussianBlur(m, (0, 0), self.feather) * self.ratio

  def __call__(self, clip: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """clip [T, S, S, 3] uint8, landmarks [T, 5, 2] -> the self-blended clip, uint8."""
    out = np.empty_like(clip)
    for t, (frame, points) in enumerate(zip(clip, landmarks, strict=True)):
      weight = self.mask(points)[..., None]
      blended = frame.astype(np.float32) * (1 - weight) + self.source(frame, points) * weight
      out[t] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
    return out


def self_blend_clip(
  clip: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator, **options
) -> np.ndarray:
  """A real clip [T, S, S, 3] uint8 with its landmarks [T, 5, 2] -> a self-blended fake clip
  (`options`: `SelfBlend`'s `frequency` and `warp`)."""
  return SelfBlend(rng, clip.shape[1], **options)(clip, landmarks)
