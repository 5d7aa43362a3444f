"""Shallow baselines (`ddf.baselines`): eval JSON in the detector's format, C chosen on val only."""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from sklearn import metrics as skm

from tests.conftest import REPO

BASELINES = ("grid_logreg", "face_edge_ratio", "brightness_flicker")


def _main(workdir: Path, data_dir: Path, baseline: str, *extra: str) -> None:
  """`python -m ddf.baselines ...` in process, on the tiny dataset (flags reset afterwards)."""
  from absl import flags

  from ddf import baselines

  overrides = {
    "data.data_dir": data_dir,
    "data.manual_dir": "/nonexistent",
    "data.synthetic": False,
  }
  argv = [
    "ddf.baselines",
    f"--config={REPO / 'configs/default.py'}:tiny",
    *[f"--config.{k}={v}" for k, v in overrides.items()],
    "--workdir",
    str(workdir),
    "--baseline",
    baseline,
    *extra,
  ]
  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(sys, "argv", argv)  # config_flags reads its overrides from sys.argv
    try:
      baselines.main(flags.FLAGS(argv))
    finally:
      flags.FLAGS.unparse_flags()
      for name in [n for n in flags.FLAGS if n.startswith("config.")]:
        delattr(flags.FLAGS, name)  # override flags are defined anew at every parse


@pytest.fixture(scope="module")
def runs(tiny_dataset, tmp_path_factory) -> dict[str, Path]:
  """baseline -> workdir of one run on the tiny dataset."""
  _, data_dir = tiny_dataset
  out = {}
  for name in BASELINES:
    out[name] = tmp_path_factory.mktemp("baselines") / name
    _main(out[name], data_dir, name)
  return out


