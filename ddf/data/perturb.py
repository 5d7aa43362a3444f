"""The DeeperForensics-1.0 perturbations (Jiang et al., CVPR 2020), 7 types x 5 levels, applied to
stored face crops at evaluation (`python -m ddf.evaluate --perturb`).

  type  name                 levels 1..5                           applied to
  CS    colour saturation    YCbCr chroma x 0.4 / 0.3 / 0.2 / 0.1 / 0.0   Cb, Cr around 128
  CC    colour contrast      x 0.85 / 0.725 / 0.6 / 0.475 / 0.35          RGB around the frame mean
  BW    block-wise           16 / 32 / 48 / 64 / 80 grey blocks of 8x8 px per 256 px side
  GNC   Gaussian noise       YCbCr variance .001 / .002 / .005 / .01 / .05 (values in [0, 1])
  GB    Gaussian blur        kernel 7 / 9 / 13 / 17 / 21, sigma = kernel / 6
  PX    pixelation           down and up by x2 / x3 / x4 / x5 / x6 (area down, nearest up)
  JPEG  compression          JPEG quality 40 / 30 / 20 / 10 / 5 per frame

Sizes are given for 256 px crops and scale with the crop side (block and kernel sides; at least
1 px / 3 px). The last row stands in for DeeperForensics' H.264 ladder (CRF 30-40), which the
OpenCV wheel cannot encode; it is a per-frame JPEG ladder of similar severity. Random parts
(block positions, noise) are drawn once per clip from a seed, so every frame of a clip gets the
same blocks (as a video corruption would) and results are reproducible.
"""

from __future__ import annotations

import cv2
import numpy as np

LEVELS = (1, 2, 3, 4, 5)
TYPES = {
  "CS": ("colour saturation", (0.4, 0.3, 0.2, 0.1, 0.0)),
  "CC": ("colour contrast", (0.85, 0.725, 0.6, 0.475, 0.35)),
  "BW": ("block-wise", (16, 32, 48, 64, 80)),
  "GNC": ("Gaussian noise", (0.001, 0.002, 0.005, 0.01, 0.05)),
  "GB": ("Gaussian blur", (7, 9, 13, 17, 21)),
  "PX": ("pixelation", (2, 3, 4, 5, 6)),
  "JPEG": ("JPEG compression", (40, 30, 20, 10, 5)),
}


def names() -> list[str]:
  """'CS1' .. 'JPEG5': every perturbation, in table order."""
  return [f"{t}{level}" for t in TYPES for level in LEVELS]


def parse(name: str) -> tuple[str, int]:
  """'GB3' -> ('GB', 3)."""
  kind, level = name.rstrip("0123456789"), name[len(name.rstrip("0123456789")) :]
  if kind not in TYPES or not level or int(level) not in LEVELS:
    raise ValueError(
      f"unknown perturbation {name!r}; expected a type of {', '.join(TYPES)} "
      f"followed by a level 1-5, e.g. GB3"
    )
  return kind, int(level)


def _ycbcr(clip: np.ndarray) -> np.ndarray:
  return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2YCrCb) for f in clip]).astype(np.float32)


def _rgb(ycrcb: np.ndarray) -> np.ndarray:
  out = np.clip(np.round(ycrcb), 0, 255).astype(np.uint8)
  return np.stack([cv2.cvtColor(f, cv2.COLOR_YCrCb2RGB) for f in out])


def _odd(x: float) -> int:
  k = max(3, int(round(x)))
  return k if k % 2 else k + 1


def apply(clip: np.ndarray, name: str, seed: int = 0) -> np.ndarray:
  """[T, S, S, 3] uint8 RGB -> the same clip under perturbation `name` (e.g. 'GB3')."""
  kind, level = parse(name)
  value = TYPES[kind][1][level - 1]
  side = clip.shape[1]
  rng = np.random.default_rng(seed)
  if kind == "CS":
    y = _ycbcr(clip)
    y[..., 1:] = 128.0 + (y[..., 1:] - 128.0) * value
    return _rgb(y)
  if kind == "CC":
    x = clip.astype(np.float32)
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    return np.clip(np.round(mean + (x - mean) * value), 0, 255).astype(np.uint8)
  if kind == "BW":
    out = clip.copy()
    block = max(1, int(round(8 * side / 256)))
    for _ in range(int(value)):
      y0, x0 = rng.integers(0, side - block + 1, 2)
      out[:, y0 : y0 + block, x0 : x0 + block] = 128
    return out
  if kind == "GNC":
    y = _ycbcr(clip) / 255.0
    y = y + rng.normal(0.0, np.sqrt(value), y.shape).astype(np.float32)
    return _rgb(y * 255.0)
  if kind == "GB":
    k = _odd(value * side / 256)
    return np.stack([cv2.GaussianBlur(f, (k, k), k / 6.0) for f in clip])
  if kind == "PX":
    small = max(1, side // int(value))
    return np.stack(
      [
        cv2.resize(
          cv2.resize(f, (small, small), interpolation=cv2.INTER_AREA),
          (side, side),
          interpolation=cv2.INTER_NEAREST,
        )
        for f in clip
      ]
    )
  out = []
  for f in clip:  # JPEG
    ok, buf = cv2.imencode(
      ".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(value)]
    )
    out.append(cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
  return np.stack(out)
