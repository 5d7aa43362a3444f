"""Synthetic FaceForensics++-format dataset generator (the library behind `python -m ddf.data.synthetic`).

Writes the FF++ download layout (what the official download script produces) with animated face
photos as real videos and artifact-imitating manipulations as fakes:

  original_sequences/youtube/<comp>/videos/NNN.mp4
  manipulated_sequences/<Method>/<comp>/videos/TTT_SSS.mp4
  splits/{train,val,test}.json          official format: [["TTT", "SSS"], ...]
  synthetic_meta.json                   generation parameters (+ "complete")
  synthetic_annotations.json            per real id: per-frame face boxes and 5 landmarks
                                        (fakes TTT_SSS share those of real TTT)

Usage:
  python -m ddf.data.synthetic --out /tmp/ffpp --pairs 16 4 4 --compressions c23 c40

Deterministic from `--seed` (same seed -> byte-identical files). Re-running with the same
parameters only writes missing videos; different parameters need `--overwrite` or a new folder.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import multiprocessing
import os
import shutil
import time
from typing import Any, Sequence

import cv2
import numpy as np

from ddf.data import synthetic_camera as camera_lib
from ddf.data import synthetic_diagnostics as diagnostics
from ddf.data import synthetic_faces as faces
from ddf.data import synthetic_fakes as fakes
from ddf.data import synthetic_morph as morphs
from ddf.data import synthetic_photos as photo_pool
from ddf.data.video import write_video

__all__ = [
  "COMPRESSIONS",
  "METHODS",
  "GenerationReport",
  "degrade",
  "generate",
  "make_splits",
]

# DeepFakeDetection is not supported (different layout in FF++); the cue-isolating diagnostics
# (ddf/data/synthetic_diagnostics.py) are never in the default mix.
METHODS = fakes.METHODS + diagnostics.DIAGNOSTIC_METHODS
DEFAULT_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")
COMPRESSIONS = ("raw", "c23", "c40")
SPLITS = ("train", "val", "test")
META_FILE = "synthetic_meta.json"
ANNOTATIONS_FILE = "synthetic_annotations.json"
_META_VERSION = 1
# Bumped whenever the generator's output changes, so that `ddf.data.build.synthetic_dirs` puts the
# new data in a new folder instead of reusing a tree made by an older generator.
GENERATOR_VERSION = 1


def settings_from_config(data: Any) -> dict[str, Any]:
  """`generate` keyword arguments of a training config's `data` field (configs/default.py)."""
  settings = {
    "pairs": tuple(int(p) for p in data.synthetic_pairs),
    "methods": tuple(m.strip() for m in str(data.methods).split(",") if m.strip()),
    "compressions": (str(data.config),),
    "size": int(data.synthetic_size),
    "num_frames": int(data.synthetic_frames),
    "seed": int(data.get("synthetic_seed", 0)),
    "difficulty": float(data.synthetic_difficulty),
    "face_dirs": tuple(
      os.path.abspath(os.path.expanduser(d)) for d in data.get("synthetic_face_dirs", ())
    ),
  }
  if float(data.get("synthetic_dynamics", 1.0)) != 1.0:
    settings["dynamics"] = float(data.synthetic_dynamics)
  if data.get("synthetic_photos", "shared") != "shared":
    settings["photos"] = str(data.synthetic_photos)
  if float(data.get("synthetic_camera", 0.0)):
    settings["camera"] = float(data.synthetic_camera)
  if data.get("synthetic_capture", "before") != "before":
    settings["capture"] = str(data.synthetic_capture)
  if float(data.get("synthetic_skin_texture", 0.0)):
    settings["skin_texture"] = float(data.synthetic_skin_texture)
  return settings


def is_complete(out_dir: str | os.PathLike) -> bool:
  """Whether `out_dir` holds a tree that `generate` finished."""
  path = os.path.join(os.fspath(out_dir), META_FILE)
  if not os.path.exists(path):
    return False
  with open(path) as f:
    return bool(json.load(f).get("complete"))


