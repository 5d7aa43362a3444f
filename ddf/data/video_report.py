"""The build report of a video dataset (`build_report.json`, written beside it by every builder).

Per split: how many videos the dataset's own lists name (`listed`), how many were `built`, and the
`missing` (not on disk) and `skipped` (unreadable, too short, faceless) files with reasons;
videos with faceless frames; fakes cropped with their target's face track or with their own (and
why). Plus the manual dir, config, version, stored options and each worker's peak memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ddf.data.ffpp_examples import ExampleResult


def new_report(
  manual_dir: Path, config: str, version: str, options: dict[str, Any]
) -> dict[str, Any]:
  """An empty report; `splits` are added by `split_report`, `workers` by `add_result`."""
  return {
    "manual_dir": str(manual_dir),
    "config": config,
    "version": version,
    "options": options,
    "splits": {},
    "workers": {},
  }


def split_report(listed: int, missing: list[str]) -> dict[str, Any]:
  """One split's entry before anything is built: `listed` videos, the `missing` paths."""
  return {
    "listed": listed,
    "missing": len(missing),
    "missing_files": missing,
    "built": 0,
    "skipped": 0,
    "skipped_files": {},
    "warnings": [],
    "videos_with_faceless_frames": 0,
    "fakes_with_target_track": 0,
    "fakes_with_own_track": 0,
    "own_track_files": {},
    "seconds": 0.0,
  }


def add_result(report: dict[str, Any], split: dict[str, Any], result: ExampleResult) -> bool:
  """Counts one video's outcome in `split` (of `report`); True when it was built."""
  split["warnings"].extend(result.warnings)
  if result.worker:
    pid = str(result.worker["pid"])
    report["workers"][pid] = dict(result.worker, pid=int(pid))
  if result.example is None:
    split["skipped"] += 1
    split["skipped_files"][result.key] = result.skipped
    return False
  split["built"] += 1
  split["videos_with_faceless_frames"] += int(result.frames_without_face > 0)
  if result.example["label"] == 1:
    if result.face_source == "target":
      split["fakes_with_target_track"] += 1
    else:
      split["fakes_with_own_track"] += 1
      split["own_track_files"][result.key] = result.own_track_reason
  return True


def finish(report: dict[str, Any], seconds: float) -> None:
  """Total time, the workers as a list (by pid) and their largest peak memory."""
  report["seconds"] = round(seconds, 1)
  report["workers"] = sorted(report["workers"].values(), key=lambda w: w["pid"])
  report["peak_rss_mb_per_worker"] = max((w["peak_rss_mb"] for w in report["workers"]), default=0.0)


def format_report(report: dict[str, Any], path: Path | None = None, title: str = "FF++") -> str:
  """A short human-readable summary of a build report (`title`: the dataset's name)."""
  lines = [f"{title} build report ({report['config']}, manual dir {report['manual_dir']}):"]
  for split, r in report["splits"].items():
    lines.append(
      f"  {split:5s}: {r['built']} built, {r['skipped']} skipped, "
      f"{r['missing']} missing on disk (of {r['listed']} listed), "
      f"{r['videos_with_faceless_frames']} with frames without a face; fakes cropped "
      f"with their target's track: {r.get('fakes_with_target_track', 0)}, with their "
      f"own: {r.get('fakes_with_own_track', 0)}"
    )
    for key, reason in list(r["skipped_files"].items())[:10]:
      lines.append(f"      skipped {key}: {reason}")
    if r["missing"]:
      lines.append(f"      missing e.g. {r['missing_files'][0]}")
  if report.get("workers"):
    lines.append(
      f"  {len(report['workers'])} worker process(es), peak memory per worker "
      f"{report['peak_rss_mb_per_worker']:.0f} MB"
    )
  if path is not None:
    lines.append(f"  full report: {path}")
  return "\n".join(lines)
