"""The cross-dataset builders on small trees in each dataset's own download layout.

Videos are 8 frames of the astronaut's face (scikit-image); a fake is its real video with the face
moved 12 pixels, so a fake cropped with its target's track has exactly the target's landmarks and
one tracked on its own does not. Every tree has a missing and a corrupt file.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ddf.data import build as build_command
from ddf.data import build_lib
from ddf.data.pipeline import RecordSource
from ddf.data.provenance import REPORT_NAME
from ddf.data.video import write_video
from tests.conftest import REPO

pytestmark = pytest.mark.slow

FRAMES, CROP = 4, 32  # one window of 4 consecutive frames, 32x32 crops.


def _frames(seed: int, num_frames: int = 8, shift: int = 0) -> np.ndarray:
  """[T, 128, 96, 3] uint8: the astronaut's face, drifting, tinted per `seed`, moved `shift` px."""
  import cv2
  import skimage

  face = cv2.resize(
    skimage.data.astronaut()[0:320, 100:340], (96, 128), interpolation=cv2.INTER_AREA
  ).astype(np.int16)
  face = np.clip(face + np.array([seed * 9, -seed * 5, seed * 3]), 0, 255).astype(np.uint8)
  return np.stack([np.roll(face, i + shift, axis=1) for i in range(num_frames)])


def _real(path: Path, seed: int, num_frames: int = 8) -> None:
  write_video(path, _frames(seed, num_frames))


def _fake(path: Path, seed: int, num_frames: int = 8) -> None:
  """A fake of the real video `seed`: the same frames with the face moved."""
  write_video(path, _frames(seed, num_frames, shift=12))


def _corrupt(path: Path) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(np.random.default_rng(0).bytes(3000))


def _build(data_dir: Path, manual: Path, dataset: str, config: str):
  """(builder, report) of `dataset`/`config` built from `manual` with the small options."""
  builder = build_lib.get_builder(
    data_dir, config, FRAMES, CROP, num_workers=1, num_windows=1, dataset=dataset
  )
  build_lib.build(builder, manual)
  return builder, json.loads((Path(builder.data_dir) / REPORT_NAME).read_text())


def _records(builder, split: str) -> dict[str, dict]:
  """`method/video_id` -> record of a split; checks the index file describes the same records."""
  source = RecordSource(builder, split)
  records = [source[i] for i in range(len(source))]
  index = source.index()
  assert [(e["video_id"], e["label"], e["method"]) for e in index] == [
    (r["video_id"], r["label"], r["method"]) for r in records
  ]
  assert json.loads((Path(builder.data_dir) / "ddf_index.json").read_text())["splits"][split]
  for r in records:
    assert len(r["frames"]) == FRAMES and r["face_found"].all(), r["video_id"]
  return {f"{r['method']}/{r['video_id']}": r for r in records}


def _counts(report: dict, split: str) -> tuple[int, ...]:
  """(listed, built, skipped, missing, fakes with target track, fakes with own track)."""
  r = report["splits"][split]
  return (
    r["listed"],
    r["built"],
    r["skipped"],
    r["missing"],
    r["fakes_with_target_track"],
    r["fakes_with_own_track"],
  )


def _same_track(fake: dict, real: dict) -> bool:
  return np.allclose(fake["landmarks"], real["landmarks"], atol=1e-4)


# --- Celeb-DF ---------------------------------------------------------------------------------

CELEB_TEST_LIST = """\
1 YouTube-real/00001.mp4
1 Celeb-real/id1_0000.mp4
0 Celeb-synthesis/id1_id0_0000.mp4
0 Celeb-synthesis/id0_id2_0000.mp4
0 Celeb-synthesis/id2_id1_0000.mp4
"""


def _celeb_df_tree(root: Path) -> Path:
  _real(root / "Celeb-real/id0_0000.mp4", 0)  # train
  _real(root / "Celeb-real/id1_0000.mp4", 1)  # test
  _corrupt(root / "YouTube-real/00000.mp4")  # train
  _real(root / "YouTube-real/00001.mp4", 2)  # test
  _fake(root / "Celeb-synthesis/id0_id1_0000.mp4", 0)  # train, target id0_0000 in train
  _fake(root / "Celeb-synthesis/id1_id0_0000.mp4", 1)  # test, target id1_0000 in test
  _fake(root / "Celeb-synthesis/id0_id2_0000.mp4", 0)  # test, target id0_0000 in train
  (root / "List_of_testing_videos.txt").write_text(CELEB_TEST_LIST)  # id2_id1_0000: missing
  return root


