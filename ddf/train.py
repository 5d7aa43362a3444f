"""Trains and evaluates a detector.

python -m ddf.train --config configs/default.py --workdir runs/default [--config.key=value ...]
"""

from __future__ import annotations

from absl import app, flags, logging
from ml_collections import config_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Directory for checkpoints, TensorBoard logs and eval JSON.")
config_flags.DEFINE_config_file("config", None, "Training configuration file.", lock_config=True)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv: list[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  from ddf import sharding, train_lib  # after flag parsing: jax reads XLA_FLAGS on import.

  sharding.maybe_initialize_distributed()
  logging.set_verbosity(logging.INFO if FLAGS.verbosity > 0 else logging.WARNING)
  train_lib.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  return 0


def cli() -> None:
  app.run(main)


if __name__ == "__main__":
  cli()
