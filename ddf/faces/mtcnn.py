"""MTCNN face detector (P-, R-, O-Net) in JAX, with the weights of the `mtcnn` wheel (MIT).

The networks mirror `mtcnn/network/{pnet,rnet,onet}.py` of the `mtcnn` wheel (v1.x, ipazc):
VALID convolutions, PReLU (per channel), max-pooling with TF "SAME"/"VALID" padding, a
(H, W) -> (W, H) permute before the flatten in R-/O-Net, and softmax face scores. The stage
logic follows `mtcnn/stages/*.py`: images normalised as (x - 127.5) / 128, a scale pyramid
(factor 0.709, first scale 12 / min_face_size), P-Net regression applied per cell, NMS 0.5 per
scale and 0.7 across scales, squaring, R-Net / O-Net crops by bilinear `crop_and_resize`
(24x24 / 48x48, out-of-image samples = 0 after normalisation), calibration with offsets in units
of (w + 1, h + 1), NMS 0.7 ("union" after R-Net, "min" after O-Net). Greedy NMS here is the
textbook one (the wheel lets suppressed boxes suppress others; results differ marginally).

Importing the `mtcnn` package needs TensorFlow, so the weight files are located with
`importlib.util.find_spec` and read with `joblib` (+ `lz4`); nothing is downloaded.

Batching: P-Net runs once per pyramid scale on the whole [N, h, w, 3] batch; R-Net / O-Net run
once on all candidate crops of all images, padded to buckets (2**k or 1.5 * 2**k), so a video of fixed
frame size compiles a handful of programs once (jit caches them in the `MTCNN` instance).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import os
from typing import Sequence

import cv2
import jax
import jax.numpy as jnp
import numpy as np

from ddf.faces import boxes as box_lib

__all__ = [
  "FaceDetections",
  "MTCNN",
  "crop_and_resize",
  "default_weights_dir",
  "detect_faces",
  "load_mtcnn_params",
  "onet_apply",
  "pnet_apply",
  "rnet_apply",
  "scale_pyramid",
]

Params = dict[str, dict[str, jnp.ndarray]]

# Layer names, in the order of the arrays stored in the wheel's {pnet,rnet,onet}.lz4 lists.
_LAYOUT = {
  "pnet": [
    ("conv1", "wb"),
    ("prelu1", "a"),
    ("conv2", "wb"),
    ("prelu2", "a"),
    ("conv3", "wb"),
    ("prelu3", "a"),
    ("conv4_1", "wb"),
    ("conv4_2", "wb"),
  ],
  "rnet": [
    ("conv1", "wb"),
    ("prelu1", "a"),
    ("conv2", "wb"),
    ("prelu2", "a"),
    ("conv3", "wb"),
    ("prelu3", "a"),
    ("fc4", "wb"),
    ("prelu4", "a"),
    ("fc5_1", "wb"),
    ("fc5_2", "wb"),
  ],
  "onet": [
    ("conv1", "wb"),
    ("prelu1", "a"),
    ("conv2", "wb"),
    ("prelu2", "a"),
    ("conv3", "wb"),
    ("prelu3", "a"),
    ("conv4", "wb"),
    ("prelu4", "a"),
    ("fc5", "wb"),
    ("prelu5", "a"),
    ("fc6_1", "wb"),
    ("fc6_2", "wb"),
    ("fc6_3", "wb"),
  ],
}


@dataclasses.dataclass
class FaceDetections:
  """Faces found in one image, by descending score.

  Attributes:
    boxes: [K, 4] float32 (x1, y1, x2, y2), clipped to the image.
    scores: [K] float32 O-Net face probabilities.
    landmarks: [K, 5, 2] float32 (x, y) of left eye, right eye, nose, left mouth corner,
      right mouth corner ("left" = smaller x in the image).
  """

  boxes: np.ndarray
  scores: np.ndarray
  landmarks: np.ndarray

  def __len__(self) -> int:
    return int(self.boxes.shape[0])

  @classmethod
  def empty(cls) -> FaceDetections:
    return cls(
      np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0, 5, 2), np.float32)
    )


# ----------------------------------------------------------------------------- weights


def default_weights_dir() -> str:
  """Folder holding {pnet,rnet,onet}.lz4 inside the installed `mtcnn` wheel (not imported)."""
  spec = importlib.util.find_spec("mtcnn")
  if spec is None or not spec.submodule_search_locations:
    raise FileNotFoundError(
      "MTCNN weights not found: install the `mtcnn` wheel (pip install 'mtcnn>=1.0'; it is not "
      "imported, only its assets/weights/*.lz4 files are read) or pass weights_dir=."
    )
  return os.path.join(list(spec.submodule_search_locations)[0], "assets", "weights")


def load_mtcnn_params(weights_dir: str | None = None) -> dict[str, Params]:
  """Loads {'pnet','rnet','onet'} -> {layer: {'w','b'} | {'a'}} as float32 jnp arrays (HWIO)."""
  import joblib  # pylint: disable=g-import-not-at-top

  weights_dir = weights_dir or default_weights_dir()
  params = {}
  for net, layout in _LAYOUT.items():
    path = os.path.join(weights_dir, f"{net}.lz4")
    if not os.path.exists(path):
      raise FileNotFoundError(f"MTCNN weight file {path} missing (from the `mtcnn` wheel).")
    arrays = list(joblib.load(path))
    net_params, i = {}, 0
    for name, kind in layout:
      if kind == "wb":
        net_params[name] = {
          "w": jnp.asarray(arrays[i], jnp.float32),
          "b": jnp.asarray(arrays[i + 1], jnp.float32),
        }
        i += 2
      else:
        net_params[name] = {"a": jnp.asarray(arrays[i], jnp.float32).reshape(-1)}
        i += 1
    if i != len(arrays):
      raise ValueError(f"{path}: expected {i} arrays, found {len(arrays)}")
    params[net] = net_params
  return params


# ----------------------------------------------------------------------------- networks


def _conv(x: jnp.ndarray, p: dict[str, jnp.ndarray]) -> jnp.ndarray:
  y = jax.lax.conv_general_dilated(
    x, p["w"], (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
  )
  return y + p["b"]


def _dense(x: jnp.ndarray, p: dict[str, jnp.ndarray]) -> jnp.ndarray:
  return x @ p["w"] + p["b"]


def _prelu(x: jnp.ndarray, p: dict[str, jnp.ndarray]) -> jnp.ndarray:
  return jnp.where(x >= 0, x, p["a"] * x)


def _maxpool(x: jnp.ndarray, k: int, s: int, padding: str) -> jnp.ndarray:
  return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, k, k, 1), (1, s, s, 1), padding)


def _flatten_wh(x: jnp.ndarray) -> jnp.ndarray:
  """Keras Permute((2, 1, 3)) + Flatten: [K, H, W, C] -> [K, W*H*C]."""
  return jnp.transpose(x, (0, 2, 1, 3)).reshape(x.shape[0], -1)


def pnet_apply(p: Params, x: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """P-Net on normalised images x [N, H, W, 3] -> (offsets [N, h, w, 4], face prob [N, h, w]).

  h = ceil((H - 2) / 2) - 4 (one cell per 12x12 window, stride 2).
  """
  x = _maxpool(_prelu(_conv(x, p["conv1"]), p["prelu1"]), 2, 2, "SAME")
  x = _prelu(_conv(x, p["conv2"]), p["prelu2"])
  x = _prelu(_conv(x, p["conv3"]), p["prelu3"])
  reg = _conv(x, p["conv4_1"])
  prob = jax.nn.softmax(_conv(x, p["conv4_2"]), axis=-1)[..., 1]
  return reg, prob


def rnet_apply(p: Params, x: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  """R-Net on crops x [K, 24, 24, 3] -> (offsets [K, 4], face prob [K])."""
  x = _maxpool(_prelu(_conv(x, p["conv1"]), p["prelu1"]), 3, 2, "SAME")
  x = _maxpool(_prelu(_conv(x, p["conv2"]), p["prelu2"]), 3, 2, "VALID")
  x = _prelu(_conv(x, p["conv3"]), p["prelu3"])
  x = _prelu(_dense(_flatten_wh(x), p["fc4"]), p["prelu4"])
  return _dense(x, p["fc5_1"]), jax.nn.softmax(_dense(x, p["fc5_2"]), axis=-1)[:, 1]


def onet_apply(p: Params, x: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray, jnp.ndarray]:
  """O-Net on crops x [K, 48, 48, 3] -> (offsets [K, 4], landmarks [K, 10], face prob [K]).

  Landmarks are (x1..x5, y1..y5) as fractions of the input box.
  """
  x = _maxpool(_prelu(_conv(x, p["conv1"]), p["prelu1"]), 3, 2, "SAME")
  x = _maxpool(_prelu(_conv(x, p["conv2"]), p["prelu2"]), 3, 2, "VALID")
  x = _maxpool(_prelu(_conv(x, p["conv3"]), p["prelu3"]), 2, 2, "SAME")
  x = _prelu(_conv(x, p["conv4"]), p["prelu4"])
  x = _prelu(_dense(_flatten_wh(x), p["fc5"]), p["prelu5"])
  prob = jax.nn.softmax(_dense(x, p["fc6_3"]), axis=-1)[:, 1]
  return _dense(x, p["fc6_1"]), _dense(x, p["fc6_2"]), prob


def _normalize(x: jnp.ndarray) -> jnp.ndarray:
  return (x.astype(jnp.float32) - 127.5) / 128.0


def crop_and_resize(
  images: jnp.ndarray,
  boxes: jnp.ndarray,
  image_idx: jnp.ndarray,
  size: int,
  extrapolation_value: float = 0.0,
) -> jnp.ndarray:
  """Bilinear crops like `tf.image.crop_and_resize` (what the wheel uses).

  Args:
    images: [N, H, W, C] float.
    boxes: [K, 4] float pixel boxes (x1, y1, x2, y2); the wheel divides them by (W, H) and TF
      maps back with (W - 1, H - 1), reproduced here.
    image_idx: [K] int image of each box.
    size: output side S.
    extrapolation_value: value of samples outside the image.
  Returns:
    [K, S, S, C] float32.
  """
  _, h, w, _ = images.shape
  t = jnp.arange(size, dtype=jnp.float32) / max(size - 1, 1)
  sy, sx = (h - 1) / h, (w - 1) / w
  ys = (boxes[:, 1:2] + t[None] * (boxes[:, 3:4] - boxes[:, 1:2])) * sy  # [K, S]
  xs = (boxes[:, 0:1] + t[None] * (boxes[:, 2:3] - boxes[:, 0:1])) * sx
  valid = ((ys >= 0) & (ys <= h - 1))[:, :, None] & ((xs >= 0) & (xs <= w - 1))[:, None, :]
  y0 = jnp.floor(ys)
  x0 = jnp.floor(xs)
  ly, lx = (ys - y0)[:, :, None, None], (xs - x0)[:, None, :, None]
  y0i = jnp.clip(y0.astype(jnp.int32), 0, h - 1)
  x0i = jnp.clip(x0.astype(jnp.int32), 0, w - 1)
  y1i = jnp.clip(jnp.ceil(ys).astype(jnp.int32), 0, h - 1)
  x1i = jnp.clip(jnp.ceil(xs).astype(jnp.int32), 0, w - 1)
  n = image_idx[:, None, None]

  def gather(yi, xi):
    return images[n, yi[:, :, None], xi[:, None, :]].astype(jnp.float32)

  top = gather(y0i, x0i) + (gather(y0i, x1i) - gather(y0i, x0i)) * lx
  bottom = gather(y1i, x0i) + (gather(y1i, x1i) - gather(y1i, x0i)) * lx
  out = top + (bottom - top) * ly
  return jnp.where(valid[..., None], out, extrapolation_value)


def _pnet_stage(p: Params, images_u8: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
  return pnet_apply(p, _normalize(images_u8))


def _rnet_stage(p: Params, images_u8: jnp.ndarray, boxes: jnp.ndarray, idx: jnp.ndarray):
  crops = crop_and_resize(images_u8, boxes, idx, 24, extrapolation_value=127.5)
  return rnet_apply(p, _normalize(crops))


def _onet_stage(p: Params, images_u8: jnp.ndarray, boxes: jnp.ndarray, idx: jnp.ndarray):
  crops = crop_and_resize(images_u8, boxes, idx, 48, extrapolation_value=127.5)
  return onet_apply(p, _normalize(crops))


# ----------------------------------------------------------------------------- detector


def scale_pyramid(
  height: int,
  width: int,
  min_face_size: float = 20,
  scale_factor: float = 0.709,
  min_size: int = 12,
) -> np.ndarray:
  """Pyramid scales as in the wheel: 12/min_face_size * factor**k, count from min(H, W)."""
  min_dim = min(height, width)
  if min_dim < min_size:
    return np.zeros((0,), np.float64)
  count = int(round(np.log(min_dim / min_size) / np.log(1.0 / scale_factor) - 1))
  return (min_size / min_face_size) * scale_factor ** np.arange(max(count, 0))


def _resize_batch(images: np.ndarray, hs: int, ws: int) -> np.ndarray:
  """Area (box-filter) resize of uint8 images [N, H, W, 3] -> [N, hs, ws, 3] (cv2 INTER_AREA)."""
  interp = cv2.INTER_AREA if hs <= images.shape[1] else cv2.INTER_LINEAR
  return np.stack([cv2.resize(im, (ws, hs), interpolation=interp) for im in images])


def _bucket(n: int, minimum: int = 16) -> int:
  """Padded size for n candidates: next of 2**k or 1.5 * 2**k, at least `minimum`."""
  p = 1 << max(n - 1, 0).bit_length()
  return max(minimum, 3 * p // 4 if n <= 3 * p // 4 else p)


def _batch_bucket(n: int) -> int:
  """Padded frame-batch size: power of two up to 8, then a multiple of 8."""
  return 1 << max(n - 1, 0).bit_length() if n <= 8 else -(-n // 8) * 8


def _per_image_nms(
  image_idx: np.ndarray, boxes: np.ndarray, scores: np.ndarray, threshold: float, method: str
) -> np.ndarray:
  """Indices kept by NMS run separately on each image's boxes."""
  keep = []
  for i in np.unique(image_idx):
    sel = np.nonzero(image_idx == i)[0]
    keep.append(sel[box_lib.nms(boxes[sel], scores[sel], threshold, method)])
  return np.concatenate(keep) if keep else np.zeros((0,), np.int64)


