"""Which data a number was measured on: the `data` entry of every eval JSON.

From the built dataset and its build report: builder name, config, version and options (frame
sampling, crop, face size), the synthetic generator's settings when the tree was synthetic, and
for the split how many videos its files list, how many were built, how many were scored, and
which were missing, skipped or not scored, and why. A reader can compare the counts with the
published test sets (FF++ c23 test: 140 reals, 560 fakes).
"""

from __future__ import annotations

import json
from typing import Any

from ddf.data import storage

REPORT_NAME = "build_report.json"


def build_report(builder: Any) -> dict[str, Any] | None:
  """The build report beside a built dataset, if it has one."""
  path = storage.as_path(builder.data_dir) / REPORT_NAME
  return json.loads(path.read_text()) if path.exists() else None


def data_record(builder: Any, split: str, report: dict[str, Any]) -> dict[str, Any]:
  """The `data` entry of the eval report `report` of `split`."""
  cfg = builder.builder_config
  built = build_report(builder) or {}
  split_build = built.get("splits", {}).get(split, {})
  out: dict[str, Any] = {
    "builder": builder.name,
    "config": cfg.name if cfg is not None else "",
    "version": str(builder.version),
    "data_dir": str(builder.data_dir),
    "options": built.get("options"),
    "synthetic": built.get("synthetic"),
    "manual_dir": built.get("manual_dir"),
    "listed": split_build.get("listed"),
    "built": int(builder.info.splits[split].num_examples),
    "scored": int(report["num_scored_videos"]),
    "missing": split_build.get("missing_files", []),
    "skipped": split_build.get("skipped_files", {}),
    "not_scored": report.get("not_scored", {}),
    "fakes_with_own_track": split_build.get("own_track_files", {}),
  }
  if not built:
    out["note"] = f"no {REPORT_NAME} beside the dataset: listed / missing / skipped unknown"
  return out
