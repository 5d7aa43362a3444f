"""Every setting that changes the data changes where the data live; eval JSONs say which data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from configs import default
from ddf.data import build_lib as build


def _data(arg=None, **changes):
  c = default.get_config(arg).data
  c.unlock()
  for k, v in changes.items():
    c[k] = v
  return c


def test_default_and_tiny_do_not_share_data():
  assert build.data_dirs(_data()) != build.data_dirs(_data("tiny"))
  assert build.data_dirs(_data()) == build.data_dirs(_data())  # and a rerun finds its data


@pytest.mark.parametrize(
  "key,value",
  [
    ("synthetic_difficulty", 0.7),
    ("synthetic_pairs", (8, 4, 4)),
    ("synthetic_size", 128),
    ("synthetic_frames", 32),
    ("synthetic_seed", 1),
    ("methods", "Deepfakes,FaceSwap"),
    ("config", "c40"),
    ("synthetic_face_dirs", ("/some/faces",)),
    ("synthetic_photos", "shared"),
    ("synthetic_camera", 0.0),
  ],
)
def test_each_generation_setting_moves_tree_and_dataset(key, value):
  base_tree, base_tfds = build.data_dirs(_data())
  tree, tfds_dir = build.data_dirs(_data(**{key: value}))
  assert tree != base_tree and tfds_dir != base_tfds


@pytest.mark.parametrize(
  "key,value",
  [
    ("frames_per_video", 24),
    ("crop_size", 96),
    ("sampling", "uniform"),
    ("num_windows", 1),
    ("min_face_size", 30),
    ("margin", 1.5),
  ],
)
def test_each_build_setting_moves_the_dataset(key, value):
  data = _data(**{key: value})
  if key == "frames_per_video":
    data.num_windows = 3
  base = build.builder_from_config(_data(), prepare=False).data_path
  assert build.builder_from_config(data, prepare=False).data_path != base


@pytest.mark.slow
def test_rerun_with_other_synthetic_settings_makes_new_data(tmp_path):
  small = dict(
    manual_dir=str(tmp_path / "trees"),
    data_dir=str(tmp_path / "tfds"),
    synthetic_pairs=(1, 1, 1),
    synthetic_size=96,
    synthetic_frames=8,
    build_workers=1,
  )
  first = build.builder_from_config(_data("tiny", **small))
  second = build.builder_from_config(_data("tiny", synthetic_difficulty=0.9, **small))
  assert first.data_path != second.data_path
  for builder, difficulty in ((first, 0.5), (second, 0.9)):
    report = json.loads((Path(builder.data_dir) / "build_report.json").read_text())
    assert report["synthetic"]["difficulty"] == difficulty
    assert report["synthetic"]["pairs"] == [1, 1, 1]
  again = build.builder_from_config(_data("tiny", **small))  # the first settings: reused
  assert again.data_path == first.data_path
