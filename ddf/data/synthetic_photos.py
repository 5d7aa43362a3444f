"""Every face photo that installed packages ship, with 5-point landmarks, split without overlap.

The identity-disjoint pool of the synthetic generator (`photos="disjoint"`):

  skimage:astronaut       scikit-image's `data.astronaut()` (RGB, 512 px)
  skimage:camera          scikit-image's `data.camera()` (grey, 512 px)
  matplotlib:grace_hopper matplotlib's `sample_data/grace_hopper.jpg` (RGB, 600x512)
  lfw:000 ... lfw:099     the 100 faces of scikit-image's `data.lfw_subset()` (rows 0-99; grey,
                          25x25, upscaled to `LFW_SIDE` pixels on a canvas whose border continues
                          the photo's edge, blurred)

Landmarks were found once with this project's MTCNN (`detect_landmarks` recomputes them;
`tests/test_synthetic.py` checks the stored ones) and are stored in `SHIPPED_LANDMARKS`, so the
generator runs no detector. `split_photos` deals the photos to train / val / test: no photo is in
two splits.
"""

from __future__ import annotations

import functools
import os
from typing import Sequence

import cv2
import numpy as np

from ddf.data.synthetic_faces import FacePhoto, landmarks_to_box

LFW_FACES = 100  # rows 0-99 of lfw_subset are faces (100-199 are not).
LFW_SIDE = 112  # an LFW face is upscaled to this many pixels ...
LFW_CANVAS = 256  # ... and centred on a canvas this large.

