"""Shallow baselines on the detector's splits and clips, reported in the detector's eval format.

  python -m ddf.baselines --workdir runs/baseline_grid [--config configs/default.py[:opts]]
      [--config.key=value ...] [--baseline grid_logreg|face_edge_ratio|brightness_flicker]
      [--feature_groups]

The baselines (grid_logreg, face_edge_ratio, brightness_flicker), what each computes and what it
writes (`WORKDIR/eval/<dataset>_{val,test}.json` in the detector's format, `WORKDIR/config.json`,
so `ddf.tables` reads the workdir like a trained run's) are described in `ddf/baselines_lib.py`.
"""

from __future__ import annotations

from pathlib import Path

from absl import app, flags, logging
from ml_collections import config_flags

from ddf.baselines_lib import BASELINES

_REPO_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "default.py"
DEFAULT_CONFIG = str(_REPO_CONFIG) if _REPO_CONFIG.exists() else "configs/default.py"

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Directory for config.json and eval/*.json.")
flags.DEFINE_enum("baseline", "grid_logreg", list(BASELINES), "Which baseline.")
flags.DEFINE_bool(
  "feature_groups",
  False,
  "grid_logreg: also refit on each feature group alone (C chosen on val) and print its val and "
  "test video AUC, to see which cues the baseline reads.",
)
config_flags.DEFINE_config_file(
  "config",
  DEFAULT_CONFIG,
  "Configuration file (its data field says which dataset, splits and clips).",
  lock_config=True,
)
flags.mark_flags_as_required(["workdir"])


def main(argv: list[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  from ddf import baselines_lib

  logging.set_verbosity(logging.INFO if FLAGS.verbosity > 0 else logging.WARNING)
  baselines_lib.run(FLAGS.config, FLAGS.workdir, FLAGS.baseline, FLAGS.feature_groups)
  return 0


def cli() -> None:
  app.run(main)


if __name__ == "__main__":
  cli()
