"""A trained run's directory: its config, its val-selected checkpoint, its evaluation.

  config = load_config(workdir, ["eval_batch_size=32"])     # WORKDIR/config.json (+ overrides)
  run = restore(config, workdir)                            # model, mesh, rules, state, step
  reports, paths = evaluate_run(workdir, split="test")      # WORKDIR/eval/<dataset>_<split>.json

Used by `ddf.evaluate` (the command line) and `ddf.predict_lib`.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import os
from pathlib import Path
from typing import Any

import jax
import ml_collections

from ddf import checkpoints as checkpoints_lib
from ddf import eval_lib, sharding, train_step
from ddf.context import Context
from ddf.data import build_lib as data_build
from ddf.data import storage
from ddf.models import FusionDetector, build_detector


def _parse_value(text: str) -> Any:
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def apply_overrides(config: ml_collections.ConfigDict, overrides: list[str]) -> None:
  """Applies `key.sub=value` strings (values read as Python literals, else strings) with
  `ConfigDict.update_from_flattened_dict`; an unknown key is an error."""
  config.lock()
  for item in overrides or []:
    if "=" not in item:
      raise ValueError(f"--config_override expects key=value, got {item!r}")
    key, text = (part.strip() for part in item.split("=", 1))
    try:
      try:
        config.update_from_flattened_dict({key: _parse_value(text)})
      except TypeError:  # a string field given a literal, e.g. data.config=1
        config.update_from_flattened_dict({key: text})
    except (KeyError, AttributeError) as e:
      raise ValueError(
        f"--config_override {item!r}: no config key {key!r} in this run's config.json"
      ) from e


def load_config(
  workdir: str | os.PathLike, overrides: list[str] | None = None
) -> ml_collections.ConfigDict:
  """`WORKDIR/config.json` as a ConfigDict, with overrides applied."""
  path = Path(workdir).expanduser() / "config.json"
  if not path.exists():
    raise FileNotFoundError(
      f"{path} not found: --workdir must be a directory written by `python -m ddf.train`."
    )
  config = ml_collections.ConfigDict(json.loads(path.read_text()))
  apply_overrides(config, overrides or [])
  return config


@dataclasses.dataclass(frozen=True)
class RestoredRun:
  """A run's model on its mesh with the val-selected train state (and its shardings)."""

  model: FusionDetector
  mesh: jax.sharding.Mesh
  rules: sharding.Rules
  state: Any
  shardings: Any
  step: int


def restore(config: ml_collections.ConfigDict, workdir: str | os.PathLike) -> RestoredRun:
  """The val-selected checkpoint of `workdir` (the latest one when no val evaluation ran)."""
  workdir = Path(workdir).expanduser()
  if not checkpoints_lib.exists(workdir):
    raise FileNotFoundError(
      f"No checkpoint in {workdir} (neither best_checkpoint/ nor "
      "checkpoints/): train first with `python -m ddf.train`."
    )
  config = ml_collections.ConfigDict(config.to_dict())
  config.model.spatial.pretrained = ""  # weights come from the checkpoint.
  mesh = sharding.create_mesh(config.mesh)
  rules = sharding.logical_rules(config.mesh)
  model = build_detector(config.model)
  state, shardings = train_step.create_train_state(
    config, model, mesh, rules, jax.random.key(config.seed)
  )
  with checkpoints_lib.Checkpoints(workdir) as checkpoints:
    state, step = checkpoints.restore_best(checkpoints_lib.abstract_state(state, shardings))
  return RestoredRun(model, mesh, rules, state, shardings, int(step))


def train_builder_config(config: ml_collections.ConfigDict) -> str:
  """The builder config name the run was trained on."""
  if config.data.name == "faceforensics":
    return data_build.builder_config_name(config.data)
  return str(config.data.config)


def _dataset_dirs(data_dir: Path, name: str, builder_config: str | None) -> list[Path]:
  """Built version directories (with dataset_info.json) of `name[/builder_config]`."""
  root = data_dir / name
  if not root.exists():
    return []
  found = [p.parent for p in root.glob("*/dataset_info.json")]
  found += [p.parent for p in root.glob("*/*/dataset_info.json")]
  if builder_config is not None:
    found = [p for p in found if p.parent.name == builder_config or p.parent == root]
  return sorted(found)