@dataclasses.dataclass
class GenerationReport:
  """What `generate` produced.

  Attributes:
    out_dir: root of the tree.
    counts: {method or "original": {compression: number of videos}} in the tree.
    splits: {split: [[target, source], ...]} as written to splits/*.json.
    videos: paths of all videos of the tree (written now or found from an earlier run).
    written: number of videos written by this call (the others already existed).
    seconds: wall time of this call.
    workers: number of worker processes used.
  """

  out_dir: str
  counts: dict[str, dict[str, int]]
  splits: dict[str, list[list[str]]]
  videos: list[str]
  written: int
  seconds: float
  workers: int

  @property
  def num_videos(self) -> int:
    return len(self.videos)

  def summary(self) -> str:
    lines = [f"Synthetic FF++ tree at {self.out_dir}"]
    for name, per in self.counts.items():
      lines.append(f"  {name:<15} " + "  ".join(f"{c}: {n}" for c, n in per.items()))
    sp = ", ".join(f"{k} {len(v)} pairs" for k, v in self.splits.items())
    lines.append(f"  splits: {sp}")
    lines.append(
      f"  {self.num_videos} videos ({self.written} written) in {self.seconds:.1f} s with {self.workers} worker(s)"
    )
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Splits and paths.


def make_splits(pairs: Sequence[int], seed: int) -> dict[str, list[list[str]]]:
  """Disjoint [target, source] id pairs per split; ids 000.. are assigned in split order."""
  if len(pairs) != 3 or any(int(p) < 0 for p in pairs):
    raise ValueError(f"pairs must be three non-negative counts (train, val, test), got {pairs}")
  if 2 * sum(pairs) > 1000:
    raise ValueError(f"At most 500 pairs in total (3-digit ids), got {sum(pairs)}")
  out, nxt = {}, 0
  for i, (name, n) in enumerate(zip(SPLITS, pairs, strict=True)):
    ids = np.arange(nxt, nxt + 2 * int(n))
    nxt += 2 * int(n)
    perm = np.random.default_rng([seed, 404, i]).permutation(ids)
    out[name] = [[f"{perm[2 * j]:03d}", f"{perm[2 * j + 1]:03d}"] for j in range(int(n))]
  return out


def real_path(out_dir: str, comp: str, vid: str) -> str:
  return os.path.join(out_dir, "original_sequences", "youtube", comp, "videos", f"{vid}.mp4")


def fake_path(out_dir: str, method: str, comp: str, target: str, source: str) -> str:
  return os.path.join(
    out_dir, "manipulated_sequences", method, comp, "videos", f"{target}_{source}.mp4"
  )


# ----------------------------------------------------------------------------------------------
# Compression analogues.


def degrade(frames: np.ndarray, compression: str) -> np.ndarray:
  """c23 / c40 analogues applied per frame before mp4v encoding (raw: unchanged).

  c23: JPEG quality 80. c40: downscale to 55 % and back, then JPEG quality 30.
  """
  if compression == "raw":
    return frames
  if compression not in COMPRESSIONS:
    raise ValueError(f"Unknown compression {compression!r}; expected one of {COMPRESSIONS}")
  quality, down = (80, 1.0) if compression == "c23" else (30, 0.55)
  out = np.empty_like(frames)
  h, w = frames.shape[1:3]
  for i, f in enumerate(frames):
    bgr = cv2.cvtColor(f, cv2.COLOR_RGB2BGR)
    if down < 1.0:
      small = cv2.resize(
        bgr, (max(8, int(w * down)), max(8, int(h * down))), interpolation=cv2.INTER_AREA
      )
      bgr = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
      raise RuntimeError("JPEG encoding failed")
    out[i] = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
  return out


# ----------------------------------------------------------------------------------------------
# Workers.

PHOTO_POOLS = ("shared", "disjoint", "morphed")
CAPTURES = ("before", "after")


