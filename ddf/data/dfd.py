"""TFDS builder for Google/Jigsaw's DeepFakeDetection (DFD), as FaceForensics++ distributes it.

The FF++ download script fetches it into the FF++ layout: actors' real videos
`original_sequences/actors/<c>/videos/01__exit_phone_room.mp4` and fakes
`manipulated_sequences/DeepFakeDetection/<c>/videos/01_02__exit_phone_room__YVGY8LOK.mp4`
(target actor 01's `exit_phone_room` video with actor 02's face). DFD has no official split: every
video is `test` (a cross-dataset benchmark). There is no list file either: the videos on disk are
listed, plus the real video each fake's name says it was made from; one not on disk is counted as
missing. A fake is cropped with its target's face track when both have as many frames.
"""

from __future__ import annotations

from etils.epath import Path

from ddf.data import storage
from ddf.data.ffpp_layout import REAL, VideoEntry
from ddf.data.video_builder import VideoBuilder

METHOD = "DeepFakeDetection"
VARIANTS = {"c23": "c23", "c40": "c40", "raw": "raw"}  # the compression downloaded.

_INSTRUCTIONS = """\
DFD (Google/Jigsaw DeepFakeDetection) is distributed with FaceForensics++ on request
(https://github.com/ondyari/FaceForensics, fill in their form to get the download script):

  python download-FaceForensics.py <manual_dir> -d DeepFakeDetection_original -c c23 -t videos
  python download-FaceForensics.py <manual_dir> -d DeepFakeDetection -c c23 -t videos

and point --manual_dir at that folder (an FF++ download folder works too), which then holds

  <manual_dir>/original_sequences/actors/c23/videos/01__exit_phone_room.mp4 ...
  <manual_dir>/manipulated_sequences/DeepFakeDetection/c23/videos/
      01_02__exit_phone_room__YVGY8LOK.mp4 ...

Build config `c23`, `c40` or `raw` for the compression you downloaded. Every video is `test`.
"""


def reals_dir(manual_dir: Path, compression: str) -> Path:
  return storage.as_path(manual_dir) / "original_sequences" / "actors" / compression / "videos"


def fakes_dir(manual_dir: Path, compression: str) -> Path:
  return storage.as_path(manual_dir) / "manipulated_sequences" / METHOD / compression / "videos"


def parse_fake(video_id: str) -> tuple[str, str]:
  """`01_02__exit_phone_room__YVGY8LOK` -> (target video `01__exit_phone_room`, source `02`)."""
  parts = video_id.split("__")
  actors = parts[0].split("_")
  if len(parts) != 3 or len(actors) != 2:
    return "", ""
  return f"{actors[0]}__{parts[1]}", actors[1]


def test_entries(manual_dir: Path, compression: str) -> list[VideoEntry]:
  """The reals on disk and those the fakes name (perhaps missing), then the fakes on disk."""
  real_dir, fake_dir = reals_dir(manual_dir, compression), fakes_dir(manual_dir, compression)
  fakes = [(path, *parse_fake(path.stem)) for path in sorted(fake_dir.glob("*.mp4"))]
  reals = sorted({p.stem for p in real_dir.glob("*.mp4")} | {t for _, t, _ in fakes if t})
  return [VideoEntry(r, 0, REAL, compression, r, r, real_dir / f"{r}.mp4") for r in reals] + [
    VideoEntry(path.stem, 1, METHOD, compression, target, source, path)
    for path, target, source in fakes
  ]


class Dfd(VideoBuilder):
  """DeepFakeDetection (Google/Jigsaw) in the FF++ layout, all videos as `test`."""

  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  VARIANTS = VARIANTS
  SPLITS = ("test",)
  TITLE = "DFD"
  HOMEPAGE = "https://research.google/blog/contributing-data-to-deepfake-detection-research/"
  CITATION = """@misc{dufour2019dfd,
  title={Contributing Data to Deepfake Detection Research},
  author={Dufour, Nick and Gully, Andrew}, howpublished={Google AI Blog}, year={2019}}"""

  def split_entries(self, manual_dir: Path) -> dict[str, list[VideoEntry]]:
    compression = self.builder_config.compression
    folders = (reals_dir(manual_dir, compression), fakes_dir(manual_dir, compression))
    if not any(folder.is_dir() for folder in folders):
      raise FileNotFoundError(
        f"Missing the DFD {compression} videos: neither {folders[0]} nor "
        f"{folders[1]} exists.\n\n{_INSTRUCTIONS}"
      )
    return {"test": test_entries(manual_dir, compression)}
