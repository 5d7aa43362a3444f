"""Paper-style tables from evaluated workdirs (the library behind `python -m ddf.tables`).

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

import csv
import json
import math
import os
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Run", "Table", "build_tables", "load_runs", "to_markdown", "write_tables"]

# Config keys that do not make a different model (grouped as seeds of one row).
_IGNORED = (
  "seed",
  "mesh.",
  "data.data_dir",
  "data.manual_dir",
  "data.num_workers",
  "data.build_workers",
  "data.beam_pipeline_options",
  "eval_batch_size",
  "log_every_steps",
  "checkpoint_every_steps",
  "max_to_keep",
  "eval_splits",
  "nan_policy",
  "eval_every_steps",
)
# ... and, for the FF++ table, the keys that say which data (columns there).
_DATA_KEYS = ("data.config", "data.name")
_SHORT = {"spatial": "S", "temporal": "T", "micro": "M", "micro_temporal": "MT"}
_BRANCHES = ("spatial", "temporal", "micro", "micro_temporal")
_COMP_ORDER = {"raw": 0, "c23": 1, "c40": 2}


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(_flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = tuple(v) if isinstance(v, list) else v
  return out


def _ignored(key: str, extra: Sequence[str] = ()) -> bool:
  return any(key == p or (p.endswith(".") and key.startswith(p)) for p in (*_IGNORED, *extra))


@dataclass
class Run:
  """One workdir: its flattened config and its eval reports."""

  workdir: Path
  config: dict[str, Any]
  reports: list[dict[str, Any]] = field(default_factory=list)
  perturbed: list[dict[str, Any]] = field(default_factory=list)  # `ddf.evaluate --perturb`

  def signature(self, drop: Sequence[str] = ()) -> str:
    keep = {k: v for k, v in self.config.items() if not _ignored(k, drop)}
    return json.dumps(keep, sort_keys=True, default=str)

  @property
  def train_dataset(self) -> str:
    return f"{self.config.get('data.name', '?')}/{self.train_builder_config}"

  @property
  def train_builder_config(self) -> str:
    c = self.config
    if c.get("data.name") == "faceforensics":
      try:
        from ddf.data.build_lib import builder_config_name

        return builder_config_name(
          {k[len("data.") :]: v for k, v in c.items() if k.startswith("data.")}
        )
      except Exception:  # noqa: BLE001 - fall back to the compression name.
        pass
    return str(c.get("data.config", ""))

  def branches(self) -> tuple[str, ...]:
    if self.config.get("baseline"):
      return ()
    raw = self.config.get("model.branches", ",".join(_BRANCHES))
    names = raw.split(",") if isinstance(raw, str) else list(raw)
    return tuple(b for b in _BRANCHES if b in [n.strip() for n in names])

  def base_label(self) -> str:
    c = self.config
    if c.get("baseline"):  # written by `python -m ddf.baselines`
      return f"baseline: {c['baseline']}"
    name = c.get("ablation") or "+".join(_SHORT[b] for b in self.branches())
    label = f"{c.get('model.spatial.arch', '?')} {name}"
    if c.get("model.fusion", "concat") != "concat":
      label += f" {c['model.fusion']}-fusion"
    if c.get("model.spatial.pretrained"):
      label += " pretrained"
    if c.get("model.spatial.freeze"):
      label += " frozen"
    return label

  def in_dataset(self, report: dict[str, Any]) -> bool:
    return (
      report.get("dataset") == self.config.get("data.name")
      and report.get("builder_config") == self.train_builder_config
    )


def load_runs(workdirs: Sequence[str | os.PathLike]) -> list[Run]:
  """Workdirs with a config.json; their eval/*.json reports (ROC PNGs etc. are skipped)."""
  runs = []
  for w in workdirs:
    w = Path(w).expanduser()
    cfg_path = w / "config.json"
    if not cfg_path.exists():
      print(f"skipping {w}: no config.json", file=sys.stderr)
      continue
    run = Run(w, _flatten(json.loads(cfg_path.read_text())))
    for p in sorted((w / "eval").glob("*.json")):
      report = json.loads(p.read_text())
      if isinstance(report, dict) and "video_auc" in report:
        report.setdefault("split", p.stem.rsplit("_", 1)[-1])
        (run.perturbed if report.get("perturbation") else run.reports).append(report)
    if not run.reports:
      print(
        f"note: {w} has no eval/*.json (run `python -m ddf.evaluate --workdir {w}`)",
        file=sys.stderr,
      )
    runs.append(run)
  return runs


def _differing_settings(configs: Sequence[dict[str, Any]], drop: Sequence[str] = ()) -> list[str]:
  """Per config, `key=value` of up to three keys whose values differ among `configs`."""
  keys = sorted({k for c in configs for k in c if not _ignored(k, drop)})
  differ = [k for k in keys if len({json.dumps(c.get(k), default=str) for c in configs}) > 1]
  return [", ".join(f"{k}={c.get(k)}" for k in differ[:3]) for c in configs]


def _labels(runs: Sequence[Run], drop: Sequence[str] = ()) -> dict[str, str]:
  """signature -> unique readable row name."""
  by_sig = {r.signature(drop): r for r in runs}
  by_label: dict[str, list[str]] = defaultdict(list)
  for sig, r in by_sig.items():
    by_label[r.base_label()].append(sig)
  out = {}
  for label, sigs in by_label.items():
    if len(sigs) == 1:
      out[sigs[0]] = label
      continue
    extras = _differing_settings([by_sig[s].config for s in sigs], drop)
    for s, extra in zip(sigs, extras, strict=True):
      out[s] = f"{label} ({extra})"
  return out


@dataclass
class Table:
  """Header + rows; a cell is text or the list of per-seed values (fractions) of one metric."""

  name: str
  title: str
  header: list[str]
  rows: list[list[Any]]
  groups: list[tuple[str, int]] | None = None  # LaTeX multicolumn groups over the value columns.


@dataclass(frozen=True)
class Value:
  """One run's value of a metric (a fraction) and, for AUCs, its 95% bootstrap interval."""

  value: float
  ci: tuple[float, float] | None = None


def _stats(values: list[Value]) -> tuple[float, float, int]:
  vals = [v.value for v in values if v.value is not None and not math.isnan(v.value)]
  if not vals:
    return math.nan, math.nan, 0
  mean = sum(vals) / len(vals)
  std = (
    math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else math.nan
  )
  return 100 * mean, 100 * std, len(vals)


def _single_ci(values: list[Value]) -> tuple[float, float] | None:
  """The bootstrap interval (percent) of a cell holding one run, if it has one."""
  vals = [v for v in values if not math.isnan(v.value)]
  if len(vals) != 1 or vals[0].ci is None or any(math.isnan(x) for x in vals[0].ci):
    return None
  return 100 * vals[0].ci[0], 100 * vals[0].ci[1]


def _fmt(cell: Any, latex: bool = False) -> str:
  """Mean ± sample std over seeds; one seed: the value [95% bootstrap interval] where known."""
  if not isinstance(cell, list):
    return str(cell)
  mean, std, n = _stats(cell)
  if n == 0:
    return "–"
  if n == 1:
    ci = _single_ci(cell)
    return f"{mean:.2f}" if ci is None else f"{mean:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"
  return f"{mean:.2f} $\\pm$ {std:.2f}" if latex else f"{mean:.2f} ± {std:.2f}"


def _metric(report: dict[str, Any], subset: str, key: str) -> Value:
  r = report
  if subset != "All":
    r = report.get("per_method", {}).get(subset) or report.get("per_compression", {}).get(subset)
  if r is None or r.get(key) is None:
    return Value(float("nan"))
  ci = r.get(f"{key}_ci")
  return Value(float(r[key]), None if ci is None else (float(ci[0]), float(ci[1])))


def _ffpp_table(runs: Sequence[Run], split: str, level: str) -> Table:
  drop = _DATA_KEYS
  labels = _labels(runs, drop)
  cells: dict[tuple[str, str, str, str], list[Value]] = defaultdict(list)
  seeds: dict[str, set] = defaultdict(set)
  columns: set[tuple[str, str]] = set()
  for run in runs:
    sig = run.signature(drop)
    for rep in run.reports:
      if rep.get("split") != split or not run.in_dataset(rep):
        continue
      comp = "+".join(sorted(rep.get("per_compression", {}))) or run.config.get("data.config", "?")
      seeds[sig].add((run.config.get("seed"), str(run.workdir)))
      for subset in [*rep.get("per_method", {}), "All"]:
        columns.add((comp, subset))
        for metric in ("acc", "auc"):
          cells[(sig, comp, subset, metric)].append(_metric(rep, subset, f"{level}_{metric}"))
  comps = sorted({c for c, _ in columns}, key=lambda c: (_COMP_ORDER.get(c, 9), c))
  cols = []
  for comp in comps:
    methods = sorted(m for c, m in columns if c == comp and m != "All")
    cols += [(comp, m) for m in [*methods, "All"]]
  header = ["model", "seeds"] + [f"{c} {m} {k}" for c, m in cols for k in ("ACC", "AUC")]
  rows = []
  for sig in sorted(seeds, key=lambda s: labels[s]):
    rows.append(
      [labels[sig], str(len(seeds[sig]))]
      + [cells.get((sig, c, m, k), []) for c, m in cols for k in ("acc", "auc")]
    )
  groups = [(f"{c} {m}", 2) for c, m in cols]
  return Table(
    "ffpp",
    f"In-dataset ({split}, {level} level): ACC / AUC (%) per compression and method",
    header,
    rows,
    groups,
  )


def _ablation_table(runs: Sequence[Run], split: str, level: str) -> Table:
  labels = _labels(runs)
  cells: dict[tuple[str, str], list[Value]] = defaultdict(list)
  info: dict[str, tuple[Run, set]] = {}
  metrics = [
    (f"{level}_auc", "AUC"),
    (f"{level}_acc", "ACC"),
    (f"{level}_eer", "EER"),
    (
      "clip_auc" if level == "video" else "video_auc",
      "clip AUC" if level == "video" else "video AUC",
    ),
  ]
  for run in runs:
    sig = run.signature()
    for rep in run.reports:
      if rep.get("split") != split or not run.in_dataset(rep):
        continue
      info.setdefault(sig, (run, set()))[1].add((run.config.get("seed"), str(run.workdir)))
      for key, _ in metrics:
        cells[(sig, key)].append(_metric(rep, "All", key))
  header = ["model", "data", "seeds", "spatial", "temporal", "micro", "micro temporal"] + [
    m for _, m in metrics
  ]
  rows = []
  for sig in sorted(info, key=lambda s: (info[s][0].train_dataset, labels[s])):
    run, seeds = info[sig]
    on = run.branches()
    rows.append(
      [labels[sig], run.train_dataset, str(len(seeds))]
      + ["✓" if b in on else "" for b in _BRANCHES]
      + [cells[(sig, k)] for k, _ in metrics]
    )
  return Table("ablation", f"Branch ablation ({split}, {level} level, %)", header, rows)


# (TFDS name, config prefix, column name) in the order the field reports cross-dataset results.
_DATASET_NAMES = (
  ("faceforensics", "", "FF++"),
  ("celeb_df", "v1", "Celeb-DF v1"),
  ("celeb_df", "v2", "Celeb-DF v2"),
  ("dfd", "", "DFD"),
  ("dfdc", "full", "DFDC"),
  ("dfdc", "preview", "DFDC-P"),
  ("deeper_forensics", "", "DF-1.0"),
)


def dataset_column(dataset: str, config: str) -> tuple[int, str]:
  """(order, name) of a test dataset's column, e.g. ('celeb_df', 'v2') -> 'Celeb-DF v2'."""
  for order, (name, prefix, title) in enumerate(_DATASET_NAMES):
    if dataset == name and config.startswith(prefix):
      rest = config[len(prefix) :].lstrip("_")
      return order, f"{title} ({rest})" if rest else title
  return len(_DATASET_NAMES), f"{dataset}/{config}"


def _cross_table(runs: Sequence[Run], split: str, level: str) -> Table:
  """Rows = models, columns = test datasets x {clip-level, video-level} AUC."""
  labels = _labels(runs)
  cells: dict[tuple[str, str, str], list[Value]] = defaultdict(list)
  info: dict[str, tuple[Run, set]] = {}
  tests: dict[str, int] = {}
  for run in runs:
    sig = run.signature()
    for rep in run.reports:
      if rep.get("split") != split:
        continue
      order, test = dataset_column(str(rep.get("dataset")), str(rep.get("builder_config")))
      tests[test] = order
      info.setdefault(sig, (run, set()))[1].add((run.config.get("seed"), str(run.workdir)))
      for lvl in ("clip", "video"):
        cells[(sig, test, lvl)].append(_metric(rep, "All", f"{lvl}_auc"))
  cols = sorted(tests, key=lambda t: (tests[t], t))
  header = ["model", "train", "seeds"] + [
    f"{t} {lvl}-level AUC" for t in cols for lvl in ("clip", "video")
  ]
  rows = []
  for sig in sorted(info, key=lambda s: (info[s][0].train_dataset, labels[s])):
    run, seeds = info[sig]
    rows.append(
      [labels[sig], run.train_dataset, str(len(seeds))]
      + [cells.get((sig, t, lvl), []) for t in cols for lvl in ("clip", "video")]
    )
  del level  # both levels are shown
  return Table(
    "cross_dataset",
    f"Cross-dataset ({split}, AUC %; clip level: every fixed clip, "
    "video level: mean clip score per video): train -> test",
    header,
    rows,
    [(t, 2) for t in cols],
  )


def _diagnostic(run: Run) -> tuple[str, str] | None:
  """(diagnostic method, branch) of a run trained on one cue-isolating method, else None."""
  from ddf.data.ffpp_layout import DIAGNOSTIC_METHODS

  methods = str(run.config.get("data.methods", "")).split(",")
  if len(methods) != 1 or methods[0].strip() not in DIAGNOSTIC_METHODS:
    return None
  if run.config.get("baseline"):
    return methods[0].strip(), f"baseline: {run.config.get('baseline')}"
  on = run.branches()
  branch = "full" if set(on) == set(_BRANCHES) else "+".join(on)
  return methods[0].strip(), branch


def _diagnostics_table(runs: Sequence[Run], split: str, level: str) -> Table:
  """Rows = branch (and any other setting that differs), columns = diagnostic method: AUC of a
  model trained on reals + that method. Runs that differ only by seed share a cell."""
  drop = ("data.", "model.branches")  # the data are the columns; the branch is the row name.
  cells: dict[tuple[tuple[str, str], str], list[Value]] = defaultdict(list)
  row_runs: dict[tuple[str, str], Run] = {}
  for run in runs:
    key = _diagnostic(run)
    if key is None:
      continue
    method, branch = key
    row = (branch, run.signature(drop))
    for rep in run.reports:
      if rep.get("split") == split and run.in_dataset(rep):
        row_runs.setdefault(row, run)
        cells[(row, method)].append(_metric(rep, "All", f"{level}_auc"))
  # Model rows are named by their branch and the settings that differ among the model rows.
  names = {r: r[0] for r in row_runs}
  models = sorted(r for r, run in row_runs.items() if not run.config.get("baseline"))
  extras = _differing_settings([row_runs[r].config for r in models], drop)
  for r, extra in zip(models, extras, strict=True):
    if extra:
      names[r] = f"{r[0]} ({extra})"
  order = {b: i for i, b in enumerate((*_BRANCHES, "full"))}
  rows_sorted = sorted(row_runs, key=lambda r: (order.get(r[0], 9), r[0], names[r]))
  methods = sorted({m for _, m in cells})
  rows = [[names[r]] + [cells.get((r, m), []) for m in methods] for r in rows_sorted]
  return Table(
    "diagnostics",
    f"Branch x diagnostic ({split}, {level}-level AUC, %; chance = 50): "
    "each model trained on reals + one cue-isolating method, one branch on",
    ["branch"] + [f"{m} AUC" for m in methods],
    rows,
  )


def _robustness_table(runs: Sequence[Run], split: str, level: str) -> Table:
  """Rows = model x perturbation type, columns = clean, levels 1-5 and their average (AUC)."""
  from ddf.data import perturb

  labels = _labels(runs)
  cells: dict[tuple[str, str, str], list[Value]] = defaultdict(list)
  clean: dict[str, list[Value]] = defaultdict(list)
  for run in runs:
    sig = run.signature()
    for rep in run.perturbed:
      if rep.get("split") == split and run.in_dataset(rep):
        kind, lvl = perturb.parse(rep["perturbation"])
        cells[(sig, kind, str(lvl))].append(_metric(rep, "All", f"{level}_auc"))
    for rep in run.reports:
      if rep.get("split") == split and run.in_dataset(rep) and run.perturbed:
        clean[sig].append(_metric(rep, "All", f"{level}_auc"))
  rows = []
  for sig in sorted({k[0] for k in cells}, key=lambda s: labels[s]):
    for kind, (title, _) in perturb.TYPES.items():
      values = [cells.get((sig, kind, str(lvl)), []) for lvl in perturb.LEVELS]
      if not any(values):
        continue
      means = [_stats(v)[0] / 100 for v in values if v]
      average = [Value(sum(means) / len(means))]
      rows.append([labels[sig], f"{kind} ({title})", clean.get(sig, [])] + values + [average])
  header = ["model", "perturbation", "clean"] + [f"level {lvl}" for lvl in perturb.LEVELS] + ["avg"]
  return Table(
    "robustness",
    f"Robustness ({split}, {level}-level AUC, %) under the "
    "DeeperForensics-1.0 perturbations (ddf/data/perturb.py)",
    header,
    rows,
  )


def build_tables(runs: Sequence[Run], split: str = "test", level: str = "video") -> list[Table]:
  """The FF++, ablation, cross-dataset, diagnostics and robustness tables of these runs."""
  return [
    _ffpp_table(runs, split, level),
    _ablation_table(runs, split, level),
    _cross_table(runs, split, level),
    _diagnostics_table(runs, split, level),
    _robustness_table(runs, split, level),
  ]


def to_markdown(table: Table) -> str:
  lines = [
    f"**{table.title}**",
    "",
    "| " + " | ".join(table.header) + " |",
    "|" + "---|" * len(table.header),
  ]
  lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in table.rows]
  if not table.rows:
    lines.append("| (no evaluated runs) |" + " |" * (len(table.header) - 1))
  return "\n".join(lines) + "\n"


def _tex_escape(text: str) -> str:
  for a, b in (
    ("\\", "\\textbackslash{}"),
    ("&", "\\&"),
    ("%", "\\%"),
    ("_", "\\_"),
    ("#", "\\#"),
    ("✓", "\\checkmark"),
    ("±", "$\\pm$"),
    ("–", "--"),
  ):
    text = text.replace(a, b)
  return text


def to_latex(table: Table) -> str:
  n = len(table.header)
  lines = ["% " + table.title, "\\begin{tabular}{l" + "c" * (n - 1) + "}", "\\toprule"]
  if table.groups:
    lead = n - 2 * len(table.groups)
    lines.append(
      " & " * (lead - 1)
      + " & "
      + " & ".join(f"\\multicolumn{{{w}}}{{c}}{{{_tex_escape(g)}}}" for g, w in table.groups)
      + " \\\\"
    )
    header = table.header[:lead] + [h.rsplit(" ", 1)[-1] for h in table.header[lead:]]
  else:
    header = table.header
  lines.append(" & ".join(_tex_escape(h) for h in header) + " \\\\")
  lines.append("\\midrule")
  for row in table.rows:
    lines.append(
      " & ".join(_fmt(c, latex=True) if isinstance(c, list) else _tex_escape(str(c)) for c in row)
      + " \\\\"
    )
  lines += ["\\bottomrule", "\\end{tabular}"]
  return "\n".join(lines) + "\n"


def write_csv(table: Table, path: Path) -> None:
  with open(path, "w", newline="") as f:
    w = csv.writer(f)
    value_cols = (
      [i for i, c in enumerate(table.rows[0]) if isinstance(c, list)] if table.rows else []
    )
    header = []
    for i, h in enumerate(table.header):
      header += [h, f"{h}_std", f"{h}_ci_lo", f"{h}_ci_hi"] if i in value_cols else [h]
    w.writerow(header)

    def number(x: float) -> str:
      return "" if math.isnan(x) else f"{x:.4f}"

    for row in table.rows:
      out = []
      for c in row:
        if isinstance(c, list):
          mean, std, _ = _stats(c)
          ci = _single_ci(c) or (math.nan, math.nan)
          out += [number(mean), number(std), number(ci[0]), number(ci[1])]
        else:
          out.append("yes" if c == "✓" else ("no" if c == "" else c))
      w.writerow(out)


def write_tables(tables: Sequence[Table], out: str | os.PathLike) -> list[Path]:
  """OUT/<name>.md, .tex, .csv per table, and OUT/tables.md with all of them."""
  out = Path(out).expanduser()
  out.mkdir(parents=True, exist_ok=True)
  paths = []
  for t in tables:
    (out / f"{t.name}.md").write_text(to_markdown(t))
    (out / f"{t.name}.tex").write_text(to_latex(t))
    write_csv(t, out / f"{t.name}.csv")
    paths += [out / f"{t.name}.{e}" for e in ("md", "tex", "csv")]
  (out / "tables.md").write_text("\n".join(to_markdown(t) for t in tables))
  return paths
