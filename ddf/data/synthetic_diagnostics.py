"""Cue-isolating manipulations of the synthetic generator: each leaves a cue that some branches of
the detector cannot see by construction (not in the default method mix; `configs/diagnostics.py`
trains one branch on reals + one of them).

  Shuffled     the target's real video with its expression and appearance states (mouth, blinks,
               lighting, background pan) permuted in time inside aligned blocks of `BLOCK` frames
               (no frame keeps its own), head pose kept per frame so the face track stays smooth.
               Every frame is a frame of the real process and a block holds the real video's
               states in another order: the order-invariant clip means of the spatial and micro
               branches see nothing; the temporal branches see unnatural dynamics.
  ChromaShift  the real video with the face region's chroma rotated and rescaled while each pixel's
               BT.601 luma is kept (to the nearest integer): invisible to the grayscale
               micro-expression branches, visible to the RGB spatial branch.
  FrozenMouth  the real video with mouth and eyelids held at the state of the first frame of each
               block of `BLOCK` frames while head motion, lighting and noise go on: a local,
               temporal cue for the micro-temporal branch.

`BLOCK` = 8 is the default config's clip length; its stored windows start at multiples of 8, so a
clip holds whole blocks.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ddf.data import synthetic_faces as faces
from ddf.data import synthetic_fakes as fakes
from ddf.data.ffpp_layout import DIAGNOSTIC_METHODS

BLOCK = 8
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # BT.601 luma weights of R, G, B.


def block_derangement(num_frames: int, rng: np.random.Generator, block: int = BLOCK) -> np.ndarray:
  """[T] frame order: every full block of `block` frames permuted with no frame left in place; a
  trailing partial block of 2+ frames is rotated by one."""
  order = np.arange(num_frames)
  for a in range(0, num_frames, block):
    b = min(a + block, num_frames)
    if b - a < 2:
      continue
    if b - a < block:
      order[a:b] = np.roll(order[a:b], 1)
      continue
    while True:
      p = rng.permutation(b - a)
      if not np.any(p == np.arange(b - a)):
        break
    order[a:b] = a + p
  return order


def shuffled_motion(motion: faces.Motion, order: np.ndarray) -> faces.Motion:
  """`motion` with its expression and appearance states taken in `order` [T]; pose kept."""
  return dataclasses.replace(
    motion,
    blink=motion.blink[order],
    mouth=motion.mouth[order],
    gain=motion.gain[order],
    gamma=motion.gamma[order],
    pan=motion.pan[order],
  )


def frozen_motion(motion: faces.Motion, block: int = BLOCK) -> faces.Motion:
  """`motion` with mouth and eyelids held at each block's first frame; everything else moves."""
  held = (np.arange(len(motion.mouth)) // block) * block
  return dataclasses.replace(motion, blink=motion.blink[held], mouth=motion.mouth[held])


def luma(rgb: np.ndarray) -> np.ndarray:
  """[..., 3] RGB -> [...] BT.601 luma, same scale."""
  return rgb @ LUMA


def round_keeping_luma(rgb: np.ndarray, target: np.ndarray) -> np.ndarray:
  """float RGB [..., 3] in [0, 255] -> uint8 with luma nearest `target` [...]: each channel is
  rounded down or up, whichever of the 8 choices has the smallest luma error (ties: colour)."""
  low = np.floor(rgb)
  best = best_err = None
  for bits in range(8):
    up = np.array([(bits >> c) & 1 for c in range(3)], np.float32)
    cand = np.clip(low + up, 0, 255)
    err = np.abs(luma(cand) - target) + 1e-3 * np.abs(cand - rgb).sum(-1)
    if best is None:
      best, best_err = cand, err
    else:
      better = err < best_err
      best = np.where(better[..., None], cand, best)
      best_err = np.where(better, err, best_err)
  return best.astype(np.uint8)


def chroma_shift(
  frames: np.ndarray, masks: np.ndarray, angle: float, saturation: float
) -> np.ndarray:
  """uint8 frames [T, H, W, 3] with their Cb/Cr chroma rotated by `angle` degrees and scaled by
  `saturation` where `masks` [T, H, W] (in [0, 1]) says, each pixel's luma kept; uint8 out."""
  rgb = frames.astype(np.float32)
  y = luma(rgb)
  cb, cr = (rgb[..., 2] - y) * 0.564, (rgb[..., 0] - y) * 0.713
  c, s = np.cos(np.radians(angle)), np.sin(np.radians(angle))
  cb, cr = (
    cb + masks * (saturation * (c * cb - s * cr) - cb),
    cr + masks * (saturation * (s * cb + c * cr) - cr),
  )
  r, b = y + cr / 0.713, y + cb / 0.564
  g = (y - LUMA[0] * r - LUMA[2] * b) / LUMA[1]
  delta = np.stack([r, g, b], -1) - rgb  # luma-neutral: luma(delta) == 0
  with np.errstate(divide="ignore", invalid="ignore"):
    room = np.where(delta > 0, (255.0 - rgb) / delta, np.where(delta < 0, -rgb / delta, np.inf))
  scale = np.clip(room.min(-1), 0, 1)[..., None]  # shrink toward the original to stay in gamut
  return round_keeping_luma(rgb + scale * delta, y)


def make_diagnostic(
  method: str,
  ident: faces.Identity,
  motion: faces.Motion,
  size: int,
  rng: np.random.Generator,
  difficulty: float,
) -> np.ndarray:
  """uint8 frames [T, size, size, 3] of diagnostic `method` made from `ident`'s real video."""
  if method == "Shuffled":
    order = block_derangement(len(motion.dx), rng)
    return faces.render(ident, shuffled_motion(motion, order), size).frames
  if method == "FrozenMouth":
    return faces.render(ident, frozen_motion(motion), size).frames
  if method == "ChromaShift":
    real = faces.render(ident, motion, size)
    k = 1.25 - float(np.clip(difficulty, 0, 1))
    angle = float(rng.choice([-1, 1]) * rng.uniform(35, 70) * k)
    saturation = float(np.exp(rng.choice([-1, 1]) * rng.uniform(0.2, 0.5) * k))
    feather = 0.05 * faces.eye_dist(real.landmarks[0])
    masks = np.stack(
      [fakes.face_ellipse_mask((size, size), lm, feather, grow=1.1) for lm in real.landmarks]
    )
    return chroma_shift(real.frames, masks, angle, saturation)
  raise ValueError(f"Unknown diagnostic method {method!r}; expected one of {DIAGNOSTIC_METHODS}")
