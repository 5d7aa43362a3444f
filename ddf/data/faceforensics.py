"""TFDS builder for FaceForensics++ (manual download), also used for the synthetic FF++ tree.

`datasets/faceforensics/faceforensics_dataset_builder.py` exposes this class as `Builder` so that
`tfds build datasets/faceforensics --manual_dir M --data_dir D --config c23` finds it.

Per video: frames sampled as the config says (`ddf.data.sampling`: 4 windows of 8 consecutive
frames by default), one face track found on the real videos (MTCNN), and every fake cropped with
its target's track (FF++ fakes are frame-aligned with their target; a fake whose frame count
differs from its target's gets its own track, counted in the build report). Beside the dataset,
`build_report.json` (per split: listed / built / skipped / missing with reasons, faceless frames,
worker memory) and `ddf_index.json` (per record: label, method, compression, frame indices,
faces found), so that readers never have to decode the records to learn what they hold. All of
this is `ddf.data.video_builder.VideoBuilder`; this module says where FF++ lists its videos.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import tensorflow_datasets as tfds

from ddf.data import ffpp_layout
from ddf.data.ffpp_layout import CLASSIC_METHODS, COMPRESSIONS, SPLITS, VideoEntry, parse_methods
from ddf.data.provenance import REPORT_NAME as REPORT_NAME  # re-exported for readers of reports
from ddf.data.video_builder import VideoBuilder, VideoConfig
from ddf.data.video_builder import make_config as make_video_config

SYNTHETIC_META = "synthetic_meta.json"  # written by `ddf.data.synthetic` in its tree.

_INSTRUCTIONS = """\
FaceForensics++ is distributed by its authors on request
(https://github.com/ondyari/FaceForensics, fill in their form to get the download script).
Download the compression you need, e.g.

  python download-FaceForensics.py <manual_dir> -d all -c c23 -t videos

and copy the repository's `dataset/splits` folder into <manual_dir>, so that it holds

  <manual_dir>/splits/{train,val,test}.json
  <manual_dir>/original_sequences/youtube/c23/videos/000.mp4 ...
  <manual_dir>/manipulated_sequences/<Method>/c23/videos/000_003.mp4 ...

Partial downloads (one compression, some methods) are fine: missing videos are listed in the
build report. A synthetic tree in the same layout: `python -m ddf.data.synthetic --out <manual_dir>`.
"""


@dataclasses.dataclass
class FaceForensicsConfig(VideoConfig):
  """What one FF++ build stores: compression, frame sampling, face crops, methods."""

  compression: str = "c23"
  methods: tuple[str, ...] = CLASSIC_METHODS


# The config fields that decide what is stored (all encoded in the config name).
DATA_OPTIONS = (
  "compression",
  "frames_per_video",
  "crop_size",
  "margin",
  "methods",
  "min_face_size",
  "sampling",
  "num_windows",
)
VARIANTS = {c: c for c in COMPRESSIONS}


def make_config(
  compression: str = "c23",
  frames_per_video: int = 32,
  crop_size: int = 256,
  methods: tuple[str, ...] | str = CLASSIC_METHODS,
  margin: float = 1.3,
  min_face_size: int = 40,
  sampling: str = "windows",
  num_windows: int = 4,
) -> FaceForensicsConfig:
  """A validated config named after every option that differs from the default (`c23_f16_w2`)."""
  if compression not in COMPRESSIONS:
    raise ValueError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
  methods = parse_methods(methods)
  suffix = "" if methods == CLASSIC_METHODS else "_" + "-".join(m.lower() for m in methods)
  return make_video_config(
    VARIANTS,
    compression,
    frames_per_video,
    crop_size,
    margin,
    min_face_size,
    sampling,
    num_windows,
    config_class=FaceForensicsConfig,
    suffix=suffix,
    methods=methods,
  )


class Faceforensics(VideoBuilder):
  """FaceForensics++: aligned face crops of the sampled frames of every video, with metadata."""

  VERSION = tfds.core.Version("2.0.0")
  RELEASE_NOTES = {
    "1.0.0": "Initial release.",
    "2.0.0": "Windows of consecutive frames by default; fakes cropped with their target's face "
    "track; min_face_size, margin and sampling in the config name; per-split index.",
  }
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  VARIANTS = VARIANTS
  BUILDER_CONFIGS = [make_config("c23"), make_config("c40"), make_config("raw")]
  DEFAULT_CONFIG_NAME = "c23"
  SPLITS = SPLITS
  TITLE = "FF++"
  DATA_OPTIONS = DATA_OPTIONS
  HOMEPAGE = "https://github.com/ondyari/FaceForensics"
  CITATION = """@inproceedings{roessler2019faceforensicspp,
  title={FaceForensics++: Learning to Detect Manipulated Facial Images},
  author={R{\\"o}ssler, Andreas and Cozzolino, Davide and Verdoliva, Luisa and Riess, Christian
          and Thies, Justus and Nie{\\ss}ner, Matthias},
  booktitle={ICCV}, year={2019}}"""

  @classmethod
  def make_builder_config(cls, variant: str | None = None, **options: Any) -> FaceForensicsConfig:
    return make_config(variant or cls.DEFAULT_CONFIG_NAME, **options)

  def split_entries(self, manual_dir: Path) -> dict[str, list[VideoEntry]]:
    """Per official split file (`splits/<split>.json`), its pairs' reals and fakes."""
    cfg = self.builder_config
    return {
      split: ffpp_layout.split_entries(manual_dir, split, cfg.compression, cfg.methods)
      for split in SPLITS
    }

  def check_manual_dir(self, manual_dir: Path) -> None:
    if not (manual_dir / "splits").exists():
      raise FileNotFoundError(
        f"{manual_dir} has no splits/ folder (the FF++ splits train.json, val.json, "
        f"test.json).\n\n{_INSTRUCTIONS}"
      )

  def report_extras(self, manual_dir: Path) -> dict[str, Any]:
    meta = manual_dir / SYNTHETIC_META
    return {"synthetic": json.loads(meta.read_text()).get("params")} if meta.exists() else {}

  def missing_hint(self) -> str:
    cfg = self.builder_config
    return f" for compression {cfg.compression!r} and methods {', '.join(cfg.methods)}"
