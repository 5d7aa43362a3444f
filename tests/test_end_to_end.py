"""End to end on a tiny synthetic run: train -> evaluate -> tables -> predict (with bad files)."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm

from tests.conftest import REPO

pytestmark = pytest.mark.slow  # subprocesses / dataset builds


@pytest.fixture(scope="module")
def run_dir(tiny_dataset, tmp_path_factory) -> Path:
  """A 4-step tiny run with val selection (best_checkpoint) and no final evaluation."""
  _, data_dir = tiny_dataset
  workdir = tmp_path_factory.mktemp("e2e") / "run"
  overrides = {
    "data.data_dir": data_dir,
    "data.manual_dir": "/nonexistent",
    "data.synthetic": False,
    "num_train_steps": 4,
    "eval_every_steps": 2,
    "checkpoint_every_steps": 2,
    "eval_splits": "()",
  }
  cmd = [
    sys.executable,
    "-m",
    "ddf.train",
    "--config",
    "configs/default.py:tiny",
    "--workdir",
    str(workdir),
    *[f"--config.{k}={v}" for k, v in overrides.items()],
  ]
  env = dict(os.environ, PYTHONPATH=str(REPO), XLA_FLAGS="--xla_force_host_platform_device_count=1")
  proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-4000:]
  assert (workdir / "best_checkpoint").exists()
  assert not (workdir / "eval").exists()
  return workdir


@pytest.fixture(scope="module")
def report(run_dir) -> dict:
  from ddf import evaluate

  assert evaluate.main(["--workdir", str(run_dir), "--split", "test"]) == 0
  return json.loads((run_dir / "eval" / "faceforensics_test.json").read_text())


def test_evaluate_shows_progress(run_dir, capsys):
  from ddf import evaluate

  assert evaluate.main(["--workdir", str(run_dir), "--split", "val", "--no_roc"]) == 0
  out = capsys.readouterr().out
  assert "val: 20/20 clips scored" in out  # 2 pairs: 4 reals + 16 fakes, one window each


def _eer(y, s) -> float:
  from tests import reference_metrics  # independent threshold sweep, no scikit-learn

  return reference_metrics.equal_error_rate(y, s)


def _check_level(r: dict, videos: list[dict]) -> None:
  y = np.array([v["label"] for v in videos])
  s = np.array([v["score"] for v in videos])
  pred = (s >= 0.5).astype(int)
  assert r["video_n"] == len(videos)
  expected = {
    "auc": skm.roc_auc_score(y, s),
    "ap": skm.average_precision_score(y, s),
    "acc": skm.accuracy_score(y, pred),
    "eer": _eer(y, s),
    "precision": skm.precision_score(y, pred, zero_division=0),
    "recall": skm.recall_score(y, pred, zero_division=0),
    "f1": skm.f1_score(y, pred, zero_division=0),
  }
  for k, v in expected.items():
    assert r[f"video_{k}"] == pytest.approx(v, abs=1e-9), k


def test_evaluate_writes_report_matching_sklearn(report, run_dir):
  for key in (
    "video_auc",
    "video_acc",
    "video_eer",
    "video_ap",
    "video_precision",
    "video_recall",
    "video_f1",
    "clip_auc",
    "clip_eer",
    "per_method",
    "per_compression",
    "num_videos",
    "num_clips",
    "videos_with_faceless_frames",
    "videos",
    "checkpoint_step",
  ):
    assert key in report, key
  assert report["dataset"] == "faceforensics" and report["split"] == "test"
  assert report["checkpoint_step"] in (2, 4)
  videos = report["videos"]
  assert len(videos) == report["num_videos"] > 0
  assert report["num_clips"] == report["clip_n"] >= len(videos)
  assert report["videos_with_faceless_frames"] == sum(v["frames_without_face"] > 0 for v in videos)
  _check_level(report, videos)
  methods = sorted({v["method"] for v in videos if v["label"] == 1})
  assert sorted(report["per_method"]) == methods
  for m in methods:
    _check_level(
      report["per_method"][m], [v for v in videos if v["label"] == 0 or v["method"] == m]
    )
  assert list(report["per_compression"]) == ["c23"]
  data = report["data"]  # which data the numbers were measured on
  assert data["builder"] == "faceforensics" and data["config"] == "c23_f4_s32_w1"
  assert data["version"] == "2.0.0" and data["options"]["sampling"] == "windows"
  assert data["synthetic"]["pairs"] == [3, 2, 2] and data["synthetic"]["difficulty"] == 0.5
  assert data["listed"] == data["built"] == data["scored"] == report["num_videos"] == 20
  assert data["missing"] == [] and data["skipped"] == {} and data["not_scored"] == {}
  lo, hi = report["video_auc_ci"]
  assert lo <= report["video_auc"] <= hi
  roc = run_dir / "eval" / "faceforensics_test_roc.png"
  assert roc.exists() and roc.read_bytes()[:4] == b"\x89PNG"


def test_tables_hold_the_run_and_group_seeds(report, run_dir, tmp_path):
  from ddf import tables

  # A second "seed" of the same config (numbers shifted) and an unrelated ablation row.
  seed1 = tmp_path / "seed1"
  (seed1 / "eval").mkdir(parents=True)
  config = json.loads((run_dir / "config.json").read_text())
  config["seed"] = 1
  (seed1 / "config.json").write_text(json.dumps(config))
  other = dict(report, video_auc=report["video_auc"] * 0.5)
  (seed1 / "eval" / "faceforensics_test.json").write_text(json.dumps(other))
  spatial = tmp_path / "spatial"
  shutil.copytree(run_dir / "eval", spatial / "eval")
  (spatial / "config.json").write_text(
    json.dumps(dict(config, seed=0, model=dict(config["model"], branches="spatial")))
  )

  out = tmp_path / "tables"
  assert tables.main(["--workdirs", str(run_dir), str(seed1), str(spatial), "--out", str(out)]) == 0
  for name in ("ffpp", "ablation", "cross_dataset"):
    for ext in ("md", "tex", "csv"):
      assert (out / f"{name}.{ext}").exists()
  ffpp_md = (out / "ffpp.md").read_text()
  assert "resnet_tiny S+T+M+MT" in ffpp_md and "resnet_tiny S |" in ffpp_md
  assert f"{100 * report['video_acc']:.2f}" in ffpp_md
  for m, r in report["per_method"].items():
    assert f"c23 {m} AUC" in ffpp_md
    assert f"{100 * r['video_auc']:.2f}" in ffpp_md
  # seeds 0 and 1 grouped: mean ± sample std of the overall AUC.
  aucs = [report["video_auc"], report["video_auc"] * 0.5]
  mean, std = 100 * np.mean(aucs), 100 * np.std(aucs, ddof=1)
  abl = (out / "ablation.md").read_text()
  assert f"{mean:.2f} ± {std:.2f}" in abl
  with open(out / "ablation.csv") as f:
    rows = {r["model"]: r for r in csv.DictReader(f)}
  full = rows["resnet_tiny S+T+M+MT"]
  assert full["seeds"] == "2" and full["spatial"] == full["micro"] == "yes"
  assert float(full["AUC"]) == pytest.approx(mean, abs=1e-3)
  assert float(full["AUC_std"]) == pytest.approx(std, abs=1e-3)
  single = rows["resnet_tiny S"]
  assert single["micro"] == "no" and single["AUC_std"] == ""
  assert float(single["AUC"]) == pytest.approx(100 * report["video_auc"], abs=1e-3)
  assert "FF++ (c23_f4_s32_w1) video-level AUC" in (out / "cross_dataset.md").read_text()
  assert "\\begin{tabular}" in (out / "ffpp.tex").read_text()


def test_predict_scores_good_files_and_reports_bad_ones(run_dir, tiny_tree, tmp_path):
  from ddf import predict
  from ddf.data.video import write_video

  real = sorted((tiny_tree / "original_sequences").rglob("*.mp4"))[0]
  fake = sorted((tiny_tree / "manipulated_sequences").rglob("*.mp4"))[0]
  corrupt = tmp_path / "corrupt.mp4"
  corrupt.write_bytes(np.random.default_rng(0).bytes(4000))
  noise = tmp_path / "noise.mp4"
  rng = np.random.default_rng(1)
  write_video(noise, (128 + rng.normal(0, 20, (8, 96, 96, 3))).clip(0, 255).astype(np.uint8))
  missing = tmp_path / "no_such_video.mp4"
  out, viz = tmp_path / "pred.json", tmp_path / "viz"
  code = predict.main(
    [
      "--workdir",
      str(run_dir),
      str(real),
      str(fake),
      str(corrupt),
      str(noise),
      str(missing),
      "--json",
      str(out),
      "--viz",
      str(viz),
      "--threshold",
      "0.5",
    ]
  )
  assert code == 1
  result = json.loads(out.read_text())
  assert result["num_failed"] == 3
  by_file = {Path(r["file"]).name: r for r in result["videos"]}
  for good in (real, fake):
    r = by_file[good.name]
    assert "error" not in r
    assert 0.0 <= r["probability_fake"] <= 1.0
    assert r["clip_scores"] and all(0.0 <= s <= 1.0 for s in r["clip_scores"])
    assert math.isclose(r["probability_fake"], float(np.mean(r["clip_scores"])), rel_tol=1e-6)
    assert r["decision"] == ("fake" if r["probability_fake"] >= 0.5 else "real")
    assert 1 <= r["frames_with_face"] <= r["frames_sampled"] == 4
    png = Path(r["viz"])
    assert png.exists() and png.parent == viz and png.read_bytes()[:4] == b"\x89PNG"
  r = by_file[missing.name]
  assert r["error_kind"] == "not_found" and "not found" in r["error"] and str(missing) in r["error"]
  assert "unreadable" not in r["error"] and "manual_dir" not in r["error"]
  for bad, kind in ((corrupt, "unreadable"), (noise, "no_face")):
    r = by_file[bad.name]
    assert str(bad) in r["error"] and r["error_kind"] == kind
    assert "probability_fake" not in r
  assert len(list(viz.glob("*.png"))) == 2


def test_predict_reads_a_video_url_as_it_reads_the_local_file(run_dir, tiny_tree, bucket, tmp_path):
  from etils import epath

  from ddf import predict

  real = sorted((tiny_tree / "original_sequences").rglob("*.mp4"))[0]
  url = epath.Path(bucket) / "videos" / real.name
  url.write_bytes(real.read_bytes())
  missing = url.parent / "no_such_video.mp4"
  out = tmp_path / "pred.json"
  argv = ["--workdir", str(run_dir), str(real), str(url), str(missing), "--json", str(out)]
  assert predict.main(argv) == 1
  local, remote, gone = json.loads(out.read_text())["videos"]
  assert remote["file"] == str(url) and "error" not in remote
  assert remote["probability_fake"] == local["probability_fake"]
  assert remote["clip_scores"] == local["clip_scores"]
  assert gone["error_kind"] == "not_found" and str(missing) in gone["error"]


def test_predict_samples_and_detects_like_the_build(run_dir):
  from ddf import predict_lib

  config = json.loads((run_dir / "config.json").read_text())["data"]
  p = predict_lib.Predictor(run_dir)
  assert p.faces.min_face_size == config["min_face_size"] == 40
  assert p.faces.margin == config["margin"] and p.faces.crop_size == config["crop_size"]
  assert (p.sampling.sampling, p.sampling.num_windows) == (
    config["sampling"],
    config["num_windows"],
  )
  assert p.rule.min_face_fraction == config["min_face_fraction"]


def test_perturbed_evaluation_and_robustness_table(run_dir, report, tmp_path, capsys):
  from ddf import evaluate, tables

  assert (
    evaluate.main(
      ["--workdir", str(run_dir), "--split", "test", "--no_roc", "--perturbations", "GB3,JPEG5"]
    )
    == 0
  )
  assert "| GB (Gaussian blur) | - | - | " in capsys.readouterr().out
  for name in ("GB3", "JPEG5"):
    perturbed = json.loads((run_dir / "eval" / f"faceforensics_test_{name}.json").read_text())
    assert perturbed["perturbation"] == name and perturbed["split"] == "test"
    assert perturbed["num_clips"] == report["num_clips"]
  clean = json.loads((run_dir / "eval" / "faceforensics_test.json").read_text())
  assert clean["perturbation"] is None
  assert evaluate.main(["--workdir", str(run_dir), "--perturbations", "XX9"]) == 2
  out = tmp_path / "tables"
  assert tables.main(["--workdirs", str(run_dir), "--out", str(out)]) == 0
  robustness = (out / "robustness.md").read_text()
  assert "GB (Gaussian blur)" in robustness and "JPEG (JPEG compression)" in robustness
  assert f"{100 * clean['video_auc']:.2f}" in robustness
