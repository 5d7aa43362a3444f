"""Input pipeline: grain over the TFDS array_record data source -> clips -> host-local batches.

Train: per-process shard of a (class-balanced) index, seeded shuffle, random clip start, augmentation;
the grain iterator state is checkpointed with the model. Eval: every video of the split, fixed clips,
padded final batch with a validity mask.

A record holds either `frames` (JPEG bytes, `RecordSource`) or precomputed per-frame arrays
(`backbone_maps` / `micro_inputs`, `ddf.data.feature_cache.FeatureSource`); a clip of it is the
dict of model inputs `{'clips': [T, S, S, 3] uint8}` or `{'backbone_maps': [T, ...], ...}`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import grain.python as grain
import jax
import ml_collections
import numpy as np
import tensorflow_datasets as tfds

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


class RecordSource(grain.RandomAccessDataSource):
  """A split of a built dataset; frames stay JPEG bytes until a clip is chosen."""

  def __init__(self, builder: tfds.core.DatasetBuilder, split: str):
    config = builder.builder_config.name if builder.builder_config else ""
    self._name = f"{builder.name}/{config}:{split}"
    self._source = builder.as_data_source(
        split=split, deserialize_method=tfds.decode.DeserializeMethod.DESERIALIZE_NO_DECODE)

  def __len__(self) -> int:
    return len(self._source)

  def __getitem__(self, index: int) -> dict[str, Any]:
    return parse_record(self._source[int(index)])

  def __repr__(self) -> str:
    return f"RecordSource({self._name}, {len(self)} videos)"

  def labels(self) -> np.ndarray:
    """[N] int labels, read once (frames are not decoded)."""
    return np.array([int(self[i]["label"]) for i in range(len(self))], np.int32)


class BalancedSource(grain.RandomAccessDataSource):
  """Oversamples the minority class so that one epoch holds as many reals as fakes."""

  def __init__(self, source: RecordSource, labels: np.ndarray):
    self._source = source
    real, fake = np.flatnonzero(labels == 0), np.flatnonzero(labels == 1)
    if len(real) == 0 or len(fake) == 0:
      self._index = np.arange(len(labels))
    else:
      major, minor = (fake, real) if len(fake) >= len(real) else (real, fake)
      reps = int(np.ceil(len(major) / len(minor)))
      self._index = np.concatenate([major, np.tile(minor, reps)[:len(major)]])

  def __len__(self) -> int:
    return len(self._index)

  def __getitem__(self, index: int) -> dict[str, Any]:
    return self._source[int(self._index[index])]

  def __repr__(self) -> str:  # grain validates restored iterator states against this.
    return f"BalancedSource({self._source!r}, {len(self)} entries)"


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
  return {k: np.asarray(record[k][start:start + clip_len]) for k in FEATURE_INPUTS if k in record}


def record_meta(record: dict[str, Any]) -> dict[str, Any]:
  """label, video_id, method and compression of a record."""
  return {"label": int(record["label"]), "video_id": record["video_id"],
          "method": record["method"], "compression": record["compression"]}


class RandomClip(grain.RandomMapTransform):
  """Record -> {'clips': [clip_len, S, S, 3] uint8 (or cached features), 'label'} at a random
  start; frames are augmented."""

  def __init__(self, clip_len: int, augment: ml_collections.ConfigDict | None):
    self.clip_len = clip_len
    self.augment = augment

  def random_map(self, record: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    num = num_frames(record)
    if num < self.clip_len:
      raise ValueError(f"clip_len={self.clip_len} exceeds the {num} frames stored per video; "
                       "lower data.clip_len or rebuild with more data.frames_per_video")
    start = int(rng.integers(0, num - self.clip_len + 1))
    inputs = clip_inputs(record, start, self.clip_len)
    if self.augment is not None and "clips" in inputs:
      inputs["clips"] = augment_clip(inputs["clips"], rng, self.augment)
    return {**inputs, "label": np.int32(record["label"])}


def train_loader(builder: tfds.core.DatasetBuilder, data: ml_collections.ConfigDict,
                 local_batch_size: int, seed: int, split: str = "train",
                 process_index: int | None = None, process_count: int | None = None,
                 source: grain.RandomAccessDataSource | None = None):
  """Infinite, shuffled (per epoch), checkpointable iterator over this process's batches.

  Reads `split` of `builder`, or `source` when given (e.g. a `FeatureSource`: pixel augmentation
  does not apply to precomputed features and is skipped).

  The global sample order depends on the seed only: global batch s holds positions
  [s * G, (s + 1) * G) of it (G = P * local_batch_size), and process p of P takes rows
  [p * L, (p + 1) * L) of each, so a global batch is the same, row for row, whatever the number
  of processes (each process decodes only its own clips). Returns a grain `DatasetIterator`.
  """
  pi = jax.process_index() if process_index is None else process_index
  pc = jax.process_count() if process_count is None else process_count
  if source is None:
    source = RecordSource(builder, split)
  if data.balance:
    source = BalancedSource(source, source.labels())
  augment = data.augment if data.augment else None
  clips = (grain.MapDataset.source(source).shuffle(seed=seed).repeat(None)
           .random_map(RandomClip(data.clip_len, augment), seed=seed))
  local, global_bs = local_batch_size, local_batch_size * pc

  def global_position(i: int) -> int:
    return (i // local) * global_bs + pi * local + i % local

  length = len(clips) // global_bs * local
  dataset = (grain.MapDataset.range(length).map(lambda i: clips[global_position(i)])
             .batch(local_batch_size, drop_remainder=True))
  iter_dataset = dataset.to_iter_dataset()
  if data.num_workers:
    iter_dataset = iter_dataset.mp_prefetch(
        grain.MultiprocessingOptions(num_workers=data.num_workers))
  return iter(iter_dataset)


@dataclasses.dataclass
class EvalBatch:
  """A host-local eval batch: model inputs plus which rows are real data and whose video they are."""

  inputs: dict[str, np.ndarray]  # {'clips': [B, clip_len, S, S, 3] uint8} or cached features
  mask: np.ndarray  # [B] bool, False on padding rows
  records: list[int]  # [B] index of the video in the split (-1 on padding)


def clip_starts(num_frames: int, clip_len: int, clips_per_video: int) -> np.ndarray:
  """Fixed, evenly spaced clip starts for evaluation."""
  if num_frames < clip_len:
    raise ValueError(f"clip_len={clip_len} exceeds the {num_frames} frames stored per video")
  return np.unique(np.linspace(0, num_frames - clip_len, clips_per_video).round().astype(int))


def eval_batches(source: Sequence[dict[str, Any]], clip_len: int, clips_per_video: int,
                 local_batch_size: int, process_index: int | None = None,
                 process_count: int | None = None) -> Iterator[EvalBatch]:
  """All clips of this process's share of the videos, in fixed-size padded batches.

  Every process yields the same number of batches (so collective steps line up).
  """
  pi = jax.process_index() if process_index is None else process_index
  pc = jax.process_count() if process_count is None else process_count
  n = len(source)
  per_process = -(-n // pc)
  mine = [i for i in range(pi, n, pc)]
  # Clips per video are fixed, so every process can count batches without reading.
  first = source[0] if n else None
  starts = clip_starts(num_frames(first), clip_len, clips_per_video) if first else []
  total_batches = -(-(per_process * len(starts)) // local_batch_size)
  rows: list[tuple[int, int]] = [(i, s) for i in mine for s in starts]
  padding = ({k: np.zeros_like(v) for k, v in clip_inputs(first, 0, clip_len).items()}
             if first else {})
  for b in range(total_batches):
    chunk = rows[b * local_batch_size:(b + 1) * local_batch_size]
    row_inputs = [clip_inputs(source[i], int(s), clip_len) for i, s in chunk]
    pad = local_batch_size - len(chunk)
    row_inputs.extend([padding] * pad)
    yield EvalBatch(inputs={k: np.stack([r[k] for r in row_inputs]) for k in padding},
                    mask=np.array([True] * len(chunk) + [False] * pad),
                    records=[i for i, _ in chunk] + [-1] * pad)


def video_metadata(source: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
  """Per video: label, id, method, compression, and how many stored frames lack a face."""
  out = []
  for i in range(len(source)):
    r = source[i]
    meta = record_meta(r)
    meta["frames_without_face"] = int((~np.asarray(r["face_found"], bool)).sum())
    out.append(meta)
  return out
