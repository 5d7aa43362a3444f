"""Animated "real" face videos from still photos, for the synthetic FF++ generator.

A per-id `Identity` is a colour-transformed, cropped, maybe mirrored face photo (a portrait with an
alpha matte) placed on a per-id background. A per-id `Motion` drives smooth head motion, lighting
drift, blinks and mouth motion. Rendering is deterministic given the seeds.

Landmarks are 5 points `[left_eye, right_eye, nose, mouth_left, mouth_right]` (x, y), "left"
meaning smaller x in the image, as MTCNN reports them.
"""

from __future__ import annotations

import dataclasses
import glob
import os
from typing import Callable, Sequence

import cv2
import numpy as np

from ddf.data import synthetic_camera

# Landmarks as MTCNN finds them on the scikit-image photos (checked with the `mtcnn` package).
_ASTRONAUT_LM = [(204, 100), (245, 102), (224, 126), (202, 139), (244, 140)]
_ASTRONAUT_BOX = (182, 64, 265, 171)
_CAMERA_LM = [(234, 147), (251, 149), (250, 167), (228, 179), (243, 180)]
_CAMERA_BOX = (197, 116, 255, 197)


@dataclasses.dataclass
class FacePhoto:
  """A still photo with one face: RGB uint8 image, 5 landmarks [5, 2] and box (x0, y0, x1, y1)."""

  image: np.ndarray
  landmarks: np.ndarray
  box: tuple[float, float, float, float]
  name: str = ""


def builtin_photos() -> list[FacePhoto]:
  """scikit-image's astronaut (RGB) and cameraman (grayscale -> RGB) photos."""
  from skimage import data as skdata  # lazy: keeps worker start-up light

  astro = np.ascontiguousarray(skdata.astronaut())
  cam = cv2.cvtColor(skdata.camera(), cv2.COLOR_GRAY2RGB)
  return [
    FacePhoto(astro, np.array(_ASTRONAUT_LM, np.float32), _ASTRONAUT_BOX, "astronaut"),
    FacePhoto(cam, np.array(_CAMERA_LM, np.float32), _CAMERA_BOX, "camera"),
  ]


def _template_landmarks(box: Sequence[float]) -> np.ndarray:
  """Typical frontal-face landmark positions inside a detector box."""
  x0, y0, x1, y1 = box
  w, h = x1 - x0, y1 - y0
  rel = np.array([(0.30, 0.38), (0.70, 0.38), (0.50, 0.58), (0.33, 0.78), (0.67, 0.78)], np.float32)
  return np.stack([x0 + rel[:, 0] * w, y0 + rel[:, 1] * h], -1).astype(np.float32)


def load_face_dir(path: str) -> list[FacePhoto]:
  """Loads face photos from a folder (jpg/png/bmp/webp); the face is found with a Haar cascade.

  Images where no face of at least 40 px is found are skipped.
  """
  if not os.path.isdir(path):
    raise FileNotFoundError(f"--faces folder not found: {path!r}")
  cascade = cv2.CascadeClassifier(
    os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
  )
  files = []
  for ext in ("jpg", "jpeg", "png", "bmp", "webp", "JPG", "JPEG", "PNG"):
    files += glob.glob(os.path.join(path, f"*.{ext}"))
  photos = []
  for f in sorted(set(files)):
    img = cv2.imread(f, cv2.IMREAD_COLOR)
    if img is None:
      continue
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    faces = cascade.detectMultiScale(gray, 1.1, 5, minSize=(40, 40))
    if len(faces) == 0:
      continue
    x, y, w, h = max(faces, key=lambda b: b[2] * b[3])
    box = (float(x), float(y), float(x + w), float(y + h))
    photos.append(
      FacePhoto(
        cv2.cvtColor(img, cv2.COLOR_BGR2RGB), _template_landmarks(box), box, os.path.basename(f)
      )
    )
  return photos


# ----------------------------------------------------------------------------------------------
# Identity: portrait + background.


