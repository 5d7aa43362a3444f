"""Paper-style tables from trained and evaluated workdirs (markdown, LaTeX and CSV).

  python -m ddf.tables --workdirs runs/ablations/*/seed* runs/ffpp_* --out runs/tables [--split test]

Reads each workdir's `config.json` and `eval/*.json` (written by `ddf.train`, `ddf.evaluate` or
`ddf.baselines`) and writes under OUT:
  ffpp.{md,tex,csv}           rows = models, columns = compression x method (+ All), video ACC and
                              AUC (%), on the training dataset and builder config (in-dataset).
  ablation.{md,tex,csv}       which branches are on -> video AUC / ACC / EER, clip AUC (%);
                              baselines are rows too (no branch on).
  cross_dataset.{md,tex,csv}  train dataset -> every evaluated dataset, video AUC (%).
  diagnostics.{md,tex,csv}    branch x cue-isolating method (configs/diagnostics.py), AUC (%).
  robustness.{md,tex,csv}     perturbation type x level (`ddf.evaluate --perturb`), AUC (%).
Runs whose configs differ only by `seed` (and by paths, mesh, logging or worker counts) are one
row: mean ± sample std over the seeds (`seeds` column); a single run shows its value and, for an
AUC, its 95% bootstrap interval over videos in brackets. A row's name is its backbone and
branches (the ablation name when set; `baseline: <name>` for a baseline), plus the config keys
that tell apart rows that would otherwise share a name. The CSV files hold the numbers
unformatted (`<col>` mean, `<col>_std`, `<col>_ci_lo`, `<col>_ci_hi`), in percent.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
    prog="python -m ddf.tables",
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  parser.add_argument("--workdirs", nargs="+", required=True)
  parser.add_argument("--out", required=True)
  parser.add_argument("--split", default="test")
  parser.add_argument("--level", default="video", choices=("video", "clip"))
  args = parser.parse_args(argv)
  from ddf import tables_lib

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
