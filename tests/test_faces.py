"""Tests of ddf.faces: MTCNN in JAX, alignment, tracking, per-video pipeline (CPU, offline)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from ddf.faces import align as align_lib
from ddf.faces import boxes as box_lib
from ddf.faces import mtcnn as mtcnn_lib
from ddf.faces.mtcnn import MTCNN, FaceDetections
from ddf.faces.pipeline import FacePipeline, centre_square_crops
from ddf.faces.track import track_faces

# Acceptance numbers on skimage.data.astronaut() (x1, y1, x2, y2) and 5 points (x, y).
ASTRO_BOX = np.array([181, 62, 268, 172], np.float64)
ASTRO_LM = np.array([[205, 102], [247, 104], [225, 129], [202, 139], [245, 142]], np.float64)


@pytest.fixture(scope="module")
def detector() -> MTCNN:
  return MTCNN()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
  return skimage.data.astronaut()


@pytest.fixture(scope="module")
def camera_rgb() -> np.ndarray:
  return np.repeat(skimage.data.camera()[..., None], 3, axis=-1)


def _affine(points: np.ndarray, m: np.ndarray) -> np.ndarray:
  return points @ m[:, :2].T + m[:, 2]


# ----------------------------------------------------------------------------- box utils


def test_nms_and_iou():
  boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 5, 5]], float)
  scores = np.array([0.9, 0.8, 0.7, 0.95])
  iou = box_lib.iou_matrix(boxes, boxes)
  np.testing.assert_allclose(iou[0, 1], 81 / 119)
  np.testing.assert_allclose(box_lib.iou_matrix(boxes[:1], boxes[3:], "min"), [[1.0]])
  np.testing.assert_array_equal(box_lib.nms(boxes, scores, 0.5), [3, 0, 2])
  np.testing.assert_array_equal(box_lib.nms(boxes, scores, 0.5, "min"), [3, 2])
  sq = box_lib.square_boxes(np.array([[0, 0, 10, 4]], float))
  np.testing.assert_allclose(sq, [[0, -3, 10, 7]])


# ----------------------------------------------------------------------------- MTCNN


@pytest.mark.slow  # compiles large models (seconds to minutes)
def test_networks_match_the_wheel():
  """The JAX P/R/O-Nets give the outputs of the wheel's own Keras networks."""
  pytest.importorskip("tensorflow")
  from mtcnn.network.onet import ONet  # pylint: disable=g-import-not-at-top
  from mtcnn.network.pnet import PNet
  from mtcnn.network.rnet import RNet

  params = mtcnn_lib.load_mtcnn_params()
  raw = {
    n: list(__import__("joblib").load(f"{mtcnn_lib.default_weights_dir()}/{n}.lz4"))
    for n in ("pnet", "rnet", "onet")
  }
  rng = np.random.default_rng(0)
  cases = [
    (PNet, "pnet", mtcnn_lib.pnet_apply, (2, 31, 45, 3)),
    (RNet, "rnet", mtcnn_lib.rnet_apply, (3, 24, 24, 3)),
    (ONet, "onet", mtcnn_lib.onet_apply, (3, 48, 48, 3)),
  ]
  for cls, name, fn, shape in cases:
    model = cls()
    model.build()
    model.set_weights(raw[name])
    x = rng.normal(size=shape).astype(np.float32)
    ref = [np.asarray(o) for o in model(x)]
    ref[-1] = ref[-1][..., 1]  # face probability
    out = [np.asarray(o) for o in fn(params[name], x)]
    for a, b in zip(ref, out, strict=True):
      np.testing.assert_allclose(b, a, atol=1e-4)


def test_crop_and_resize_matches_tf():
  tf = pytest.importorskip("tensorflow")
  rng = np.random.default_rng(1)
  img = rng.uniform(0, 255, size=(2, 40, 50, 3)).astype(np.float32)
  boxes = np.array([[-5, 3, 30, 44], [10, 12, 49, 39]], np.float32)  # x1 y1 x2 y2, one outside
  idx = np.array([0, 1], np.int32)
  norm = boxes[:, [1, 0, 3, 2]] / np.array([40, 50, 40, 50], np.float32)
  ref = tf.image.crop_and_resize(img, norm, idx, (24, 24), extrapolation_value=7.0).numpy()
  out = np.asarray(mtcnn_lib.crop_and_resize(img, boxes, idx, 24, extrapolation_value=7.0))
  np.testing.assert_allclose(out, ref, atol=5e-3)


