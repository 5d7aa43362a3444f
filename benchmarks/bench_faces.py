"""Throughput of the face pipeline (ddf.faces) on a synthetic 720p clip.

Makes a 1280x720 `mp4v` video of `skimage.data.astronaut()` drifting over a background
(32 frames), reads it back with OpenCV grab()/retrieve(), then times:
  decode, MTCNN detection (batch 1 vs all frames), tracking + alignment, the whole
  `FacePipeline` detecting every frame, and with `detect_every` k (the full detector on every
  k-th frame, O-Net tracking in between); and, if TensorFlow and the `mtcnn` wheel import, the
  wheel's own detector on the same frames at the same smallest face.
Every row is reported as frames/s and as ratios against the reference row (detection, batch 1)
and against the wheel, measured in the same run; the `detect_every` rows also print how far
their landmarks and boxes are from detecting every frame (pixels). Compilation happens in a
warm-up call, reported apart. Figures only; nothing is asserted.

  python benchmarks/bench_faces.py [--frames 32] [--repeats 2] [--detect-every 4 8] [--no-tf]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import cv2
import numpy as np
import skimage.data

from ddf.data.ffpp_examples import frame_landmarks
from ddf.faces import MTCNN, FacePipeline


def make_video(path: str, num_frames: int = 32, size: tuple[int, int] = (1280, 720)) -> None:
  """Writes an mp4v video of the astronaut moving slowly over a gradient background."""
  w, h = size
  face = skimage.data.astronaut()[:, :, ::-1]  # BGR for OpenCV
  yy, xx = np.mgrid[:h, :w]
  bg = np.stack([(xx * 255 // w), (yy * 255 // h), np.full_like(xx, 90)], -1).astype(np.uint8)
  writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (w, h))
  if not writer.isOpened():
    raise RuntimeError(f"cannot write {path} with mp4v")
  for t in range(num_frames):
    frame = bg.copy()
    x0 = 300 + int(60 * np.sin(t / 5.0)) + 4 * t
    y0 = 100 + int(20 * np.cos(t / 7.0))
    frame[y0 : y0 + 512, x0 : x0 + 512] = face
    writer.write(frame)
  writer.release()


def read_video(path: str) -> np.ndarray:
  """All frames [T, H, W, 3] uint8 RGB via grab()/retrieve()."""
  cap = cv2.VideoCapture(path)
  frames = []
  while cap.grab():
    ok, frame = cap.retrieve()
    if not ok:
      break
    frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
  cap.release()
  return np.stack(frames)


def frame_points(res) -> np.ndarray:
  """A `FaceTrackResult`'s landmarks [T, 5, 2] in frame pixels."""
  return frame_landmarks(res.landmarks, res.matrices)


def _agreement(wheel_faces, dets, scale: float) -> tuple[int, float, float]:
  """(frames where the wheel found a face, largest box / landmark difference in original
  pixels between its best face and ddf's) for per-frame wheel output and ddf detections."""
  names = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")
  found, box_px, lm_px = 0, 0.0, 0.0
  for faces, det in zip(wheel_faces, dets, strict=True):
    if not faces or not len(det):
      continue
    best = max(faces, key=lambda face: face["confidence"])
    x, y, w, h = best["box"]
    box = np.array([x, y, x + w, y + h], np.float64) / scale
    points = np.array([best["keypoints"][k] for k in names], np.float64) / scale
    found += 1
    box_px = max(box_px, float(np.abs(box - det.boxes[0]).max()))
    lm_px = max(lm_px, float(np.abs(points - det.landmarks[0]).max()))
  return found, box_px, lm_px


