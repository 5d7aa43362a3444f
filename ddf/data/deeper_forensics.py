"""TFDS builder for DeeperForensics-1.0 with its FaceForensics++ target videos (manual download).

Fakes are the manipulated videos of one variant folder (config `end_to_end`, the paper's 1,000
DF-VAE videos, by default: `manipulated_videos/end_to_end/000_M101.mp4`, named
`<target_id>_<source_id>.mp4`: actor M101's face swapped onto FF++ video 000). The reals are
those target videos, which DeeperForensics does not distribute: its README says to download them
from FaceForensics++ at c23. Splits are the dataset's own `lists/splits/{train,val,test}.txt`
(one fake a line); a split's reals are its fakes' targets. A fake is cropped with its target's
face track when both have as many frames. `compression` is `raw` (the videos as distributed).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from ddf.data.ffpp_layout import REAL, VideoEntry, real_video_path
from ddf.data.video_builder import VideoBuilder

METHOD = "DeeperForensics"
SPLIT_LIST = "lists/splits/{split}.txt"
# Each config is a folder of manipulated_videos/ (the same 1,000 names, other perturbations).
VARIANTS = {
  name: "raw"
  for name in (
    "end_to_end",
    "reenact_postprocess",
    *(f"end_to_end_level_{i}" for i in range(1, 6)),
    "end_to_end_random_level",
    *(f"end_to_end_mix_{j}_distortions" for j in range(2, 5)),
  )
}
# The FF++ target videos' folder: the first of these on disk (the README asks for c23).
TARGET_COMPRESSIONS = ("c23", "raw", "c40")

_INSTRUCTIONS = """\
DeeperForensics-1.0 is distributed by its authors on request: read the terms of use and fill in
the form linked from https://github.com/EndlessSora/DeeperForensics-1.0/tree/master/dataset .
Unzip it (`bash unzip.sh`) and point --manual_dir at `DeeperForensics-1.0/`, which holds

  <manual_dir>/lists/splits/train.txt, val.txt, test.txt     lines `000_M101.mp4`
  <manual_dir>/manipulated_videos/end_to_end/000_M101.mp4 ...

The real (target) videos are FaceForensics++'s originals, which you download from FF++
(https://github.com/ondyari/FaceForensics, `-d original -c c23 -t videos`) and put (or link) in
the FF++ layout inside <manual_dir>, at c23 as DeeperForensics asks (a raw or c40 folder is used
when there is no c23 one):

  <manual_dir>/original_sequences/youtube/c23/videos/000.mp4 ...

Config `end_to_end` (default) builds the raw manipulated videos; the other configs are the other
folders of manipulated_videos/ (`end_to_end_level_3`, `end_to_end_mix_2_distortions`, ...).
Missing videos (fakes or targets) are counted in the build report.
"""


def read_split(path: Path) -> list[str]:
  """A split list's fake video ids (`000_M101.mp4`, or a path ending in it -> `000_M101`)."""
  return [
    PurePosixPath(line.strip()).stem for line in path.read_text().splitlines() if line.strip()
  ]


def target_compression(manual_dir: Path) -> str:
  """The compression of the FF++ target videos: the first in `TARGET_COMPRESSIONS` on disk."""
  return next(
    (c for c in TARGET_COMPRESSIONS if real_video_path(manual_dir, "000", c).parent.is_dir()),
    TARGET_COMPRESSIONS[0],
  )


def split_videos(
  manual_dir: Path, variant: str, targets_compression: str, fakes: list[str]
) -> list[VideoEntry]:
  """The split's reals (its fakes' FF++ targets, once each), then its fakes."""
  pairs = [(fake, *fake.split("_", 1)) if "_" in fake else (fake, "", "") for fake in fakes]
  targets = dict.fromkeys(target for _, target, _ in pairs if target)
  reals = [
    VideoEntry(t, 0, REAL, "raw", t, t, real_video_path(manual_dir, t, targets_compression))
    for t in targets
  ]
  return reals + [
    VideoEntry(
      fake,
      1,
      METHOD,
      "raw",
      target,
      source,
      manual_dir / "manipulated_videos" / variant / f"{fake}.mp4",
    )
    for fake, target, source in pairs
  ]


class DeeperForensics(VideoBuilder):
  """DeeperForensics-1.0 fakes and their FF++ targets, in the dataset's own splits."""

  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  VARIANTS = VARIANTS
  SPLITS = ("train", "val", "test")
  TITLE = "DeeperForensics-1.0"
  HOMEPAGE = "https://github.com/EndlessSora/DeeperForensics-1.0"
  CITATION = """@inproceedings{jiang2020deeperforensics1,
  title={{DeeperForensics-1.0}: A Large-Scale Dataset for Real-World Face Forgery Detection},
  author={Jiang, Liming and Li, Ren and Wu, Wayne and Qian, Chen and Loy, Chen Change},
  booktitle={CVPR}, year={2020}}"""

  def split_entries(self, manual_dir: Path) -> dict[str, list[VideoEntry]]:
    lists = {
      split: self.require(
        manual_dir / SPLIT_LIST.format(split=split), f"the DeeperForensics {split} list"
      )
      for split in self.SPLITS
    }
    variant, compression = self.builder_config.variant, target_compression(manual_dir)
    return {
      split: split_videos(manual_dir, variant, compression, read_split(path))
      for split, path in lists.items()
    }

  def report_extras(self, manual_dir: Path) -> dict[str, Any]:
    """Which FF++ originals the reals are (`ffpp_targets`: their compression)."""
    return {"ffpp_targets": target_compression(manual_dir)}
