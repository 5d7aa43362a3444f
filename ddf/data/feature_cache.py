"""Precomputed frozen-backbone features: computed once per split, then read instead of frames.

With `model.spatial.freeze`, the backbone runs in inference mode and gets no gradient, so its
output for a stored frame never changes during training. `data.feature_cache=True` computes it
once for every stored frame of every video (`ddf.models.frame_features`: the backbone maps and the
micro CNN's input) and trains the rest of the detector on those arrays; the checkpoint still holds
the backbone, so `ddf.evaluate` and `ddf.predict` run on frames as usual.

Layout of one cached split (numpy `.npy` files, read as memory maps):

  <feature_cache_dir>/<dataset>-<config>-<split>-<arch>-<fingerprint>/
    backbone_maps.npy   [N, F, h, w, C]   (`data.feature_cache_dtype`, float16 by default)
    micro_inputs.npy    [N, F, m, m, 1]
    index.json          fingerprint inputs, the split's index (`ddf.data.pipeline.index_entry`)

The fingerprint covers the dataset (name, config, version, split size), the frame geometry, the
backbone architecture and a digest of its weights, so new weights or a rebuilt dataset get a new
cache instead of stale features. Pixel augmentation cannot be applied to precomputed features; it
is skipped in this mode (temporal clip sampling and class balancing remain).

Several processes (a multi-host run) each compute a share of the videos into the same files, so
`feature_cache_dir` must be on a filesystem all hosts see.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

import grain.python as grain
import jax
import ml_collections
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ddf.data.ffpp_examples import decode_jpeg
from ddf.data.pipeline import RecordSource
from ddf.models import FusionDetector, feature_inputs, frame_features

FORMAT_VERSION = 2  # 2: the index holds the records' frame indices and faces found.
_INDEX = "index.json"


def weights_digest(variables: Any) -> str:
  """sha256 over the shapes, dtypes and bytes of a tree of (host or fully replicated) arrays."""
  h = hashlib.sha256()
  for path, leaf in jax.tree_util.tree_leaves_with_path(variables):
    array = np.asarray(leaf)
    h.update(f"{jax.tree_util.keystr(path)}:{array.shape}:{array.dtype}".encode())
    h.update(np.ascontiguousarray(array).tobytes())
  return h.hexdigest()


def backbone_variables(params: Any, batch_stats: Any) -> dict[str, Any]:
  """The backbone's variables from a (possibly sharded) train state, gathered to this host."""
  tree = {"params": {"backbone": params["backbone"]}}
  if batch_stats and "backbone" in batch_stats:
    tree["batch_stats"] = {"backbone": batch_stats["backbone"]}
  if jax.process_count() > 1:
    return multihost_utils.process_allgather(tree, tiled=True)
  return jax.device_get(tree)


def fingerprint(
  data: ml_collections.ConfigDict, builder: Any, split: str, model: FusionDetector, digest: str
) -> dict[str, Any]:
  """Everything the cached arrays depend on (stored in index.json; hashed into the path).
  `spatial_highpass` (`_norm`) appears only when on, so that the other caches keep their paths."""
  fp = {
    "format": FORMAT_VERSION,
    "dataset": builder.name,
    "builder_config": builder.builder_config.name,
    "version": str(builder.version),
    "split": split,
    "num_videos": int(builder.info.splits[split].num_examples),
    "split_bytes": int(builder.info.splits[split].num_bytes),
    "frames_per_video": int(data.frames_per_video),
    "crop_size": int(data.crop_size),
    "inputs": list(feature_inputs(model.branches)),
    "arch": model.spatial.arch,
    "spatial_image_size": int(model.spatial.image_size),
    "micro_image_size": int(model.micro.image_size),
    "compute_dtype": str(model.dtype),
    "store_dtype": str(data.feature_cache_dtype),
    "backbone_digest": digest,
  }
  if model.spatial.highpass:
    fp["spatial_highpass"] = True
  if model.spatial.highpass_norm:
    fp["spatial_highpass_norm"] = True
  return fp