@functools.cache
def _photos(face_dirs: tuple[str, ...], pool: str = "shared") -> list[faces.FacePhoto]:
  """`shared`: scikit-image's astronaut and camera photos; `disjoint`: every shipped face photo
  (`ddf.data.synthetic_photos`); both + the photos of `face_dirs`."""
  photos = faces.builtin_photos() if pool == "shared" else photo_pool.shipped_photos()
  for d in face_dirs:
    photos += faces.load_face_dir(d)
  return photos


@functools.cache
def _photo_assignment(
  face_dirs: tuple[str, ...], pairs: tuple[int, ...], seed: int, pool: str = "disjoint"
) -> dict[int, tuple[list[faces.FacePhoto], int]]:
  """`disjoint` / `morphed` pools: {video id: (its split's photos, index of its photo)}. The
  photos are dealt to the splits in proportion to their ids; the two ids of a pair get different
  photos. `morphed`: a split with more ids than photos adds morphs of its own photos
  (`ddf.data.synthetic_morph`), so every id has an identity of its own."""
  photos = _photos(face_dirs, "disjoint")
  groups = photo_pool.split_photos(photos, [2 * p for p in pairs], seed)
  splits = make_splits(pairs, seed)
  out = {}
  for k, (name, group) in enumerate(zip(SPLITS, groups, strict=True)):
    if pool == "morphed":
      group = morphs.extend(group, 2 * len(splits[name]), np.random.default_rng([seed, 606, k]))
    for j, (a, b) in enumerate(splits[name]):
      out[int(a)] = (group, (2 * j) % len(group))
      out[int(b)] = (group, (2 * j + 1) % len(group))
  return out


def _identity(params: dict[str, Any], vid: int) -> faces.Identity:
  """The appearance of video id `vid` under the tree's settings."""
  face_dirs = tuple(params["face_dirs"])
  if params.get("photos", "shared") == "shared":
    photos, index = _photos(face_dirs), None
  else:
    assignment = _photo_assignment(
      face_dirs, tuple(params["pairs"]), params["seed"], params["photos"]
    )
    photos, index = assignment[vid]
  ident = faces.make_identity(photos, params["seed"], vid, params["size"], index)
  if params.get("skin_texture"):
    rng = np.random.default_rng([params["seed"], vid, 909])
    ident = faces.with_skin_texture(ident, float(params["skin_texture"]), rng)
  return ident


def _worker_init() -> None:
  cv2.setNumThreads(1)


def _atomic_write(path: str, frames: np.ndarray, fps: float) -> None:
  tmp = path[: -len(".mp4")] + ".partial.mp4"
  write_video(tmp, frames, fps)
  os.replace(tmp, path)


def _render_task(task: dict[str, Any]) -> int:
  """Renders one video (all its compressions). Returns the number of files written."""
  p = task["params"]
  size, n, fps, seed = p["size"], p["num_frames"], p["fps"], p["seed"]
  t = int(task["target"])
  ident = _identity(p, t)
  dynamics = p.get("dynamics", 1.0)
  motion = faces.make_motion(seed, t, n, fps, size, dynamics)
  # A fake inherits its target video's camera; None keeps the fixed camera of the older trees.
  camera = camera_lib.make_camera(seed, t, n, p["camera"]) if p.get("camera") else None
  if task["method"] != "original":
    s = int(task["source"])
    src = _identity(p, s)
    src_motion = faces.make_motion(seed, s, n, fps, size, dynamics)
    rng = np.random.default_rng([seed, t, s, METHODS.index(task["method"]), 303])
    if task["method"] in diagnostics.DIAGNOSTIC_METHODS:
      frames = diagnostics.make_diagnostic(
        task["method"], ident, motion, size, rng, p["difficulty"]
      )
    else:
      pre, post = fakes.make_hooks(
        task["method"],
        ident,
        src,
        motion,
        src_motion,
        rng,
        p["difficulty"],
        second_generation=p.get("photos", "shared") != "shared",
      )
      generated_noise = None
      if p.get("capture", "before") == "after":
        sensor = camera.noise if camera is not None else camera_lib.DEFAULT_NOISE
        ratio_rng = np.random.default_rng([seed, t, s, METHODS.index(task["method"]), 707])
        generated_noise = sensor * fakes.generated_noise_ratio(ratio_rng)
      frames = faces.render(ident, motion, size, pre, post, camera, generated_noise).frames
  else:
    frames = faces.render(ident, motion, size, camera=camera).frames
  for comp, path in task["outputs"]:
    _atomic_write(path, degrade(frames, comp), fps)
  return len(task["outputs"])


