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
    "reused_from_interrupted_build": 0,
  }


def result_record(split: str, result: ExampleResult, reused: bool = False) -> dict[str, Any]:
  """What the report keeps of one video's outcome (JSON-ready; no frames); `reused`: taken
  from an interrupted build's cache instead of being made again."""
  return {
    "split": split,
    "reused": reused,
    "key": result.key,
    "label": None if result.example is None else int(result.example["label"]),
    "skipped": result.skipped,
    "warnings": list(result.warnings),
    "frames_without_face": int(result.frames_without_face),
    "face_source": result.face_source,
    "own_track_reason": result.own_track_reason,
    "worker": result.worker,
  }


def add_record(report: dict[str, Any], record: dict[str, Any]) -> None:
  """Counts one video's outcome (a `result_record`) in its split of `report`."""
  split = report["splits"][record["split"]]
  split["warnings"].extend(record["warnings"])
  if record.get("reused"):
    split["reused_from_interrupted_build"] += 1
  elif record["worker"]:
    pid = str(record["worker"]["pid"])
    report["workers"][pid] = dict(record["worker"], pid=int(pid))
  if record["label"] is None:
    split["skipped"] += 1
    split["skipped_files"][record["key"]] = record["skipped"]
    return
  split["built"] += 1
  split["videos_with_faceless_frames"] += int(record["frames_without_face"] > 0)
  if record["label"] == 1:
    if record["face_source"] == "target":
      split["fakes_with_target_track"] += 1
    else:
      split["fakes_with_own_track"] += 1
      split["own_track_files"][record["key"]] = record["own_track_reason"]


def add_records(report: dict[str, Any], records: list[dict[str, Any]]) -> None:
  """`add_record` for each, in a fixed order (split, then key), whatever order workers wrote
  them in; the warnings of a split are then in key order too."""
  for record in sorted(records, key=lambda r: (r["split"], r["key"])):
    add_record(report, record)


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
    if r.get("reused_from_interrupted_build"):
      lines.append(
        f"      {r['reused_from_interrupted_build']} taken from the interrupted build's cache"
      )
    for key, reason in list(r["skipped_files"].items())[:10]:
      lines.append(f"      skipped {key}: {reason}")
    if r["missing"]:
      lines.append(f"      missing e.g. {r['missing_files'][0]}")
  if report.get("beam"):
    lines.append(f"  Beam runner {report['beam']['runner']}, workers {report['beam']['workers']}")
  if report.get("workers"):
    lines.append(
      f"  {len(report['workers'])} worker process(es), peak memory per worker "
      f"{report['peak_rss_mb_per_worker']:.0f} MB"
    )
  if path is not None:
    lines.append(f"  full report: {path}")
  return "\n".join(lines)