@pytest.mark.slow  # compiles large models (seconds to minutes)
def test_astronaut_acceptance(detector, astronaut):
  (det,) = detector.detect(astronaut)
  assert len(det) == 1
  np.testing.assert_allclose(det.boxes[0], ASTRO_BOX, atol=6)
  dist = np.linalg.norm(det.landmarks[0] - ASTRO_LM, axis=-1)
  assert dist.max() < 3.0, dist
  assert det.scores[0] > 0.99
  # Module-level convenience function agrees.
  (det2,) = mtcnn_lib.detect_faces(astronaut[None])
  np.testing.assert_allclose(det2.boxes, det.boxes, atol=1e-3)


@pytest.mark.slow  # compiles large models (seconds to minutes)
def test_camera_one_face(detector, camera_rgb):
  (det,) = detector.detect(camera_rgb[None])
  assert len(det) == 1  # the cameraman's face
  x1, y1, x2, y2 = det.boxes[0]
  assert 185 < x1 < 210 and 105 < y1 < 130 and 245 < x2 < 270 and 185 < y2 < 210
  lm = det.landmarks[0]
  assert np.all((lm[:, 0] > x1) & (lm[:, 0] < x2) & (lm[:, 1] > y1) & (lm[:, 1] < y2))
  assert lm[0, 0] < lm[1, 0] and lm[3, 0] < lm[4, 0]  # left/right order
  assert lm[:2, 1].max() < lm[2, 1] < lm[3:, 1].min()  # eyes above nose above mouth


@pytest.mark.slow  # compiles large models (seconds to minutes)
def test_blank_and_noise_no_faces(detector):
  rng = np.random.default_rng(0)
  images = np.stack(
    [
      np.full((512, 512, 3), 128, np.uint8),
      np.zeros((512, 512, 3), np.uint8),
      rng.integers(0, 256, (512, 512, 3), dtype=np.uint8),
      rng.integers(0, 256, (512, 512, 3), dtype=np.uint8),
    ]
  )
  dets = detector.detect(images)
  assert [len(d) for d in dets] == [0, 0, 0, 0]
  assert dets[0].boxes.shape == (0, 4) and dets[0].landmarks.shape == (0, 5, 2)


@pytest.mark.slow  # compiles large models (seconds to minutes)
def test_transformed_astronaut(detector, astronaut):
  """Rotated, scaled and shifted copy: the face is found and landmarks move accordingly."""
  m = cv2.getRotationMatrix2D((225.0, 120.0), 15.0, 0.8)
  m[:, 2] += (40.0, 60.0)
  warped = cv2.warpAffine(
    astronaut, m, (512, 512), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
  )
  (det,) = detector.detect(warped)
  assert len(det) >= 1
  expected = _affine(ASTRO_LM, m)
  dist = np.linalg.norm(det.landmarks[0] - expected, axis=-1)
  assert dist.max() < 4.0, dist
  centre = det.boxes[0].reshape(2, 2).mean(0)
  exp_centre = _affine(ASTRO_BOX.reshape(2, 2).mean(0, keepdims=True), m)[0]
  assert np.linalg.norm(centre - exp_centre) < 8


