"""Input pipeline: grain over the TFDS array_record data source -> clips -> host-local batches.

Train: per-process shard of a (class-balanced) index, seeded shuffle, random clip start, augmentation;
the grain iterator state is checkpointed with the model. Eval: every video of the split, fixed clips,
padded final batch with a validity mask. Which clips of a video are used (consecutive-frame
windows, faces found) is a `ClipRule` (`ddf.data.sampling`); what every record holds (label,
method, frame indices, faces found) comes from the per-split index the builder writes
(`ddf_index.json`), so no record is decoded to learn it.

A record holds either `frames` (JPEG bytes, `RecordSource`) or precomputed per-frame arrays
(`backbone_maps` / `micro_inputs`, `ddf.data.feature_cache.FeatureSource`); a clip of it is the
dict of model inputs `{'clips': [T, S, S, 3] uint8}` or `{'backbone_maps': [T, ...], ...}`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Iterator, Sequence
from typing import Any

import grain.python as grain
import jax
import ml_collections
import numpy as np
import tensorflow_datasets as tfds
from absl import flags
from etils.epath import Path

from ddf.data import perturb, sbi, storage
from ddf.data import sampling as sampling_lib
from ddf.data.augment import augment_clip
from ddf.data.ffpp_examples import decode_jpeg
from ddf.models.detector import FEATURE_INPUTS

_SCALARS = ("label", "fps", "original_height", "original_width")


def parse_record(example: Any) -> dict[str, Any]:
  """A serialized FF++-schema record -> dict; `frames` stays a list of JPEG bytes.

  Decoding only the frames of the chosen clip is what makes clip sampling cheap (a record holds
  32 frames, a clip 8).
  """
  out: dict[str, Any] = {}
  for key, value in example.features.feature.items():
    kind = value.WhichOneof("kind")
    values = getattr(value, kind).value
    if key == "frames":
      out[key] = list(values)
    elif kind == "bytes_list":
      out[key] = values[0].decode() if len(values) == 1 else [v.decode() for v in values]
    else:
      array = np.asarray(values, np.int64 if kind == "int64_list" else np.float32)
      out[key] = array[0] if key in _SCALARS else array
  if "face_found" in out:
    out["face_found"] = out["face_found"].astype(bool)
  if "landmarks" in out:
    out["landmarks"] = out["landmarks"].reshape(-1, 5, 2)
  return out


INDEX_NAME = "ddf_index.json"
INDEX_FORMAT = 1


def index_entry(record: dict[str, Any]) -> dict[str, Any]:
  """What a reader needs to know of a record without its frames (one entry of the index)."""
  return {
    "video_id": record["video_id"],
    "label": int(record["label"]),
    "method": record["method"],
    "compression": record["compression"],
    "target_id": record.get("target_id", ""),
    "source_id": record.get("source_id", ""),
    "num_frames": num_frames(record),
    "face_found": np.asarray(record["face_found"], bool).tolist(),
    "frame_indices": np.asarray(record["frame_indices"], np.int64).tolist(),
  }


def record_meta(record: dict[str, Any]) -> dict[str, Any]:
  """label, video_id, method and compression of a record (or of an index entry)."""
  return {
    "label": int(record["label"]),
    "video_id": record["video_id"],
    "method": record["method"],
    "compression": record["compression"],
  }


def write_index(builder: tfds.core.DatasetBuilder) -> Path:
  """Writes `<data_dir>/ddf_index.json`: per split, one `index_entry` per record, in record order.

  Called once at the end of a build (reads every record once, frames not decoded).
  """
  splits = {}
  for split in builder.info.splits:
    source = RecordSource(builder, split, use_index=False)
    splits[split] = [index_entry(source[i]) for i in range(len(source))]
  path = storage.as_path(builder.data_dir) / INDEX_NAME
  path.write_text(json.dumps({"format": INDEX_FORMAT, "splits": splits}))
  return path


class RecordSource(grain.RandomAccessDataSource):
  """A split of a built dataset; frames stay JPEG bytes until a clip is chosen.

  Pickles without its open files (grain worker processes reopen the split from its directory).
  """

  def __init__(self, builder: tfds.core.DatasetBuilder, split: str, use_index: bool = True):
    config = builder.builder_config.name if builder.builder_config else ""
    self._name = f"{builder.name}/{config}:{split}"
    self._data_dir = str(builder.data_dir)
    self._index_path = storage.as_path(builder.data_dir) / INDEX_NAME if use_index else None
    self._split = split
    self._index: list[dict[str, Any]] | None = None
    self._source = builder.as_data_source(
      split=split, deserialize_method=tfds.decode.DeserializeMethod.DESERIALIZE_NO_DECODE
    )

  def _records(self):
    if self._source is None:
      builder = tfds.builder_from_directory(self._data_dir)
      self._source = builder.as_data_source(
        split=self._split, deserialize_method=tfds.decode.DeserializeMethod.DESERIALIZE_NO_DECODE
      )
    return self._source

  def __getstate__(self) -> dict[str, Any]:
    return dict(self.__dict__, _source=None)

  def __len__(self) -> int:
    return len(self._records())

  def __getitem__(self, index: int) -> dict[str, Any]:
    return parse_record(self._records()[int(index)])

  def __repr__(self) -> str:
    return f"RecordSource({self._name}, {len(self)} videos)"

  def index(self) -> list[dict[str, Any]]:
    """`index_entry` of every record: from the build's index file, else read once from records."""
    if self._index is None:
      entries = None
      if self._index_path is not None and self._index_path.exists():
        entries = json.loads(self._index_path.read_text())["splits"].get(self._split)
      if entries is None or len(entries) != len(self):
        logging.info("%s has no index file: reading every record once", self._name)
        entries = [index_entry(self[i]) for i in range(len(self))]
      self._index = entries
    return self._index

  def labels(self) -> np.ndarray:
    """[N] int labels (from the index; frames are not decoded)."""
    return np.array([e["label"] for e in self.index()], np.int32)