# Landmarks [5, 2] (x, y) of each shipped photo (on its canvas for the LFW faces), found with
# `detect_landmarks`; the LFW faces the detector missed are left out of the pool.
# fmt: off
SHIPPED_LANDMARKS: dict[str, list[list[float]]] = {
  "lfw:000": [[108.1, 110.6], [146.2, 110.8], [130.3, 134.3], [112.3, 156.3], [142.1, 156.0]],
  "lfw:001": [[92.1, 108.9], [131.7, 109.1], [107.5, 133.9], [95.2, 153.0], [132.4, 153.0]],
  "lfw:002": [[94.9, 110.7], [131.9, 104.8], [108.8, 133.3], [103.3, 154.1], [137.1, 149.0]],
  "lfw:003": [[101.2, 112.8], [141.1, 112.2], [122.8, 134.3], [105.6, 154.7], [138.9, 155.1]],
  "lfw:004": [[92.8, 114.1], [129.7, 106.0], [117.6, 134.8], [101.7, 152.9], [134.4, 145.8]],
  "lfw:005": [[98.0, 114.3], [137.7, 105.4], [110.8, 127.4], [105.9, 156.5], [136.3, 150.7]],
  "lfw:006": [[94.2, 114.4], [137.3, 113.9], [115.2, 141.6], [99.1, 158.8], [134.0, 158.3]],
  "lfw:007": [[100.2, 112.3], [139.6, 111.0], [120.2, 140.4], [108.9, 158.8], [138.1, 157.4]],
  "lfw:008": [[103.1, 113.3], [141.2, 111.7], [119.9, 132.7], [105.1, 150.4], [140.6, 149.6]],
  "lfw:010": [[98.3, 110.6], [142.6, 108.1], [119.6, 136.1], [104.1, 156.4], [142.1, 153.9]],
  "lfw:011": [[110.1, 113.8], [147.6, 113.8], [130.4, 139.9], [112.4, 153.4], [144.8, 153.5]],
  "lfw:012": [[102.0, 115.3], [137.5, 115.2], [118.7, 132.7], [106.0, 154.9], [134.1, 154.8]],
  "lfw:013": [[99.0, 111.0], [135.2, 108.5], [125.4, 133.8], [103.4, 153.4], [133.5, 151.8]],
  "lfw:014": [[90.4, 112.9], [133.3, 108.1], [116.9, 130.7], [97.5, 161.8], [133.8, 158.0]],
  "lfw:015": [[107.4, 112.2], [143.0, 109.0], [130.1, 135.4], [113.2, 150.1], [144.0, 147.6]],
  "lfw:016": [[103.6, 96.9], [142.1, 97.9], [119.1, 115.0], [105.2, 137.7], [135.0, 139.0]],
  "lfw:017": [[109.2, 110.2], [146.3, 110.4], [130.3, 129.0], [114.2, 148.7], [141.4, 148.7]],
  "lfw:018": [[97.7, 111.5], [141.4, 111.7], [113.1, 134.9], [99.0, 149.4], [137.1, 149.2]],
  "lfw:019": [[100.4, 105.3], [141.1, 104.4], [123.0, 123.4], [104.8, 146.4], [140.8, 145.9]],
  "lfw:020": [[94.1, 110.6], [135.6, 107.3], [108.7, 127.5], [100.1, 151.5], [134.1, 149.4]],
  "lfw:021": [[93.6, 110.2], [133.1, 107.4], [109.9, 134.0], [98.4, 151.6], [136.7, 149.4]],
  "lfw:022": [[100.8, 116.3], [140.1, 111.2], [119.1, 138.0], [107.6, 152.9], [144.9, 150.2]],
  "lfw:023": [[105.7, 111.4], [145.5, 109.6], [127.2, 134.8], [105.4, 145.8], [145.6, 144.7]],
  "lfw:024": [[103.6, 110.7], [140.5, 110.6], [125.8, 132.5], [105.9, 153.7], [138.0, 153.1]],
  "lfw:025": [[107.3, 110.2], [147.2, 112.1], [130.9, 127.2], [109.9, 151.2], [142.5, 153.0]],
  "lfw:026": [[97.1, 113.5], [136.8, 109.5], [119.6, 132.3], [104.7, 155.4], [138.4, 152.0]],
  "lfw:027": [[97.5, 114.1], [138.5, 109.8], [117.8, 131.9], [103.6, 151.0], [141.4, 147.2]],
  "lfw:028": [[102.9, 106.5], [143.0, 109.1], [116.7, 134.3], [104.3, 151.5], [135.6, 153.8]],
  "lfw:029": [[104.6, 112.6], [146.6, 112.6], [128.8, 131.4], [111.6, 161.8], [143.3, 161.9]],
  "lfw:030": [[86.3, 112.4], [123.3, 109.3], [95.8, 142.2], [93.5, 160.0], [127.1, 158.2]],
  "lfw:031": [[97.3, 112.5], [136.0, 107.6], [116.3, 132.7], [103.6, 152.0], [141.0, 146.9]],
  "lfw:032": [[97.8, 112.6], [131.7, 111.2], [111.6, 130.5], [103.0, 153.7], [126.6, 153.2]],
  "lfw:033": [[97.8, 112.2], [134.9, 113.1], [111.2, 139.3], [101.7, 154.8], [132.5, 155.5]],
  "lfw:034": [[100.3, 111.0], [135.8, 110.2], [118.0, 133.1], [103.2, 152.5], [133.0, 151.6]],
  "lfw:035": [[96.1, 108.4], [135.6, 108.3], [108.2, 130.0], [96.9, 155.7], [129.1, 156.5]],
  "lfw:036": [[104.4, 111.7], [142.9, 114.8], [121.7, 139.5], [101.3, 147.9], [137.9, 151.8]],
  "lfw:037": [[104.0, 117.7], [140.3, 114.0], [125.4, 127.6], [106.2, 149.7], [144.2, 146.3]],
  "lfw:038": [[107.8, 111.3], [145.6, 109.6], [132.4, 131.1], [109.2, 149.8], [145.4, 148.7]],
  "lfw:039": [[97.9, 112.2], [136.6, 107.4], [119.1, 124.7], [105.4, 154.3], [135.1, 151.1]],
  "lfw:040": [[98.0, 114.6], [133.6, 110.0], [107.1, 136.3], [106.3, 162.6], [132.5, 159.3]],
  "lfw:041": [[101.1, 109.9], [137.5, 108.5], [116.6, 133.4], [104.0, 150.2], [137.3, 149.6]],
  "lfw:042": [[98.4, 109.4], [137.8, 103.9], [112.2, 129.1], [106.5, 155.6], [136.5, 152.1]],
  "lfw:043": [[100.3, 114.4], [135.5, 113.3], [114.9, 136.3], [102.8, 150.7], [134.8, 150.8]],
  "lfw:044": [[106.4, 107.3], [145.1, 107.9], [132.2, 125.8], [112.8, 153.4], [144.1, 153.8]],
  "lfw:045": [[99.6, 110.0], [138.3, 108.4], [120.3, 133.6], [102.2, 150.7], [137.4, 148.1]],
  "lfw:046": [[100.0, 115.6], [138.2, 111.2], [118.1, 136.5], [107.5, 155.6], [137.5, 152.1]],
  "lfw:047": [[90.9, 110.9], [123.0, 111.5], [100.4, 135.9], [96.5, 151.1], [122.7, 152.0]],
  "lfw:048": [[102.9, 113.6], [136.1, 112.2], [111.9, 128.2], [105.7, 152.8], [130.1, 152.5]],
  "lfw:049": [[100.6, 110.4], [139.4, 105.8], [118.8, 130.9], [108.9, 154.6], [136.9, 151.8]],
  "lfw:050": [[100.4, 110.2], [139.1, 109.6], [117.2, 134.5], [102.4, 148.1], [137.5, 147.6]],
  "lfw:051": [[97.7, 112.1], [135.4, 108.8], [111.5, 129.3], [105.6, 158.0], [132.4, 156.1]],
  "lfw:052": [[97.9, 110.0], [140.2, 108.7], [115.9, 128.6], [99.1, 149.6], [142.2, 147.6]],
  "lfw:053": [[108.9, 103.2], [146.3, 107.6], [135.0, 120.9], [108.5, 146.9], [141.2, 150.8]],
  "lfw:054": [[94.6, 109.2], [138.8, 106.7], [117.2, 138.5], [103.2, 156.6], [136.6, 155.1]],
  "lfw:055": [[100.7, 105.9], [142.4, 105.5], [124.3, 135.2], [107.4, 154.8], [136.6, 155.4]],
  "lfw:056": [[97.3, 109.5], [137.6, 109.0], [115.4, 132.7], [102.5, 155.4], [134.9, 155.2]],
  "lfw:057": [[97.9, 117.1], [138.7, 114.0], [110.4, 143.8], [104.5, 165.1], [138.8, 162.9]],
  "lfw:058": [[113.5, 112.6], [150.5, 111.7], [139.1, 133.5], [118.4, 154.8], [148.2, 154.7]],
  "lfw:059": [[104.6, 110.4], [136.9, 105.7], [132.1, 128.9], [113.5, 154.6], [138.6, 150.7]],
  "lfw:060": [[98.8, 111.3], [141.1, 110.2], [119.2, 133.0], [104.6, 158.6], [136.5, 157.7]],
  "lfw:061": [[100.9, 115.0], [140.0, 110.6], [122.2, 133.2], [105.6, 154.4], [140.7, 151.0]],
  "lfw:062": [[101.2, 113.2], [137.7, 112.4], [118.3, 137.8], [106.3, 154.0], [133.6, 153.5]],
  "lfw:063": [[91.1, 108.8], [131.9, 103.8], [109.5, 131.1], [99.6, 152.3], [133.9, 148.6]],
  "lfw:064": [[100.8, 109.7], [139.3, 107.5], [120.7, 122.2], [106.1, 148.8], [138.4, 147.9]],
  "lfw:065": [[94.3, 112.8], [132.2, 110.3], [110.0, 132.7], [99.9, 155.5], [132.0, 154.4]],
  "lfw:066": [[100.2, 111.2], [139.6, 109.7], [115.4, 131.7], [105.8, 154.7], [134.2, 154.3]],
  "lfw:067": [[109.5, 114.7], [141.8, 119.6], [122.2, 136.3], [105.9, 148.9], [132.8, 153.8]],
  "lfw:068": [[97.2, 126.7], [133.9, 123.7], [115.2, 152.1], [101.9, 163.9], [134.4, 160.9]],
  "lfw:069": [[103.7, 110.2], [142.1, 109.8], [123.0, 133.2], [102.8, 148.4], [142.1, 148.3]],
  "lfw:070": [[108.3, 107.7], [141.4, 110.4], [120.2, 128.9], [107.3, 143.5], [134.3, 146.7]],
  "lfw:071": [[100.1, 115.0], [138.7, 113.0], [116.8, 139.5], [106.5, 159.3], [137.2, 158.2]],
  "lfw:072": [[100.4, 110.3], [142.3, 108.3], [121.3, 134.6], [105.5, 153.3], [140.2, 152.1]],
  "lfw:073": [[98.8, 113.1], [135.9, 110.8], [114.8, 135.2], [105.0, 155.6], [136.0, 154.0]],
  "lfw:074": [[95.2, 113.2], [131.1, 111.1], [105.7, 136.1], [97.9, 150.9], [134.4, 150.3]],
  "lfw:075": [[94.8, 109.6], [128.5, 114.1], [98.3, 133.7], [92.3, 152.5], [121.5, 156.0]],
  "lfw:076": [[104.4, 111.4], [148.0, 103.3], [136.6, 132.9], [117.7, 159.7], [151.3, 153.6]],
  "lfw:077": [[106.5, 112.5], [146.6, 110.1], [131.3, 135.4], [113.9, 157.4], [144.1, 155.9]],
  "lfw:078": [[96.9, 114.5], [135.6, 113.3], [108.3, 135.3], [96.5, 153.8], [131.6, 154.1]],
  "lfw:079": [[100.8, 119.5], [137.5, 116.7], [119.5, 138.8], [106.4, 157.7], [138.5, 156.1]],
  "lfw:080": [[100.8, 113.6], [141.1, 111.7], [123.2, 134.4], [106.0, 155.0], [137.9, 154.1]],
  "lfw:081": [[107.8, 110.9], [144.6, 111.8], [129.4, 132.7], [107.3, 147.1], [144.2, 147.4]],
  "lfw:083": [[105.9, 110.6], [161.0, 116.7], [143.7, 132.3], [109.9, 165.9], [158.1, 170.3]],
  "lfw:084": [[103.5, 114.0], [137.2, 110.5], [127.1, 134.7], [108.3, 154.4], [137.2, 149.4]],
  "lfw:085": [[98.0, 110.9], [140.0, 107.9], [117.9, 128.8], [102.6, 152.1], [140.4, 150.2]],
  "lfw:086": [[101.8, 109.1], [142.8, 108.9], [122.1, 139.0], [103.1, 149.9], [139.5, 150.7]],
  "lfw:087": [[108.6, 114.0], [143.8, 109.6], [133.7, 134.3], [115.2, 155.3], [146.0, 151.9]],
  "lfw:088": [[103.9, 111.3], [143.5, 109.1], [124.8, 131.6], [108.7, 152.5], [144.1, 150.6]],
  "lfw:089": [[88.2, 115.8], [128.3, 110.3], [102.3, 134.5], [91.8, 156.3], [128.2, 152.1]],
  "lfw:090": [[106.6, 111.0], [143.0, 109.5], [130.5, 131.5], [111.9, 155.0], [141.8, 154.7]],
  "lfw:091": [[98.3, 111.2], [140.6, 108.3], [120.6, 131.0], [104.4, 151.2], [143.1, 148.8]],
  "lfw:092": [[100.7, 114.1], [140.2, 108.6], [123.7, 132.1], [110.9, 155.8], [141.2, 152.2]],
  "lfw:093": [[100.6, 110.9], [143.9, 108.4], [124.5, 134.6], [105.5, 151.0], [143.0, 149.2]],
  "lfw:094": [[102.0, 106.1], [144.5, 106.2], [120.5, 134.9], [101.2, 144.8], [145.4, 145.3]],
  "lfw:095": [[101.2, 108.5], [142.7, 107.3], [121.1, 132.9], [106.5, 154.6], [138.0, 153.5]],
  "lfw:096": [[95.5, 108.6], [137.0, 103.3], [112.7, 125.7], [99.9, 151.7], [143.4, 145.9]],
  "lfw:097": [[99.6, 110.4], [136.3, 110.8], [115.8, 134.3], [102.2, 151.1], [131.8, 151.5]],
  "lfw:098": [[105.6, 110.3], [146.2, 109.9], [129.8, 137.6], [110.6, 155.0], [141.0, 154.7]],
  "lfw:099": [[103.8, 109.9], [141.2, 107.8], [111.9, 131.9], [107.2, 158.4], [135.9, 156.6]],
  "matplotlib:grace_hopper": [[220.5, 189.9], [308.9, 186.6], [268.2, 237.4], [231.6, 278.0], [304.4, 273.9]],
  "skimage:astronaut": [[203.5, 100.4], [246.1, 102.6], [224.8, 128.1], [200.4, 138.5], [244.8, 140.4]],
  "skimage:camera": [[233.2, 145.9], [251.0, 147.4], [250.4, 166.0], [230.3, 179.0], [243.5, 179.8]],
}
# fmt: on


