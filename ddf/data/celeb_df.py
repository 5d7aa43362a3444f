"""TFDS builder for Celeb-DF (v2, v1) as its authors distribute it (manual download).

`test` is the official `List_of_testing_videos.txt` (lines `<label> <relative path>`, label 1 =
real); `train` is every other video of `Celeb-real/`, `YouTube-real/` and `Celeb-synthesis/`.
A synthesized video `idX_idY_NNNN.mp4` is made from the real video `Celeb-real/idX_NNNN.mp4`
(identity idY's face put on it; the convention of Celeb-DF's file names, which the README
describes only as "synthesized videos from Celeb-real"), so it is cropped with that video's face
track when both are in the split and have as many frames (`ddf.data.video_builder`).
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from ddf.data.ffpp_layout import REAL, VideoEntry
from ddf.data.video_builder import VideoBuilder

REAL_DIRS = ("Celeb-real", "YouTube-real")
FAKE_DIR = "Celeb-synthesis"
METHOD = FAKE_DIR
TEST_LIST = "List_of_testing_videos.txt"
VARIANTS = {"v2": "raw", "v1": "raw"}
# What each release's archive may extract to (its README calls both `Celeb-DF`).
FOLDERS = {"v2": ("Celeb-DF-v2", "Celeb-DF"), "v1": ("Celeb-DF", "Celeb-DF-v1")}

_INSTRUCTIONS = """\
Celeb-DF is distributed by its authors on request: fill in the form linked from
https://github.com/yuezunli/celeb-deepfakeforensics (v2; v1 from its "previous version" link) and
send it to deepfakeforensics@gmail.com. Extract the archive and point --manual_dir at the folder
that holds (the archive's `Celeb-DF-v2/` or `Celeb-DF/`; its parent works too):

  <manual_dir>/List_of_testing_videos.txt        lines `1 YouTube-real/00170.mp4` (1 = real)
  <manual_dir>/Celeb-real/id0_0000.mp4 ...
  <manual_dir>/YouTube-real/00000.mp4 ...
  <manual_dir>/Celeb-synthesis/id0_id1_0000.mp4 ...   (made from Celeb-real/id0_0000.mp4)

Build config `v2` from Celeb-DF (v2), `v1` from Celeb-DF (v1). `test` is the test list, `train`
every other video. Partial downloads are fine: listed videos that are not on disk are counted as
missing in the build report.
"""


def read_test_list(path: Path) -> list[tuple[int, str]]:
  """`List_of_testing_videos.txt` -> [(label 0 real / 1 fake, relative path)]."""
  out = []
  for number, line in enumerate(path.read_text().splitlines(), 1):
    if not line.strip():
      continue
    parts = line.split()
    if len(parts) != 2 or parts[0] not in ("0", "1"):
      raise ValueError(
        f"{path}:{number}: expected `<1 real | 0 fake> <relative path>`, found {line!r}"
      )
    out.append((1 - int(parts[0]), parts[1]))
  return out


def video_entry(root: Path, relative: str, label: int) -> VideoEntry:
  """A Celeb-DF video; a fake `idX_idY_NNNN`'s target is `idX_NNNN`, its source identity idY."""
  video_id = PurePosixPath(relative).stem
  if label == 0:
    return VideoEntry(video_id, 0, REAL, "raw", video_id, video_id, root / relative)
  parts = video_id.split("_")
  target, source = (f"{parts[0]}_{parts[2]}", parts[1]) if len(parts) == 3 else ("", "")
  return VideoEntry(video_id, 1, METHOD, "raw", target, source, root / relative)


class CelebDf(VideoBuilder):
  """Celeb-DF: the official test list as `test`, every other video as `train`."""

  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  VARIANTS = VARIANTS
  TITLE = "Celeb-DF"
  HOMEPAGE = "https://github.com/yuezunli/celeb-deepfakeforensics"
  CITATION = """@inproceedings{li2020celebdf,
  title={Celeb-DF: A Large-scale Challenging Dataset for DeepFake Forensics},
  author={Li, Yuezun and Yang, Xin and Sun, Pu and Qi, Honggang and Lyu, Siwei},
  booktitle={CVPR}, year={2020}}"""

  def root(self, manual_dir: Path) -> Path:
    """`manual_dir`, or the release's folder inside it when the test list is only there."""
    if not (manual_dir / TEST_LIST).exists():
      for inner in FOLDERS[self.builder_config.variant]:
        if (manual_dir / inner / TEST_LIST).exists():
          return manual_dir / inner
    return manual_dir

  def split_entries(self, manual_dir: Path) -> dict[str, list[VideoEntry]]:
    root = self.root(manual_dir)
    listed = read_test_list(self.require(root / TEST_LIST, "the Celeb-DF test list"))
    test = [video_entry(root, relative, label) for label, relative in listed]
    in_test = {e.path for e in test}
    train = [
      video_entry(root, path.relative_to(root).as_posix(), int(folder == FAKE_DIR))
      for folder in (*REAL_DIRS, FAKE_DIR)
      for path in sorted((root / folder).glob("*.mp4"))
      if path not in in_test
    ]
    return {"train": train, "test": test}