class SubsetSource(grain.RandomAccessDataSource):
  """The records of `source` at `positions` (in that order, repeats allowed)."""

  def __init__(self, source: Any, positions: Sequence[int]):
    self._source = source
    self._index = np.asarray(positions, np.int64)

  def __len__(self) -> int:
    return len(self._index)

  def __getitem__(self, index: int) -> dict[str, Any]:
    return self._source[int(self._index[index])]

  def __repr__(self) -> str:  # grain validates restored iterator states against this.
    return f"{type(self).__name__}({self._source!r}, {len(self)} entries)"


class BalancedSource(SubsetSource):
  """Oversamples the minority class so that one epoch holds as many reals as fakes.

  `labels[k]` is the label of `source[positions[k]]` (positions: all records by default).
  """

  def __init__(self, source: Any, labels: np.ndarray, positions: Sequence[int] | None = None):
    positions = np.arange(len(labels)) if positions is None else np.asarray(positions, np.int64)
    real, fake = positions[labels == 0], positions[labels == 1]
    if len(real) == 0 or len(fake) == 0:
      index = positions
    else:
      major, minor = (fake, real) if len(fake) >= len(real) else (real, fake)
      reps = int(np.ceil(len(major) / len(minor)))
      index = np.concatenate([major, np.tile(minor, reps)[: len(major)]])
    super().__init__(source, index)


def num_frames(record: dict[str, Any]) -> int:
  """Frames stored for the video of `record` (JPEG frames or precomputed features)."""
  if "frames" in record:
    return len(record["frames"])
  return len(next(record[k] for k in FEATURE_INPUTS if k in record))


def clip_inputs(record: dict[str, Any], start: int, clip_len: int) -> dict[str, np.ndarray]:
  """Model inputs for frames [start, start + clip_len) of a record (only those frames decoded)."""
  if "frames" in record:
    frames = record["frames"]
    return {"clips": np.stack([decode_jpeg(frames[i]) for i in range(start, start + clip_len)])}
  return {k: np.asarray(record[k][start : start + clip_len]) for k in FEATURE_INPUTS if k in record}


