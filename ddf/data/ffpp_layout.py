"""FaceForensics++ download layout and official split semantics (docs/design.md section 3)."""

from __future__ import annotations

import dataclasses
import json

from etils.epath import Path

from ddf.data import storage

CLASSIC_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")
OPTIONAL_METHODS = ("FaceShifter",)
# Cue-isolating manipulations of the synthetic generator only (`ddf.data.synthetic`), each
# invisible by construction to some branches of the detector (configs/diagnostics.py).
DIAGNOSTIC_METHODS = ("Shuffled", "ChromaShift", "FrozenMouth")
ALL_METHODS = CLASSIC_METHODS + OPTIONAL_METHODS + DIAGNOSTIC_METHODS
COMPRESSIONS = ("raw", "c23", "c40")
SPLITS = ("train", "val", "test")
REAL = "original"


@dataclasses.dataclass(frozen=True)
class VideoEntry:
  """One video of a split: where it should be on disk and what it is."""

  video_id: str  # "071" for a real video, "071_054" for a fake one.
  label: int  # 0 real, 1 fake.
  method: str  # "original" or the manipulation method.
  compression: str
  target_id: str
  source_id: str  # equal to target_id for real videos.
  path: Path

  @property
  def key(self) -> str:
    """Unique key across methods, e.g. `Deepfakes/071_054` or `original/071`."""
    return f"{self.method}/{self.video_id}"


def parse_methods(methods: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
  """Validates a method list given as a tuple or a comma-separated string."""
  if isinstance(methods, str):
    methods = tuple(m.strip() for m in methods.split(",") if m.strip())
  for m in methods:
    if m == "DeepFakeDetection":
      raise ValueError(
        "DeepFakeDetection uses the actors' videos (original_sequences/actors) and its own ids, "
        "not the official FF++ pair splits; build it as a separate dataset. "
        f"Supported methods: {', '.join(ALL_METHODS)}."
      )
    if m not in ALL_METHODS:
      raise ValueError(f"Unknown FF++ method {m!r}; expected some of {', '.join(ALL_METHODS)}.")
  return tuple(methods)


def read_split_pairs(manual_dir: Path, split: str) -> list[tuple[str, str]]:
  """Reads `<manual_dir>/splits/<split>.json`: a list of [target, source] id pairs."""
  path = storage.as_path(manual_dir) / "splits" / f"{split}.json"
  if not path.exists():
    raise FileNotFoundError(
      f"Missing FF++ split file {path}. Copy the `dataset/splits` folder of the FaceForensics "
      "repository (train.json, val.json, test.json) into the manual dir, next to "
      "original_sequences/ and manipulated_sequences/."
    )
  pairs = json.loads(path.read_text())
  out = []
  for pair in pairs:
    if not (isinstance(pair, list | tuple) and len(pair) == 2):
      raise ValueError(f"{path}: expected a list of [target, source] pairs, found {pair!r}.")
    out.append((str(pair[0]).zfill(3), str(pair[1]).zfill(3)))
  return out


def real_video_path(manual_dir: Path, video_id: str, compression: str) -> Path:
  return (
    storage.as_path(manual_dir)
    / "original_sequences"
    / "youtube"
    / compression
    / "videos"
    / f"{video_id}.mp4"
  )


def fake_video_path(manual_dir: Path, method: str, video_id: str, compression: str) -> Path:
  return (
    storage.as_path(manual_dir)
    / "manipulated_sequences"
    / method
    / compression
    / "videos"
    / f"{video_id}.mp4"
  )


def split_entries(
  manual_dir: Path, split: str, compression: str, methods: tuple[str, ...]
) -> list[VideoEntry]:
  """All videos a split lists: pair [a, b] -> reals a, b and fakes a_b, b_a per method."""
  entries = []
  for target, source in read_split_pairs(manual_dir, split):
    for vid in (target, source):
      entries.append(
        VideoEntry(
          vid, 0, REAL, compression, vid, vid, real_video_path(manual_dir, vid, compression)
        )
      )
    for method in methods:
      for t, s in ((target, source), (source, target)):
        vid = f"{t}_{s}"
        entries.append(
          VideoEntry(
            vid, 1, method, compression, t, s, fake_video_path(manual_dir, method, vid, compression)
          )
        )
  return entries