@pytest.mark.slow  # compiles large models (seconds to minutes)
def test_batch_equals_single(detector, astronaut, camera_rgb):
  shifted = np.roll(astronaut, (37, -51), axis=(0, 1))
  images = np.stack([astronaut, camera_rgb, shifted])
  batched = detector.detect(images)
  for img, b in zip(images, batched, strict=True):
    (single,) = detector.detect(img)
    assert len(single) == len(b) >= 1
    np.testing.assert_allclose(b.boxes, single.boxes, atol=1e-2)
    np.testing.assert_allclose(b.landmarks, single.landmarks, atol=1e-2)
    np.testing.assert_allclose(b.scores, single.scores, atol=1e-4)
  np.testing.assert_allclose(batched[2].landmarks[0], batched[0].landmarks[0] + (-51, 37), atol=2.0)
  # The accelerator layout (one P-Net call per scale for the whole batch, crops split into
  # fixed-size calls) gives the same detections.
  whole = MTCNN(frame_chunk=None, crop_chunk=16).detect(images)
  for a, b in zip(whole, batched, strict=True):
    np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-2)
    np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-2)


# ----------------------------------------------------------------------------- alignment


def test_alignment_puts_landmarks_on_template():
  s, margin = 256, 1.3
  tmpl = align_lib.crop_template(s, margin)
  # The face box (template's 112 px) spans 1/margin of the crop, centred.
  np.testing.assert_allclose(align_lib.crop_template(112, 1.0), align_lib.ARCFACE_TEMPLATE_112)
  np.testing.assert_allclose(
    tmpl.mean(0), (align_lib.ARCFACE_TEMPLATE_112.mean(0) - 56) / margin * s / 112 + s / 2
  )
  # Landmarks that are an exact similarity image of the template; draw a dot at each.
  ang, scale, shift = np.deg2rad(20.0), 0.7, np.array([150.0, 90.0])
  rot = scale * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
  lm = tmpl @ rot.T + shift
  crop, mat = align_lib.align_face(np.zeros((400, 420, 3), np.uint8), lm, s, margin)
  assert crop.shape == (s, s, 3) and crop.dtype == np.uint8 and mat.shape == (2, 3)
  np.testing.assert_allclose(align_lib.transform_points(lm, mat), tmpl, atol=1e-2)
  # The pixels move with the landmarks: a blob drawn at each landmark lands on its template point.
  yy, xx = np.mgrid[:400, :420]
  for (x, y), (tx, ty) in zip(lm, tmpl, strict=True):
    blob = 255 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 3.0**2))
    image = np.repeat(blob[..., None], 3, -1).astype(np.uint8)
    crop, _ = align_lib.align_face(image, lm, s, margin)
    wgt = crop[..., 0].astype(np.float64)
    cy, cx = np.mgrid[:s, :s]
    assert np.hypot((wgt * cx).sum() / wgt.sum() - tx, (wgt * cy).sum() / wgt.sum() - ty) < 1.0


@pytest.mark.slow  # compiles large models (seconds to minutes)
def test_align_real_face(detector, astronaut):
  (det,) = detector.detect(astronaut)
  crop, mat = align_lib.align_face(astronaut, det.landmarks[0], 128, 1.3)
  err = np.linalg.norm(
    align_lib.transform_points(det.landmarks[0], mat) - align_lib.crop_template(128, 1.3), axis=-1
  )
  assert err.mean() < 0.05 * 128  # similarity residual: faces differ from the template
  # Re-detecting in the aligned crop finds the face horizontally centred, inside the crop, about
  # 1/1.3 of its size (MTCNN boxes sit lower than the template's forehead-to-chin square).
  (again,) = detector.detect(cv2.resize(crop, (512, 512)))  # 512: reuses compiled shapes
  assert len(again) >= 1
  x1, y1, x2, y2 = again.boxes[0] / 2
  assert abs((x1 + x2) / 2 - 128) < 8 and 15 < y1 < y2 < 250
  assert 0.45 < (y2 - y1) / 256 < 1 / 1.3


# ----------------------------------------------------------------------------- tracking


def _det(boxes, scores) -> FaceDetections:
  boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
  lm = np.stack(
    [
      boxes[:, :2] + (boxes[:, 2:] - boxes[:, :2]) * f
      for f in ((0.3, 0.4), (0.7, 0.4), (0.5, 0.6), (0.35, 0.8), (0.65, 0.8))
    ],
    1,
  )
  return FaceDetections(boxes, np.asarray(scores, np.float32), lm.astype(np.float32))