def cache_dir(root: str | os.PathLike, fp: dict[str, Any]) -> Path:
  key = hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:12]
  name = f"{fp['dataset']}-{fp['builder_config']}-{fp['split']}-{fp['arch']}-{key}"
  return Path(os.path.expanduser(str(root))) / name


class FeatureSource(grain.RandomAccessDataSource):
  """A cached split: records with `backbone_maps` / `micro_inputs` [F, ...] and the video's meta.

  The arrays are memory maps, so a record costs nothing until a clip of it is sliced.
  """

  def __init__(self, directory: str | os.PathLike):
    self.directory = Path(directory)
    index_path = self.directory / _INDEX
    if not index_path.exists():
      raise FileNotFoundError(
        f"{self.directory} is not a complete feature cache (no {_INDEX}); "
        "delete it and rerun to recompute it"
      )
    index = json.loads(index_path.read_text())
    self.fingerprint: dict[str, Any] = index["fingerprint"]
    self._videos: list[dict[str, Any]] = index["videos"]
    self._arrays: dict[str, np.ndarray] | None = None

  def _open(self) -> dict[str, np.ndarray]:
    if self._arrays is None:  # opened lazily, so the source pickles cheaply to grain workers.
      self._arrays = {
        name: np.load(self.directory / f"{name}.npy", mmap_mode="r")
        for name in self.fingerprint["inputs"]
      }
    return self._arrays

  def __getstate__(self) -> dict[str, Any]:
    return dict(self.__dict__, _arrays=None)

  def __len__(self) -> int:
    return len(self._videos)

  def __getitem__(self, index: int) -> dict[str, Any]:
    video = self._videos[int(index)]
    record = {name: array[int(index)] for name, array in self._open().items()}
    record.update(
      video,
      face_found=np.asarray(video["face_found"], bool),
      frame_indices=np.asarray(video["frame_indices"], np.int64),
    )
    return record

  def __repr__(self) -> str:
    return f"FeatureSource({self.directory.name}, {len(self)} videos)"

  def index(self) -> list[dict[str, Any]]:
    """The split's `index_entry` per video (as `RecordSource.index`)."""
    return self._videos

  def labels(self) -> np.ndarray:
    return np.array([v["label"] for v in self._videos], np.int32)


def _frame_batches(source: Any, videos: list[int], batch_frames: int, num_frames: int):
  """Yields (video index, first frame, decoded frames [n, S, S, 3]), `batch_frames` at a time."""
  for i in videos:
    frames = source[i]["frames"]
    if len(frames) != num_frames:
      raise ValueError(
        f"video {i} stores {len(frames)} frames, expected "
        f"frames_per_video={num_frames}; rebuild the dataset"
      )
    for start in range(0, len(frames), batch_frames):
      chunk = frames[start : start + batch_frames]
      yield i, start, np.stack([decode_jpeg(f) for f in chunk])


def _extract_fn(model: FusionDetector, variables: dict[str, Any]):
  """jit(frames [n, S, S, 3]) -> features, n split over this process's devices."""
  num_local = jax.local_device_count()
  mesh = Mesh(np.array(jax.local_devices()), ("frames",))
  frames_sharding = NamedSharding(mesh, PartitionSpec("frames"))
  variables = jax.device_put(variables, NamedSharding(mesh, PartitionSpec()))
  jitted = jax.jit(lambda v, x: frame_features(model, v, x), in_shardings=(None, frames_sharding))

  def run(frames: np.ndarray) -> dict[str, np.ndarray]:
    n = len(frames)
    pad = -n % num_local
    if pad:
      frames = np.concatenate([frames, np.zeros((pad,) + frames.shape[1:], frames.dtype)])
    out = jitted(variables, frames)
    return {k: np.asarray(v)[:n] for k, v in out.items()}

  return run


