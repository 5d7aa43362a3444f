"""Evaluates a trained run's val-selected checkpoint on a split of any FF++-schema TFDS dataset.

  python -m ddf.evaluate --workdir runs/default [--split test]
  # cross-dataset: another built TFDS dataset with the same features
  python -m ddf.evaluate --workdir runs/ffpp_c23_r50 --dataset celeb_df_v2 \
      --data_dir ~/ddf_data/tfds [--builder_config default] [--module my_pkg.celeb_df]
  python -m ddf.evaluate --workdir runs/ffpp_c23_r50 --builder_config c40  # FF++ c23 -> c40

Loads `WORKDIR/config.json`, restores `WORKDIR/best_checkpoint` (the best val checkpoint; the
latest one in `WORKDIR/checkpoints` when no val evaluation ran), scores every fixed clip of the
split, averages clips per video and writes `WORKDIR/eval/<dataset>_<split>.json` (clip- and
video-level AUC / EER / AP / ACC / precision / recall / F1, overall, per method, per compression,
videos with faceless frames, per-video scores; see `ddf.eval_lib`) and the video-level ROC curves
`WORKDIR/eval/<dataset>_<split>_roc.png` (overall + per method). With a `--builder_config` other
than the training one the file names are `<dataset>-<builder_config>_<split>...`.

Another dataset (Celeb-DF v2, DFDC, DFD, ...) plugs in as a TFDS builder with the feature dict of
`ddf/data/faceforensics.py` (`Faceforensics._info`): `video_id`, `label` (ClassLabel real/fake),
`method` ("original" for reals, e.g. "Celeb-synthesis" / "DFDC" for fakes), `compression` (e.g.
"c23" or "raw"), `target_id`, `source_id`, `frames` (T aligned JPEG face crops), `landmarks`,
`face_found`, `frame_indices`, `fps`, `original_height`, `original_width`. Its
`_split_generators` walks its own file list (Celeb-DF: `List_of_testing_videos.txt`; DFDC:
`metadata.json` of each part) and yields `ffpp_examples.make_example(VideoEntry(...), options)`
examples, so faces are found and aligned exactly as for FF++. Build it with
`file_format="array_record"` into a data_dir; it is then read from its directory
(`<data_dir>/<name>/<config>/<version>`), so only the build needs the builder class (or pass
`--module` to import the module that registers it).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import ml_collections

__all__ = ["apply_overrides", "evaluate", "find_builder", "load_config", "main", "restore"]


def _parse_value(text: str) -> Any:
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def apply_overrides(config: ml_collections.ConfigDict, overrides: list[str]) -> None:
  """Applies `key.sub=value` strings (values parsed as Python literals, else strings)."""
  for item in overrides or []:
    if "=" not in item:
      raise ValueError(f"--config_override expects key=value, got {item!r}")
    key, text = item.split("=", 1)
    *parents, leaf = key.strip().split(".")
    node = config
    for p in parents:
      node = node[p]
    value = _parse_value(text)
    old = node.get(leaf) if leaf in node else None
    if isinstance(old, (list, tuple)) and isinstance(value, (list, tuple)):
      value = list(value)
    elif isinstance(old, float) and isinstance(value, int):
      value = float(value)
    elif isinstance(old, str) and not isinstance(value, str):
      value = text
    node[leaf] = value


def load_config(workdir: str | os.PathLike,
                overrides: list[str] | None = None) -> ml_collections.ConfigDict:
  """`WORKDIR/config.json` as a ConfigDict, with overrides applied."""
  path = Path(workdir).expanduser() / "config.json"
  if not path.exists():
    raise FileNotFoundError(f"{path} not found: --workdir must be a directory written by "
                            "`python -m ddf.train`.")
  config = ml_collections.ConfigDict(json.loads(path.read_text()))
  apply_overrides(config, overrides or [])
  return config


def restore(config: ml_collections.ConfigDict, workdir: str | os.PathLike) -> dict[str, Any]:
  """Model, mesh, rules and the val-selected train state: {model, mesh, rules, state,
  shardings, step}."""
  import jax

  from ddf import sharding, train_lib
  from ddf.models import build_detector

  workdir = Path(workdir).expanduser()
  if not (workdir / "best_checkpoint").exists() and not (workdir / "checkpoints").exists():
    raise FileNotFoundError(f"No checkpoint in {workdir} (neither best_checkpoint/ nor "
                            "checkpoints/): train first with `python -m ddf.train`.")
  config = ml_collections.ConfigDict(config.to_dict())
  config.model.spatial.pretrained = ""  # weights come from the checkpoint.
  mesh = sharding.create_mesh(config.mesh)
  rules = sharding.logical_rules(config.mesh)
  model = build_detector(config.model)
  state, shardings = train_lib.create_train_state(config, model, mesh, rules,
                                                  jax.random.key(config.seed))
  checkpoints = train_lib._Checkpoints(workdir, config)
  try:
    state, step = checkpoints.restore_best(train_lib._abstract(state, shardings))
  finally:
    checkpoints.close()
  return {"model": model, "mesh": mesh, "rules": rules, "state": state, "shardings": shardings,
          "step": int(step)}


def _train_builder_config(config: ml_collections.ConfigDict) -> str:
  if config.data.name == "faceforensics":
    from ddf.data import build as data_build

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


def find_builder(config: ml_collections.ConfigDict, dataset: str | None = None,
                 data_dir: str | None = None, builder_config: str | None = None,
                 module: str | None = None):
  """The builder of an already built dataset (nothing is built or downloaded here).

  Default: the training dataset of `config`. Another `dataset` is looked up as
  `<data_dir>/<dataset>[/<builder_config>]/<version>` and read from its files, or, when
  `module` registers it, through `tfds.builder`.
  """
  import tensorflow_datasets as tfds

  from ddf.data import build as data_build

  if module:
    importlib.import_module(module)
  name = dataset or config.data.name
  train_cfg = _train_builder_config(config)
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
          "Pass --data_dir, or build it (`python -m ddf.data.build`, see README).")
    return builder
  data_dir = os.path.expanduser(data_dir or str(data_build.data_dirs(config.data)[1]))
  want = builder_config if builder_config is not None else (
      train_cfg if name == config.data.name else None)
  dirs = _dataset_dirs(Path(data_dir), name, want)
  if builder_config is None and not dirs:
    dirs = _dataset_dirs(Path(data_dir), name, None)
  if len(dirs) == 1:
    return tfds.builder_from_directory(str(dirs[0]))
  if len(dirs) > 1:
    configs = sorted({p.parent.name for p in dirs})
    if len(configs) > 1:
      raise ValueError(f"{name} has several builds in {data_dir} ({', '.join(configs)}); choose "
                       "one with --builder_config.")
    return tfds.builder_from_directory(str(dirs[-1]))  # the newest version.
  try:
    builder = tfds.builder(name, config=builder_config, data_dir=data_dir)
  except Exception as e:  # noqa: BLE001 - re-raised with what to do.
    raise FileNotFoundError(
        f"No built dataset {name!r}{'/' + builder_config if builder_config else ''} in {data_dir}: "
        "build it first (array_record, FF++ feature dict, see `ddf/evaluate.py`), pass "
        f"--data_dir, or --module to import its builder. ({type(e).__name__})") from e
  if not builder.data_path.exists():
    raise FileNotFoundError(f"{builder.data_path} missing: build {name} first.")
  return builder


def _check_compatible(config: ml_collections.ConfigDict, builder) -> None:
  features = builder.info.features
  missing = {"frames", "label", "video_id", "method", "compression", "face_found"} - set(
      features.keys())
  if missing:
    raise ValueError(f"{builder.name} lacks the features {sorted(missing)} of the FF++ schema "
                     "(ddf/data/faceforensics.py `_info`).")
  length = features["frames"].shape[0]
  if length is not None and length < config.data.clip_len:
    raise ValueError(f"{builder.name} stores {length} frames per video, fewer than the model's "
                     f"clip_len={config.data.clip_len}; rebuild it with more frames.")


def evaluate(workdir: str | os.PathLike, split: str = "test", dataset: str | None = None,
             data_dir: str | None = None, builder_config: str | None = None,
             module: str | None = None, overrides: list[str] | None = None,
             roc: bool = True) -> tuple[dict[str, Any], Path]:
  """Scores `split` with the val-selected checkpoint; writes the JSON (+ ROC PNG).

  Returns (report, path of the JSON).
  """
  import jax

  from ddf import eval_lib, train_lib

  workdir = Path(workdir).expanduser()
  config = load_config(workdir, overrides)
  builder = find_builder(config, dataset, data_dir, builder_config, module)
  _check_compatible(config, builder)
  restored = restore(config, workdir)
  ctx = {"builder": builder, "mesh": restored["mesh"], "rules": restored["rules"],
         "model": restored["model"]}
  report = train_lib.evaluate_checkpoint(config, ctx, restored["state"], restored["shardings"],
                                         (split,))[split]
  built_cfg = builder.builder_config.name if builder.builder_config else ""
  name = dataset or config.data.name
  report.update(dataset=name, split=split, checkpoint_step=restored["step"],
                builder_config=built_cfg, inputs="frames")
  tag = name
  if builder_config is not None and builder_config != _train_builder_config(config):
    tag = f"{name}-{builder_config}"
  path = eval_lib.write_report(workdir, tag, split, report)
  if roc and jax.process_index() == 0:
    from ddf import plots

    plots.roc_figure(report, path.with_name(f"{tag}_{split}_roc.png"),
                     title=f"{tag} {split}, step {restored['step']} (video level)")
  return report, path


def format_report(report: dict[str, Any]) -> str:
  """A short markdown table: overall, per method and per compression (video AUC / ACC / EER)."""
  from ddf.eval_lib import format_ci

  def row(name: str, r: dict[str, Any]) -> str:
    return (f"| {name} | {r['video_n']} | {r['video_auc']:.4f} | {format_ci(r)} | "
            f"{r['video_acc']:.4f} | {r['video_eer']:.4f} | {r['video_ap']:.4f} | "
            f"{r['clip_auc']:.4f} |")

  lines = ["| subset | videos | video AUC | 95% CI | video ACC | video EER | video AP | clip AUC |",
           "|---|---|---|---|---|---|---|---|", row("all", report)]
  lines += [row(m, r) for m, r in report["per_method"].items()]
  lines += [row(c, r) for c, r in report["per_compression"].items()]
  return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m ddf.evaluate", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--workdir", required=True, help="directory written by ddf.train")
  parser.add_argument("--split", default="test")
  parser.add_argument("--dataset", default=None, help="TFDS name (default: the training one)")
  parser.add_argument("--data_dir", default=None, help="TFDS data_dir (default: the config's)")
  parser.add_argument("--builder_config", default=None, help="builder config of --dataset")
  parser.add_argument("--module", default=None, help="module to import that registers the builder")
  parser.add_argument("--config_override", nargs="*", default=[], metavar="KEY=VALUE",
                      help="e.g. eval_batch_size=32 data.clips_per_video_eval=4")
  parser.add_argument("--no_roc", action="store_true", help="skip the ROC PNG")
  args = parser.parse_args(argv)
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  from ddf import sharding

  sharding.maybe_initialize_distributed()
  try:
    report, path = evaluate(args.workdir, args.split, args.dataset, args.data_dir,
                            args.builder_config, args.module, args.config_override,
                            roc=not args.no_roc)
  except (FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  import jax

  if jax.process_index() == 0:
    print(f"{report['dataset']}/{report['builder_config']} {args.split}: {report['num_videos']} "
          f"videos, {report['num_clips']} clips, {report['videos_with_faceless_frames']} with "
          f"frames without a face; checkpoint step {report['checkpoint_step']}")
    print(format_report(report))
    print(f"Wrote {path}")
  return 0


def cli() -> None:
  sys.exit(main())


if __name__ == "__main__":
  cli()
