"""Generate the embedded synthetic FaceForensics++-format tree (the FF++ download layout).

  python -m ddf.data.synthetic --out /tmp/ffpp --pairs 16 4 4 --compressions c23 c40

Deterministic from `--seed`; re-running with the same settings only writes missing videos; other
settings need `--overwrite` or a new folder. The generator is `ddf.data.synthetic_lib`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
  """Command line: `python -m ddf.data.synthetic --out DIR [...]`; returns the exit status."""
  from ddf.data import synthetic_lib as lib

  ap = argparse.ArgumentParser(
    prog="python -m ddf.data.synthetic", description=__doc__.split("\n\n")[0]
  )
  ap.add_argument("--out", required=True, help="output folder (the FF++ manual_dir)")
  ap.add_argument(
    "--pairs",
    type=int,
    nargs=3,
    default=[16, 4, 4],
    metavar=("TRAIN", "VAL", "TEST"),
    help="[target, source] pairs per split (default 16 4 4)",
  )
  ap.add_argument(
    "--methods", nargs="+", default=list(lib.DEFAULT_METHODS), help=f"from {', '.join(lib.METHODS)}"
  )
  ap.add_argument("--compressions", nargs="+", default=["c23"], help="from raw c23 c40")
  ap.add_argument("--size", type=int, default=160, help="frame size in pixels (square)")
  ap.add_argument("--frames", type=int, default=24, help="frames per video")
  ap.add_argument("--fps", type=float, default=25.0)
  ap.add_argument("--seed", type=int, default=0)
  ap.add_argument("--difficulty", type=float, default=0.5, help="0 = obvious artifacts, 1 = subtle")
  ap.add_argument(
    "--dynamics", type=float, default=1.0, help="lighting-drift speed (>= 1; diagnostics: 12)"
  )
  ap.add_argument(
    "--camera",
    type=float,
    default=0.0,
    help="per-video capture variability: white balance, focus, noise (0 = one fixed camera)",
  )
  ap.add_argument(
    "--capture",
    choices=lib.CAPTURES,
    default="before",
    help="when a fake is made: before its target's camera films it (before), or afterwards, "
    "composited onto the filmed video with noise of its own (after)",
  )
  ap.add_argument(
    "--skin_texture",
    type=float,
    default=0.0,
    help="std (light units in [0, 1]) of a fine texture fixed to every face, which any "
    "resampling of the face by a manipulation changes (0 = none)",
  )
  ap.add_argument(
    "--photos",
    choices=lib.PHOTO_POOLS,
    default="shared",
    help="identity pool: the two scikit-image face photos in every split (shared), or every "
    "shipped face photo, none in two splits, swaps warping another identity's face (disjoint), "
    "and morphs of a split's photos where it has more identities than photos (morphed)",
  )
  ap.add_argument(
    "--faces",
    action="append",
    default=[],
    metavar="DIR",
    help="folder of extra face photos (repeatable)",
  )
  ap.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
  ap.add_argument(
    "--overwrite", action="store_true", help="replace a tree made with other parameters"
  )
  ap.add_argument("--quiet", action="store_true")
  args = ap.parse_args(argv)
  try:
    report = lib.generate(
      args.out,
      pairs=args.pairs,
      methods=args.methods,
      compressions=args.compressions,
      size=args.size,
      num_frames=args.frames,
      fps=args.fps,
      seed=args.seed,
      difficulty=args.difficulty,
      face_dirs=args.faces,
      dynamics=args.dynamics,
      photos=args.photos,
      camera=args.camera,
      capture=args.capture,
      skin_texture=args.skin_texture,
      workers=args.workers,
      overwrite=args.overwrite,
      verbose=not args.quiet,
    )
  except (ValueError, FileNotFoundError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(report.summary())
  return 0


def cli() -> None:
  sys.exit(main())


if __name__ == "__main__":
  cli()