def test_tracker_picks_consistent_face_and_interpolates():
  dets = []
  for t in range(10):
    face = [100 + 2 * t, 50, 200 + 2 * t, 170]
    if t in (4, 5):  # short gap
      dets.append(_det([[400, 300, 430, 330]] if t == 4 else [], [0.9] if t == 4 else []))
    elif t == 2:  # a spurious, larger box for one frame only
      dets.append(_det([[250, 0, 450, 200], face], [0.99, 0.95]))
    elif t == 9:
      dets.append(_det([], []))
    else:
      dets.append(_det([face], [0.98]))
  tr = track_faces(dets, max_gap=3)
  assert tr is not None
  np.testing.assert_array_equal(tr.face_found, [1, 1, 1, 1, 0, 0, 1, 1, 1, 0])
  np.testing.assert_array_equal(tr.interpolated, [0, 0, 0, 0, 1, 1, 0, 0, 0, 0])
  np.testing.assert_array_equal(tr.det_index[:4], [0, 0, 1, 0])
  np.testing.assert_allclose(tr.boxes[4], [108, 50, 208, 170], atol=1e-4)  # linear
  np.testing.assert_allclose(tr.boxes[5], [110, 50, 210, 170], atol=1e-4)
  np.testing.assert_allclose(
    tr.landmarks[5], _det([[110, 50, 210, 170]], [1]).landmarks[0], atol=1e-3
  )
  np.testing.assert_allclose(tr.boxes[9], tr.boxes[8])  # trailing frame: nearest found
  assert tr.num_found == 7 and tr.scores[4] == 0

  # A long gap is not interpolated: frames copy the nearest found frame.
  tr2 = track_faces(dets[:4] + [_det([], [])] * 5 + dets[6:9], max_gap=3, max_link_gap=8)
  assert not tr2.interpolated.any()
  np.testing.assert_allclose(tr2.boxes[4], tr2.boxes[3])
  np.testing.assert_allclose(tr2.boxes[8], tr2.boxes[9])
  assert track_faces([_det([], [])] * 3) is None


# ----------------------------------------------------------------------------- pipeline


def _clip(astronaut: np.ndarray, num_frames: int = 8, h: int = 640, w: int = 640):
  """Astronaut's upper part moving over a flat background; returns frames and offsets."""
  patch = astronaut[:320, 60:400]
  frames, offsets = [], []
  for t in range(num_frames):
    dx, dy = 20 + 25 * t, 30 + 6 * t
    f = np.full((h, w, 3), (70, 90, 110), np.uint8)
    f[dy : dy + patch.shape[0], dx : dx + patch.shape[1]] = patch
    frames.append(f)
    offsets.append((dx - 60, dy))
  return np.stack(frames), np.asarray(offsets, np.float64)


@pytest.mark.slow  # compiles large models (seconds to minutes)
def test_pipeline_on_moving_clip(detector, astronaut):
  frames, offsets = _clip(astronaut)
  # Detection at 512x512 in batches of 4: the shapes compiled by the tests above are reused
  # (min_face_size=30 keeps the default detect_min_face=24 px at 512 / 640).
  pipe = FacePipeline(
    crop_size=128,
    margin=1.3,
    min_face_size=30,
    detect_max_side=512,
    batch_size=4,
    detector=detector,
  )
  res = pipe(frames)
  assert res.crops.shape == (8, 128, 128, 3) and res.crops.dtype == np.uint8
  assert res.landmarks.shape == (8, 5, 2) and res.boxes.shape == (8, 4)
  assert res.face_found.all() and res.num_faces_found == 8 and not res.interpolated.any()
  # Boxes in original-frame coordinates follow the motion.
  centres = res.boxes.reshape(8, 2, 2).mean(1)
  exp = ASTRO_BOX.reshape(2, 2).mean(0) + offsets
  assert np.abs(centres - exp).max() < 8
  # Landmarks in crop coordinates sit near the template.
  err = np.linalg.norm(res.landmarks - align_lib.crop_template(128, 1.3), axis=-1)
  assert err.mean() < 0.05 * 128
  # Crops are stable: the face does not move in the aligned crops.
  diff = np.abs(res.crops[1:].astype(int) - res.crops[:-1].astype(int))[:, 32:96, 32:96]
  assert diff.mean() < 12
  # Frame-by-frame detection gives the same result as the whole batch.
  res1 = FacePipeline(
    crop_size=128, min_face_size=30, detect_max_side=512, batch_size=1, detector=detector
  )(frames[:2])
  np.testing.assert_allclose(res1.boxes, res.boxes[:2], atol=1e-2)


