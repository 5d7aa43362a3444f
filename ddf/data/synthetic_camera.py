"""Per-video capture variability of the synthetic generator (`camera` > 0).

Real videos differ from one another in how they were filmed: white balance that is off and drifts
as the camera adapts, focus (soft or over-sharpened by the phone or the upload), and sensor noise.
Without this, every synthetic real shares one noise level, one sharpness and exact white balance,
so per-region image statistics alone tell a real from a fake. With it those statistics vary among
reals as much as the manipulations move them, and the fakes' remaining cues are the local ones a
face swap leaves (seams, mismatched texture inside the face against its surroundings).

A fake is made from its target's real video and inherits that video's camera (the settings are
drawn from the target's id), as an FF++ fake inherits the YouTube video it was made from.

  white balance  per-channel gains: a per-video offset (std 0.05 v) plus a slow drift (up to 0.03 v)
  focus          half the videos blurred (Gaussian sigma up to 1.0 v px), half sharpened (unsharp
                 mask, amount up to 0.8 v)
  noise          Gaussian sensor noise, std from 0.6 to 1.2 + 3 v (of 255)

with v = `camera` (0 = off: the generator's fixed noise of 1.2 / 255, no other change).
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

DEFAULT_NOISE = 1.2 / 255.0  # sensor noise of every video without camera variability


@dataclasses.dataclass(frozen=True)
class Camera:
  """One video's capture settings."""

  white_balance: np.ndarray  # [T, 3] per-channel gains (RGB)
  blur_sigma: float  # Gaussian blur of every frame in pixels (0 = none)
  sharpen: float  # unsharp-mask amount (0 = none)
  noise: float  # sensor-noise std, in [0, 1] intensity units

  def develop(self, f: int, img: np.ndarray) -> np.ndarray:
    """Frame `f` [H, W, 3] float32 in [0, 1] -> white-balanced and focused (before noise)."""
    img = img * self.white_balance[f]
    if self.blur_sigma > 0:
      img = cv2.GaussianBlur(img, (0, 0), self.blur_sigma)
    if self.sharpen > 0:
      img = img + self.sharpen * (img - cv2.GaussianBlur(img, (0, 0), 1.0))
    return img


def make_camera(seed: int, vid: int, num_frames: int, variability: float) -> Camera:
  """Deterministic capture settings of video id `vid`; `variability` 0 = the fixed camera."""
  if variability <= 0:
    return Camera(np.ones([num_frames, 3], np.float32), 0.0, 0.0, DEFAULT_NOISE)
  v = float(variability)
  rng = np.random.default_rng([seed, vid, 404])
  t = np.arange(num_frames, dtype=np.float32)
  offset = np.clip(rng.normal(0, 1, 3), -2, 2) * 0.05 * v
  phase, period = rng.uniform(0, 2 * np.pi, 3), rng.uniform(30, 90, 3)
  drift = np.sin(2 * np.pi * t[:, None] / period + phase) * rng.uniform(0, 0.03 * v, 3)
  white_balance = (1.0 + offset + drift).astype(np.float32)
  soft = rng.random() < 0.5
  amount = rng.uniform(0, 1)
  return Camera(
    white_balance=white_balance,
    blur_sigma=1.0 * v * amount if soft else 0.0,
    sharpen=0.0 if soft else 0.8 * v * amount,
    noise=rng.uniform(0.6, 1.2 + 3.0 * v) / 255.0,
  )
