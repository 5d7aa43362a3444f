"""Computes a frozen-backbone config's feature cache ahead of training (e.g. on a GPU box).

  python -m ddf.precompute_features --config configs/ffpp.py:c23,resnet50,frozen \
      [--splits train,val,test] [--config.data.feature_cache_dir=/shared/cache]

Builds the dataset if needed, initialises the model exactly as `ddf.train` does (same seed, same
`model.spatial.pretrained`), and writes the caches `ddf.train` would compute on its first run
(`ddf/data/feature_cache.py`); a later `ddf.train` with the same config finds and reuses them.
"""

from __future__ import annotations

from absl import app, flags
from ml_collections import config_flags

FLAGS = flags.FLAGS
flags.DEFINE_string("splits", None, "Comma-separated splits (default: train, val and eval_splits).")
config_flags.DEFINE_config_file("config", None, "Training configuration file.", lock_config=True)
flags.mark_flags_as_required(["config"])


def main(argv: list[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  import jax

  from ddf import sharding, train_lib

  config = FLAGS.config
  if not (config.data.get("feature_cache", False) and config.model.spatial.freeze):
    raise app.UsageError(
      "this config does not train on cached features: use a frozen variant "
      "(e.g. configs/ffpp.py:c23,resnet50,frozen) or set "
      "--config.model.spatial.freeze=True --config.data.feature_cache=True"
    )
  sharding.maybe_initialize_distributed()
  splits = (
    tuple(s.strip() for s in FLAGS.splits.split(",") if s.strip())
    if FLAGS.splits
    else ("train", "val", *config.eval_splits)
  )
  sources = train_lib.precompute_features(config, splits)
  if jax.process_index() == 0:
    for split, source in sources.items():
      print(f"{split}: {len(source)} videos in {source.directory}")
  return 0


def cli() -> None:
  app.run(main)


if __name__ == "__main__":
  cli()