def _sync(name: str) -> None:
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def build(
  directory: Path,
  fp: dict[str, Any],
  source: Any,
  model: FusionDetector,
  variables: dict[str, Any],
  batch_frames: int = 64,
) -> None:
  """Computes the features of every stored frame of `source` into `directory` (all processes)."""
  n, num_frames = len(source), fp["frames_per_video"]
  tmp = directory.with_name(directory.name + ".partial")
  store_dtype = np.dtype(fp["store_dtype"])
  extract = _extract_fn(model, variables)
  probe = extract(np.stack([decode_jpeg(source[0]["frames"][0])]))
  if jax.process_index() == 0:
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, value in probe.items():
      np.lib.format.open_memmap(
        tmp / f"{name}.npy", mode="w+", dtype=store_dtype, shape=(n, num_frames) + value.shape[1:]
      ).flush()
  _sync(f"feature cache {directory.name}: files created")
  if not tmp.exists():
    raise FileNotFoundError(
      f"process {jax.process_index()} cannot see {tmp}: with several hosts, "
      "data.feature_cache_dir must be on a filesystem they all share"
    )
  arrays = {name: np.load(tmp / f"{name}.npy", mmap_mode="r+") for name in probe}
  mine = list(range(jax.process_index(), n, jax.process_count()))
  t0, done = time.time(), 0
  for i, start, frames in _frame_batches(source, mine, batch_frames, num_frames):
    for name, value in extract(frames).items():
      stored = value.astype(store_dtype)
      if not np.all(np.isfinite(stored)):
        raise FloatingPointError(
          f"{name} of video {i} ({fp['split']}) does not fit {store_dtype}; set "
          "--config.data.feature_cache_dtype=float32"
        )
      arrays[name][i, start : start + len(frames)] = stored
    done += len(frames)
  for array in arrays.values():
    array.flush()
  del arrays
  logging.info(
    "feature cache %s: %d frames in %.1fs (process %d)",
    directory.name,
    done,
    time.time() - t0,
    jax.process_index(),
  )
  _sync(f"feature cache {directory.name}: features written")
  if jax.process_index() == 0:
    (tmp / _INDEX).write_text(json.dumps({"fingerprint": fp, "videos": source.index()}))
    shutil.rmtree(directory, ignore_errors=True)
    tmp.rename(directory)
  _sync(f"feature cache {directory.name}: complete")


def _say(message: str) -> None:
  if jax.process_index() == 0:
    print(message, flush=True)


def _exists_everywhere(path: Path) -> bool:
  """Whether `path` exists; with several processes, the same answer on all or an error."""
  exists = path.exists()
  if jax.process_count() == 1:
    return exists
  flags = multihost_utils.process_allgather(np.array([exists]))
  if flags.any() and not flags.all():
    raise FileNotFoundError(
      f"{path} exists on some hosts only: data.feature_cache_dir must be on "
      "a filesystem all hosts share"
    )
  return exists


def prepare(
  data: ml_collections.ConfigDict,
  builder: Any,
  splits: tuple[str, ...],
  model: FusionDetector,
  variables: dict[str, Any],
) -> dict[str, FeatureSource]:
  """The cached splits for this backbone (host-local `variables`), computed where missing."""
  digest = weights_digest(variables)
  sources = {}
  for split in dict.fromkeys(splits):
    fp = fingerprint(data, builder, split, model, digest)
    directory = cache_dir(data.feature_cache_dir, fp)
    if _exists_everywhere(directory / _INDEX):
      _say(f"Feature cache for {split}: {directory}")
    else:
      _say(f"Computing the {model.spatial.arch} features of {split} into {directory} ...")
      t0 = time.time()
      build(
        directory,
        fp,
        RecordSource(builder, split),
        model,
        variables,
        int(data.get("feature_cache_batch_frames", 64)),
      )
      _say(
        f"  {fp['num_videos']} videos x {fp['frames_per_video']} frames in {time.time() - t0:.1f}s"
      )
    sources[split] = FeatureSource(directory)
  return sources