def test_celeb_df_test_list_is_test_and_the_rest_is_train(tmp_path, capsys):
  manual = _celeb_df_tree(tmp_path / "Celeb-DF-v2")
  args = [
    "--dataset",
    "celeb_df",
    "--manual_dir",
    str(manual),
    "--data_dir",
    str(tmp_path / "d"),
    "--config",
    "v2",
    "--frames_per_video",
    str(FRAMES),
    "--crop_size",
    str(CROP),
    "--num_windows",
    "1",
    "--workers",
    "1",
  ]
  assert build_command.main(args) == 0
  assert "Built celeb_df/v2_f4_s32_w1" in capsys.readouterr().out
  assert build_command.main(args) == 0 and "Already built" in capsys.readouterr().out
  builder = build_lib.get_builder(
    tmp_path / "d", "v2", FRAMES, CROP, num_windows=1, dataset="celeb_df"
  )
  report = json.loads((Path(builder.data_dir) / REPORT_NAME).read_text())
  train, test = _records(builder, "train"), _records(builder, "test")
  assert set(train) == {"original/id0_0000", "Celeb-synthesis/id0_id1_0000"}
  assert set(test) == {
    "original/00001",
    "original/id1_0000",
    "Celeb-synthesis/id1_id0_0000",
    "Celeb-synthesis/id0_id2_0000",
  }
  for r in (*train.values(), *test.values()):
    assert r["label"] == int(r["method"] == "Celeb-synthesis") and r["compression"] == "raw"
  fake = test["Celeb-synthesis/id1_id0_0000"]
  assert (fake["target_id"], fake["source_id"]) == ("id1_0000", "id0")
  assert _same_track(fake, test["original/id1_0000"])
  assert _same_track(train["Celeb-synthesis/id0_id1_0000"], train["original/id0_0000"])
  assert not _same_track(test["Celeb-synthesis/id0_id2_0000"], train["original/id0_0000"])
  assert _counts(report, "train") == (3, 2, 1, 0, 1, 0)
  assert "unreadable" in report["splits"]["train"]["skipped_files"]["original/00000"]
  assert _counts(report, "test") == (5, 4, 0, 1, 1, 1)
  assert report["splits"]["test"]["missing_files"] == [
    str(manual / "Celeb-synthesis/id2_id1_0000.mp4")
  ]
  assert report["config"] == "v2_f4_s32_w1" and report["options"]["variant"] == "v2"


def test_celeb_df_finds_the_release_folder_inside_manual_dir(tmp_path):
  from ddf.data.celeb_df import CelebDf

  (tmp_path / "Celeb-DF" / "Celeb-real").mkdir(parents=True)
  (tmp_path / "Celeb-DF" / "List_of_testing_videos.txt").write_text("1 Celeb-real/id0_0000.mp4\n")
  entries = CelebDf(config="v1", data_dir=tmp_path / "d").split_entries(tmp_path)
  assert [e.path for e in entries["test"]] == [tmp_path / "Celeb-DF/Celeb-real/id0_0000.mp4"]
  assert entries["test"][0].label == 0 and entries["train"] == []


# --- DFDC -------------------------------------------------------------------------------------


def test_dfdc_full_training_parts_and_public_test_set(tmp_path):
  manual = tmp_path / "dfdc"
  part0, part1, test = manual / "dfdc_train_part_0", manual / "dfdc_train_part_1", manual / "test"
  _real(part0 / "aaqaifqrwn.mp4", 0)
  _fake(part0 / "qzvtmqdxmf.mp4", 0)  # original aaqaifqrwn: its track
  _fake(part0 / "bbhpvrmbse.mp4", 1)  # original not in the download: its own track
  (part0 / "metadata.json").write_text(
    json.dumps(
      {
        "aaqaifqrwn.mp4": {"label": "REAL", "split": "train", "original": None},
        "qzvtmqdxmf.mp4": {"label": "FAKE", "split": "train", "original": "aaqaifqrwn.mp4"},
        "bbhpvrmbse.mp4": {"label": "FAKE", "split": "train", "original": "zzzzzzzzzz.mp4"},
        "cdyakrxkia.mp4": {"label": "REAL", "split": "train", "original": None},
      }
    )
  )  # missing
  _corrupt(part1 / "ddpvuimigj.mp4")
  (part1 / "metadata.json").write_text(
    json.dumps({"ddpvuimigj.mp4": {"label": "REAL", "split": "train", "original": None}})
  )
  _real(test / "videos/aalscayrfi.mp4", 2)
  _fake(test / "videos/abarnvbtwb.mp4", 2)
  (test / "labels.csv").write_text(
    "filename,label\naalscayrfi.mp4,0\nabarnvbtwb.mp4,1\nacxnxvbsxk.mp4,1\n"
  )  # last: missing

  builder, report = _build(tmp_path / "d", manual, "dfdc", "full")
  train, test_records = _records(builder, "train"), _records(builder, "test")
  assert {k: r["label"] for k, r in train.items()} == {
    "original/aaqaifqrwn": 0,
    "DFDC/qzvtmqdxmf": 1,
    "DFDC/bbhpvrmbse": 1,
  }
  assert {k: r["label"] for k, r in test_records.items()} == {
    "original/aalscayrfi": 0,
    "DFDC/abarnvbtwb": 1,
  }
  assert train["DFDC/qzvtmqdxmf"]["target_id"] == "aaqaifqrwn"
  assert _same_track(train["DFDC/qzvtmqdxmf"], train["original/aaqaifqrwn"])
  assert _counts(report, "train") == (5, 3, 1, 1, 1, 1)
  assert "original/ddpvuimigj" in report["splits"]["train"]["skipped_files"]
  assert report["splits"]["train"]["missing_files"] == [str(part0 / "cdyakrxkia.mp4")]
  assert _counts(report, "test") == (3, 2, 0, 1, 0, 1)