@dataclasses.dataclass(frozen=True)
class ClipRule:
  """Which clips of a stored video a model reads (`ddf.data.sampling`).

  `entry` arguments are records or index entries (both carry `frame_indices` and `face_found`).
  """

  clip_len: int
  sampling: str = "uniform"
  min_face_fraction: float = 1.0
  clips_per_video: int = 1  # evaluation, uniform sampling only.

  @classmethod
  def from_config(cls, data: ml_collections.ConfigDict) -> ClipRule:
    return cls(
      clip_len=int(data.clip_len),
      sampling=data.get("sampling", "uniform"),
      min_face_fraction=float(data.get("min_face_fraction", 1.0)),
      clips_per_video=int(data.get("clips_per_video_eval", 1)),
    )

  def train_starts(self, entry: dict[str, Any]) -> np.ndarray:
    return sampling_lib.train_starts(
      entry["frame_indices"],
      entry["face_found"],
      self.clip_len,
      self.sampling,
      self.min_face_fraction,
    )

  def eval_starts(self, entry: dict[str, Any]) -> np.ndarray:
    return sampling_lib.eval_starts(
      entry["frame_indices"],
      entry["face_found"],
      self.clip_len,
      self.sampling,
      self.clips_per_video,
      self.min_face_fraction,
    )

  def unusable_reason(self, entry: dict[str, Any]) -> str:
    """Why a video has no clip under this rule."""
    stored = len(entry["frame_indices"])
    if stored < self.clip_len:
      return f"{stored} frames stored, fewer than clip_len={self.clip_len}"
    if (
      self.sampling == "windows"
      and max((n for _, n in sampling_lib.runs(entry["frame_indices"])), default=0) < self.clip_len
    ):
      return f"no run of {self.clip_len} consecutive frames (video too short)"
    return (
      f"no clip of {self.clip_len} frames with a face in at least "
      f"{self.min_face_fraction:.0%} of them (data.min_face_fraction)"
    )


SBI_MODES = ("off", "reals_only", "mixed")


