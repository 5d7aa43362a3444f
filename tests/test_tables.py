"""ddf.tables on hand-made workdirs: bootstrap intervals, baseline rows, the diagnostics matrix."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from configs import default
from ddf import tables


def _workdir(root: Path, name: str, config: dict, auc: float, ci=(0.8, 0.95)) -> Path:
  w = root / name
  (w / "eval").mkdir(parents=True)
  (w / "config.json").write_text(json.dumps(config))
  from ddf.data.build_lib import builder_config_name

  report = {
    "dataset": "faceforensics",
    "split": "test",
    "builder_config": builder_config_name(config["data"]),
    "video_auc": auc,
    "video_auc_ci": list(ci),
    "video_acc": 0.7,
    "video_eer": 0.2,
    "clip_auc": auc,
    "clip_auc_ci": list(ci),
    "per_method": {},
    "per_compression": {"c23": {}},
  }
  (w / "eval" / "faceforensics_test.json").write_text(json.dumps(report))
  return w


def _config(**changes) -> dict:
  c = json.loads(default.get_config().to_json())
  for key, value in changes.items():
    node = c
    *path, last = key.split(".")
    for p in path:
      node = node[p]
    node[last] = value
  return c


def test_single_runs_show_their_bootstrap_interval_and_baselines_are_rows(tmp_path):
  model = _workdir(tmp_path, "model", _config(), 0.93, (0.88, 0.97))
  base = _workdir(tmp_path, "baseline", dict(_config(), baseline="grid_logreg"), 0.71, (0.6, 0.8))
  out = tmp_path / "tables"
  assert tables.main(["--workdirs", str(model), str(base), "--out", str(out)]) == 0
  md = (out / "ablation.md").read_text()
  assert "93.00 [88.00, 97.00]" in md and "71.00 [60.00, 80.00]" in md
  assert "baseline: grid_logreg" in md
  with open(out / "ablation.csv") as f:
    rows = {r["model"]: r for r in csv.DictReader(f)}
  assert rows["baseline: grid_logreg"]["spatial"] == "no"
  assert float(rows["baseline: grid_logreg"]["AUC_ci_lo"]) == 60.0


def test_diagnostics_matrix_rows_are_branches_and_columns_methods(tmp_path):
  runs = []
  for method, branches, auc in (
    ("Shuffled", "spatial", 0.52),
    ("Shuffled", "temporal", 0.97),
    ("ChromaShift", "micro", 0.49),
    ("ChromaShift", "spatial,temporal,micro,micro_temporal", 0.99),
  ):
    name = f"{method}_{branches.replace(',', '+')}"
    runs.append(
      _workdir(tmp_path, name, _config(**{"data.methods": method, "model.branches": branches}), auc)
    )
  runs.append(_workdir(tmp_path, "default", _config(), 0.9))  # not a diagnostic run
  out = tmp_path / "tables"
  assert tables.main(["--workdirs", *map(str, runs), "--out", str(out)]) == 0
  md = (out / "diagnostics.md").read_text()
  lines = [line for line in md.splitlines() if line.startswith("| ")]
  assert lines[0] == "| branch | ChromaShift AUC | Shuffled AUC |"
  body = {line.split(" | ")[0][2:]: line for line in lines[1:]}
  assert list(body) == ["spatial", "temporal", "micro", "full"]
  assert "52.00 [80.00, 95.00]" in body["spatial"] and "97.00" in body["temporal"]
  assert "49.00" in body["micro"] and "99.00" in body["full"]


def test_diagnostics_rows_keep_other_settings_apart_and_average_seeds(tmp_path):
  def run(name, auc, seed=0, **changes):
    changes = {"data.methods": "Shuffled", "model.branches": "temporal", "seed": seed, **changes}
    return str(_workdir(tmp_path, name, _config(**changes), auc))

  runs = [
    run("plain", 0.50),
    run("standardized_seed0", 0.98, **{"model.temporal.time_standardize": True}),
    run("standardized_seed1", 0.96, seed=1, **{"model.temporal.time_standardize": True}),
  ]
  out = tmp_path / "tables"
  assert tables.main(["--workdirs", *runs, "--out", str(out)]) == 0
  with open(out / "diagnostics.csv") as f:
    rows = {r["branch"]: r for r in csv.DictReader(f)}
  assert set(rows) == {
    "temporal (model.temporal.time_standardize=False)",
    "temporal (model.temporal.time_standardize=True)",
  }
  assert float(rows["temporal (model.temporal.time_standardize=False)"]["Shuffled AUC"]) == 50.0
  assert float(rows["temporal (model.temporal.time_standardize=True)"]["Shuffled AUC"]) == 97.0


def test_cross_dataset_columns_are_named_as_the_field_names_them():
  from ddf.tables_lib import dataset_column

  assert dataset_column("celeb_df", "v2")[1] == "Celeb-DF v2"
  assert dataset_column("celeb_df", "v1_f16_w2")[1] == "Celeb-DF v1 (f16_w2)"
  assert dataset_column("dfdc", "preview")[1] == "DFDC-P"
  assert dataset_column("dfdc", "full")[1] == "DFDC"
  assert dataset_column("deeper_forensics", "end_to_end")[1] == "DF-1.0 (end_to_end)"
  assert dataset_column("faceforensics", "c23")[1] == "FF++ (c23)"
  names = ["faceforensics", "celeb_df", "celeb_df", "dfd", "dfdc", "dfdc", "deeper_forensics"]
  configs = ["c23", "v1", "v2", "c23", "full", "preview", "end_to_end"]
  orders = [dataset_column(n, c)[0] for n, c in zip(names, configs, strict=True)]
  assert orders == sorted(orders)