class MTCNN:
  """MTCNN detector holding the params and jitted stages (compiled programs are cached).

  Args:
    weights_dir: folder with {pnet,rnet,onet}.lz4 (default: the installed `mtcnn` wheel).
    min_face_size: smallest face side to find, in pixels.
    thresholds: face-probability thresholds of P-, R-, O-Net.
    scale_factor: pyramid factor.
    nms_thresholds: (P-Net per scale, P-Net across scales, R-Net, O-Net) NMS thresholds.
    frame_chunk: frames per P-Net call (None: the whole batch in one call). Default: 1 on CPU
      (XLA's CPU convolutions run ~2x faster per image at batch 1; calls are dispatched
      asynchronously), whole batch on accelerators.
    crop_chunk: most R-/O-Net crops per call; more are split into calls of this fixed size.
      Default: 128 on CPU, 4096 on accelerators.
  """

  def __init__(
    self,
    weights_dir: str | None = None,
    min_face_size: float = 20,
    thresholds: Sequence[float] = (0.6, 0.7, 0.7),
    scale_factor: float = 0.709,
    nms_thresholds: Sequence[float] = (0.5, 0.7, 0.7, 0.7),
    frame_chunk: int | None = -1,
    crop_chunk: int | None = None,
  ):
    cpu = jax.default_backend() == "cpu"
    self.frame_chunk = (1 if cpu else None) if frame_chunk == -1 else frame_chunk
    self.crop_chunk = crop_chunk or (128 if cpu else 4096)
    self.params = load_mtcnn_params(weights_dir)
    self.min_face_size = min_face_size
    self.thresholds = tuple(thresholds)
    self.scale_factor = scale_factor
    self.nms_thresholds = tuple(nms_thresholds)
    self._pnet = jax.jit(_pnet_stage)
    self._rnet = jax.jit(_rnet_stage)
    self._onet = jax.jit(_onet_stage)

  def __call__(self, images: np.ndarray, **kwargs) -> list[FaceDetections]:
    return self.detect(images, **kwargs)

  def detect(
    self,
    images: np.ndarray,
    min_face_size: float | None = None,
    thresholds: Sequence[float] | None = None,
  ) -> list[FaceDetections]:
    """Detects faces in images [N, H, W, 3] (or one [H, W, 3]) uint8 RGB.

    Returns:
      one `FaceDetections` per image (boxes / landmarks in that image's pixels).
    """
    images = np.asarray(images)
    if images.ndim == 3:
      images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3:
      raise ValueError(f"expected [N, H, W, 3] RGB images, got shape {images.shape}")
    if images.dtype != np.uint8:
      images = np.clip(images, 0, 255).astype(np.uint8)
    n, h, w, _ = images.shape
    if n == 0:
      return []
    min_face_size = self.min_face_size if min_face_size is None else min_face_size
    t1, t2, t3 = self.thresholds if thresholds is None else tuple(thresholds)
    nb = _batch_bucket(n)
    if nb != n:
      images = np.concatenate([images, np.zeros((nb - n,) + images.shape[1:], np.uint8)])
    images = np.ascontiguousarray(images)

    cand = self._stage_pnet(images, n, min_face_size, t1)
    if cand is None:
      return [FaceDetections.empty() for _ in range(n)]
    images_dev = jnp.asarray(images)
    cand = self._stage_rnet(images_dev, cand, t2)
    if cand is None:
      return [FaceDetections.empty() for _ in range(n)]
    return self._stage_onet(images_dev, cand, t3, n, h, w)

  def refine(
    self,
    images: np.ndarray,
    boxes: np.ndarray,
    image_idx: np.ndarray,
    threshold: float | None = None,
  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """O-Net alone on given face boxes (e.g. a track's box carried over from a nearby frame).

    Args:
      images: [N, H, W, 3] uint8 RGB.
      boxes: [K, 4] approximate face boxes (squared before the O-Net crop, as MTCNN's last
        stage squares R-Net's boxes).
      image_idx: [K] image of each box.
      threshold: O-Net face probability a refined box needs (default: the detector's third).
    Returns:
      (boxes [K, 4], landmarks [K, 5, 2], scores [K]) float32 in image pixels, and a face mask
      [K] bool (score > threshold); boxes are clipped to the image.
    """
    images = np.ascontiguousarray(np.asarray(images, np.uint8))
    _, h, w, _ = images.shape
    boxes = box_lib.square_boxes(np.asarray(boxes, np.float64).reshape(-1, 4))
    idx = np.asarray(image_idx, np.int64).reshape(-1)
    if len(idx) == 0:
      empty = np.zeros((0,), np.float32)
      return np.zeros((0, 4), np.float32), np.zeros((0, 5, 2), np.float32), empty, empty > 0
    threshold = self.thresholds[2] if threshold is None else threshold
    reg, lm, prob = self._run_crops(
      self._onet, self.params["onet"], jnp.asarray(images), idx, boxes
    )
    lm = self._landmarks_in_image(boxes, lm)
    boxes = box_lib.calibrate_boxes(boxes, reg)
    boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, w - 1)
    boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, h - 1)
    return (
      boxes.astype(np.float32),
      lm.astype(np.float32),
      prob.astype(np.float32),
      prob > threshold,
    )

  @staticmethod
  def _landmarks_in_image(boxes: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """O-Net's landmark outputs [K, 10] (fractions of the box) -> image pixels [K, 5, 2]."""
    bw = boxes[:, 2:3] - boxes[:, 0:1] + 1
    bh = boxes[:, 3:4] - boxes[:, 1:2] + 1
    return np.stack([bw * lm[:, :5] + boxes[:, 0:1] - 1, bh * lm[:, 5:] + boxes[:, 1:2] - 1], -1)

  # P-Net: one call per scale on the whole batch; candidate boxes per image.
  def _stage_pnet(self, images: np.ndarray, n: int, min_face_size: float, threshold: float):
    _, h, w, _ = images.shape
    scales = scale_pyramid(h, w, min_face_size, self.scale_factor)
    outputs, levels = [], []
    for scale in scales:
      hs, ws = int(h * scale), int(w * scale)  # truncation, as the wheel's tf.image.resize
      if min(hs, ws) < 12:
        break
      # Area-resize from the smallest level at least 2x larger (or the input): ~4x cheaper than
      # always resizing the full frames, and a 2:1 box average blurs negligibly more.
      src = next((lv for lv in reversed(levels) if lv.shape[1] >= 2 * hs), images)
      scaled = _resize_batch(src, hs, ws)
      levels.append(scaled)
      fc = self.frame_chunk or len(scaled)
      outputs.append(
        (
          scale,
          [
            self._pnet(self.params["pnet"], scaled[i : i + fc])  # async
            for i in range(0, n if self.frame_chunk else len(scaled), fc)
          ],
        )
      )
    nms_scale, nms_all = self.nms_thresholds[0], self.nms_thresholds[1]
    all_idx, all_boxes, all_scores = [], [], []
    for scale, chunks in outputs:
      reg = np.concatenate([np.asarray(c[0]) for c in chunks])
      prob = np.concatenate([np.asarray(c[1]) for c in chunks])[:n]
      ii, yy, xx = np.nonzero(prob > threshold)
      if ii.size == 0:
        continue
      r = np.asarray(reg)[ii, yy, xx].astype(np.float64)
      x1, y1 = 2.0 * xx, 2.0 * yy
      boxes = (
        np.stack(
          [x1 + r[:, 0] * 12, y1 + r[:, 1] * 12, x1 + 12 + r[:, 2] * 12, y1 + 12 + r[:, 3] * 12],
          axis=-1,
        )
        / scale
      )
      scores = prob[ii, yy, xx].astype(np.float64)
      keep = _per_image_nms(ii, boxes, scores, nms_scale, "union")
      all_idx.append(ii[keep])
      all_boxes.append(boxes[keep])
      all_scores.append(scores[keep])
    if not all_idx:
      return None
    idx, boxes, scores = map(np.concatenate, (all_idx, all_boxes, all_scores))
    keep = _per_image_nms(idx, boxes, scores, nms_all, "union")
    return idx[keep], box_lib.square_boxes(boxes[keep]), scores[keep]

  def _run_crops(self, fn, params, images_dev, idx, boxes):
    k = len(idx)
    kb = _bucket(k) if k <= self.crop_chunk else -(-k // self.crop_chunk) * self.crop_chunk
    chunk = min(kb, self.crop_chunk)
    boxes_p = np.zeros((kb, 4), np.float32)
    boxes_p[:k] = boxes
    idx_p = np.zeros((kb,), np.int32)
    idx_p[:k] = idx
    outs = [
      fn(params, images_dev, jnp.asarray(boxes_p[i : i + chunk]), jnp.asarray(idx_p[i : i + chunk]))
      for i in range(0, kb, chunk)
    ]
    return [
      np.concatenate([np.asarray(o[j]) for o in outs])[:k].astype(np.float64)
      for j in range(len(outs[0]))
    ]

  def _stage_rnet(self, images_dev, cand, threshold: float):
    idx, boxes, _ = cand
    reg, prob = self._run_crops(self._rnet, self.params["rnet"], images_dev, idx, boxes)
    boxes = box_lib.calibrate_boxes(boxes, reg)
    sel = prob > threshold
    if not sel.any():
      return None
    idx, boxes, prob = idx[sel], boxes[sel], prob[sel]
    keep = _per_image_nms(idx, boxes, prob, self.nms_thresholds[2], "union")
    return idx[keep], box_lib.square_boxes(boxes[keep]), prob[keep]

  def _stage_onet(self, images_dev, cand, threshold: float, n: int, h: int, w: int):
    idx, boxes, _ = cand
    reg, lm, prob = self._run_crops(self._onet, self.params["onet"], images_dev, idx, boxes)
    lm = self._landmarks_in_image(boxes, lm)
    boxes = box_lib.calibrate_boxes(boxes, reg)
    sel = prob > threshold
    idx, boxes, prob, lm = idx[sel], boxes[sel], prob[sel], lm[sel]
    keep = _per_image_nms(idx, boxes, prob, self.nms_thresholds[3], "min")
    idx, boxes, prob, lm = idx[keep], boxes[keep], prob[keep], lm[keep]
    boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, w - 1)
    boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, h - 1)
    result = []
    for i in range(n):
      s = np.nonzero(idx == i)[0]
      s = s[np.argsort(-prob[s], kind="stable")]
      result.append(
        FaceDetections(
          boxes[s].astype(np.float32), prob[s].astype(np.float32), lm[s].astype(np.float32)
        )
      )
    return result


@functools.lru_cache(maxsize=1)
def _default_detector() -> MTCNN:
  return MTCNN()


def detect_faces(
  images: np.ndarray, min_face_size: float = 20, thresholds: Sequence[float] = (0.6, 0.7, 0.7)
) -> list[FaceDetections]:
  """Detects faces in images [N, H, W, 3] uint8 RGB with a shared default `MTCNN`."""
  return _default_detector().detect(images, min_face_size=min_face_size, thresholds=thresholds)