class RandomClip(grain.RandomMapTransform):
  """Record -> {'clips': [clip_len, S, S, 3] uint8 (or cached features), 'label'} at a random
  start among the rule's training clips; frames are augmented.

  With `sbi_fraction` > 0, a real clip becomes a self-blended fake (label 1) with that
  probability (`ddf.data.sbi`, with `sbi_options`: `sbi_options(data)`), before augmentation.
  """

  def __init__(
    self,
    rule: ClipRule,
    augment: ml_collections.ConfigDict | None,
    sbi_fraction: float = 0.0,
    sbi_options: dict[str, Any] | None = None,
  ):
    self.rule = rule
    self.augment = augment
    self.sbi_fraction = sbi_fraction
    self.sbi_options = sbi_options or {}

  def random_map(self, record: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    starts = self.rule.train_starts(record)
    if not len(starts):
      raise ValueError(
        f"{record['method']}/{record['video_id']}: {self.rule.unusable_reason(record)}"
      )
    start = int(starts[rng.integers(len(starts))])
    inputs = clip_inputs(record, start, self.rule.clip_len)
    label = int(record["label"])
    if self.sbi_fraction and label == 0 and rng.random() < self.sbi_fraction:
      landmarks = np.asarray(record["landmarks"])[start : start + self.rule.clip_len]
      inputs["clips"] = sbi.self_blend_clip(inputs["clips"], landmarks, rng, **self.sbi_options)
      label = 1
    if self.augment is not None and "clips" in inputs:
      inputs["clips"] = augment_clip(inputs["clips"], rng, self.augment)
    return {**inputs, "label": np.int32(label)}


def sbi_settings(data: ml_collections.ConfigDict) -> tuple[str, float]:
  """(mode, fraction) of `data.sbi`: `reals_only` trains on reals and their self-blended fakes
  (as SBI does; half of the clips blended), `mixed` adds self-blended clips (`fraction` of the
  real clips) to the dataset's own fakes."""
  sbi_cfg = data.get("sbi")
  mode = sbi_cfg.get("mode", "off") if sbi_cfg else "off"
  if mode not in SBI_MODES:
    raise ValueError(f"data.sbi.mode must be one of {SBI_MODES}, got {mode!r}")
  if mode == "off":
    return mode, 0.0
  return mode, 0.5 if mode == "reals_only" else float(sbi_cfg.get("fraction", 0.5))


def sbi_options(data: ml_collections.ConfigDict) -> dict[str, Any]:
  """How self-blends are made (`ddf.data.sbi.SelfBlend`): `data.sbi.frequency`, the scale of
  their blur / sharpening (1 = SBI's ranges, 0 = none), and `data.sbi.warp`, the interpolation
  of the source's scale and shift. Configs written before these keys existed mean 1 and
  "linear"."""
  sbi_cfg = data.get("sbi") or {}
  return {
    "frequency": float(sbi_cfg.get("frequency", 1.0)),
    "warp": str(sbi_cfg.get("warp", "linear")),
  }


def train_loader(
  builder: tfds.core.DatasetBuilder,
  data: ml_collections.ConfigDict,
  local_batch_size: int,
  seed: int,
  split: str = "train",
  process_index: int | None = None,
  process_count: int | None = None,
  source: grain.RandomAccessDataSource | None = None,
):
  """Infinite, shuffled (per epoch), checkpointable iterator over this process's batches.

  Reads `split` of `builder`, or `source` when given (e.g. a `FeatureSource`: pixel augmentation
  does not apply to precomputed features and is skipped). Videos without a usable training clip
  (`ClipRule`) are left out.

  The global sample order depends on the seed only: global batch s holds positions
  [s * G, (s + 1) * G) of it (G = P * local_batch_size), and process p of P takes rows
  [p * L, (p + 1) * L) of each, so a global batch is the same, row for row, whatever the number
  of processes (each process decodes only its own clips). Returns a grain `DatasetIterator`.
  """
  pi = jax.process_index() if process_index is None else process_index
  pc = jax.process_count() if process_count is None else process_count
  if source is None:
    source = RecordSource(builder, split)
  rule = ClipRule.from_config(data)
  sbi_mode, sbi_fraction = sbi_settings(data)
  index = source.index()
  usable = [
    i
    for i, entry in enumerate(index)
    if len(rule.train_starts(entry)) and (sbi_mode != "reals_only" or entry["label"] == 0)
  ]
  if not usable:
    raise ValueError(
      f"no video of {source!r} has a training clip: "
      f"{rule.unusable_reason(index[0]) if index else 'the split is empty'}"
    )
  labels = np.array([index[i]["label"] for i in usable], np.int32)
  source = BalancedSource(source, labels, usable) if data.balance else SubsetSource(source, usable)
  augment = data.augment if data.augment else None
  clips = (
    grain.MapDataset.source(source)
    .shuffle(seed=seed)
    .repeat(None)
    .random_map(RandomClip(rule, augment, sbi_fraction, sbi_options(data)), seed=seed)
  )
  local, global_bs = local_batch_size, local_batch_size * pc

  def global_position(i: int) -> int:
    return (i // local) * global_bs + pi * local + i % local

  length = len(clips) // global_bs * local
  dataset = (
    grain.MapDataset.range(length)
    .map(lambda i: clips[global_position(i)])
    .batch(local_batch_size, drop_remainder=True)
  )
  iter_dataset = dataset.to_iter_dataset()
  workers = grain_workers(data.num_workers)
  if workers:
    if not flags.FLAGS.is_parsed():
      # grain's workers read its absl flags; outside an absl app (a notebook, a script) use the
      # defaults instead of stopping on UnparsedFlagAccessError.
      flags.FLAGS.mark_as_parsed()
    iter_dataset = iter_dataset.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers))
  return iter(iter_dataset)


