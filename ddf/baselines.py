"""Shallow baselines on the detector's splits and clips, reported in the detector's eval format.

  python -m ddf.baselines --workdir runs/baseline_grid [--config configs/default.py[:opts]]
      [--config.key=value ...] [--baseline grid_logreg|face_edge_ratio]

Reads (and, like `ddf.train`, generates / builds when missing) the config's dataset and scores the
same fixed clips the detector is evaluated on (`ClipRule.eval_starts`; the same rule picks the
train clips). Two baselines, both face-agnostic apart from the alignment of the crops:

  grid_logreg      per clip, on a 4x4 grid of the crop: sharpness (log variance of the Laplacian,
                   mean gradient magnitude, of luma), mean Lab colour and frame-to-frame change
                   (mean |luma difference| of consecutive frames), each as mean and std over the
                   clip's frames -> StandardScaler + LogisticRegression (balanced classes), fitted on
                   the train clips; C is chosen from `C_GRID` by video-level AUC on val.
  face_edge_ratio  no training: per clip, log(mean gradient magnitude inside the central face box
                   / outside it); the box is the central crop_size / data.margin pixels, where
                   alignment puts the face (`ddf.faces.align`). Its sign is the one with the larger
                   train video AUC; P(fake) = sigmoid(sign * log ratio), so 0.5 is equal edge
                   strength (ACC / precision / recall / F1 use that threshold).

Writes `WORKDIR/eval/<dataset>_{val,test}.json` in the format of `ddf.eval_lib.split_report` (with
`data` provenance, `baseline` and `baseline_params`: chosen C and val AUC per C, or sign) and
`WORKDIR/config.json` (the config plus `baseline` and `baseline_params`: {C} or {sign}), so
`ddf.tables` reads the workdir like a trained run's. The test split is read only after everything
is fitted and chosen.
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
  baselines_lib.run(FLAGS.config, FLAGS.workdir, FLAGS.baseline)
  return 0


def cli() -> None:
  app.run(main)


if __name__ == "__main__":
  cli()
