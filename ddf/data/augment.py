"""Clip augmentation, deterministic from the given generator; one draw per clip, so all frames
of a clip get the same transform (temporal artifacts are the signal, augmentation must not add any).
"""

from __future__ import annotations

import cv2
import ml_collections
import numpy as np


def augment_clip(
  clip: np.ndarray, rng: np.random.Generator, cfg: ml_collections.ConfigDict
) -> np.ndarray:
  """[T, H, W, 3] uint8 -> [T, H, W, 3] uint8: flip, colour jitter, JPEG re-encoding, blur, and
  a translation by up to `shift` whole pixels in x and y (edges reflected; pixel values and the
  pixel grid unchanged, so high-pass statistics survive it)."""
  out = clip
  if cfg.get("flip", False) and rng.random() < 0.5:
    out = out[:, :, ::-1]
  jitter = float(cfg.get("color_jitter", 0.0))
  if jitter > 0:
    gain = 1.0 + rng.uniform(-jitter, jitter, size=3)  # per channel contrast/colour
    bias = 255.0 * rng.uniform(-jitter, jitter)  # brightness
    out = np.clip(out.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)
  if rng.random() < float(cfg.get("jpeg_prob", 0.0)):
    quality = int(rng.integers(30, 96))
    out = np.stack([_jpeg_roundtrip(f, quality) for f in out])
  if rng.random() < float(cfg.get("blur_prob", 0.0)):
    sigma = float(rng.uniform(0.3, 1.5))
    out = np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in out])
  shift = int(cfg.get("shift", 0))
  if shift > 0:  # drawn last, so the other transforms' draws do not depend on it
    dy, dx = (int(d) for d in rng.integers(-shift, shift + 1, size=2))
    out = _translate(out, dy, dx)
  return np.ascontiguousarray(out)


def _jpeg_roundtrip(frame: np.ndarray, quality: int) -> np.ndarray:
  ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
  return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else frame


def _translate(clip: np.ndarray, dy: int, dx: int) -> np.ndarray:
  """[T, H, W, C] moved by (dy, dx) whole pixels; the uncovered border reflects the clip's edge."""
  pad = max(abs(dy), abs(dx))
  if pad == 0:
    return clip
  h, w = clip.shape[1:3]
  padded = np.pad(clip, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
  return padded[:, pad - dy : pad - dy + h, pad - dx : pad - dx + w]