def grain_workers(num_workers: int) -> int:
  """`data.num_workers`: processes that decode and augment clips (-1: one per core, at most 8)."""
  return min(8, os.cpu_count() or 1) if num_workers < 0 else int(num_workers)


@dataclasses.dataclass
class EvalBatch:
  """A host-local eval batch: model inputs plus which rows are real data and whose video they are."""

  inputs: dict[str, np.ndarray]  # {'clips': [B, clip_len, S, S, 3] uint8} or cached features
  mask: np.ndarray  # [B] bool, False on padding rows
  records: list[int]  # [B] index of the video in the split (-1 on padding)


def eval_rows(
  index: Sequence[dict[str, Any]], rule: ClipRule, process_index: int, process_count: int
) -> list[tuple[int, int]]:
  """(video, clip start) of every clip this process scores: videos p, p + P, ... of the split."""
  return [
    (i, int(s))
    for i in range(process_index, len(index), process_count)
    for s in rule.eval_starts(index[i])
  ]


def eval_batches(
  source: Any,
  rule: ClipRule,
  local_batch_size: int,
  process_index: int | None = None,
  process_count: int | None = None,
  perturbation: str | None = None,
) -> Iterator[EvalBatch]:
  """All clips of this process's share of the videos, in fixed-size padded batches.

  Every process yields the same number of batches (so collective steps line up); each record is
  parsed once, however many of its clips are scored. `perturbation` (e.g. 'GB3',
  `ddf.data.perturb`) corrupts every clip's frames, seeded by video and clip start.
  """
  pi = jax.process_index() if process_index is None else process_index
  pc = jax.process_count() if process_count is None else process_count
  index = source.index()
  rows = eval_rows(index, rule, pi, pc)
  most = max((len(eval_rows(index, rule, p, pc)) for p in range(pc)), default=0)
  total_batches = -(-most // local_batch_size)
  if total_batches == 0:
    return
  first = next((i for i, e in enumerate(index) if len(rule.eval_starts(e))), None)
  if first is None:
    return
  padding = {k: np.zeros_like(v) for k, v in clip_inputs(source[first], 0, rule.clip_len).items()}
  cached: tuple[int, dict[str, Any]] | None = None
  for b in range(total_batches):
    chunk = rows[b * local_batch_size : (b + 1) * local_batch_size]
    row_inputs = []
    for i, s in chunk:
      if cached is None or cached[0] != i:
        cached = (i, source[i])
      inputs = clip_inputs(cached[1], s, rule.clip_len)
      if perturbation is not None:
        if "clips" not in inputs:
          raise ValueError("perturbations apply to frames, not to precomputed features")
        inputs["clips"] = perturb.apply(inputs["clips"], perturbation, seed=i * 100_003 + s)
      row_inputs.append(inputs)
    pad = local_batch_size - len(chunk)
    row_inputs.extend([padding] * pad)
    yield EvalBatch(
      inputs={k: np.stack([r[k] for r in row_inputs]) for k in padding},
      mask=np.array([True] * len(chunk) + [False] * pad),
      records=[i for i, _ in chunk] + [-1] * pad,
    )


def video_metadata(source: Any, rule: ClipRule | None = None) -> list[dict[str, Any]]:
  """Per video: label, id, method, compression, target id, how many stored frames lack a face,
  and (with a rule) how many clips are scored or why none is."""
  out = []
  for entry in source.index():
    meta = record_meta(entry)
    meta["target_id"] = entry.get("target_id", "")  # the real a fake was made from
    meta["frames_without_face"] = int((~np.asarray(entry["face_found"], bool)).sum())
    if rule is not None:
      meta["num_clips"] = int(len(rule.eval_starts(entry)))
      if not meta["num_clips"]:
        meta["not_scored"] = rule.unusable_reason(entry)
    out.append(meta)
  return out
