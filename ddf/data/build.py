"""Builds a TFDS video dataset (FF++ by default) from a download (or synthetic) tree.

  python -m ddf.data.build --manual_dir M --data_dir D --config c23 [--frames_per_video 32]
      [--sampling windows --num_windows 4] [--min_face_size 40] [--workers 0]
      [--beam_pipeline_options runner=FlinkRunner,flink_master=HOST:8081,...]
  python -m ddf.data.build --dataset celeb_df --manual_dir M --data_dir D --config v2

Datasets (configs, default first): faceforensics (c23, c40, raw), celeb_df (v2, v1),
dfdc (full, preview), dfd (c23, c40, raw), deeper_forensics (end_to_end, ...).

Every option that changes what is stored is part of the builder config's name (e.g.
`c23_f16_s64`), so builds with other options never overwrite or reuse each other. A second run
prints `Already built`. Missing, unreadable, too short and faceless videos are listed in
`build_report.json` beside the dataset (see `ddf/data/video_builder.py`).
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
    prog="python -m ddf.data.build",
    description=__doc__,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  parser.add_argument(
    "--dataset",
    default="faceforensics",
    help="faceforensics | celeb_df | dfdc | dfd | deeper_forensics",
  )
  parser.add_argument(
    "--manual_dir", required=True, help="the dataset's download tree (FF++: with splits/)."
  )
  parser.add_argument("--data_dir", required=True, help="where the TFDS dataset is written.")
  parser.add_argument(
    "--config", default=None, help="the dataset's config (default: listed first above)"
  )
  parser.add_argument("--frames_per_video", type=int, default=32)
  parser.add_argument("--crop_size", type=int, default=256)
  parser.add_argument(
    "--sampling",
    default="windows",
    choices=("windows", "uniform"),
    help="windows of consecutive frames (default) or evenly spaced frames",
  )
  parser.add_argument("--num_windows", type=int, default=4)
  parser.add_argument("--margin", type=float, default=1.3)
  parser.add_argument(
    "--min_face_size", type=int, default=40, help="smallest face side in original pixels"
  )
  parser.add_argument(
    "--methods", default=None, help="FF++ only, comma-separated (default: the four classic methods)"
  )
  parser.add_argument(
    "--workers", type=int, default=0, help="local build: worker processes (0 = all cores)"
  )
  parser.add_argument(
    "--beam_pipeline_options",
    default="",
    help="build on a Beam runner: comma-separated pipeline options, as for `tfds build`, "
    "e.g. runner=FlinkRunner,flink_master=host:8081,environment_type=DOCKER (README)",
  )
  parser.add_argument(
    "--detect_on_accelerator",
    action="store_true",
    help="detect faces on the accelerator, in this process, in batches",
  )
  parser.add_argument(
    "--detect_every",
    type=int,
    default=1,
    help="run the full face detector on every k-th frame of each window only and track the "
    "face in between (1 = every frame; README, Figures)",
  )
  parser.add_argument(
    "--videos_per_batch",
    type=int,
    default=1,
    help="detect the faces of this many real videos in shared batches (with "
    "--detect_on_accelerator: keeps the accelerator busy; 1 = one video at a time)",
  )
  args = parser.parse_args(argv)
  from ddf.data import build_lib, provenance, storage

  try:
    storage.check_shards_writable(args.data_dir)  # before any call to the bucket
    builder = build_lib.get_builder(
      args.data_dir,
      args.config,
      args.frames_per_video,
      args.crop_size,
      args.methods,
      args.workers,
      margin=args.margin,
      min_face_size=args.min_face_size,
      sampling=args.sampling,
      num_windows=args.num_windows,
      detect_on_accelerator=args.detect_on_accelerator,
      detect_every=args.detect_every,
      videos_per_batch=args.videos_per_batch,
      dataset=args.dataset,
      beam_pipeline_options=args.beam_pipeline_options,
    )
    if builder.data_path.exists():
      report = provenance.build_report(builder) or {}
      built_from = report.get("manual_dir")
      if built_from is not None and not storage.same_place(built_from, args.manual_dir):
        print(
          f"error: {builder.data_dir} already holds {builder.name}/{builder.builder_config.name} "
          f"built from {built_from}, not from {args.manual_dir}. Pass another --data_dir, or "
          "delete that folder to rebuild it from this download.",
          file=sys.stderr,
        )
        return 2
      print(f"Already built from {built_from or 'an unrecorded download'}: {builder.data_dir}")
      return 0
    build_lib.build(builder, args.manual_dir)
  except (FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(
    f"Built {builder.info.full_name} in {builder.data_dir}: "
    + ", ".join(f"{k}={v.num_examples}" for k, v in builder.info.splits.items())
  )
  return 0


def cli() -> None:
  sys.exit(main())


if __name__ == "__main__":
  cli()
