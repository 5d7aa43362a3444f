"""Branch ablations (docs/design.md section 5) on the embedded synthetic data or on FF++.

  python -m ddf.train --config configs/ablation.py:spatial_only --workdir runs/abl_spatial
  python -m ddf.train --config configs/ablation.py:temporal_only --workdir runs/abl_temporal
  python -m ddf.train --config configs/ablation.py:micro_only --workdir runs/abl_micro
  python -m ddf.train --config configs/ablation.py:no_micro --workdir runs/abl_no_micro
  python -m ddf.train --config configs/ablation.py:full --workdir runs/abl_full
  # on FaceForensics++ c23 with ResNet50 instead of the synthetic default:
  python -m ddf.train --config configs/ablation.py:no_micro,ffpp --workdir runs/ffpp_abl_no_micro
  # test-sized model and data (seconds per run on a CPU):
  python -m ddf.train --config configs/ablation.py:no_micro,tiny --workdir runs/tiny_abl_no_micro

`launch/ablations.sh` runs the whole grid and builds the tables.
"""

from __future__ import annotations

import ml_collections

from configs import default, ffpp

BRANCHES = {
  "spatial_only": "spatial",
  "temporal_only": "temporal",
  "micro_only": "micro,micro_temporal",
  "no_micro": "spatial,temporal",
  "full": "spatial,temporal,micro,micro_temporal",
}


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  opts = (arg or "full").split(",")
  name = opts[0]
  if name not in BRANCHES:
    raise ValueError(f"unknown ablation {name!r}; choose from {', '.join(BRANCHES)}")
  if "ffpp" in opts:
    c = ffpp.get_config("c23,resnet50")
  else:  # "tiny": the test-sized default (quick grids, e.g. launch/ablations.sh smoke runs).
    c = default.get_config("tiny" if "tiny" in opts else None)
  c.unlock()
  c.model.branches = BRANCHES[name]
  c.ablation = name
  c.lock()
  return c
