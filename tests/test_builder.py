"""The FF++ TFDS builder on synthetic trees: split semantics, metadata, bad input, determinism."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from ddf.data import build
from ddf.data.faceforensics import REPORT_NAME, Faceforensics, make_config
from ddf.data.ffpp_layout import CLASSIC_METHODS, read_split_pairs
from ddf.data.pipeline import RecordSource
from ddf.data.video import write_video
from tests.conftest import TINY_CROP, TINY_FRAMES_PER_VIDEO


def _records(builder, split):
  source = RecordSource(builder, split)
  return [source[i] for i in range(len(source))]


def _expected(manual_dir: Path, split: str) -> set[tuple[str, str]]:
  """(method, video_id) the official split semantics put in `split`."""
  out = set()
  for a, b in read_split_pairs(manual_dir, split):
    out |= {("original", a), ("original", b)}
    for m in CLASSIC_METHODS:
      out |= {(m, f"{a}_{b}"), (m, f"{b}_{a}")}
  return out


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_split_follows_pair_semantics(tiny_tree, tiny_dataset, split):
  builder, _ = tiny_dataset
  records = _records(builder, split)
  got = {(r["method"], r["video_id"]) for r in records}
  assert got == _expected(tiny_tree, split)  # every listed video built, nothing else
  for r in records:
    if r["method"] == "original":
      assert r["label"] == 0 and r["target_id"] == r["source_id"] == r["video_id"]
    else:
      assert r["label"] == 1 and r["video_id"] == f"{r['target_id']}_{r['source_id']}"
    assert r["compression"] == "c23"
    assert len(r["frames"]) == TINY_FRAMES_PER_VIDEO
    assert r["landmarks"].shape == (TINY_FRAMES_PER_VIDEO, 5, 2)
    assert r["face_found"].all(), f"{r['method']}/{r['video_id']}: face not found"
    assert np.all(np.diff(r["frame_indices"]) > 0)
    assert r["original_height"] == r["original_width"] == 128
    assert r["fps"] > 0


def test_splits_are_disjoint_by_identity(tiny_dataset):
  builder, _ = tiny_dataset
  ids = {s: {r["target_id"] for r in _records(builder, s)} for s in ("train", "val", "test")}
  assert not ids["train"] & ids["val"] and not ids["train"] & ids["test"]
  assert not ids["val"] & ids["test"]


def test_report_written_beside_dataset(tiny_dataset):
  builder, _ = tiny_dataset
  report = json.loads((Path(builder.data_dir) / REPORT_NAME).read_text())
  assert report["splits"]["train"]["built"] == builder.info.splits["train"].num_examples
  assert report["splits"]["train"]["missing"] == 0


def _subset_tree(src: Path, dst: Path, pairs_per_split: int = 1) -> Path:
  """A copy of `src` (videos symlinked) whose splits keep the first pairs only."""
  for sub in ("original_sequences", "manipulated_sequences"):
    shutil.copytree(src / sub, dst / sub, symlinks=True,
                    copy_function=lambda s, d: Path(d).symlink_to(Path(s).resolve()))
  (dst / "splits").mkdir(parents=True)
  for split in ("train", "val", "test"):
    pairs = json.loads((src / "splits" / f"{split}.json").read_text())[:pairs_per_split]
    (dst / "splits" / f"{split}.json").write_text(json.dumps(pairs))
  return dst


def test_corrupt_faceless_and_missing_videos_are_reported_not_fatal(tiny_tree, tmp_path):
  manual = _subset_tree(tiny_tree, tmp_path / "manual")
  a, b = read_split_pairs(manual, "train")[0]
  corrupt = manual / "original_sequences/youtube/c23/videos" / f"{a}.mp4"
  corrupt.unlink()
  corrupt.write_bytes(np.random.default_rng(0).bytes(5000))
  faceless = manual / "manipulated_sequences/Face2Face/c23/videos" / f"{a}_{b}.mp4"
  faceless.unlink()
  noise = np.random.default_rng(1).integers(0, 255, (8, 128, 128, 3), dtype=np.uint8)
  write_video(faceless, noise, fps=25)
  missing = manual / "manipulated_sequences/FaceSwap/c23/videos" / f"{b}_{a}.mp4"
  missing.unlink()

  builder = build.get_builder(tmp_path / "tfds", "c23", TINY_FRAMES_PER_VIDEO, TINY_CROP,
                              num_workers=1)
  build.build(builder, manual)
  report = json.loads((Path(builder.data_dir) / REPORT_NAME).read_text())["splits"]["train"]
  assert report["listed"] == 10 and report["missing"] == 1
  assert report["missing_files"] == [str(missing)]
  assert report["skipped"] == 2
  assert "unreadable" in report["skipped_files"][f"original/{a}"]
  assert str(corrupt) in report["skipped_files"][f"original/{a}"]
  assert "no face" in report["skipped_files"][f"Face2Face/{a}_{b}"]
  got = {(r["method"], r["video_id"]) for r in _records(builder, "train")}
  assert got == _expected(manual, "train") - {("original", a), ("Face2Face", f"{a}_{b}"),
                                              ("FaceSwap", f"{b}_{a}")}


def test_missing_splits_error_names_what_to_do(tmp_path):
  (tmp_path / "manual" / "original_sequences").mkdir(parents=True)  # a download without splits/
  builder = build.get_builder(tmp_path / "tfds", "c23", TINY_FRAMES_PER_VIDEO, TINY_CROP)
  with pytest.raises(FileNotFoundError, match=r"splits.*train\.json"):
    build.build(builder, tmp_path / "manual")


def test_two_builds_are_identical(tiny_tree, tiny_dataset, tmp_path):
  builder, _ = tiny_dataset
  again = build.get_builder(tmp_path / "tfds", "c23", TINY_FRAMES_PER_VIDEO, TINY_CROP,
                            num_workers=2)  # worker processes must not change the result
  build.build(again, tiny_tree)
  for split in ("val",):
    first = sorted(_records(builder, split), key=lambda r: (r["method"], r["video_id"]))
    second = sorted(_records(again, split), key=lambda r: (r["method"], r["video_id"]))
    assert len(first) == len(second)
    for r1, r2 in zip(first, second, strict=True):
      assert r1["frames"] == r2["frames"]
      np.testing.assert_array_equal(r1["landmarks"], r2["landmarks"])


class FaceforensicsBuilderTest(tfds.testing.DatasetBuilderTestCase):
  """The standard TFDS builder test over a one-pair-per-split synthetic tree."""

  DATASET_CLASS = Faceforensics
  BUILDER_CONFIG_NAMES_TO_TEST = [make_config("c23", frames_per_video=4, crop_size=32)]
  SPLITS = {"train": 10, "val": 10, "test": 10}
  MOCK_OUT_FORBIDDEN_OS_FUNCTIONS = False
  SKIP_CHECKSUMS = True

  @classmethod
  def setUpClass(cls):
    import tempfile

    from ddf.data import synthetic

    cls._tmp = tempfile.TemporaryDirectory()
    cls.EXAMPLE_DIR = str(Path(cls._tmp.name) / "manual")
    synthetic.generate(cls.EXAMPLE_DIR, pairs=(1, 1, 1), size=128, num_frames=8, seed=3,
                       workers=1)
    super().setUpClass()

  @classmethod
  def tearDownClass(cls):
    super().tearDownClass()
    cls._tmp.cleanup()