def timed(fn, repeats: int) -> tuple[float, float]:
  """(first call seconds, best of `repeats` later calls seconds)."""
  t0 = time.perf_counter()
  fn()
  first = time.perf_counter() - t0
  best = float("inf")
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - t0)
  return first, best


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--frames", type=int, default=32)
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--detect-max-side", type=int, default=640)
  parser.add_argument("--crop-size", type=int, default=256)
  parser.add_argument(
    "--min-face-size", type=int, default=40, help="smallest face, original pixels (build default)"
  )
  parser.add_argument("--detect-every", type=int, nargs="*", default=[4, 8])
  parser.add_argument("--no-tf", action="store_true", help="skip the TF `mtcnn` wheel row")
  args = parser.parse_args()

  with tempfile.TemporaryDirectory() as tmp:
    path = os.path.join(tmp, "clip.mp4")
    make_video(path, args.frames)
    frames = read_video(path)
    _, t_decode = timed(lambda: read_video(path), args.repeats)
  n = len(frames)
  print(
    f"clip: {n} frames {frames.shape[2]}x{frames.shape[1]}, detection at max side "
    f"{args.detect_max_side}, crops {args.crop_size}"
  )

  detector = MTCNN()
  kw = dict(
    crop_size=args.crop_size,
    detect_max_side=args.detect_max_side,
    min_face_size=args.min_face_size,
    detector=detector,
  )
  pipes = {bs: FacePipeline(batch_size=bs, **kw) for bs in (1, None)}
  rows = [("decode (cv2 grab/retrieve)", "-", 0.0, t_decode)]
  dets = None
  for bs, label in ((1, "1"), (None, "all")):
    pipe = pipes[bs]
    first, best = timed(lambda p=pipe: p.detect(frames), args.repeats)
    rows.append(("detection (MTCNN, JAX)", label, first - best, best))
    dets = pipe.detect(frames)
  pipe = pipes[None]
  _, best = timed(lambda: pipe.track_and_align(frames, dets), args.repeats)
  rows.append(("tracking + alignment", "-", 0.0, best))
  for bs, label in ((1, "1"), (None, "all")):
    _, best = timed(lambda p=pipes[bs]: p(frames), args.repeats)
    rows.append(("whole pipeline", label, 0.0, best))
  res = pipe(frames)
  deviation = {}
  for k in args.detect_every:
    keyed = FacePipeline(detect_every=k, **kw)
    first, best = timed(lambda p=keyed: p(frames), args.repeats)
    rows.append((f"whole pipeline, detect_every={k}", "all", first - best, best))
    out = keyed(frames)
    deviation[k] = (
      np.abs(frame_points(out) - frame_points(res)).max(),
      np.abs(out.boxes - res.boxes).max(),
      out.num_faces_found,
    )
  wheel_s, wheel_agreement = None, None
  if not args.no_tf:
    try:
      os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
      from mtcnn import MTCNN as WheelMTCNN  # pylint: disable=g-import-not-at-top

      wheel = WheelMTCNN()
      # The wheel detects at the same scale as the pipeline, with the same smallest face.
      f = pipe.detect_scale(*frames.shape[1:3])
      small = [cv2.resize(x, None, fx=f, fy=f, interpolation=cv2.INTER_AREA) for x in frames]
      wheel_min = max(args.min_face_size * f, 12.0)
      first, best = timed(
        lambda: wheel.detect_faces(small, threshold_onet=0.7, min_face_size=wheel_min),
        args.repeats,
      )
      rows.append(("detection (mtcnn wheel, TF)", "all", first - best, best))
      wheel_s = best
      found = wheel.detect_faces(small, threshold_onet=0.7, min_face_size=wheel_min)
      wheel_agreement = _agreement(found, pipes[None].detect(frames), f)
    except ImportError as e:
      print(f"(no TF reference: {e})")

  ref = rows[1][3]  # detection, batch 1
  print(
    f"\n{'stage':34s} {'batch':>5s} {'frames/s':>9s} {'x ref':>7s} {'x wheel':>8s} "
    f"{'compile s':>9s}"
  )
  for name, batch, compile_s, secs in rows:
    vs_wheel = f"{wheel_s / secs:8.2f}" if wheel_s else f"{'-':>8s}"
    print(f"{name:34s} {batch:>5s} {n / secs:9.1f} {ref / secs:7.2f} {vs_wheel} {compile_s:9.1f}")
  print(
    f"\nreference = detection batch 1 ({n / ref:.1f} frames/s); "
    f"faces found in {res.num_faces_found}/{n} frames; detection at "
    f"{pipe.detect_scale(*frames.shape[1:3]):.2f}x, smallest face {args.min_face_size} px"
  )
  if wheel_agreement:
    print(
      "wheel: faces in {}/{n} frames; largest difference from ddf's detection (best face of "
      "each frame): boxes {:.1f} px, landmarks {:.1f} px".format(*wheel_agreement, n=n)
    )
  for k, (lm_px, box_px, found) in deviation.items():
    print(
      f"detect_every={k}: faces in {found}/{n} frames; largest difference from detecting every "
      f"frame: landmarks {lm_px:.1f} px, boxes {box_px:.1f} px"
    )


if __name__ == "__main__":
  main()