def _annotations(params: dict[str, Any], ids: Sequence[str]) -> dict[str, Any]:
  size, n = params["size"], params["num_frames"]
  out = {}
  for vid in ids:
    ident = _identity(params, int(vid))
    motion = faces.make_motion(
      params["seed"], int(vid), n, params["fps"], size, params.get("dynamics", 1.0)
    )
    lms, boxes = [], []
    for f in range(n):
      m = faces.frame_transform(ident, motion, f)
      lm = ident.landmarks @ m[:, :2].T + m[:, 2]
      lms.append(np.round(lm, 2).tolist())
      boxes.append(np.round(faces.landmarks_to_box(lm), 2).tolist())
    out[vid] = {"photo": ident.photo, "boxes": boxes, "landmarks": lms}
  return out


# ----------------------------------------------------------------------------------------------
# Entry point.


def _check_args(
  methods: Sequence[str], compressions: Sequence[str], size: int, num_frames: int, difficulty: float
) -> None:
  for m in methods:
    if m == "DeepFakeDetection":
      raise ValueError(
        "DeepFakeDetection is not supported by the synthetic generator: in FF++ it uses a different "
        "layout (original_sequences/actors, actor-scene file names). Choose from "
        + ", ".join(METHODS)
      )
    if m not in METHODS:
      raise ValueError(f"Unknown method {m!r}; choose from {', '.join(METHODS)}")
  for c in compressions:
    if c not in COMPRESSIONS:
      raise ValueError(f"Unknown compression {c!r}; choose from {', '.join(COMPRESSIONS)}")
  if len(set(methods)) != len(methods) or len(set(compressions)) != len(compressions):
    raise ValueError("methods and compressions must not repeat")
  if size < 64:
    raise ValueError(f"size must be >= 64 pixels, got {size}")
  if num_frames < 1:
    raise ValueError(f"num_frames must be >= 1, got {num_frames}")
  if not 0.0 <= difficulty <= 1.0:
    raise ValueError(f"difficulty must be in [0, 1], got {difficulty}")


