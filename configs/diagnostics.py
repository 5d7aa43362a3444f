"""Cue-isolating diagnostics: reals + one diagnostic manipulation, one branch of the detector.

  python -m ddf.train --config configs/diagnostics.py:Shuffled,spatial --workdir runs/diag/shuffled_spatial
  python -m ddf.train --config configs/diagnostics.py:Shuffled,micro_temporal --workdir runs/diag/shuffled_micro_temporal
  python -m ddf.train --config configs/diagnostics.py:ChromaShift,micro --workdir runs/diag/chroma_micro
  python -m ddf.tables --workdirs runs/diag/*     # the branch x diagnostic AUC matrix

<Method> is Shuffled, ChromaShift or FrozenMouth (ddf/data/synthetic_diagnostics.py); <branch> is
spatial, temporal, micro, micro_temporal or full (all four). Each method generates and builds its
own synthetic tree on first use (shared by every branch), trains on its train split, selects the
checkpoint on val and evaluates on test. What each branch must score:

  Shuffled     expression states permuted in time inside each clip: spatial and micro
               (order-invariant means over the clip) at chance; temporal and micro_temporal detect it
               when their input is standardised over time (--config.model.temporal.time_standardize=True,
               --config.model.micro.time_standardize=True; README, "Diagnostics").
  ChromaShift  face chroma changed, BT.601 luma kept: micro and micro_temporal (grayscale) at
               chance; spatial detects it.
  FrozenMouth  mouth and eyelids frozen while the head moves: a temporal, local cue.

A third option `tiny` gives the test-sized variant (tests/test_diagnostics.py).
"""

from __future__ import annotations

import ml_collections

from configs import default
from ddf.data.ffpp_layout import DIAGNOSTIC_METHODS

BRANCHES = {
  "spatial": "spatial",
  "temporal": "temporal",
  "micro": "micro",
  "micro_temporal": "micro_temporal",
  "full": "spatial,temporal,micro,micro_temporal",
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """`arg` = '<Method>,<branch>[,tiny]' (default 'Shuffled,full')."""
  parts = [p.strip() for p in (arg or "Shuffled,full").split(",")]
  tiny = parts[2:] == ["tiny"]
  if (
    len(parts) not in (2, 3)
    or parts[0] not in DIAGNOSTIC_METHODS
    or parts[1] not in BRANCHES
    or (len(parts) == 3 and not tiny)
  ):
    raise ValueError(
      f"configs/diagnostics.py:<Method>,<branch>[,tiny] with Method in {DIAGNOSTIC_METHODS} and "
      f"branch in {tuple(BRANCHES)}; got {arg!r}"
    )
  method, branch = parts[:2]
  c = default.get_config("tiny" if tiny else "shared")  # the two-photo tree
  c.data.methods = method
  # Lighting changes within a clip, so that a Shuffled clip flickers: a cue the crops' alignment
  # jitter does not hide (expression changes alone are below it at 64 px).
  c.data.synthetic_dynamics = 12.0
  c.model.branches = BRANCHES[branch]
  # Chosen on these trees' val splits: at the embedded default's 5e-4 the time-standardised
  # temporal branch does not detect Shuffled within 400 steps (val 0.55; at 2e-3, 0.97; README).
  c.learning_rate = 2e-3
  if not tiny:
    c.data.synthetic_pairs = (24, 8, 16)  # test: 32 reals + 32 fakes.
    c.num_train_steps = 400
  return c