def shipped_names() -> list[str]:
  """Names of the shipped face photos (those with stored landmarks, when they are stored)."""
  names = ["matplotlib:grace_hopper", "skimage:astronaut", "skimage:camera"]
  names += [f"lfw:{i:03d}" for i in range(LFW_FACES)]
  return [n for n in names if not SHIPPED_LANDMARKS or n in SHIPPED_LANDMARKS]


def _rgb_u8(img: np.ndarray) -> np.ndarray:
  img = np.asarray(img)
  if img.dtype != np.uint8:
    img = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
  if img.ndim == 2:
    img = np.repeat(img[..., None], 3, -1)
  return np.ascontiguousarray(img[..., :3])


def _lfw_canvas(face: np.ndarray) -> np.ndarray:
  """A 25x25 grey LFW face -> RGB uint8 [LFW_CANVAS, LFW_CANVAS, 3]: upscaled (cubic), centred,
  the border continuing the photo's edge pixels, blurred."""
  big = cv2.resize(_rgb_u8(face), (LFW_SIDE, LFW_SIDE), interpolation=cv2.INTER_CUBIC)
  pad = (LFW_CANVAS - LFW_SIDE) // 2
  canvas = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
  blurred = cv2.GaussianBlur(canvas, (0, 0), 10)
  inside = np.zeros(canvas.shape[:2], np.float32)
  inside[pad + 4 : pad + LFW_SIDE - 4, pad + 4 : pad + LFW_SIDE - 4] = 1.0
  inside = cv2.GaussianBlur(inside, (0, 0), 3)[..., None]
  return np.clip(inside * canvas + (1 - inside) * blurred + 0.5, 0, 255).astype(np.uint8)


