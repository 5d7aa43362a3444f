"""Manipulations imitating the FF++ methods' artifacts, as portrait hooks for `synthetic_faces.render`.

Every method is a (self-)blend: a manipulated copy of the face (the source identity warped onto the
target's landmarks, or a re-animated / low-passed copy of the target itself) and a
landmark-derived mask, which `render` blends into the target portrait (or, made after capture,
onto the filmed frame), with per-frame jitter of the blend (position, colour, blur) for temporal
inconsistency. `difficulty` in [0, 1] scales artifact strengths down.

  Deepfakes       identity swap, smooth mask, blurred low-resolution face (autoencoder-like).
  FaceSwap        identity swap, sharp landmark-hull mask (visible seam), colour mismatch, misalignment.
  Face2Face       lower face re-animated with the source's mouth motion, mildly blurred, feathered mask.
  NeuralTextures  mouth region re-rendered with a low-pass (smoothed) texture, flickering.
  FaceShifter     identity swap with good colour transfer, mild blur: the subtlest.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from ddf.data import synthetic_faces as sf

METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")
# A hook maps (frame index, portrait [R, R, 3]) to (manipulated copy [R, R, 3], blend mask [R, R]
# in [0, 1]); `synthetic_faces.render` blends the copy in where the mask is.
Hook = Callable[[int, np.ndarray], tuple[np.ndarray, np.ndarray]]


def strength(difficulty: float) -> float:
  """Artifact strength for a difficulty in [0, 1] (1.25 = obvious, 0.75 at 0.5, 0.25 = subtle)."""
  return float(1.25 - np.clip(difficulty, 0.0, 1.0))


def _units(lm: np.ndarray) -> tuple[float, float]:
  """(width unit, eye-to-mouth distance) of a face from its landmarks."""
  ed = sf.eye_dist(lm)
  dm = float(np.linalg.norm((lm[3] + lm[4]) / 2 - (lm[0] + lm[1]) / 2))
  return max(ed, 0.75 * dm), dm


def _eye_angle(lm: np.ndarray) -> float:
  v = lm[1] - lm[0]
  return float(np.degrees(np.arctan2(v[1], v[0])))


def face_ellipse_mask(
  shape, lm: np.ndarray, feather: float, grow: float = 1.0, offset=(0.0, 0.0)
) -> np.ndarray:
  """Inner-face ellipse (brows to chin) mask."""
  wu, dm = _units(lm)
  eyes, mouth = (lm[0] + lm[1]) / 2, (lm[3] + lm[4]) / 2
  c = 0.5 * eyes + 0.5 * mouth + np.asarray(offset)
  return sf.soft_ellipse(shape, c, (0.95 * wu * grow, 1.35 * dm * grow), _eye_angle(lm), feather)


def hull_mask(
  shape, lm: np.ndarray, feather: float, grow: float = 1.0, offset=(0.0, 0.0)
) -> np.ndarray:
  """Landmark convex hull extended to brows, cheeks and chin (FaceSwap-like)."""
  wu, dm = _units(lm)
  up = np.array([0, -1.0]) * dm
  le, re, no, ml, mr = lm
  eyes = (le + re) / 2
  mouth = (ml + mr) / 2
  side = (re - le) / max(np.linalg.norm(re - le), 1e-6) * wu * 0.45
  pts = np.array(
    [
      le + 0.55 * up - 0.5 * side,
      re + 0.55 * up + 0.5 * side,
      le - 0.9 * side + 0.1 * up,
      re + 0.9 * side + 0.1 * up,
      ml - 0.75 * side - 0.05 * up,
      mr + 0.75 * side - 0.05 * up,
      mouth - 0.6 * up - 0.4 * side,
      mouth - 0.6 * up + 0.4 * side,
    ],
    np.float32,
  )
  c = pts.mean(0)
  pts = (pts - c) * grow + c + np.asarray(offset, np.float32)
  m = np.zeros(shape, np.float32)
  cv2.fillConvexPoly(
    m, np.round(cv2.convexHull(pts) * 4).astype(np.int32), 1.0, lineType=cv2.LINE_AA, shift=2
  )
  del eyes, no
  if feather > 0:
    m = cv2.GaussianBlur(m, (0, 0), feather)
  return m


def lower_face_mask(shape, lm: np.ndarray, feather: float, offset=(0.0, 0.0)) -> np.ndarray:
  """Nose-to-chin region (Face2Face-like)."""
  wu, dm = _units(lm)
  mouth = (lm[3] + lm[4]) / 2
  c = 0.35 * lm[2] + 0.65 * mouth + np.array([0, 0.2 * dm]) + np.asarray(offset)
  return sf.soft_ellipse(shape, c, (0.8 * wu, 0.75 * dm), _eye_angle(lm), feather)


def mouth_mask(shape, lm: np.ndarray, feather: float, offset=(0.0, 0.0)) -> np.ndarray:
  """Mouth region (NeuralTextures-like)."""
  w = float(np.linalg.norm(lm[4] - lm[3]))
  c = (lm[3] + lm[4]) / 2 + np.array([0, 0.15 * w]) + np.asarray(offset)
  return sf.soft_ellipse(shape, c, (1.1 * w, 0.85 * w), _eye_angle(lm), feather)


def low_pass(img: np.ndarray, factor: float, sigma: float) -> np.ndarray:
  """Down-up resampling by `factor` (>= 1) followed by a Gaussian blur."""
  h, w = img.shape[:2]
  if factor > 1.01:
    small = cv2.resize(
      img, (max(4, int(w / factor)), max(4, int(h / factor))), interpolation=cv2.INTER_AREA
    )
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
  if sigma > 0.05:
    img = cv2.GaussianBlur(img, (0, 0), sigma)
  return img


def _shift(
  img: np.ndarray, dx: float, dy: float, scale: float = 1.0, center=(0.0, 0.0)
) -> np.ndarray:
  m = cv2.getRotationMatrix2D((float(center[0]), float(center[1])), 0.0, float(scale))
  m[:, 2] += (dx, dy)
  return cv2.warpAffine(
    img, m, (img.shape[1], img.shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
  )


def resample(img: np.ndarray, factor: float, sigma: float, sharpen: bool = False) -> np.ndarray:
  """`low_pass(img, factor, sigma)`, or with `sharpen` an unsharp mask of like strength:
  img + a * (img - blur(img, sigma 1)) with a = 0.6 (factor - 1) + sigma."""
  if not sharpen:
    return low_pass(img, factor, sigma)
  amount = 0.6 * (factor - 1.0) + sigma
  return img + amount * (img - cv2.GaussianBlur(img, (0, 0), 1.0))


def drift(x: np.ndarray, sigma: float = 3.0, keep_mean: bool = False) -> np.ndarray:
  """Per-frame random values [T, ...] smoothed over time (Gaussian, `sigma` frames): a slow drift
  with the same mean and, around it, the same standard deviation as `x`, not frame-to-frame
  jumps."""
  x = np.asarray(x, np.float32)
  mean = x.mean(0, keepdims=True)
  t = np.arange(len(x), dtype=np.float32)
  w = np.exp(-0.5 * ((t[:, None] - t[None, :]) / sigma) ** 2)
  smooth = (w / w.sum(1, keepdims=True)) @ (x - mean).reshape(len(x), -1)
  smooth = smooth.reshape(x.shape)
  scale = (x - mean).std(0, keepdims=True) / (smooth.std(0, keepdims=True) + 1e-8)
  out = smooth * scale + (mean if keep_mean else 0.0)
  return out.astype(np.float32)


def warp_onto(source: sf.Identity, target: sf.Identity) -> np.ndarray:
  """The source portrait [R_s, R_s, 3] warped by the similarity that maps its landmarks onto the
  target's, in the target's portrait frame [R_t, R_t, 3] (borders reflected)."""
  m, _ = cv2.estimateAffinePartial2D(source.landmarks, target.landmarks, method=cv2.LMEDS)
  if m is None:
    raise ValueError(f"no similarity maps {source.photo!r}'s landmarks onto {target.photo!r}'s")
  r = target.portrait.shape[0]
  return cv2.warpAffine(
    source.portrait, m, (r, r), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
  )


def generated_noise_ratio(rng: np.random.Generator) -> float:
  """A fake made after capture (`capture="after"`): its generated face's noise std over the
  sensor's, with equal odds 0.4-0.7 (a smoother generator output) or 1.4-2.5 (a grainier one),
  log-symmetric about 1. The generator's output is not filmed by the camera, so its noise never
  matches the frame's, and it departs in either direction by like amounts: a per-region noise
  level alone cannot tell a fake."""
  sign = 1.0 if rng.random() < 0.5 else -1.0
  return float(np.exp(sign * rng.uniform(0.35, 0.9)))


def _masked_mean(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
  w = mask.reshape(-1)
  return (img.reshape(-1, 3) * w[:, None]).sum(0) / max(w.sum(), 1e-6)


def _tone(rng: np.random.Generator, std: float) -> np.ndarray:
  """A random colour offset, clipped to 2 standard deviations."""
  return np.clip(rng.normal(0, 1, 3), -2, 2).astype(np.float32) * std


def make_hooks(
  method: str,
  target: sf.Identity,
  source: sf.Identity,
  target_motion: sf.Motion,
  source_motion: sf.Motion,
  rng: np.random.Generator,
  difficulty: float,
  *,
  second_generation: bool = False,
) -> tuple[Hook | None, Hook | None]:
  """Returns `(pre_hook, post_hook)` that turn the target's real rendering into a fake.

  `second_generation` (the identity-disjoint trees): a swap (Deepfakes, FaceSwap, FaceShifter)
  warps the source identity's portrait onto the target's landmarks (a similarity fitted to the 5
  points); the blend's position drifts slowly over time instead of jumping from frame to frame,
  and its colour error is the same in every frame (a temporal cue of a fake is then the business
  of the diagnostics, `ddf.data.synthetic_diagnostics`); and resampling the face either blurs or
  sharpens it (a generator's output is not always softer). A shallow model of per-region
  statistics then finds no one-directional shift to read: colour errors point anywhere, texture
  changes go both ways. Without it (the first generator): the target's own photo in the source's
  colours, i.i.d. per-frame jitter, blur only.
  """
  k = strength(difficulty) * rng.uniform(0.85, 1.15)
  lm = target.landmarks
  shape = target.portrait.shape[:2]
  wu, dm = _units(lm)
  fc = sf.face_center(lm)
  n = len(target_motion.dx)

  def jitter(scale_px: float, col: float) -> tuple[np.ndarray, np.ndarray]:
    off = rng.normal(0, scale_px, (n, 2)).astype(np.float32)
    cj = rng.normal(0, col, (n, 3)).astype(np.float32)
    if second_generation:  # a slow drift of the blend's position; the colour error is static
      off, cj = 0.5 * drift(off), np.zeros_like(cj)
    return off, cj

  def texture(img: np.ndarray, factor: float, sigma: float) -> np.ndarray:
    return resample(img, factor, sigma, sharpen=second_generation and rng.random() < 0.5)

  if method in ("Deepfakes", "FaceSwap", "FaceShifter"):
    # The source's face on the target's geometry: its warped portrait, or (first generator, two
    # photos) the target's photo in the source's colours, which is what tells those identities
    # apart.
    if second_generation:
      swapped = warp_onto(source, target)
    else:
      swapped = sf.recolour(target.raw_portrait, source.colour)
    if method == "FaceSwap":  # landmark misalignment: small shift and scale
      d = rng.normal(0, 0.04 * wu * k, 2)
      swapped = _shift(swapped, d[0], d[1], 1 + rng.choice([-1, 1]) * 0.05 * k, fc)
    inner = face_ellipse_mask(shape, lm, 2.0, 0.9)
    mis = {"Deepfakes": 0.45, "FaceSwap": 0.75, "FaceShifter": 0.15}[method] * k
    delta = _masked_mean(target.portrait, inner) - _masked_mean(swapped, inner)
    # Colour mismatch: partial colour transfer plus a random tone offset.
    tone = _tone(rng, 0.06 * k)
    swapped = swapped + (1 - mis) * delta + (tone if method != "FaceShifter" else 0.3 * tone)
    if method == "Deepfakes":
      swapped = texture(swapped, 1.0 + 1.6 * k, 0.35 + 0.9 * k)
      off, cj = jitter(0.6 * k + 0.2, 0.02 * k)
      masks = [face_ellipse_mask(shape, lm, 1.2 + 0.04 * wu, 1.0 + 0.04 * rng.standard_normal())]
    elif method == "FaceSwap":
      off, cj = jitter(0.9 * k + 0.3, 0.025 * k)
      masks = [hull_mask(shape, lm, 0.5 + 0.4 * (1 - k))]
    else:
      swapped = texture(swapped, 1.0 + 0.5 * k, 0.3 + 0.3 * k)
      off, cj = jitter(0.35 * k + 0.1, 0.01 * k)
      masks = [face_ellipse_mask(shape, lm, 0.8 + 0.05 * wu, 0.95)]
    mask0 = masks[0]
    swapped = np.clip(swapped, 0, 1).astype(np.float32)
    mscale = 1.0 + rng.normal(0, 0.02 * k, n)

    def pre(f: int, por: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
      dx, dy = off[f]
      copy = _shift(swapped, dx, dy) + cj[f]
      return copy, _shift(mask0, dx, dy, mscale[f], fc)

    return pre, None

  if method == "Face2Face":
    # Expression transfer: the lower face re-animated with the source's mouth motion.
    src_mouth = np.clip(source_motion.mouth * rng.uniform(1.0, 1.4) + 0.15 * k, 0, 1)
    off, cj = jitter(0.6 * k + 0.2, 0.02 * k)
    tone = _tone(rng, 0.05 * k)
    mask0 = lower_face_mask(shape, lm, 1.0 + 0.06 * wu)
    sig = 0.3 + 0.9 * k
    sharp = second_generation and rng.random() < 0.5

    def post(f: int, por: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
      re = sf.animate(
        target.portrait, lm, target.skin, float(target_motion.blink[f]), float(src_mouth[f])
      )
      dx, dy = off[f]
      copy = resample(_shift(re, dx, dy), 1.0 + 0.8 * k, sig, sharp) + tone + cj[f]
      return copy, _shift(mask0, dx, dy)

    return None, post

  if method == "NeuralTextures":
    off, cj = jitter(0.5 * k + 0.2, 0.02 * k)
    tone = _tone(rng, 0.045 * k)
    mask0 = mouth_mask(shape, lm, 0.8 + 0.08 * wu)
    fac = 1.0 + (1.5 + 0.5 * rng.random(n)) * k
    sig = (0.5 + 0.6 * rng.random(n)) * k + 0.2
    if second_generation:  # the texture's softness drifts instead of flickering
      fac, sig = drift(fac, keep_mean=True), drift(sig, keep_mean=True)
    mouth = np.clip(0.5 * (target_motion.mouth + source_motion.mouth), 0, 1)

    def post(f: int, por: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
      re = sf.animate(
        target.portrait, lm, target.skin, float(target_motion.blink[f]), float(mouth[f])
      )
      dx, dy = off[f]
      copy = low_pass(re, float(fac[f]), float(sig[f])) + tone + cj[f]
      return copy, _shift(mask0, dx, dy)

    return None, post

  raise ValueError(f"Unknown manipulation method {method!r}; expected one of {METHODS}.")