def test_key_frames_every_k_th_of_each_run():
  """Key frames restart at every cut in frame_indices and include each run's last frame."""
  pipe = FacePipeline(detect_every=4, detector=object())
  np.testing.assert_array_equal(pipe.key_frames(10), [0, 4, 8, 9])
  runs = np.r_[np.arange(8), np.arange(50, 55), [70]]  # two windows and a lone frame
  np.testing.assert_array_equal(pipe.key_frames(14, runs), [0, 4, 7, 8, 12, 13])
  np.testing.assert_array_equal(FacePipeline(detector=object()).key_frames(5), np.arange(5))
  with pytest.raises(ValueError, match="frame_indices"):
    pipe.key_frames(3, [0, 1])
  with pytest.raises(ValueError, match="detect_every"):
    FacePipeline(detect_every=0, detector=object())


class _ScriptedDetector:
  """A stand-in MTCNN: the full detector finds a face (and, on frame 0, a weaker second box that
  overlaps it); O-Net's refinement pulls every box onto the face, except in `lost` frames."""

  nms_thresholds = (0.5, 0.7, 0.7, 0.7)
  face = np.array([20.0, 20.0, 60.0, 60.0], np.float32)

  def __init__(self, lost=()):
    self.lost = set(lost)
    self.detected: list[int] = []  # frames the full detector ran on, in call order

  def detect(self, images, min_face_size=None, thresholds=None):
    out = []
    for image in images:
      frame = int(image[0, 0, 0])  # each test frame carries its index in its first pixel
      self.detected.append(frame)
      boxes = [self.face] + ([self.face + [8, 4, 8, 4]] if frame == 0 else [])
      out.append(
        FaceDetections(
          np.stack(boxes),
          np.array([0.99, 0.8][: len(boxes)], np.float32),
          np.zeros((len(boxes), 5, 2), np.float32),
        )
      )
    return out

  def refine(self, images, boxes, image_idx, threshold=None):
    frames = np.array([int(images[i][0, 0, 0]) for i in image_idx])
    k = len(frames)
    is_face = np.array([f not in self.lost for f in frames])
    return np.tile(self.face, (k, 1)), np.zeros((k, 5, 2), np.float32), np.full(k, 0.98), is_face


def test_tracked_boxes_merge_when_they_meet_and_lost_faces_are_redetected():
  """Key-frame tracking on a scripted detector: two boxes that O-Net pulls onto one face leave
  one detection per frame (the face track stays whole), and a face O-Net loses sends the rest of
  its gap, and only that, back to the full detector."""
  frames = np.zeros((9, 80, 80, 3), np.uint8)
  frames[:, 0, 0, 0] = np.arange(9)
  scripted = _ScriptedDetector()
  pipe = FacePipeline(
    crop_size=32, detect_max_side=None, min_face_size=12, detect_every=4, detector=scripted
  )
  dets = pipe.detect(frames)
  assert scripted.detected == [0, 4, 8]
  assert [len(d) for d in dets] == [2, 1, 1, 1, 1, 1, 1, 1, 1]
  assert pipe.track_and_align(frames, dets).face_found.all()
  lost = _ScriptedDetector(lost={6})
  pipe.detector = lost
  pipe.detect(frames)
  assert lost.detected == [0, 4, 8, 6, 7]  # key frames, then the lost face's frames


class _CountingDetector(MTCNN):
  """MTCNN that counts the images its full detector sees (O-Net refinement not counted)."""

  def __init__(self, detector: MTCNN):
    self.__dict__.update(detector.__dict__)
    self.images_detected = 0

  def detect(self, images, **kwargs):
    self.images_detected += len(images)
    return super().detect(images, **kwargs)


