"""Throughput of a dataset build (the Beam pipeline of `ddf.data.video_beam`) on this machine.

Generates a synthetic FF++ tree (`--pairs` [target, source] pairs per split, 10 videos each:
2 reals + 4 methods x 2 fakes), then builds it with the local DirectRunner on each worker count
of `--workers` (1 = in this process, more = multi_processing), timing the whole build (Beam
start-up, decode, face detection of the sampled frames, alignment, JPEG encoding, writing,
index and report). Prints videos/s, sampled frames/s, the speed-up over 1 worker measured in
the same run, and the peak memory per worker (from the build report); then the extrapolation
to FF++ c23 (5,000 videos) and DFDC (~120k videos) on N such workers, assuming the measured
per-worker rate and the measured parallel efficiency. Real videos are longer and larger than
these synthetic ones (FF++: ~500 frames at 480p-1080p), so the extrapolated hours are a lower
bound; the sampled frames per video (`--frames_per_video`) are what detection costs.
`--videos_per_batch 4,8` also times 1-worker builds whose reals are detected in groups of that
many videos (`ddf.data.video_beam.MakeExampleGroups`), against one more 1-worker build of
videos_per_batch 1 timed first, with the detector already compiled (as theirs is).

  python benchmarks/bench_build.py [--pairs 3] [--size 256] [--frames 48] [--workers 1,2]
    [--videos_per_batch 4]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from ddf.data import build_lib
from ddf.data import synthetic_lib as synthetic
from ddf.data.provenance import REPORT_NAME

# Videos of the datasets the extrapolation is for.
TARGETS = (("FF++ c23 (5,000 videos)", 5_000), ("DFDC (~120k videos)", 120_000))
CLUSTER_WORKERS = (1, 2, 16, 64, 256)


def build_once(
  manual: Path, data_dir: Path, workers: int, frames_per_video: int, videos_per_batch: int = 1
) -> dict:
  """Builds `manual` into `data_dir` on `workers` local Beam workers: timing and report."""
  builder = build_lib.get_builder(
    data_dir,
    "c23",
    frames_per_video,
    64,
    num_workers=workers,
    num_windows=2,
    videos_per_batch=videos_per_batch,
  )
  start = time.perf_counter()
  build_lib.build(builder, manual)
  seconds = time.perf_counter() - start
  report = json.loads((Path(builder.data_dir) / REPORT_NAME).read_text())
  built = sum(s["built"] for s in report["splits"].values())
  return {
    "workers": workers,
    "seconds": seconds,
    "videos": built,
    "videos_per_s": built / seconds,
    "frames_per_s": built * frames_per_video / seconds,
    "peak_rss_mb": report["peak_rss_mb_per_worker"],
    "processes": len(report["workers"]),
  }


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--pairs", type=int, default=3, help="pairs per split (10 videos each)")
  parser.add_argument("--size", type=int, default=256, help="synthetic frame side (pixels)")
  parser.add_argument("--frames", type=int, default=48, help="frames per synthetic video")
  parser.add_argument("--frames_per_video", type=int, default=16, help="frames stored per video")
  parser.add_argument("--workers", default="1,2", help="local Beam worker counts to time")
  parser.add_argument(
    "--videos_per_batch",
    default="",
    help="also time 1-worker builds detecting the reals in groups of these many videos",
  )
  args = parser.parse_args()
  counts = [int(w) for w in args.workers.split(",")]
  groups = [int(g) for g in args.videos_per_batch.split(",") if g.strip()]
  if counts[0] != 1 and groups:
    raise SystemExit(
      "--videos_per_batch is compared with a 1-worker build: list 1 first in --workers"
    )
  with tempfile.TemporaryDirectory() as tmp:
    manual = Path(tmp) / "manual"
    start = time.perf_counter()
    synthetic.generate(
      manual,
      pairs=(args.pairs, args.pairs, args.pairs),
      size=args.size,
      num_frames=args.frames,
      workers=1,
    )
    print(
      f"Generated {30 * args.pairs} synthetic videos ({args.size}x{args.size}, {args.frames} "
      f"frames) in {time.perf_counter() - start:.0f} s",
      flush=True,
    )
    rows = [build_once(manual, Path(tmp) / f"tfds_{w}", w, args.frames_per_video) for w in counts]
    # In this process the first 1-worker build also compiled the detector: the groups are
    # compared with a second, warm build of videos_per_batch 1.
    grouped = [
      build_once(manual, Path(tmp) / f"tfds_g{g}", 1, args.frames_per_video, g)
      for g in ([1, *groups] if groups else [])
    ]
  ref = rows[0]
  print(f"\nBuild throughput ({args.frames_per_video} sampled frames per video, 64 px crops):\n")
  print(
    "| workers | processes | seconds | videos/s | sampled frames/s | speed-up | peak MB/worker |"
  )
  print("|---|---|---|---|---|---|---|")
  for r in rows:
    print(
      f"| {r['workers']} | {r['processes']} | {r['seconds']:.1f} | {r['videos_per_s']:.2f} | "
      f"{r['frames_per_s']:.1f} | {r['videos_per_s'] / ref['videos_per_s']:.2f}x | "
      f"{r['peak_rss_mb']:.0f} |"
    )
  best = max(rows, key=lambda r: r["videos_per_s"] / r["workers"] if r["workers"] > 1 else 0)
  per_worker = ref["videos_per_s"] / ref["workers"]
  efficiency = best["videos_per_s"] / (best["workers"] * per_worker) if best["workers"] > 1 else 1.0
  print(
    f"\nExtrapolation: {per_worker:.2f} videos/s per worker, parallel efficiency "
    f"{efficiency:.2f} (measured at {best['workers']} workers); hours of build:\n"
  )
  print("| dataset | " + " | ".join(f"{n} workers" for n in CLUSTER_WORKERS) + " |")
  print("|---|" + "---|" * len(CLUSTER_WORKERS))
  for name, videos in TARGETS:
    hours = [
      videos / (per_worker * n * (efficiency if n > 1 else 1.0)) / 3600 for n in CLUSTER_WORKERS
    ]
    print(f"| {name} | " + " | ".join(f"{h:.2f}" for h in hours) + " |")
  if grouped:
    print(
      "\nReals detected in groups of videos (1 worker, detector compiled; speed-up over "
      "videos_per_batch 1):\n"
    )
    print("| videos_per_batch | seconds | videos/s | speed-up |")
    print("|---|---|---|---|")
    for g, r in zip([1, *groups], grouped, strict=True):
      print(
        f"| {g} | {r['seconds']:.1f} | {r['videos_per_s']:.2f} | "
        f"{r['videos_per_s'] / grouped[0]['videos_per_s']:.2f}x |"
      )


if __name__ == "__main__":
  main()
