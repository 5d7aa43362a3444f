"""Input-pipeline throughput: clips/s of the grain train loader on a built dataset (figures only).

  python benchmarks/bench_input.py --data_dir ~/ddf_data/tfds --frames_per_video 8 --crop_size 64

Reference measured in the same run: reading the records alone (parse, no JPEG decode), so the
table shows what clip sampling, decoding and each augmentation cost on top of it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import ml_collections

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ddf.data import build_lib as build  # noqa: E402
from ddf.data import pipeline  # noqa: E402


def loader_rate(
  builder, augment: dict, clip_len: int, batch: int, batches: int, workers: int
) -> float:
  cfg = ml_collections.ConfigDict(
    dict(clip_len=clip_len, balance=True, num_workers=workers, augment=augment)
  )
  it = pipeline.train_loader(builder, cfg, batch, seed=0)
  next(it)  # start-up (workers, label pass) excluded
  t = time.perf_counter()
  for _ in range(batches):
    next(it)
  return batches * batch / (time.perf_counter() - t)


def main() -> None:
  parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument("--data_dir", default="~/ddf_data/tfds")
  parser.add_argument("--config", default="c23")
  parser.add_argument("--frames_per_video", type=int, default=8)
  parser.add_argument("--crop_size", type=int, default=64)
  parser.add_argument("--clip_len", type=int, default=8)
  parser.add_argument("--batch_size", type=int, default=8)
  parser.add_argument("--batches", type=int, default=30)
  parser.add_argument("--workers", type=int, default=0)
  args = parser.parse_args()
  builder = build.get_builder(args.data_dir, args.config, args.frames_per_video, args.crop_size)
  source = pipeline.RecordSource(builder, "train")
  n = min(len(source), args.batches * args.batch_size)
  source[0]  # first read opens the files and imports the proto parser: excluded
  t = time.perf_counter()
  for i in range(n):
    source[i % len(source)]
  reference = n / (time.perf_counter() - t)
  none = dict(flip=False, color_jitter=0.0, jpeg_prob=0.0, blur_prob=0.0)
  rows = [("records only (reference)", reference)]
  for name, aug in [
    ("clips, no augmentation", none),
    ("clips + flip + colour jitter", dict(none, flip=True, color_jitter=0.1)),
    (
      "clips + all (jpeg, blur p=1)",
      dict(flip=True, color_jitter=0.1, jpeg_prob=1.0, blur_prob=1.0),
    ),
  ]:
    rows.append(
      (name, loader_rate(builder, aug, args.clip_len, args.batch_size, args.batches, args.workers))
    )
  print(
    f"dataset {builder.info.full_name}, clip_len {args.clip_len}, batch {args.batch_size}, "
    f"workers {args.workers}"
  )
  print("| stage | clips/s | frames/s | x reference |")
  print("|---|---|---|---|")
  for name, rate in rows:
    print(f"| {name} | {rate:.1f} | {rate * args.clip_len:.0f} | {rate / reference:.2f} |")


if __name__ == "__main__":
  main()