def find_builder(
  config: ml_collections.ConfigDict,
  dataset: str | None = None,
  data_dir: str | None = None,
  builder_config: str | None = None,
  module: str | None = None,
):
  """The builder of an already built dataset (nothing is built or downloaded here).

  Default: the training dataset of `config`. Another `dataset` is looked up as
  `<data_dir>/<dataset>[/<builder_config>]/<version>` and read from its files, or, when
  `module` registers it, through `tfds.builder`.
  """
  import tensorflow_datasets as tfds

  if module:
    importlib.import_module(module)
  name = dataset or config.data.name
  train_cfg = train_builder_config(config)
  if name == "faceforensics" and builder_config in (None, train_cfg):
    data = config.data
    if data_dir is not None:
      data = ml_collections.ConfigDict(data.to_dict())
      data.data_dir, data.synthetic = data_dir, False
    builder = data_build.builder_from_config(data, prepare=False)
    data_dir = builder.data_dir
    if not builder.data_path.exists():
      raise FileNotFoundError(
        f"Dataset {name}/{train_cfg} is not built in {data_dir} ({builder.data_path} missing). "
        "Pass --data_dir, or build it (`python -m ddf.data.build`, see README)."
      )
    return builder
  data_dir = os.fspath(storage.as_path(data_dir or data_build.data_dirs(config.data)[1]))
  want = (
    builder_config
    if builder_config is not None
    else (train_cfg if name == config.data.name else None)
  )
  dirs = _dataset_dirs(storage.as_path(data_dir), name, want)
  if builder_config is None and not dirs:
    dirs = _dataset_dirs(storage.as_path(data_dir), name, None)
  if len(dirs) == 1:
    return tfds.builder_from_directory(str(dirs[0]))
  if len(dirs) > 1:
    configs = sorted({p.parent.name for p in dirs})
    if len(configs) > 1:
      raise ValueError(
        f"{name} has several builds in {data_dir} ({', '.join(configs)}); choose "
        "one with --builder_config."
      )
    return tfds.builder_from_directory(str(dirs[-1]))  # the newest version.
  try:
    builder = tfds.builder(name, config=builder_config, data_dir=data_dir)
  except Exception as e:  # noqa: BLE001 - re-raised with what to do.
    raise FileNotFoundError(
      f"No built dataset {name!r}{'/' + builder_config if builder_config else ''} in {data_dir}: "
      "build it first (array_record, FF++ feature dict, see `ddf/evaluate.py`), pass "
      f"--data_dir, or --module to import its builder. ({type(e).__name__})"
    ) from e
  if not builder.data_path.exists():
    raise FileNotFoundError(f"{builder.data_path} missing: build {name} first.")
  return builder


def check_compatible(config: ml_collections.ConfigDict, builder) -> None:
  features = builder.info.features
  missing = {"frames", "label", "video_id", "method", "compression", "face_found"} - set(
    features.keys()
  )
  if missing:
    raise ValueError(
      f"{builder.name} lacks the features {sorted(missing)} of the FF++ schema "
      "(ddf/data/faceforensics.py `_info`)."
    )
  length = features["frames"].shape[0]
  if length is not None and length < config.data.clip_len:
    raise ValueError(
      f"{builder.name} stores {length} frames per video, fewer than the model's "
      f"clip_len={config.data.clip_len}; rebuild it with more frames."
    )


def evaluate_run(
  workdir: str | os.PathLike,
  split: str = "test",
  dataset: str | None = None,
  data_dir: str | None = None,
  builder_config: str | None = None,
  module: str | None = None,
  overrides: list[str] | None = None,
  roc: bool = True,
  perturbations: tuple[str, ...] = (),
) -> tuple[dict[str, dict[str, Any]], dict[str, Path]]:
  """Scores `split` with the val-selected checkpoint, clean and under each of `perturbations`
  (`ddf.data.perturb`, e.g. 'GB3'); writes `eval/<tag>_<split>[_<perturbation>].json` and the
  clean split's ROC PNG. Returns ({name: report}, {name: path}); names are `split` and
  `<split>_<perturbation>`.
  """
  workdir = Path(workdir).expanduser()
  config = load_config(workdir, overrides)
  builder = find_builder(config, dataset, data_dir, builder_config, module)
  check_compatible(config, builder)
  run = restore(config, workdir)
  ctx = Context(builder=builder, mesh=run.mesh, rules=run.rules, model=run.model)
  name = dataset or config.data.name
  reports = eval_lib.evaluate_checkpoint(
    config,
    ctx,
    run.state,
    run.shardings,
    (split,),
    run.step,
    dataset=name,
    perturbations=(None, *perturbations),
  )
  tag = name
  if builder_config is not None and builder_config != train_builder_config(config):
    tag = f"{name}-{builder_config}"
  paths = {key: eval_lib.write_report(workdir, tag, key, report) for key, report in reports.items()}
  if roc and jax.process_index() == 0:
    from ddf import plots

    plots.roc_figure(
      reports[split],
      paths[split].with_name(f"{tag}_{split}_roc.png"),
      title=f"{tag} {split}, step {run.step} (video level)",
    )
  return reports, paths