def generate(
  out_dir: str | os.PathLike,
  *,
  pairs: Sequence[int] = (16, 4, 4),
  methods: Sequence[str] = DEFAULT_METHODS,
  compressions: Sequence[str] = ("c23",),
  size: int = 160,
  num_frames: int = 24,
  fps: float = 25,
  seed: int = 0,
  difficulty: float = 0.5,
  face_dirs: Sequence[str] = (),
  dynamics: float = 1.0,
  photos: str = "shared",
  camera: float = 0.0,
  capture: str = "before",
  skin_texture: float = 0.0,
  workers: int | None = None,
  overwrite: bool = False,
  verbose: bool = False,
) -> GenerationReport:
  """Generates (or completes) a synthetic FF++ tree under `out_dir`.

  Args:
    out_dir: root folder (created if needed).
    pairs: number of [target, source] pairs in (train, val, test).
    methods: manipulation methods, from `METHODS`.
    compressions: from ("raw", "c23", "c40").
    size: frame height = width in pixels.
    num_frames: frames per video.
    fps: frame rate written to the videos.
    seed: everything is deterministic given the seed.
    difficulty: in [0, 1]; higher = subtler artifacts.
    face_dirs: folders of extra face photos added to the identity pool.
    dynamics: >= 1; multiplies the frequency of the lighting drift of every video (the
      diagnostics' trees use faster lighting so that `Shuffled` flickers; 1 = the default tree).
    photos: the identity pool. "shared": scikit-image's astronaut and camera photos in every
      split, a swap recolours the target's own photo (the first generator). "disjoint": every
      shipped face photo (`ddf.data.synthetic_photos`), no photo in two splits, and a swap
      warps the source identity's face onto the target's landmarks. "morphed": "disjoint", and
      a split with more identities than photos adds morphs of two of its photos
      (`ddf.data.synthetic_morph`) instead of reusing photos.
    camera: >= 0; per-video capture variability (white balance, focus, noise) of every video,
      a fake inheriting its target's (`ddf.data.synthetic_camera`; 0 = one fixed camera).
      The diagnostic methods are rendered with the fixed camera.
    capture: "before": a fake's manipulated face is filmed by its target's camera, as the real
      face is (the older trees). "after": the manipulation is composited onto the filmed real
      video, as a face swap is made on a downloaded video: the face carries the video's white
      balance but not its focus, and noise of its own, weaker or stronger than the sensor's
      (`ddf.data.synthetic_fakes.generated_noise_ratio`) and the same in R, G and B.
    skin_texture: >= 0; std (in [0, 1] light units, times a per-identity factor 0.6-1.4) of a
      fine texture fixed to every face (`ddf.data.synthetic_faces.with_skin_texture`; 0 = none,
      the older trees): real skin has detail at the frame's finest scales, the upscaled
      low-resolution shipped photos have none, and any resampling of the face by a
      manipulation changes it.
    workers: processes (default: all cores; 1 = in-process).
    overwrite: replace a tree generated earlier with other parameters.
    verbose: print progress.

  Returns:
    A `GenerationReport`.

  Raises:
    ValueError: bad arguments, or `out_dir` holds a tree made with other parameters.
  """
  start = time.time()
  out_dir = os.path.abspath(os.fspath(out_dir))
  methods, compressions = tuple(methods), tuple(compressions)
  _check_args(methods, compressions, size, num_frames, difficulty)
  if not dynamics >= 1.0:
    raise ValueError(f"dynamics must be >= 1, got {dynamics}")
  if not camera >= 0.0:
    raise ValueError(f"camera must be >= 0, got {camera}")
  if capture not in CAPTURES:
    raise ValueError(f"capture must be one of {CAPTURES}, got {capture!r}")
  if not skin_texture >= 0.0:
    raise ValueError(f"skin_texture must be >= 0, got {skin_texture}")
  if photos not in PHOTO_POOLS:
    raise ValueError(f"photos must be one of {PHOTO_POOLS}, got {photos!r}")
  params = {
    "version": _META_VERSION,
    "pairs": [int(p) for p in pairs],
    "methods": list(methods),
    "compressions": list(compressions),
    "size": int(size),
    "num_frames": int(num_frames),
    "fps": float(fps),
    "seed": int(seed),
    "difficulty": float(difficulty),
    "face_dirs": [os.path.abspath(d) for d in face_dirs],
  }
  if dynamics != 1.0:  # absent from the default trees' settings, which stay where they are
    params["dynamics"] = float(dynamics)
  if photos != "shared":  # likewise
    params["photos"] = photos
  if camera:  # likewise
    params["camera"] = float(camera)
  if capture != "before":  # likewise
    params["capture"] = capture
  if skin_texture:  # likewise
    params["skin_texture"] = float(skin_texture)
  splits = make_splits(pairs, seed)

  meta_path = os.path.join(out_dir, META_FILE)
  if os.path.exists(meta_path):
    with open(meta_path) as f:
      old = json.load(f)
    if old.get("params") != params:
      if not overwrite:
        raise ValueError(
          f"{out_dir} holds a synthetic tree generated with other parameters: "
          f"{_param_diff(old.get('params'), params)} (stored in {meta_path}). "
          "Pass --overwrite to replace it, or use another --out folder."
        )
      for sub in ("original_sequences", "manipulated_sequences", "splits"):
        shutil.rmtree(os.path.join(out_dir, sub), ignore_errors=True)
      for name in (META_FILE, ANNOTATIONS_FILE):
        if os.path.exists(os.path.join(out_dir, name)):
          os.remove(os.path.join(out_dir, name))
  os.makedirs(out_dir, exist_ok=True)
  _write_json(meta_path, {"params": params, "complete": False})

  # Tasks: one per video content (all compressions of a video are rendered once).
  tasks, videos = [], []
  all_pairs = [tuple(p) for s in SPLITS for p in splits[s]]
  ids = sorted({i for p in all_pairs for i in p})
  counts: dict[str, dict[str, int]] = {"original": {c: 0 for c in compressions}}
  counts.update({m: {c: 0 for c in compressions} for m in methods})
  jobs = [("original", i, i) for i in ids]
  for m in methods:
    for a, b in all_pairs:
      jobs += [(m, a, b), (m, b, a)]
  for method, t, s in jobs:
    outputs = []
    for c in compressions:
      path = (
        real_path(out_dir, c, t) if method == "original" else fake_path(out_dir, method, c, t, s)
      )
      videos.append(path)
      counts[method][c] += 1
      if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        outputs.append((c, path))
    if outputs:
      tasks.append(
        {"method": method, "target": t, "source": s, "outputs": outputs, "params": params}
      )

  workers = int(workers or os.cpu_count() or 1)
  workers = max(1, min(workers, len(tasks))) if tasks else 1
  written = 0
  if workers == 1:
    for i, task in enumerate(tasks):
      written += _render_task(task)
      if verbose and (i + 1) % 20 == 0:
        print(f"  {i + 1}/{len(tasks)} videos rendered", flush=True)
  else:
    ctx = multiprocessing.get_context("spawn")  # safe even when the parent has started threads
    with ctx.Pool(workers, initializer=_worker_init) as pool:
      for i, n in enumerate(pool.imap_unordered(_render_task, tasks, chunksize=1)):
        written += n
        if verbose and (i + 1) % 20 == 0:
          print(f"  {i + 1}/{len(tasks)} videos rendered", flush=True)

  split_dir = os.path.join(out_dir, "splits")
  os.makedirs(split_dir, exist_ok=True)
  for name in SPLITS:
    _write_json(os.path.join(split_dir, f"{name}.json"), splits[name], indent=None)
  _write_json(os.path.join(out_dir, ANNOTATIONS_FILE), _annotations(params, ids), indent=None)
  _write_json(meta_path, {"params": params, "complete": True, "splits": splits})
  return GenerationReport(out_dir, counts, splits, videos, written, time.time() - start, workers)


