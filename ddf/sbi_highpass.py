"""Does a self-blend's face differ from its frame as the dataset's fakes do? High-pass energy of the
face against its surroundings, for a split's reals, its fakes per method and self-blends of its reals.

  python -m ddf.sbi_highpass [--config configs/default.py[:opts]] [--config.key=value ...]
      [--split val] [--blends 4]

Per video, on its first evaluation clip: log(mean squared Laplacian of the luma inside the face
box, `INSET` pixels in from its edge) minus log(the same over the crop outside the face box)
(`ddf.sbi_highpass_lib.face_ring_log_ratio`). Prints the mean and std per group and the mean's difference from the
reals'. Each real gets `--blends` self-blends, each made from the same draws with every
`data.sbi.warp` and with `data.sbi.frequency` 0 and 1 (`ddf.data.sbi.SelfBlend`), grouped by
whether the draw blurs or sharpens. A cue a detector can learn from the self-blends transfers to
the dataset's fakes only if it moves both the same way (README, "Self-blended training").
"""

from __future__ import annotations

from pathlib import Path

from absl import app, flags
from ml_collections import config_flags

_REPO_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "default.py"
DEFAULT_CONFIG = str(_REPO_CONFIG) if _REPO_CONFIG.exists() else "configs/default.py"

FLAGS = flags.FLAGS
flags.DEFINE_string("split", "val", "Split to measure.")
flags.DEFINE_integer("blends", 4, "Self-blends drawn per real video.")
config_flags.DEFINE_config_file(
  "config",
  DEFAULT_CONFIG,
  "Configuration file (its data field says which dataset).",
  lock_config=True,
)


def main(argv: list[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  from ddf import sbi_highpass_lib

  groups = sbi_highpass_lib.measure(FLAGS.config, FLAGS.split, FLAGS.blends)
  print(sbi_highpass_lib.table(groups, FLAGS.split))
  return 0


def cli() -> None:
  app.run(main)


if __name__ == "__main__":
  cli()