def test_dfdc_preview_dataset_json(tmp_path):
  manual = tmp_path / "dfdc_preview_set"
  index = {
    "original_videos/1255229/1255229_A/00194.mp4": ("real", "train", 0),
    "method_A/1255229/1255229_A/00194.mp4": ("fake", "train", 0),
    "original_videos/1224068/1224068_B/00001.mp4": ("real", "test", 1),
    "method_B/1224068/1224068_B/00001.mp4": ("fake", "test", None),  # corrupt
    "method_A/1224068/1224068_A/00002.mp4": ("fake", "test", -1),  # missing
  }
  for relative, (label, _, seed) in index.items():
    if seed is None:
      _corrupt(manual / relative)
    elif seed >= 0:
      (_fake if label == "fake" else _real)(manual / relative, seed)
  (manual / "dataset.json").write_text(
    json.dumps(
      {
        k: {"label": label, "set": split, "target_id": "1255229", "augmentations": {}}
        for k, (label, split, _) in index.items()
      }
    )
  )

  builder, report = _build(tmp_path / "d", manual, "dfdc", "preview")
  train, test = _records(builder, "train"), _records(builder, "test")
  assert {k: r["label"] for k, r in train.items()} == {
    "original/original_videos/1255229/1255229_A/00194": 0,
    "DFDC/method_A/1255229/1255229_A/00194": 1,
  }
  assert set(test) == {"original/original_videos/1224068/1224068_B/00001"}
  assert _counts(report, "train") == (2, 2, 0, 0, 0, 1)  # no original named: own tracks
  assert _counts(report, "test") == (3, 1, 1, 1, 0, 0)


# --- DFD --------------------------------------------------------------------------------------


def _dfd_tree(manual: Path) -> Path:
  """A c23 DFD download; returns its reals' folder."""
  reals = manual / "original_sequences/actors/c23/videos"
  fakes = manual / "manipulated_sequences/DeepFakeDetection/c23/videos"
  _real(reals / "01__exit_phone_room.mp4", 0)
  _corrupt(reals / "02__talking_against_wall.mp4")
  _fake(fakes / "01_02__exit_phone_room__YVGY8LOK.mp4", 0)
  _fake(fakes / "03_01__walking_down_street__ABCDEF12.mp4", 1)  # its real is missing
  return reals


def test_dfd_in_the_ffpp_layout_is_all_test(tmp_path):
  manual = tmp_path / "ffpp"
  reals = _dfd_tree(manual)
  builder, report = _build(tmp_path / "d", manual, "dfd", "c23")
  assert set(builder.info.splits) == {"test"}
  test = _records(builder, "test")
  fake_key = "DeepFakeDetection/01_02__exit_phone_room__YVGY8LOK"
  assert set(test) == {
    "original/01__exit_phone_room",
    fake_key,
    "DeepFakeDetection/03_01__walking_down_street__ABCDEF12",
  }
  fake = test[fake_key]
  assert (fake["label"], fake["target_id"], fake["source_id"]) == (1, "01__exit_phone_room", "02")
  assert _same_track(fake, test["original/01__exit_phone_room"])
  assert all(r["compression"] == "c23" for r in test.values())
  assert _counts(report, "test") == (5, 3, 1, 1, 1, 1)
  assert report["splits"]["test"]["missing_files"] == [str(reals / "03__walking_down_street.mp4")]
  with pytest.raises(FileNotFoundError, match="actors/c40"):
    build_lib.build(build_lib.get_builder(tmp_path / "d", "c40", dataset="dfd"), manual)


