"""Evaluates a trained run's val-selected checkpoint on a split of any FF++-schema TFDS dataset.

  python -m ddf.evaluate --workdir runs/default [--split test]
  # cross-dataset: another built TFDS dataset with the same features
  python -m ddf.evaluate --workdir runs/ffpp_c23_r50 --dataset celeb_df_v2 \
      --data_dir ~/ddf_data/tfds [--builder_config default] [--module my_pkg.celeb_df]
  python -m ddf.evaluate --workdir runs/ffpp_c23_r50 --builder_config c40  # FF++ c23 -> c40
  # robustness: the test split under the DeeperForensics-1.0 perturbations (7 types x 5 levels)
  python -m ddf.evaluate --workdir runs/default --perturb   # -> eval/<dataset>_test_GB3.json ...

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
import os
import sys


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
    prog="python -m ddf.evaluate",
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  parser.add_argument("--workdir", required=True, help="directory written by ddf.train")
  parser.add_argument("--split", default="test")
  parser.add_argument("--dataset", default=None, help="TFDS name (default: the training one)")
  parser.add_argument("--data_dir", default=None, help="TFDS data_dir (default: the config's)")
  parser.add_argument("--builder_config", default=None, help="builder config of --dataset")
  parser.add_argument("--module", default=None, help="module to import that registers the builder")
  parser.add_argument(
    "--config_override",
    nargs="*",
    default=[],
    metavar="KEY=VALUE",
    help="e.g. eval_batch_size=32 data.clips_per_video_eval=4",
  )
  parser.add_argument("--no_roc", action="store_true", help="skip the ROC PNG")
  parser.add_argument(
    "--perturb",
    action="store_true",
    help="also score the split under the 7 x 5 DeeperForensics perturbations",
  )
  parser.add_argument(
    "--perturbations",
    default=None,
    help="a comma list of perturbations instead of all, e.g. GB3,JPEG5",
  )
  args = parser.parse_args(argv)
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  from ddf import eval_lib, runs, sharding
  from ddf.data import perturb

  sharding.maybe_initialize_distributed()
  try:
    chosen = (
      tuple(p.strip() for p in args.perturbations.split(",") if p.strip())
      if args.perturbations
      else tuple(perturb.names())
      if args.perturb
      else ()
    )
    for name in chosen:
      perturb.parse(name)
    reports, paths = runs.evaluate_run(
      args.workdir,
      args.split,
      args.dataset,
      args.data_dir,
      args.builder_config,
      args.module,
      args.config_override,
      roc=not args.no_roc,
      perturbations=chosen,
    )
  except (FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  import jax

  if jax.process_index() == 0:
    report = reports[args.split]
    print(
      f"{report['dataset']}/{report['builder_config']} {args.split}: {report['num_videos']} "
      f"videos, {report['num_clips']} clips, {report['videos_with_faceless_frames']} with "
      f"frames without a face; checkpoint step {report['checkpoint_step']}"
    )
    print(eval_lib.format_report(report))
    if chosen:
      print(eval_lib.format_robustness(reports, args.split))
    print(
      f"Wrote {paths[args.split]}" + (f" and {len(chosen)} perturbed reports" if chosen else "")
    )
  return 0


def cli() -> None:
  sys.exit(main())


if __name__ == "__main__":
  cli()