@dataclasses.dataclass
class Identity:
  """A per-id appearance. Float images are RGB in [0, 1]."""

  portrait: np.ndarray  # [R, R, 3] float32
  alpha: np.ndarray  # [R, R] float32 matte of head + shoulders
  landmarks: np.ndarray  # [5, 2] in portrait coordinates
  background: np.ndarray  # [S + 2m, S + 2m, 3] float32 (margin m for panning)
  margin: int
  anchor: np.ndarray  # [2] frame position of the face centre at rest
  skin: np.ndarray  # [3] mean skin colour (cheeks) of the portrait
  raw_portrait: np.ndarray  # [R, R, 3] float32 portrait before the colour transform
  colour: tuple  # (hue, sat, gamma, gains) colour transform of this identity
  photo: str = ""


def recolour(raw: np.ndarray, colour: tuple) -> np.ndarray:
  """Applies an identity's colour transform (hue, sat, gamma, gains) to a raw portrait."""
  hue, sat, gamma, gains = colour
  return _hsv_transform(raw, hue, sat, gamma, np.asarray(gains, np.float32))


def face_center(lm: np.ndarray) -> np.ndarray:
  return lm.mean(0)


def eye_dist(lm: np.ndarray) -> float:
  return float(np.linalg.norm(lm[1] - lm[0]))


def _hsv_transform(
  img: np.ndarray, hue: float, sat: float, gamma: float, gains: np.ndarray
) -> np.ndarray:
  hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)  # float32 input -> H in [0, 360)
  hsv[..., 0] = np.mod(hsv[..., 0] + hue, 360.0)
  hsv[..., 1] = np.clip(hsv[..., 1] * sat, 0, 1)
  hsv[..., 2] = np.clip(hsv[..., 2], 0, 1) ** gamma
  out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
  return np.clip(out * gains[None, None], 0, 1).astype(np.float32)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int, ch: int = 3) -> np.ndarray:
  small = rng.random((cells, cells, ch)).astype(np.float32)
  return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).reshape(h, w, ch)


