"""Builds the FF++ TFDS dataset (and, for the embedded default, its synthetic source tree).

  python -m ddf.data.build --manual_dir M --data_dir D --config c23 [--frames_per_video 32]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import ml_collections
import tensorflow_datasets as tfds

from ddf.data.faceforensics import Faceforensics, make_config
from ddf.data.ffpp_layout import CLASSIC_METHODS


def get_builder(data_dir: str | os.PathLike, config: str = "c23", frames_per_video: int = 32,
                crop_size: int = 256, methods: tuple[str, ...] | str = CLASSIC_METHODS,
                num_workers: int = 0) -> Faceforensics:
  """The FF++ builder for these options (nothing is built or read yet)."""
  cfg = make_config(config, frames_per_video=frames_per_video, crop_size=crop_size,
                    methods=methods, num_workers=num_workers)
  return Faceforensics(config=cfg, data_dir=os.path.expanduser(str(data_dir)),
                       file_format="array_record")


def build(builder: Faceforensics, manual_dir: str | os.PathLike) -> Faceforensics:
  """Builds the dataset from `manual_dir` unless it is already there."""
  manual_dir = Path(os.path.expanduser(str(manual_dir)))
  builder.download_and_prepare(
      file_format="array_record",
      download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir)))
  return builder


def builder_from_config(data: ml_collections.ConfigDict, prepare: bool = True) -> Faceforensics:
  """The builder of a training config's `data` field; generates/builds missing data if asked.

  With `data.synthetic`, a missing `manual_dir` is filled by the synthetic FF++ generator first.
  """
  builder = get_builder(data.data_dir, data.config, data.frames_per_video, data.crop_size,
                        data.methods, data.get("build_workers", 0))
  if not prepare or builder.data_path.exists():
    return builder
  manual_dir = Path(os.path.expanduser(data.manual_dir))
  if data.synthetic and not (manual_dir / "splits").exists():
    from ddf.data import synthetic

    print(f"Generating the synthetic FF++ tree in {manual_dir} ...", flush=True)
    synthetic.generate(
        manual_dir, pairs=tuple(data.synthetic_pairs), methods=tuple(builder.builder_config.methods),
        compressions=(data.config,), size=data.synthetic_size, num_frames=data.synthetic_frames,
        seed=data.get("synthetic_seed", 0), difficulty=data.synthetic_difficulty)
  elif not (manual_dir / "splits").exists():
    raise FileNotFoundError(
        f"data.manual_dir={manual_dir} has no splits/ folder and data.synthetic is False.\n\n"
        + Faceforensics.MANUAL_DOWNLOAD_INSTRUCTIONS)
  print(f"Building {builder.name}/{builder.builder_config.name} into {builder.data_dir} ...",
        flush=True)
  return build(builder, manual_dir)


def main(argv: list[str] | None = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--manual_dir", required=True, help="FF++ download tree (with splits/).")
  parser.add_argument("--data_dir", required=True, help="where the TFDS dataset is written.")
  parser.add_argument("--config", default="c23", choices=("c23", "c40", "raw"))
  parser.add_argument("--frames_per_video", type=int, default=32)
  parser.add_argument("--crop_size", type=int, default=256)
  parser.add_argument("--methods", default=",".join(CLASSIC_METHODS))
  parser.add_argument("--workers", type=int, default=0, help="0 = all cores.")
  args = parser.parse_args(argv)
  builder = get_builder(args.data_dir, args.config, args.frames_per_video, args.crop_size,
                        args.methods, args.workers)
  if builder.data_path.exists():
    print(f"Already built: {builder.data_dir}")
    return
  build(builder, args.manual_dir)
  print(f"Built {builder.info.full_name} in {builder.data_dir}: "
        + ", ".join(f"{k}={v.num_examples}" for k, v in builder.info.splits.items()))


if __name__ == "__main__":
  main()
