"""What training, evaluation, feature caching and prediction share: data, mesh, rules, model.

`setup(config)` builds the dataset if it is missing (process 0; the others wait), the device mesh,
the logical-axis rules and the detector; `input_sources` gives each split's grain source (the
built frames, or a frozen backbone's precomputed features).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax
import ml_collections
import tensorflow_datasets as tfds
from jax.experimental import multihost_utils
from jax.sharding import Mesh

from ddf import sharding
from ddf.data import build_lib as data_build
from ddf.data.pipeline import RecordSource
from ddf.models import FusionDetector, build_detector


@dataclasses.dataclass(frozen=True)
class Context:
  """The dataset builder, device mesh, logical-axis rules and model of a run."""

  builder: tfds.core.DatasetBuilder
  mesh: Mesh
  rules: sharding.Rules
  model: FusionDetector


def setup(config: ml_collections.ConfigDict) -> Context:
  """The context of a training config (its dataset generated / built when missing)."""
  if jax.process_index() == 0:
    data_build.builder_from_config(config.data, prepare=True)
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices("dataset ready")
  return Context(
    builder=data_build.builder_from_config(config.data, prepare=False),
    mesh=sharding.create_mesh(config.mesh),
    rules=sharding.logical_rules(config.mesh),
    model=build_detector(config.model),
  )


def input_sources(
  config: ml_collections.ConfigDict, ctx: Context, state: Any, splits: tuple[str, ...]
) -> dict[str, Any]:
  """split -> grain source: the built frames, or (`data.feature_cache`) the frozen backbone's
  precomputed features, computed on first use (`ddf.data.feature_cache`)."""
  if not config.data.get("feature_cache", False):
    return {split: RecordSource(ctx.builder, split) for split in splits}
  if not config.model.spatial.freeze:
    raise ValueError(
      "data.feature_cache=True precomputes the backbone's features, which is only "
      "valid for a frozen backbone: also set --config.model.spatial.freeze=True"
    )
  if config.data.get("sbi") and config.data.sbi.get("mode", "off") != "off":
    raise ValueError(
      "data.sbi blends pixels at train time and cannot use precomputed features: "
      "set --config.data.feature_cache=False or --config.data.sbi.mode=off"
    )
  augment = {k: v for k, v in config.data.augment.items() if v}
  if augment and jax.process_index() == 0:
    print(
      f"Note: data.feature_cache=True trains on features of un-augmented frames; pixel "
      f"augmentation ({', '.join(sorted(augment))}) is not applied.",
      flush=True,
    )
  from ddf.data import feature_cache

  variables = feature_cache.backbone_variables(state.params, state.batch_stats)
  return feature_cache.prepare(config.data, ctx.builder, splits, ctx.model, variables)


def check_cached_backbone(state: Any, sources: dict[str, Any], workdir: Path) -> None:
  """A resumed frozen backbone must be the one the cached features were computed with."""
  from ddf.data import feature_cache

  cached = {getattr(s, "fingerprint", {}).get("backbone_digest") for s in sources.values()} - {None}
  if not cached:
    return
  digest = feature_cache.weights_digest(
    feature_cache.backbone_variables(state.params, state.batch_stats)
  )
  if cached != {digest}:
    raise ValueError(
      f"the checkpoint in {workdir / 'checkpoints'} holds a different frozen "
      "backbone than the one its feature cache was computed from (did "
      "model.spatial.pretrained change?); resume with the original weights or use a "
      "new --workdir"
    )


def describe_inputs(source: Any) -> str:
  """'frames', or 'feature_cache:<dir>' for a source of precomputed features."""
  directory = getattr(source, "directory", None)
  return f"feature_cache:{directory}" if directory is not None else "frames"