# Setting in synthetic_meta.json -> command-line flag of `main`.
_FLAGS = {
  "pairs": "--pairs",
  "methods": "--methods",
  "compressions": "--compressions",
  "size": "--size",
  "num_frames": "--frames",
  "fps": "--fps",
  "seed": "--seed",
  "difficulty": "--difficulty",
  "face_dirs": "--faces",
  "dynamics": "--dynamics",
  "photos": "--photos",
  "camera": "--camera",
  "capture": "--capture",
  "skin_texture": "--skin_texture",
  "version": "generator version",
}


def _param_diff(old: Any, new: dict[str, Any]) -> str:
  """'--difficulty 0.5 (tree) vs 0.7 (asked); ...' for the settings that differ."""
  if not isinstance(old, dict):
    return "unreadable settings in the tree"

  def fmt(v: Any) -> str:
    if v is None:
      return "(unset)"
    if isinstance(v, (list, tuple)):
      return " ".join(fmt(x) for x in v) if v else "(none)"
    return f"{v:g}" if isinstance(v, float) else str(v)

  diffs = [
    f"{_FLAGS.get(k, k)} {fmt(old.get(k))} (tree) vs {fmt(new.get(k))} (asked)"
    for k in [*new, *(k for k in old if k not in new)]
    if old.get(k) != new.get(k)
  ]
  return "; ".join(diffs)


def _write_json(path: str, obj: Any, indent: int | None = 2) -> None:
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(obj, f, indent=indent)
  os.replace(tmp, path)
