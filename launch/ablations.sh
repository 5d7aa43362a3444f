#!/usr/bin/env bash
# Branch-ablation grid (configs/ablation.py) on one dataset, then the paper tables, in one go.
#
#   bash launch/ablations.sh [OUT] [--config.key=value ...]
#
#   OUT        root of the runs (default runs/ablations): OUT/<ablation>/seed<k>/, tables in OUT/tables/
#   overrides  passed to every `ddf.train` run, e.g. --config.num_train_steps=50
# Environment:
#   ABLATIONS  which ablations (default "spatial_only temporal_only micro_only no_micro full")
#   SEEDS      seeds per ablation (default "0"; e.g. "0 1 2" -> mean ± std in the tables)
#   VARIANT    config suffix: "" = embedded synthetic data (default), ",ffpp" = FF++ c23 ResNet50
#   SPLIT      split evaluated and tabulated (default test)
#
# On the synthetic default every run trains on a laptop CPU; for a quick pass:
#   bash launch/ablations.sh runs/abl_quick --config.num_train_steps=40 --config.eval_every_steps=20
# A rerun skips finished runs (their eval JSON exists) and resumes interrupted ones.
set -euo pipefail
REPO_DIR=$(cd "$(dirname "$0")/.." && pwd)
OUT=runs/ablations
if [[ $# -gt 0 && "$1" != --* ]]; then OUT=$1; shift; fi
ABLATIONS=${ABLATIONS:-"spatial_only temporal_only micro_only no_micro full"}
SEEDS=${SEEDS:-0}
VARIANT=${VARIANT:-}
SPLIT=${SPLIT:-test}
PYTHON=${PYTHON:-python}
cd "$REPO_DIR"

workdirs=()
for name in $ABLATIONS; do
  for seed in $SEEDS; do
    wd="$OUT/$name/seed$seed"
    workdirs+=("$wd")
    if compgen -G "$wd/eval/*_${SPLIT}.json" > /dev/null; then
      echo "== $name seed $seed: done ($wd)"
      continue
    fi
    echo "== $name seed $seed -> $wd"
    "$PYTHON" -m ddf.train --config "configs/ablation.py:${name}${VARIANT}" --workdir "$wd" \
      --config.seed="$seed" "--config.eval_splits=('val','$SPLIT')" "$@"
  done
done
"$PYTHON" -m ddf.tables --workdirs "${workdirs[@]}" --out "$OUT/tables" --split "$SPLIT"