def test_tfds_command_line_builds_the_dataset_folder(tmp_path):
  """`tfds build datasets/dfd ...` (registered config c23: default options) as the README says,
  on the Beam runner `--beam_pipeline_options` names: the portable runner that drives Flink and
  Spark, here with its embedded job server and the SDK harness in the launching process."""
  pytest.importorskip("mlcroissant")  # the TFDS command line's start-up import (tfds-cli extra)
  _dfd_tree(tmp_path / "manual")
  command = [
    str(Path(sys.executable).parent / "tfds"),
    "build",
    "datasets/dfd",
    "--manual_dir",
    str(tmp_path / "manual"),
    "--data_dir",
    str(tmp_path / "d"),
    "--config",
    "c23",
    "--file_format",
    "array_record",
    "--beam_pipeline_options=runner=PortableRunner,job_endpoint=embed,environment_type=LOOPBACK",
  ]
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", JAX_PLATFORMS="cpu")
  proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-3000:]
  builder = build_lib.get_builder(tmp_path / "d", "c23", dataset="dfd")  # the same dataset
  assert builder.data_path.exists()
  report = json.loads((Path(builder.data_dir) / REPORT_NAME).read_text())
  assert _counts(report, "test") == (5, 3, 1, 1, 1, 1)
  assert len(RecordSource(builder, "test").index()) == 3
  assert report["beam"] == {"runner": "PortableRunner", "workers": "as the runner decides"}
  assert "with Beam: runner PortableRunner" in proc.stdout


# --- DeeperForensics --------------------------------------------------------------------------


def test_deeper_forensics_own_splits_with_ffpp_targets(tmp_path):
  manual = tmp_path / "DeeperForensics-1.0"
  splits = {
    "train": ["000_M101.mp4", "001_W011.mp4"],
    "val": ["002_M102.mp4"],
    "test": ["003_W012.mp4", "004_M103.mp4"],
  }
  for split, names in splits.items():
    (manual / "lists/splits").mkdir(parents=True, exist_ok=True)
    (manual / f"lists/splits/{split}.txt").write_text("\n".join(names) + "\n")
  fakes = manual / "manipulated_videos/end_to_end"
  _fake(fakes / "000_M101.mp4", 0)
  _corrupt(fakes / "001_W011.mp4")
  _fake(fakes / "002_M102.mp4", 2)
  _fake(fakes / "003_W012.mp4", 3, num_frames=9)  # not frame-aligned with 003: its own track
  for i in range(5):  # 004_M103.mp4 is missing; FF++ originals raw (no c23 folder)
    _real(manual / f"original_sequences/youtube/raw/videos/{i:03d}.mp4", i)

  builder, report = _build(tmp_path / "d", manual, "deeper_forensics", "end_to_end")
  records = {split: _records(builder, split) for split in splits}
  assert set(records["train"]) == {"original/000", "original/001", "DeeperForensics/000_M101"}
  assert set(records["val"]) == {"original/002", "DeeperForensics/002_M102"}
  assert set(records["test"]) == {"original/003", "original/004", "DeeperForensics/003_W012"}
  fake = records["train"]["DeeperForensics/000_M101"]
  assert (fake["label"], fake["target_id"], fake["source_id"]) == (1, "000", "M101")
  assert _same_track(fake, records["train"]["original/000"])
  assert _same_track(records["val"]["DeeperForensics/002_M102"], records["val"]["original/002"])
  assert _counts(report, "train") == (4, 3, 1, 0, 1, 0)
  assert _counts(report, "val") == (2, 2, 0, 0, 1, 0)
  assert _counts(report, "test") == (4, 3, 0, 1, 0, 1)
  assert "9" in report["splits"]["test"]["own_track_files"]["DeeperForensics/003_W012"]
  assert report["splits"]["test"]["missing_files"] == [str(fakes / "004_M103.mp4")]
  assert report["ffpp_targets"] == "raw"


# --- Missing list files -----------------------------------------------------------------------


@pytest.mark.parametrize(
  "dataset, config, named",
  [
    ("celeb_df", "v2", "List_of_testing_videos.txt"),
    ("dfdc", "full", "dfdc_train_part_*/metadata.json"),
    ("dfdc", "preview", "dataset.json"),
    ("dfd", "raw", "original_sequences/actors/raw/videos"),
    ("deeper_forensics", "end_to_end", "lists/splits/train.txt"),
  ],
)
def test_a_missing_list_file_says_which_and_what_to_do(tmp_path, capsys, dataset, config, named):
  (tmp_path / "manual").mkdir()
  code = build_command.main(
    [
      "--dataset",
      dataset,
      "--manual_dir",
      str(tmp_path / "manual"),
      "--data_dir",
      str(tmp_path / "d"),
      "--config",
      config,
    ]
  )
  err = capsys.readouterr().err
  assert code == 2 and named in err and "--manual_dir" in err and "Traceback" not in err