def make_background(rng: np.random.Generator, n: int) -> np.ndarray:
  """A random smooth background: gradient + low-frequency blobs + optional shapes and texture."""
  c1, c2 = rng.random(3), rng.random(3)
  ang = rng.uniform(0, 2 * np.pi)
  yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / max(n - 1, 1)
  t = np.clip((np.cos(ang) * (xx - 0.5) + np.sin(ang) * (yy - 0.5)) + 0.5, 0, 1)[..., None]
  bg = (1 - t) * c1[None, None] + t * c2[None, None]
  bg = bg + rng.uniform(0.05, 0.25) * (_smooth_noise(rng, n, n, int(rng.integers(3, 7))) - 0.5)
  kind = rng.integers(0, 3)
  if kind == 1:  # a few wall panels / furniture rectangles
    for _ in range(int(rng.integers(1, 4))):
      x0, y0 = rng.integers(0, n, 2)
      w, h = rng.integers(n // 8, n // 2, 2)
      col = rng.random(3)
      bg[y0 : y0 + h, x0 : x0 + w] = 0.4 * bg[y0 : y0 + h, x0 : x0 + w] + 0.6 * col
    bg = cv2.GaussianBlur(bg.astype(np.float32), (0, 0), rng.uniform(1.0, 3.0))
  elif kind == 2:  # blurred noise texture
    tex = rng.standard_normal((n, n, 1)).astype(np.float32)
    tex = cv2.GaussianBlur(tex, (0, 0), rng.uniform(0.8, 2.5)).reshape(n, n, 1)
    bg = bg + rng.uniform(0.05, 0.15) * tex / (tex.std() + 1e-6) * 0.5
  return np.clip(bg, 0, 1).astype(np.float32)


def make_identity(
  photos: Sequence[FacePhoto], seed: int, vid: int, size: int, photo_index: int | None = None
) -> Identity:
  """Deterministic per-id appearance for video id `vid` at frame size `size`, from
  `photos[photo_index]` (a seeded random photo when None)."""
  rng = np.random.default_rng([seed, vid, 101])
  drawn = int(rng.integers(len(photos)))  # drawn either way: the draws after it stay the same
  photo = photos[drawn if photo_index is None else photo_index]
  x0, y0, x1, y1 = photo.box
  fh = y1 - y0
  zoom = rng.uniform(0.9, 1.15)
  side = 2.1 * zoom * fh
  fc = np.array([(x0 + x1) / 2, (y0 + y1) / 2], np.float32)
  c = fc + np.array([rng.uniform(-0.05, 0.05) * fh, 0.12 * side], np.float32)
  face_frac = rng.uniform(0.40, 0.50)  # face box height / frame height
  r = int(round(face_frac * size * side / fh))
  scale = r / side
  # Crop with an affine map (handles borders by reflection).
  m = np.array(
    [[scale, 0, -(c[0] - side / 2) * scale], [0, scale, -(c[1] - side / 2) * scale]], np.float32
  )
  img = photo.image.astype(np.float32) / 255.0
  por = cv2.warpAffine(img, m, (r, r), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT)
  lm = photo.landmarks @ m[:, :2].T + m[:, 2]
  if rng.random() < 0.5:
    por = por[:, ::-1].copy()
    lm = lm.copy()
    lm[:, 0] = r - 1 - lm[:, 0]
    lm = lm[[1, 0, 2, 4, 3]]
  # Colour identity: hue / saturation / gamma / skin-tone gains; tint grayscale photos.
  gains = rng.uniform(0.85, 1.15, 3).astype(np.float32)
  if np.allclose(photo.image[..., 0], photo.image[..., 2]):
    gains = gains * np.array([1.0, rng.uniform(0.78, 0.9), rng.uniform(0.62, 0.8)], np.float32)
  raw = por
  colour = (rng.uniform(-12, 12), rng.uniform(0.75, 1.25), rng.uniform(0.85, 1.15), gains)
  por = recolour(raw, colour)
  # Matte: ellipse for head, rectangle for shoulders, feathered.
  alpha = np.zeros((r, r), np.float32)
  fcp = face_center(lm)
  cv2.ellipse(alpha, (int(fcp[0]), int(fcp[1])), (int(0.36 * r), int(0.42 * r)), 0, 0, 360, 1.0, -1)
  alpha[int(fcp[1] + 0.2 * r) :, int(0.02 * r) : int(0.98 * r)] = 1.0
  alpha = cv2.GaussianBlur(alpha, (0, 0), 0.03 * r + 0.5)
  # Skin colour from the cheeks (between eyes and mouth corners).
  cheek = ((lm[0] + lm[3]) / 2, (lm[1] + lm[4]) / 2)
  k = max(1, int(0.05 * r))
  skin = np.mean(
    [
      por[int(p[1]) - k : int(p[1]) + k + 1, int(p[0]) - k : int(p[0]) + k + 1]
      .reshape(-1, 3)
      .mean(0)
      for p in cheek
    ],
    0,
  ).astype(np.float32)
  margin = int(0.1 * size) + 2
  bg = make_background(rng, size + 2 * margin)
  anchor = np.array([size * rng.uniform(0.42, 0.58), size * rng.uniform(0.40, 0.48)], np.float32)
  return Identity(
    por, alpha, lm.astype(np.float32), bg, margin, anchor, skin, raw, colour, photo.name
  )


def with_skin_texture(ident: Identity, amplitude: float, rng: np.random.Generator) -> Identity:
  """`ident` with a fine texture fixed to its head: band-pass noise (detail of 1-3 portrait
  pixels, about as many frame pixels), the same in R, G and B, of std `amplitude` times
  U(0.6, 1.4) in light units, inside the head-and-shoulders matte. It moves with the face and is
  filmed with it; a manipulation that resamples the face (blur, sharpening, down-up scaling)
  changes it, as a generator's output differs from filmed skin."""
  r = ident.portrait.shape[0]
  white = rng.standard_normal((r, r)).astype(np.float32)
  band = cv2.GaussianBlur(white, (0, 0), 0.8) - cv2.GaussianBlur(white, (0, 0), 2.5)
  band *= amplitude * rng.uniform(0.6, 1.4) / max(float(band.std()), 1e-8)
  texture = (band * ident.alpha)[..., None]
  return dataclasses.replace(
    ident,
    portrait=np.clip(ident.portrait + texture, 0, 1).astype(np.float32),
    raw_portrait=np.clip(ident.raw_portrait + texture, 0, 1).astype(np.float32),
  )


# ----------------------------------------------------------------------------------------------
# Motion.


@dataclasses.dataclass
class Motion:
  """Per-frame motion and appearance signals ([T] float32 arrays)."""

  dx: np.ndarray
  dy: np.ndarray
  angle: np.ndarray  # degrees
  scale: np.ndarray
  gain: np.ndarray
  gamma: np.ndarray
  blink: np.ndarray  # eyelid closure in [0, 1]
  mouth: np.ndarray  # mouth opening in [0, 1]
  pan: np.ndarray  # [T, 2] background offset in pixels
  noise_seed: int


def _sines(
  rng: np.random.Generator, t: np.ndarray, amp: float, fmin: float, fmax: float, n: int = 2
) -> np.ndarray:
  out = np.zeros_like(t)
  for _ in range(n):
    out += rng.uniform(0.3, 1.0) * np.sin(
      2 * np.pi * rng.uniform(fmin, fmax) * t + rng.uniform(0, 2 * np.pi)
    )
  return (amp * out / n).astype(np.float32)


def mouth_signal(rng: np.random.Generator, num_frames: int, fps: float) -> np.ndarray:
  """Talking-like mouth opening in [0, 1]."""
  t = np.arange(num_frames, dtype=np.float32) / fps
  s = _sines(rng, t, 1.0, 1.5, 4.5, 3) * 1.6 + rng.uniform(-0.2, 0.3)
  env = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.2, 0.6) * t + rng.uniform(0, 6.3))
  return np.clip(s * env, 0, 1).astype(np.float32)