@pytest.mark.slow  # compiles large models (seconds to minutes)
def test_detect_every_tracks_faces_between_key_frames(detector, astronaut):
  """With detect_every=4 the full detector sees only the key frames of each run, and the
  tracked boxes / landmarks stay within a few pixels of detecting every frame, across a cut."""
  patch = astronaut[:320, 60:400]
  frames, indices = [], np.r_[np.arange(9), np.arange(100, 104)]
  for t in range(len(indices)):
    cut = t >= 9  # the second run, 91 frames later: the face has moved on
    dx = (32 if cut else 20) + 7 * t + int(8 * np.sin(t / 2))
    dy = (38 if cut else 30) + 3 * t
    f = np.full((640, 640, 3), (70, 90, 110), np.uint8)
    f[dy : dy + 320, dx : dx + 340] = patch[: 640 - dy, : 640 - dx]
    frames.append(f)
  frames = np.stack(frames)
  kw = dict(crop_size=128, min_face_size=30, detect_max_side=512, batch_size=4)
  every = FacePipeline(detector=detector, **kw)(frames, indices)
  counting = _CountingDetector(detector)
  keyed_pipe = FacePipeline(detector=counting, detect_every=4, **kw)
  keyed = keyed_pipe(frames, indices)
  assert counting.images_detected == 5  # key frames 0, 4, 8 | 9, 12
  np.testing.assert_array_equal(keyed_pipe.key_frames(13, indices), [0, 4, 8, 9, 12])
  assert every.face_found.all() and keyed.face_found.all() and not keyed.interpolated.any()

  from ddf.data.ffpp_examples import frame_landmarks

  lm_err = np.abs(
    frame_landmarks(keyed.landmarks, keyed.matrices)
    - frame_landmarks(every.landmarks, every.matrices)
  )
  assert lm_err.max() < 3.0 and lm_err.mean() < 1.0, (lm_err.max(), lm_err.mean())
  box_err = np.abs(keyed.boxes - every.boxes)
  assert box_err.max() < 10.0 and box_err.mean() < 3.0, (box_err.max(), box_err.mean())


@pytest.mark.slow  # compiles large models (seconds to minutes)
def test_pipeline_faceless_clip(detector):
  frames = np.full((4, 512, 512, 3), 100, np.uint8)
  frames[:, 100:140, 50:270] = 200  # some structure, no face
  res = FacePipeline(crop_size=64, detector=detector)(frames)
  assert res.num_faces_found == 0 and not res.face_found.any() and not res.interpolated.any()
  # With key frames: no face to carry, so every frame gets the full detector, and none is found.
  counting = _CountingDetector(detector)
  keyed = FacePipeline(crop_size=64, detector=counting, detect_every=3)(frames)
  assert counting.images_detected == 4 and not keyed.face_found.any()
  np.testing.assert_array_equal(keyed.crops, res.crops)
  assert res.crops.shape == (4, 64, 64, 3) and res.crops.dtype == np.uint8
  assert res.landmarks.shape == (4, 5, 2) and res.boxes.shape == (4, 4)
  np.testing.assert_allclose(res.boxes[0], [0, 0, 512, 512])
  # No face: centre square crops (checked on a non-square frame).
  wide = np.random.default_rng(0).integers(0, 256, (2, 240, 320, 3), dtype=np.uint8)
  crops, box = centre_square_crops(wide, 64)
  np.testing.assert_allclose(box, [40, 0, 280, 240])
  np.testing.assert_array_equal(
    crops[1], cv2.resize(wide[1, :, 40:280], (64, 64), interpolation=cv2.INTER_AREA)
  )


