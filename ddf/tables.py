"""Paper-style tables from trained and evaluated workdirs (markdown, LaTeX and CSV).

  python -m ddf.tables --workdirs runs/ablations/*/seed* runs/ffpp_* --out runs/tables [--split test]

What it reads and writes (the library is `ddf.tables_lib`):
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ddf import tables_lib


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
    prog="python -m ddf.tables",
    description=__doc__ + tables_lib.__doc__.split("\n", 2)[2],
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  parser.add_argument("--workdirs", nargs="+", required=True)
  parser.add_argument("--out", required=True)
  parser.add_argument("--split", default="test")
  parser.add_argument("--level", default="video", choices=("video", "clip"))
  args = parser.parse_args(argv)
  runs = tables_lib.load_runs(args.workdirs)
  if not runs:
    print("No workdir with a config.json among --workdirs.", file=sys.stderr)
    return 1
  tables = tables_lib.build_tables(runs, args.split, args.level)
  tables_lib.write_tables(tables, args.out)
  for t in tables:
    print(tables_lib.to_markdown(t))
  print(
    f"Wrote {Path(args.out) / '{ffpp,ablation,cross_dataset,diagnostics,robustness}.{md,tex,csv}'}"
  )
  return 0


def cli() -> None:
  sys.exit(main())


if __name__ == "__main__":
  cli()