def make_motion(
  seed: int, vid: int, num_frames: int, fps: float, size: int, dynamics: float = 1.0
) -> Motion:
  """Deterministic per-id motion; `dynamics` multiplies the frequencies of the lighting signals
  (gain, gamma): 1 = slow drift, larger = faster changes (same random draws)."""
  rng = np.random.default_rng([seed, vid, 202])
  t = np.arange(num_frames, dtype=np.float32) / fps
  blink = np.zeros(num_frames, np.float32)
  n_blinks = int(rng.integers(1, 3 + num_frames // 50))
  for _ in range(n_blinks):
    c = rng.uniform(0, num_frames)
    dur = rng.uniform(1.5, 2.5) * fps / 25.0
    blink = np.maximum(blink, np.clip(1.2 - np.abs(np.arange(num_frames) - c) / dur, 0, 1))
  return Motion(
    dx=_sines(rng, t, 0.05 * size, 0.1, 0.6),
    dy=_sines(rng, t, 0.03 * size, 0.1, 0.6),
    angle=_sines(rng, t, 7.0, 0.1, 0.5),
    scale=1.0 + _sines(rng, t, 0.06, 0.05, 0.4),
    gain=1.0 + _sines(rng, t, 0.10, 0.05 * dynamics, 0.3 * dynamics),
    gamma=1.0 + _sines(rng, t, 0.08, 0.05 * dynamics, 0.3 * dynamics),
    blink=np.clip(blink, 0, 1).astype(np.float32),
    mouth=mouth_signal(rng, num_frames, fps),
    pan=np.stack(
      [_sines(rng, t, 0.04 * size, 0.05, 0.3), _sines(rng, t, 0.02 * size, 0.05, 0.3)], -1
    ),
    noise_seed=int(rng.integers(2**31)),
  )


# ----------------------------------------------------------------------------------------------
# Local animation (blinks, mouth) in portrait coordinates.


def soft_ellipse(
  shape: tuple[int, int], center, axes, angle: float = 0.0, feather: float = 1.0
) -> np.ndarray:
  m = np.zeros(shape, np.float32)
  cv2.ellipse(
    m,
    (int(round(center[0] * 4)), int(round(center[1] * 4))),
    (max(1, int(round(axes[0] * 4))), max(1, int(round(axes[1] * 4)))),
    angle,
    0,
    360,
    1.0,
    -1,
    lineType=cv2.LINE_AA,
    shift=2,
  )
  if feather > 0:
    m = cv2.GaussianBlur(m, (0, 0), feather)
  return m


def animate(
  portrait: np.ndarray, lm: np.ndarray, skin: np.ndarray, blink: float, mouth: float
) -> np.ndarray:
  """Applies eyelid closure `blink` and mouth opening `mouth` (both in [0, 1]) to a portrait."""
  out = portrait
  r = portrait.shape[0]
  ed = eye_dist(lm)
  if mouth > 0.02:
    ml, mr = lm[3], lm[4]
    mc = (ml + mr) / 2
    w = float(np.linalg.norm(mr - ml))
    d = mouth * 0.25 * w
    x0, x1 = int(max(0, mc[0] - 1.2 * w)), int(min(r, mc[0] + 1.2 * w))
    y0, y1 = int(max(0, mc[1] - 0.8 * w)), int(min(r, mc[1] + 1.3 * w))
    if x1 > x0 and y1 > y0:
      yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
      gx = np.exp(-(((xx - mc[0]) / (0.65 * w)) ** 2))
      below = np.exp(-(((yy - (mc[1] + 0.35 * w)) / (0.55 * w)) ** 2))
      above = np.exp(-(((yy - (mc[1] - 0.2 * w)) / (0.3 * w)) ** 2))
      shift = d * gx * (below - 0.25 * above)
      patch = cv2.remap(portrait, xx, yy - shift, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
      out = portrait.copy()
      out[y0:y1, x0:x1] = patch
      # Dark mouth interior between the lips.
      inner = soft_ellipse((r, r), (mc[0], mc[1] + 0.45 * d), (0.36 * w, 0.45 * d + 0.5), 0, 0.8)
      dark = np.array([0.28, 0.09, 0.09], np.float32) * (0.6 + 0.4 * skin / (skin.mean() + 1e-6))
      a = 0.75 * float(np.clip((mouth - 0.2) / 0.8, 0, 1))
      out = out * (1 - a * inner[..., None]) + a * inner[..., None] * dark
  if blink > 0.02:
    if out is portrait:
      out = portrait.copy()
    for e in lm[:2]:
      ew = 0.32 * ed
      lid = soft_ellipse(
        (r, r), (e[0], e[1] - 0.08 * ew), (0.62 * ew, 0.42 * ew), 0, 0.5 + 0.05 * ew
      )
      a = (blink * lid)[..., None]
      out = out * (1 - a) + a * (0.92 * skin)
      lash = soft_ellipse((r, r), (e[0], e[1] + 0.12 * ew), (0.55 * ew, 0.06 * ew + 0.3), 0, 0.5)
      a = (0.7 * max(0.0, blink - 0.4) / 0.6 * lash)[..., None]
      out = out * (1 - a) + a * (0.35 * skin)
  return out.astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Frame composition.


# (frame index, portrait [R, R, 3]) -> (manipulated copy [R, R, 3], its blend mask [R, R] in [0, 1]).
PortraitHook = Callable[[int, np.ndarray], tuple[np.ndarray, np.ndarray]]


def blend(base: np.ndarray, copy: np.ndarray, mask: np.ndarray) -> np.ndarray:
  """`copy` where `mask` is 1, `base` where it is 0: [H, W, 3] float32."""
  a = mask[..., None]
  return (a * copy + (1 - a) * base).astype(np.float32)


@dataclasses.dataclass
class RenderedVideo:
  frames: np.ndarray  # [T, S, S, 3] uint8
  landmarks: np.ndarray  # [T, 5, 2] float32 frame coordinates
  boxes: np.ndarray  # [T, 4] float32 (x0, y0, x1, y1) face boxes (MTCNN-like extent)


def frame_transform(ident: Identity, motion: Motion, f: int) -> np.ndarray:
  """2x3 affine map from portrait coordinates to frame coordinates at frame f."""
  fc = face_center(ident.landmarks)
  ang = float(motion.angle[f])
  sc = float(motion.scale[f])
  m = cv2.getRotationMatrix2D((float(fc[0]), float(fc[1])), ang, sc)
  target = ident.anchor + np.array([motion.dx[f], motion.dy[f]], np.float32)
  m[:, 2] += target - fc
  return m.astype(np.float32)


def landmarks_to_box(lm: np.ndarray) -> np.ndarray:
  """Approximate MTCNN-style face box (x0, y0, x1, y1) from 5 landmarks."""
  ed = np.linalg.norm(lm[1] - lm[0])
  c = lm.mean(0)
  dm = float(np.linalg.norm((lm[3] + lm[4]) / 2 - (lm[0] + lm[1]) / 2))
  h = max(1.0, dm) * 2.7
  w = max(ed * 2.0, 0.72 * h)
  return np.array([c[0] - w / 2, c[1] - 0.55 * h, c[0] + w / 2, c[1] + 0.45 * h], np.float32)


def render(
  ident: Identity,
  motion: Motion,
  size: int,
  pre_hook: PortraitHook | None = None,
  post_hook: PortraitHook | None = None,
  camera: synthetic_camera.Camera | None = None,
  generated_noise: float | None = None,
) -> RenderedVideo:
  """Renders a video [T, size, size, 3]. `pre_hook(f, portrait)` manipulates the portrait before
  blink/mouth animation, `post_hook` after; `camera` develops every frame
  (`ddf.data.synthetic_camera`; None: the fixed camera).

  `generated_noise` None: the manipulated portrait is filmed by the camera like a real one (the
  older trees). A number: the manipulation is made after capture, as a real face swap is made on
  a filmed video. The real frame is filmed (white balance, focus, sensor noise); the manipulated
  face is composited onto it with the hook's mask, carrying the video's white balance but not
  its focus, and the generator's own noise: per-pixel grey noise of std `generated_noise` (the
  same value in R, G and B, where the sensor's noise differs per channel).
  """
  n = len(motion.dx)
  frames = np.empty((n, size, size, 3), np.uint8)
  lms = np.empty((n, 5, 2), np.float32)
  boxes = np.empty((n, 4), np.float32)
  noise_rng = np.random.default_rng(motion.noise_seed)
  generated_rng = np.random.default_rng([motion.noise_seed, 505])
  after_capture = generated_noise is not None and (pre_hook or post_hook) is not None
  mg = ident.margin
  for f in range(n):
    m = frame_transform(ident, motion, f)
    aw = cv2.warpAffine(
      ident.alpha, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    px, py = motion.pan[f]
    mb = np.array([[1, 0, -mg + px], [0, 1, -mg + py]], np.float32)
    bg = cv2.warpAffine(
      ident.background, mb, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )

    def compose(por: np.ndarray, m=m, aw=aw, bg=bg, f=f) -> np.ndarray:
      """Portrait -> frame [S, S, 3] in light units, before the camera."""
      pw = cv2.warpAffine(
        por, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
      )
      img = aw[..., None] * pw + (1 - aw[..., None]) * bg
      return np.clip(img, 0, 1) ** float(motion.gamma[f]) * float(motion.gain[f])

    def film(img: np.ndarray, f=f) -> np.ndarray:
      noise = synthetic_camera.DEFAULT_NOISE
      if camera is not None:
        img, noise = camera.develop(f, img), camera.noise
      return img + noise_rng.standard_normal(img.shape, dtype=np.float32) * noise

    blink, mouth = float(motion.blink[f]), float(motion.mouth[f])
    por, mask = ident.portrait, None
    if pre_hook is not None:
      copy, mask = pre_hook(f, por)
      por = blend(por, copy, mask)
    por = animate(por, ident.landmarks, ident.skin, blink, mouth)
    if post_hook is not None:
      copy, mask = post_hook(f, por)
      por = blend(por, copy, mask)
    if after_capture:
      real = animate(ident.portrait, ident.landmarks, ident.skin, blink, mouth)
      filmed = film(compose(real))
      generated = compose(por)
      if camera is not None:
        generated = generated * camera.white_balance[f]
      grey = generated_rng.standard_normal((size, size, 1), dtype=np.float32)
      generated = generated + grey * float(generated_noise)
      where = cv2.warpAffine(mask, m, (size, size), flags=cv2.INTER_LINEAR) * aw
      img = blend(filmed, generated, where)
    else:
      img = film(compose(por))
    frames[f] = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    lms[f] = ident.landmarks @ m[:, :2].T + m[:, 2]
    boxes[f] = landmarks_to_box(lms[f])
  return RenderedVideo(frames, lms, boxes)
