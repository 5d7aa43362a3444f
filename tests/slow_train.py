"""`python -m ddf.train` with every step slowed down: a fault-injection hook for the tests.

  python tests/slow_train.py --step_delay_s 2 --config configs/default.py:tiny --workdir W ...

The delay is a periodic hook added to `ddf.train_lib.train_and_evaluate`, so that a test can kill
the run between checkpoints.
"""

from __future__ import annotations

import time

from absl import app, flags
from ml_collections import config_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Run directory.")
flags.DEFINE_float("step_delay_s", 1.0, "Seconds to sleep after each step.")
config_flags.DEFINE_config_file("config", None, "Training configuration file.", lock_config=True)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv: list[str]) -> int:
  del argv
  from clu import periodic_actions

  from ddf import train_lib

  def sleep(step: int, t: float, loop: train_lib.Loop) -> None:
    del step, t, loop
    time.sleep(FLAGS.step_delay_s)

  delay = periodic_actions.PeriodicCallback(every_steps=1, callback_fn=sleep)
  train_lib.train_and_evaluate(FLAGS.config, FLAGS.workdir, hooks=[delay])
  return 0


if __name__ == "__main__":
  app.run(main)
