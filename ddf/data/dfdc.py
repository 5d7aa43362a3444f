"""TFDS builder for the DeepFake Detection Challenge (DFDC) and its preview (manual download).

Config `full`: `train` is every video of the challenge's training parts
(`dfdc_train_part_<k>/metadata.json`: `{"aaqaifqrwn.mp4": {"label": "FAKE", "split": "train",
"original": "qzvtmqdxmf.mp4"}, ...}`), a fake cropped with its `original`'s face track when that
real is built and has as many frames; `test` is the public test set (`test/videos/*.mp4` with
`test/labels.csv`, columns `filename,label`, label 1 = fake). Config `preview`: DFDC-preview's
`dataset.json` (`{"method_A/1255229/1255229_A/00194.mp4": {"label": "fake", "set": "train", ...}}`,
reals under `original_videos/`), which names no original per fake: fakes get their own tracks.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path, PurePosixPath

from ddf.data.ffpp_layout import REAL, VideoEntry
from ddf.data.video_builder import VideoBuilder

METHOD = "DFDC"
VARIANTS = {"full": "raw", "preview": "raw"}
TRAIN_PARTS = "dfdc_train_part_*/metadata.json"
TEST_LABELS = "test/labels.csv"
TEST_VIDEOS = "test/videos"
PREVIEW_INDEX = "dataset.json"

_INSTRUCTIONS = """\
DFDC is distributed by Meta on request (https://ai.meta.com/datasets/dfdc/, accept the terms to
get the download links). Extract every archive you downloaded into one folder and point
--manual_dir at it.

Config `full` (the challenge data):
  <manual_dir>/dfdc_train_part_0/metadata.json, aaqaifqrwn.mp4 ...   (train; any subset of parts)
  <manual_dir>/test/labels.csv                                       (filename,label; 1 = fake)
  <manual_dir>/test/videos/aalscayrfi.mp4 ...                        (the public test set)

Config `preview` (DFDC preview, `dfdc_preview_set`):
  <manual_dir>/dataset.json
  <manual_dir>/original_videos/... , method_A/... , method_B/...

Videos the metadata names but that are not on disk are counted as missing in the build report.
"""


def _part_number(metadata: Path) -> int:
  return int(re.sub(r"\D", "", metadata.parent.name) or 0)


def _entry(video_id: str, fake: bool, target: str, path: Path) -> VideoEntry:
  """A DFDC video (compression `raw`: the dataset's own encoding); a real is its own target."""
  if fake:
    return VideoEntry(video_id, 1, METHOD, "raw", target, "", path)
  return VideoEntry(video_id, 0, REAL, "raw", video_id, video_id, path)


def train_entries(parts: list[Path]) -> list[VideoEntry]:
  """Every video of the training parts' `metadata.json` files (fakes target their original)."""
  entries = []
  for metadata in sorted(parts, key=_part_number):
    for name, info in json.loads(metadata.read_text()).items():
      original = PurePosixPath(info.get("original") or "").stem
      entries.append(
        _entry(
          PurePosixPath(name).stem,
          info["label"].upper() == "FAKE",
          original,
          metadata.parent / name,
        )
      )
  return entries


def test_entries(labels: Path, videos: Path) -> list[VideoEntry]:
  """The public test set: `labels.csv` rows `filename,label` (1 = fake), no originals."""
  rows = list(csv.DictReader(io.StringIO(labels.read_text(), newline="")))
  if rows and not {"filename", "label"} <= set(rows[0]):
    raise ValueError(f"{labels}: expected the columns filename,label, found {list(rows[0])}")
  entries = []
  for row in rows:
    name = row["filename"].strip()
    name = name if name.endswith(".mp4") else name + ".mp4"
    entries.append(
      _entry(PurePosixPath(name).stem, int(float(row["label"])) == 1, "", videos / name)
    )
  return entries


def preview_entries(index: Path) -> dict[str, list[VideoEntry]]:
  """DFDC-preview's `dataset.json`: per relative path its `label` (real/fake) and `set`."""
  out: dict[str, list[VideoEntry]] = {"train": [], "test": []}
  for relative, info in json.loads(index.read_text()).items():
    if info.get("set") not in out:
      raise ValueError(f"{index}: {relative} has set {info.get('set')!r}, not train or test")
    video_id = str(PurePosixPath(relative).with_suffix(""))  # file names repeat across folders.
    out[info["set"]].append(
      _entry(video_id, info["label"].lower() == "fake", "", index.parent / relative)
    )
  return out


class Dfdc(VideoBuilder):
  """DFDC (`full`: challenge training parts + public test set) or DFDC-preview (`preview`)."""

  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  VARIANTS = VARIANTS
  TITLE = "DFDC"
  HOMEPAGE = "https://ai.meta.com/datasets/dfdc/"
  CITATION = """@article{dolhansky2020dfdc,
  title={The DeepFake Detection Challenge (DFDC) Dataset},
  author={Dolhansky, Brian and Bitton, Joanna and Pflaum, Ben and Lu, Jikuo and Howes, Russ
          and Wang, Menglin and Canton Ferrer, Cristian},
  journal={arXiv preprint arXiv:2006.07397}, year={2020}}"""

  def split_entries(self, manual_dir: Path) -> dict[str, list[VideoEntry]]:
    if self.builder_config.variant == "preview":
      return preview_entries(self.require(manual_dir / PREVIEW_INDEX, "the DFDC-preview index"))
    parts = list(manual_dir.glob(TRAIN_PARTS))
    if not parts:
      self.require(manual_dir / TRAIN_PARTS, "the DFDC training parts (none found)")
    labels = self.require(manual_dir / TEST_LABELS, "the DFDC public test set's labels")
    return {"train": train_entries(parts), "test": test_entries(labels, manual_dir / TEST_VIDEOS)}