@pytest.mark.parametrize("name", BASELINES)
def test_main_writes_eval_reports_like_the_detector(runs, name):
  from ddf import tables_lib

  workdir = runs[name]
  config = json.loads((workdir / "config.json").read_text())
  assert config["baseline"] == name and config["data"]["crop_size"] == 32
  assert ("C" in config["baseline_params"]) == (name == "grid_logreg")
  for split in ("val", "test"):
    report = json.loads((workdir / "eval" / f"faceforensics_{split}.json").read_text())
    for key in (
      "video_auc",
      "video_auc_ci",
      "clip_auc",
      "per_method",
      "per_compression",
      "videos",
      "data",
      "not_scored",
      "num_videos",
    ):
      assert key in report, key
    assert report["split"] == split and report["dataset"] == "faceforensics"
    assert report["baseline"] == name and report["checkpoint_step"] == 0
    assert report["builder_config"] == report["data"]["config"]
    videos = report["videos"]
    assert len(videos) == report["num_videos"] == report["data"]["scored"]
    assert report["num_videos"] == report["data"]["built"] > 0 and not report["not_scored"]
    y, s = [v["label"] for v in videos], [v["score"] for v in videos]
    assert all(0.0 <= v <= 1.0 for v in s)
    assert report["video_auc"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    lo, hi = report["video_auc_ci"]
    assert lo <= report["video_auc"] <= hi or math.isnan(lo)
  # ddf.tables reads the workdir like a trained run's (cross-dataset table: test video AUC).
  (row,) = tables_lib.build_tables(tables_lib.load_runs([workdir]))[2].rows
  assert [v.value for v in row[-1]] == [pytest.approx(report["video_auc"])]


def _clips(
  rng: np.random.Generator, n: int, blurred: bool, size: int = 32, t: int = 4
) -> np.ndarray:
  """[n, t, size, size, 3] uint8 textures; `blurred`: the central half low-passed."""
  out = rng.integers(0, 256, [n, t, size, size, 3]).astype(np.uint8)
  if blurred:
    lo, hi = size // 4, 3 * size // 4
    for clip in out:
      for frame in clip:
        frame[lo:hi, lo:hi] = cv2.GaussianBlur(frame[lo:hi, lo:hi], (7, 7), 2.0)
  return out


def _clip_set(split: str, rng: np.random.Generator, n: int, featurize):
  from ddf.baselines_lib import ClipSet

  x = featurize(np.concatenate([_clips(rng, n, False), _clips(rng, n, True)]))
  labels = np.repeat([0, 1], n).astype(np.int32)
  meta = [
    {
      "label": int(y),
      "video_id": str(i),
      "method": "original" if y == 0 else "Blur",
      "compression": "c23",
      "frames_without_face": 0,
    }
    for i, y in enumerate(labels)
  ]
  return ClipSet(split, x, np.arange(2 * n), labels, meta)


def test_grid_features_separate_blurred_centres():
  from ddf import baselines_lib

  rng = np.random.default_rng(0)
  train, val, test = (
    _clip_set(s, rng, 8, baselines_lib.grid_features) for s in ("train", "val", "test")
  )
  assert train.x.shape == (16, 12 * baselines_lib.GRID**2) and train.x.dtype == np.float32
  model, c, aucs = baselines_lib.select_c(train, val)
  assert c in baselines_lib.C_GRID and set(aucs) == {str(c) for c in baselines_lib.C_GRID}
  assert baselines_lib.video_auc(test, model.predict_proba(test.x)[:, 1]) == 1.0
  # No training: less edge energy in the face box than around it.
  ratio = baselines_lib.edge_log_ratio(
    np.concatenate([_clips(rng, 4, False), _clips(rng, 4, True)]), margin=2.0
  )
  assert ratio[4:].max() < ratio[:4].min()


def test_c_is_chosen_on_val_never_on_test(runs, tiny_dataset, tmp_path, monkeypatch):
  from ddf import baselines_lib

  calls = []
  load, select = baselines_lib.load_split, baselines_lib.select_c

  def noisy_load(builder, split, rule, featurize):
    clips = load(builder, split, rule, featurize)
    calls.append(("load", split))
    if split == "test":  # test features that would change any choice made on them
      clips.x = np.random.default_rng(1).normal(size=clips.x.shape).astype(np.float32)
    return clips

  def spy_select(train, val, *args, **kwargs):
    calls.append(("select", train.split, val.split))
    return select(train, val, *args, **kwargs)

  monkeypatch.setattr(baselines_lib, "load_split", noisy_load)
  monkeypatch.setattr(baselines_lib, "select_c", spy_select)
  _main(tmp_path / "noisy", tiny_dataset[1], "grid_logreg")
  assert calls == [("load", "train"), ("load", "val"), ("select", "train", "val"), ("load", "test")]
  val_json = "eval/faceforensics_val.json"
  clean = json.loads((runs["grid_logreg"] / val_json).read_text())["baseline_params"]
  noisy = json.loads((tmp_path / "noisy" / val_json).read_text())["baseline_params"]
  assert json.loads((tmp_path / "noisy" / "config.json").read_text())["baseline_params"] == {
    "C": noisy["C"]
  }
  assert noisy["C"] == clean["C"] and noisy["val_video_auc_by_C"] == clean["val_video_auc_by_C"]
  aucs = clean["val_video_auc_by_C"]  # the smallest C among the best val AUCs
  assert clean["C"] == min(float(c) for c, a in aucs.items() if a == max(aucs.values()))


def test_brightness_flicker_scores_jumping_light_above_drifting_light():
  from ddf.baselines_lib import brightness_flicker

  rng = np.random.default_rng(1)
  base = rng.integers(60, 190, [6, 1, 32, 32, 3]).astype(np.float32)
  drift = 1.0 + 0.1 * np.sin(np.linspace(0, 2, 8))[None, :, None, None, None]
  jumps = drift[:, [3, 0, 6, 1, 7, 2, 5, 4]]  # the same light levels, out of order
  smooth = brightness_flicker(np.clip(base * drift, 0, 255).astype(np.uint8), 1.3)
  shuffled = brightness_flicker(np.clip(base * jumps, 0, 255).astype(np.uint8), 1.3)
  assert smooth.shape == (6,) and np.all(shuffled > smooth + 0.5)
  with pytest.raises(ValueError, match="3\\+ frames"):
    brightness_flicker(np.zeros([1, 2, 32, 32, 3], np.uint8), 1.3)


def _tinted_clip_set(split: str, rng: np.random.Generator, n: int):
  """n real and n fake clips [4, 32, 32, 3]: smooth random near-grey fields with noise; a fake's
  centre is tinted (R and B up, G down) with its BT.601 luma kept, so its texture and its change
  over frames are a real clip's."""
  from ddf import baselines_lib

  clips = []
  for fake in np.repeat([False, True], n):
    grey = rng.uniform(60, 190, [4, 4, 1]) + rng.normal(0, 4, [4, 4, 3])
    field = cv2.resize(grey.astype(np.float32), (32, 32))
    clip = field[None] + rng.normal(0, 6, [4, 32, 32, 3]).astype(np.float32)
    if fake:
      clip[:, 8:24, 8:24] += np.array([16.0, -16.0 * (0.299 + 0.114) / 0.587, 16.0], np.float32)
    clips.append(np.clip(np.round(clip), 0, 255).astype(np.uint8))
  base = _clip_set(split, rng, n, lambda c: c[:, 0, 0, 0, :1].astype(np.float32))
  return dataclasses.replace(base, x=baselines_lib.grid_features(np.stack(clips)))


def test_feature_groups_find_the_cue_that_separates():
  from ddf import baselines_lib

  cols = baselines_lib.group_columns(("a",))
  g2 = baselines_lib.GRID**2
  assert list(cols) == [*range(3 * g2, 4 * g2), *range(8 * g2, 9 * g2)]  # a's mean and std
  rng = np.random.default_rng(0)
  train, val, test = (_tinted_clip_set(s, rng, 24) for s in ("train", "val", "test"))
  aucs = baselines_lib.feature_group_aucs(train, val, test)
  assert set(aucs) == set(baselines_lib.FEATURE_GROUPS)
  # The fakes differ in chroma alone: colour must separate them, texture and change must not.
  assert aucs["colour"]["test"] > 0.95 and aucs["colour"]["C"] in baselines_lib.C_GRID
  assert aucs["texture"]["test"] < 0.75 and aucs["change"]["test"] < 0.75


def test_feature_groups_flag_stores_each_groups_aucs(runs, tiny_dataset, tmp_path):
  """`--feature_groups` through the CLI: every group's val / test AUC and C land in the eval
  reports' `baseline_params`, and the full baseline's own AUCs are those of the run without it."""
  from ddf import baselines_lib

  _main(tmp_path / "groups", tiny_dataset[1], "grid_logreg", "--feature_groups")
  for split in ("val", "test"):
    with_groups = json.loads(
      (tmp_path / "groups" / "eval" / f"faceforensics_{split}.json").read_text()
    )
    plain = json.loads((runs["grid_logreg"] / "eval" / f"faceforensics_{split}.json").read_text())
    groups = with_groups["baseline_params"]["feature_groups"]
    assert set(groups) == set(baselines_lib.FEATURE_GROUPS)
    for got in groups.values():
      assert set(got) == {"val", "test", "C"} and got["C"] in baselines_lib.C_GRID
    assert with_groups["video_auc"] == plain["video_auc"]
    assert "feature_groups" not in plain["baseline_params"]
  with pytest.raises(ValueError, match="feature groups"):
    _main(tmp_path / "edge", tiny_dataset[1], "face_edge_ratio", "--feature_groups")
