"""`python -m ddf.train` with injected faults: periodic hooks added for the tests.

  python tests/slow_train.py --step_delay_s 2 --config configs/default.py:tiny --workdir W ...
  python tests/slow_train.py --poison_after_step 1 --config configs/default.py:tiny --workdir W ...

`--step_delay_s` sleeps after every step, so that a test can kill the run between checkpoints.
`--poison_after_step N` sets every parameter to NaN after step N, so that step N + 1 is not finite:
the run compiles the same train step as an unpoisoned one (unlike a learning rate of inf).
"""

from __future__ import annotations

import time

from absl import app, flags
from ml_collections import config_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Run directory.")
flags.DEFINE_float("step_delay_s", 0.0, "Seconds to sleep after each step.")
flags.DEFINE_integer(
  "poison_after_step", 0, "Set the parameters to NaN after this step (0: never)."
)
config_flags.DEFINE_config_file("config", None, "Training configuration file.", lock_config=True)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv: list[str]) -> int:
  del argv
  import jax
  import jax.numpy as jnp
  from clu import periodic_actions

  from ddf import train_lib

  def sleep(step: int, t: float, loop: train_lib.Loop) -> None:
    del step, t, loop
    time.sleep(FLAGS.step_delay_s)

  def poison(step: int, t: float, loop: train_lib.Loop) -> None:
    del t
    if step == FLAGS.poison_after_step:
      loop.state = loop.state.replace(params=jax.tree.map(lambda x: x * jnp.nan, loop.state.params))

  hooks = []
  if FLAGS.step_delay_s:
    hooks.append(periodic_actions.PeriodicCallback(every_steps=1, callback_fn=sleep))
  if FLAGS.poison_after_step:
    hooks.append(periodic_actions.PeriodicCallback(every_steps=1, callback_fn=poison))
  train_lib.train_and_evaluate(FLAGS.config, FLAGS.workdir, hooks=hooks)
  return 0


if __name__ == "__main__":
  app.run(main)