def test_detection_scale_keeps_min_face_detectable():
  """Frames shrink towards detect_max_side only while min_face_size keeps detect_min_face px."""

  def scale(min_face, h=1080, w=1920, **kw):
    return FacePipeline(min_face_size=min_face, detector=object(), **kw).detect_scale(h, w)

  assert scale(40) == pytest.approx(24 / 40)  # 1152 x 648, not 640 x 360
  assert scale(100) == pytest.approx(640 / 1920)  # big faces: detect_max_side still applies
  assert scale(20) == 1.0  # never upscaled
  assert scale(40, 480, 640) == 1.0  # small frames untouched
  assert scale(40, detect_max_side=None) == 1.0
  assert scale(40, detect_min_face=12) == pytest.approx(12 / 36)


@pytest.mark.slow  # compiles large models (seconds to minutes)
def test_pipeline_finds_small_face_in_1080p(detector, camera_rgb):
  """A 40 px face in dim, noisy 1080p frames (low-light video) with min_face_size=40.

  Shrunk to 640 px for detection (13 px face) R-/O-Net rejected it in every frame; at the
  detection scale chosen from min_face_size (24 px face) it is found in all frames.
  """
  (ref,) = detector.detect(camera_rgb[None])  # the cameraman's face box, as MTCNN draws it
  box = ref.boxes[0].astype(np.float64)
  s = 40 / (box[2] - box[0])
  face = cv2.resize(camera_rgb, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
  scene = cv2.resize(skimage.data.coffee(), (1920, 1080), interpolation=cv2.INTER_LINEAR)
  rng = np.random.default_rng(3)
  frames, truth = [], []
  for t in range(4):
    x0, y0 = 711 + 6 * t, 369 + 3 * t
    f = scene.copy()
    f[y0 : y0 + face.shape[0], x0 : x0 + face.shape[1]] = face
    f = np.clip(f * 0.3 + rng.normal(0, 5, f.shape), 0, 255).astype(np.uint8)
    frames.append(f)
    truth.append(box * s + (x0, y0, x0, y0))
  pipe = FacePipeline(crop_size=64, min_face_size=40, detector=detector)
  res = pipe(np.stack(frames))
  assert res.face_found.all() and res.num_faces_found == 4
  err = np.abs(res.boxes - np.array(truth)).max()
  assert err < 5, err


@pytest.mark.slow  # compiles large models (seconds to minutes)
def test_detect_many_gives_each_video_its_own_detections(detector, astronaut, camera_rgb):
  """Videos of two frame sizes, one faceless, with detect_every=2: `detect_many` batches the key
  frames of equal-sized videos together and returns, per video, what `detect` returns alone."""
  moving, _ = _clip(astronaut, num_frames=5)
  still = np.repeat(camera_rgb[None], 3, axis=0)  # 512 x 512
  blank = np.full((4, 640, 640, 3), 90, np.uint8)
  videos = [(moving, None), (still, None), (blank, np.array([0, 1, 10, 11]))]
  counting = _CountingDetector(detector)
  pipe = FacePipeline(
    crop_size=64, min_face_size=30, detect_max_side=512, detector=counting, detect_every=2
  )
  sizes = []
  full = counting.detect

  def recording(images, **kwargs):
    sizes.append(len(images))
    return full(images, **kwargs)

  counting.detect = recording
  together = pipe.detect_many(videos)
  batched = sorted(sizes)
  sizes.clear()
  alone = [pipe.detect(frames, indices) for frames, indices in videos]
  # Key frames: 0, 2, 4 | 0, 2 | 0, 1, 10, 11. The 640 px videos, both detected at 512 px with a
  # smallest face of 24 px, share one batch of 3 + 4 frames; the 512 px video, detected as it is
  # (smallest face 30 px), has its own.
  assert batched[-1] == 7 and sum(batched) == sum(sizes)
  assert len(together) == 3
  for many, one in zip(together, alone, strict=True):
    assert [len(d) for d in many] == [len(d) for d in one]
    for d_many, d_one in zip(many, one, strict=True):
      np.testing.assert_allclose(d_many.boxes, d_one.boxes, atol=1e-2)
      np.testing.assert_allclose(d_many.landmarks, d_one.landmarks, atol=1e-2)
  assert all(len(d) for d in together[0]) and not any(len(d) for d in together[2])
