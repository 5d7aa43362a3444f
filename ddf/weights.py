"""Converts pretrained weights you have into a ddf backbone checkpoint (nothing is downloaded).

  python -m ddf.weights --from keras --arch resnet50 \
      --input ~/.keras/models/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5 --output DIR
  python -m ddf.weights --from torch --arch resnet50 --input resnet50.pth --output DIR

writes `DIR/variables` (the backbone's `{'params', 'batch_stats'}`) and `DIR/meta.json`; train
with `--config.model.spatial.pretrained=DIR` (see `ddf/weights_lib.py` for the formats read).
A file of another architecture or format gets a two-line error with the command to use.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
  """CLI entry point (see module docstring)."""
  p = argparse.ArgumentParser(
    prog="python -m ddf.weights",
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  p.add_argument("--from", dest="source_format", choices=("keras", "torch"), required=True)
  p.add_argument("--arch", required=True, choices=("resnet50", "vgg16", "resnet50_tv", "vgg16_tv"))
  p.add_argument("--input", required=True, help="weight file (.h5 / .weights.h5 / torch .pth)")
  p.add_argument("--output", required=True, help="output directory")
  p.add_argument("--verbose", action="store_true", help="on a mismatch, list all layers")
  a = p.parse_args(argv)
  from ddf import weights_lib

  try:
    meta = weights_lib.convert(a.source_format, a.arch, os.path.expanduser(a.input), a.output)
  except (weights_lib.WeightMismatchError, FileNotFoundError) as e:
    details = getattr(e, "details", "")
    if a.verbose and details:
      print(details, file=sys.stderr)
    first, *rest = str(e).split("\n")
    hint = " (--verbose lists all layers)" if details and not a.verbose else ""
    print("\n".join([f"error: {first}{hint}", *rest]), file=sys.stderr)
    return 2
  print(
    f"wrote {os.path.abspath(a.output)} ({meta['num_params']} values, arch {meta['arch']}, "
    f"normalization {meta['normalization']}); use model.spatial.arch={meta['arch']} "
    f"model.spatial.pretrained={os.path.abspath(a.output)}"
  )
  return 0


def cli() -> None:
  sys.exit(main())


if __name__ == "__main__":
  cli()
