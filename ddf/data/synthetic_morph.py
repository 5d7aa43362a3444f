"""More identities than photos: landmark-guided morphs of two photos of one split.

The `morphed` identity pool of the synthetic generator is the `disjoint` pool, extended inside
each split: where a split has more identities than photos, the rest are morphs of two of that
split's photos, so no identity repeats and no source photo crosses splits. A morph aligns both
photos to a canonical face (a similarity fitted to the 5 landmarks), warps each onto the
weighted mean of their landmarks (piecewise affine over a triangulation of the landmarks and the
canvas border, scikit-image's `PiecewiseAffineTransform`) and cross-dissolves them with the same
weight. Its landmarks are that mean, so no detector runs.
"""

from __future__ import annotations

import functools
from typing import Sequence

import cv2
import numpy as np

from ddf.data.synthetic_faces import FacePhoto, landmarks_to_box

CANVAS = 256  # side of a morph, in pixels.
WEIGHTS = (0.35, 0.65)  # range of the second photo's weight.


@functools.cache
def template() -> np.ndarray:
  """[5, 2] canonical landmarks on the canvas: the mean of the stored LFW canvases' landmarks."""
  from ddf.data.synthetic_photos import LFW_CANVAS, SHIPPED_LANDMARKS

  lfw = [v for k, v in SHIPPED_LANDMARKS.items() if k.startswith("lfw:")]
  return (np.mean(lfw, 0) * CANVAS / LFW_CANVAS).astype(np.float32)


def align(photo: FacePhoto) -> tuple[np.ndarray, np.ndarray]:
  """(image [CANVAS, CANVAS, 3] float32 in [0, 255], landmarks [5, 2]): `photo` moved by the
  similarity that best maps its landmarks onto `template()` (borders reflected)."""
  m, _ = cv2.estimateAffinePartial2D(photo.landmarks, template(), method=cv2.LMEDS)
  if m is None:
    raise ValueError(f"cannot align face photo {photo.name!r} to the morph template")
  img = cv2.warpAffine(
    photo.image.astype(np.float32),
    m,
    (CANVAS, CANVAS),
    flags=cv2.INTER_LINEAR,
    borderMode=cv2.BORDER_REFLECT,
  )
  return img, (photo.landmarks @ m[:, :2].T + m[:, 2]).astype(np.float32)


def _border_points() -> np.ndarray:
  """[8, 2] canvas corners and edge midpoints (fixed by every warp)."""
  e = CANVAS - 1.0
  h = e / 2
  return np.array([[0, 0], [h, 0], [e, 0], [e, h], [e, e], [h, e], [0, e], [0, h]], np.float32)


def warp_to(image: np.ndarray, landmarks: np.ndarray, target: np.ndarray) -> np.ndarray:
  """Image [S, S, 3] float32 with its landmarks [5, 2] -> the image warped so that they land on
  `target` [5, 2] (piecewise affine; the canvas border stays put)."""
  from skimage.transform import PiecewiseAffineTransform, warp

  border = _border_points()
  # warp() maps output coordinates to input ones: estimate target -> source.
  src, dst = np.concatenate([target, border]), np.concatenate([landmarks, border])
  if hasattr(PiecewiseAffineTransform, "from_estimate"):  # scikit-image >= 0.26
    tform = PiecewiseAffineTransform.from_estimate(src, dst)
    ok = bool(tform)
  else:
    tform = PiecewiseAffineTransform()
    ok = tform.estimate(src, dst)
  if not ok:
    raise ValueError("piecewise-affine warp could not be estimated")
  out = warp(image / 255.0, tform, output_shape=image.shape[:2], order=1, mode="reflect")
  return (out * 255.0).astype(np.float32)


def morph(a: FacePhoto, b: FacePhoto, weight: float) -> FacePhoto:
  """The face between `a` (weight 0) and `b` (weight 1): both warped onto the weighted mean of
  their aligned landmarks, then blended with that weight."""
  img_a, lm_a = align(a)
  img_b, lm_b = align(b)
  lm = ((1 - weight) * lm_a + weight * lm_b).astype(np.float32)
  img = (1 - weight) * warp_to(img_a, lm_a, lm) + weight * warp_to(img_b, lm_b, lm)
  box = tuple(float(v) for v in landmarks_to_box(lm))
  name = f"morph:{a.name}+{b.name}:{weight:.2f}"
  return FacePhoto(np.clip(img + 0.5, 0, 255).astype(np.uint8), lm, box, name)


def parents(name: str) -> list[str]:
  """The source photos of a pool entry: [name] for a photo, its two parents for a morph."""
  if not name.startswith("morph:"):
    return [name]
  return name[len("morph:") :].rsplit(":", 1)[0].split("+")


class MorphPool(Sequence[FacePhoto]):
  """A split's photos followed by morphs of pairs of them; a morph is made on first access, so a
  generator worker makes only the morphs of the identities it renders."""

  def __init__(self, photos: Sequence[FacePhoto], recipes: Sequence[tuple[int, int, float]]):
    self._photos = list(photos)
    self._recipes = list(recipes)  # (index of photo a, index of photo b, weight of b)

  def __len__(self) -> int:
    return len(self._photos) + len(self._recipes)

  @functools.cache  # noqa: B019 - one pool per split and seed, kept for the process anyway
  def _morph(self, k: int) -> FacePhoto:
    i, j, weight = self._recipes[k]
    return morph(self._photos[i], self._photos[j], weight)

  def __getitem__(self, index: int) -> FacePhoto:  # type: ignore[override]
    index = range(len(self))[index]  # negative indices; IndexError past the end
    n = len(self._photos)
    return self._photos[index] if index < n else self._morph(index - n)


def extend(photos: Sequence[FacePhoto], count: int, rng: np.random.Generator) -> MorphPool:
  """`photos` (one split's) followed by morphs of distinct pairs of them, `count` in all (just
  `photos` when there are already enough); the morphs are made when first used."""
  n = len(photos)
  pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
  if count - n > len(pairs):
    raise ValueError(f"{n} photos make at most {len(pairs)} morphs; {count - n} are needed")
  recipes = []
  for k in rng.permutation(len(pairs))[: max(count - n, 0)]:
    i, j = pairs[k]
    recipes.append((i, j, float(rng.uniform(*WEIGHTS))))
  return MorphPool(photos, recipes)