@functools.cache
def _lfw_faces() -> np.ndarray:
  """scikit-image's `lfw_subset()` [200, 25, 25] float, read once per process."""
  from skimage import data as skdata  # lazy: keeps worker start-up light

  return skdata.lfw_subset()


def load_image(name: str) -> np.ndarray:
  """RGB uint8 image of a shipped photo (the canvas for an LFW face)."""
  from skimage import data as skdata  # lazy: keeps worker start-up light

  if name == "skimage:astronaut":
    return _rgb_u8(skdata.astronaut())
  if name == "skimage:camera":
    return _rgb_u8(skdata.camera())
  if name == "matplotlib:grace_hopper":
    import matplotlib

    path = os.path.join(matplotlib.get_data_path(), "sample_data", "grace_hopper.jpg")
    return cv2.cvtColor(cv2.imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
  if name.startswith("lfw:"):
    return _lfw_canvas(_lfw_faces()[int(name[4:])])
  raise KeyError(f"not a shipped face photo: {name!r}")


def detect_landmarks(names: Sequence[str]) -> dict[str, list[list[float]]]:
  """{name: landmarks [5, 2]} of the most confident face MTCNN finds in each photo (photos
  without a face are left out)."""
  from ddf.faces.mtcnn import detect_faces

  out = {}
  for name in names:
    found = detect_faces(load_image(name)[None], min_face_size=40)[0]
    if len(found):
      out[name] = np.round(found.landmarks[0], 1).tolist()
  return out


def shipped_photos() -> list[FacePhoto]:
  """The shipped face photos with their stored landmarks, sorted by name."""
  photos = []
  for name in sorted(shipped_names()):
    lm = np.asarray(SHIPPED_LANDMARKS[name], np.float32)
    box = tuple(float(v) for v in landmarks_to_box(lm))
    photos.append(FacePhoto(load_image(name), lm, box, name))
  return photos


def split_photos(
  photos: Sequence[FacePhoto], weights: Sequence[float], seed: int
) -> list[list[FacePhoto]]:
  """Deals `photos` to len(weights) disjoint groups (train, val, test) in proportion to
  `weights` (each group with a positive weight gets at least two), in a seeded random order."""
  n = len(photos)
  w = np.asarray(weights, np.float64)
  need = int(2 * np.count_nonzero(w))
  if n < need:
    raise ValueError(f"{n} face photos cannot be split into disjoint groups (need {need})")
  sizes = np.where(w > 0, 2, 0)
  rest = n - int(sizes.sum())
  share = w / max(w.sum(), 1e-12) * rest
  sizes = sizes + np.floor(share).astype(int)
  for i in np.argsort(-(share - np.floor(share)))[: n - int(sizes.sum())]:
    sizes[i] += 1
  order = np.random.default_rng([seed, 505]).permutation(n)
  edges = np.concatenate([[0], np.cumsum(sizes)])
  return [
    [photos[j] for j in sorted(order[a:b])] for a, b in zip(edges[:-1], edges[1:], strict=True)
  ]
