"""Frozen-backbone feature cache: contents, reuse/invalidation, loaders, and a cached training run."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import ml_collections
import numpy as np
import pytest

from configs.default import get_config
from ddf.data import feature_cache, pipeline
from ddf.models import build_detector, frame_features
from tests import train_runs as runs
from tests.conftest import REPO, TINY_CROP, TINY_FRAMES_PER_VIDEO, restore_on_host

pytestmark = pytest.mark.slow  # subprocesses / dataset builds


def _config(cache_root: Path, dtype: str = "float32") -> ml_collections.ConfigDict:
  c = get_config("tiny,frozen")
  c.unlock()
  c.data.frames_per_video = TINY_FRAMES_PER_VIDEO
  c.data.crop_size = TINY_CROP
  c.data.clip_len = 2
  c.data.feature_cache_dir = str(cache_root)
  c.data.feature_cache_dtype = dtype
  c.data.feature_cache_batch_frames = 3  # chunks that split videos: exercises partial writes.
  return c


def _variables(model, seed: int = 0) -> dict:
  clips = np.zeros((1, 2, TINY_CROP, TINY_CROP, 3), np.uint8)
  v = jax.jit(lambda: model.init({"params": jax.random.key(seed)}, clips, train=False))()
  return jax.device_get(v)


@pytest.fixture(scope="module")
def cached(tiny_dataset, tmp_path_factory):
  builder, _ = tiny_dataset
  config = _config(tmp_path_factory.mktemp("feature_cache"))
  model = build_detector(config.model)
  variables = _variables(model)
  sources = feature_cache.prepare(config.data, builder, ("train", "val"), model, variables)
  return config, builder, model, variables, sources


def test_cache_holds_the_features_of_every_stored_frame(cached):
  config, builder, model, variables, sources = cached
  features = jax.jit(lambda f: frame_features(model, variables, f))
  for split in ("train", "val"):
    frames_source, cache = pipeline.RecordSource(builder, split), sources[split]
    assert len(cache) == len(frames_source)
    assert pipeline.video_metadata(cache) == pipeline.video_metadata(frames_source)
    np.testing.assert_array_equal(cache.labels(), frames_source.labels())
    for i in range(len(cache)):
      frames = pipeline.clip_inputs(frames_source[i], 0, TINY_FRAMES_PER_VIDEO)["clips"]
      expected = features(frames)
      record = cache[i]
      assert set(expected) == {"backbone_maps", "micro_inputs"}
      for name, value in expected.items():
        assert record[name].shape == (TINY_FRAMES_PER_VIDEO,) + value.shape[1:]
        np.testing.assert_allclose(record[name], value, rtol=1e-4, atol=1e-4, err_msg=name)


def test_cache_is_reused_and_keyed_by_weights_and_dtype(cached, capsys):
  config, builder, model, variables, sources = cached
  capsys.readouterr()
  again = feature_cache.prepare(config.data, builder, ("val",), model, variables)
  assert again["val"].directory == sources["val"].directory
  assert "Computing" not in capsys.readouterr().out
  # Other backbone weights -> another cache; nothing stale is read.
  other = _variables(model, seed=1)
  moved = feature_cache.prepare(config.data, builder, ("val",), model, other)
  assert moved["val"].directory != sources["val"].directory
  assert not np.allclose(moved["val"][0]["backbone_maps"], sources["val"][0]["backbone_maps"])
  # float16 storage: another cache, values equal to float16 precision.
  half = config.copy_and_resolve_references()
  half.data.feature_cache_dtype = "float16"
  h = feature_cache.prepare(half.data, builder, ("val",), model, variables)["val"]
  assert h.directory != sources["val"].directory
  assert h[0]["backbone_maps"].dtype == np.float16
  np.testing.assert_allclose(
    h[0]["backbone_maps"].astype(np.float32),
    sources["val"][0]["backbone_maps"],
    rtol=2e-3,
    atol=2e-3,
  )


def test_highpass_options_key_their_own_caches(cached):
  """The backbone input's high-pass options change the cached maps, so each setting has its own
  cache; the default's fingerprint (and so its path) does not mention them."""
  config, builder, model, _, _ = cached
  dirs = {}
  for highpass, norm in ((False, False), (True, False), (True, True)):
    m = model.clone(
      spatial=dataclasses.replace(model.spatial, highpass=highpass, highpass_norm=norm)
    )
    fp = feature_cache.fingerprint(config.data, builder, "val", m, "digest")
    assert ("spatial_highpass" in fp, "spatial_highpass_norm" in fp) == (highpass, norm)
    dirs[highpass, norm] = feature_cache.cache_dir("/c", fp)
  assert len(set(dirs.values())) == 3


def test_incomplete_cache_is_named(cached, tmp_path):
  (tmp_path / "backbone_maps.npy").write_bytes(b"")
  with pytest.raises(FileNotFoundError, match=str(tmp_path)):
    feature_cache.FeatureSource(tmp_path)


def test_loaders_on_the_cache_match_the_frames(cached):
  config, builder, model, variables, sources = cached
  loader = pipeline.train_loader(
    builder, config.data, local_batch_size=6, seed=0, source=sources["train"]
  )
  batch = next(loader)
  assert set(batch) == {"backbone_maps", "micro_inputs", "label"}
  assert batch["backbone_maps"].shape[:2] == (6, 2) and batch["micro_inputs"].shape[:2] == (6, 2)
  # Eval: the same videos and clips in the same order; cached inputs = features of those clips.
  features = jax.jit(lambda f: frame_features(model, variables, f))
  args = dict(rule=pipeline.ClipRule(clip_len=2, clips_per_video=2), local_batch_size=4)
  frame_batches = list(pipeline.eval_batches(pipeline.RecordSource(builder, "val"), **args))
  cache_batches = list(pipeline.eval_batches(sources["val"], **args))
  assert len(frame_batches) == len(cache_batches)
  for f, c in zip(frame_batches, cache_batches, strict=True):
    assert f.records == c.records
    np.testing.assert_array_equal(f.mask, c.mask)
    clips = f.inputs["clips"][f.mask]
    expected = features(clips.reshape(-1, *clips.shape[2:]))
    for name, value in expected.items():
      np.testing.assert_allclose(
        c.inputs[name][c.mask].reshape(value.shape), value, rtol=1e-4, atol=1e-4
      )


def _backbone_from_checkpoint(state_dir: Path) -> dict:
  state = restore_on_host(state_dir)
  return {
    "params": {"backbone": state["params"]["backbone"]},
    "batch_stats": {"backbone": state["batch_stats"]["backbone"]},
  }


def _train_command(workdir: Path, data_dir: Path, cache_root: Path) -> list[str]:
  overrides = {
    "data.data_dir": data_dir,
    "data.manual_dir": "/nonexistent",
    "data.synthetic": False,
    "data.feature_cache_dir": cache_root,
    "data.feature_cache_dtype": "float32",
    "eval_splits": "('test',)",
  }
  return [
    sys.executable,
    "-m",
    "ddf.train",
    "--config",
    "configs/default.py:tiny,frozen",
    "--workdir",
    str(workdir),
    *[f"--config.{k}={v}" for k, v in overrides.items()],
  ]


@pytest.fixture(scope="module")
def cached_run(tiny_dataset, tmp_path_factory) -> tuple[Path, Path]:
  """A tiny frozen-backbone run (one process, one device) trained on its feature cache."""
  _, data_dir = tiny_dataset
  root = tmp_path_factory.mktemp("cached_run")
  workdir, cache_root = root / "run", root / "cache"
  env = dict(os.environ, PYTHONPATH=str(REPO), XLA_FLAGS="--xla_force_host_platform_device_count=1")
  proc = subprocess.run(
    _train_command(workdir, data_dir, cache_root),
    cwd=REPO,
    env=env,
    capture_output=True,
    text=True,
    timeout=600,
  )
  assert proc.returncode == 0, proc.stderr[-4000:]
  assert "Computing the resnet_tiny features of train" in proc.stdout
  return workdir, cache_root


def test_training_on_cached_features_matches_evaluation_on_frames(cached_run):
  """A frozen-backbone run trains from the cache; its checkpoint scores frames the same way."""
  from ddf import evaluate

  workdir, _ = cached_run
  cached_report = json.loads((workdir / "eval" / "faceforensics_test.json").read_text())
  assert cached_report["inputs"].startswith("feature_cache:")
  test_cache = feature_cache.FeatureSource(cached_report["inputs"].split(":", 1)[1])

  # The backbone stayed frozen: the checkpoint's is the one the cache was computed from.
  step = cached_report["checkpoint_step"]
  backbone = _backbone_from_checkpoint(
    (workdir / "best_checkpoint" / str(step) / "state").absolute()
  )
  assert feature_cache.weights_digest(backbone) == test_cache.fingerprint["backbone_digest"]

  assert evaluate.main(["--workdir", str(workdir), "--split", "test", "--no_roc"]) == 0
  frames_report = json.loads((workdir / "eval" / "faceforensics_test.json").read_text())
  assert frames_report["inputs"] == "frames"
  a = {(v["video_id"], v["method"]): v["score"] for v in cached_report["videos"]}
  b = {(v["video_id"], v["method"]): v["score"] for v in frames_report["videos"]}
  assert a.keys() == b.keys() and len(a) == len(test_cache)
  np.testing.assert_allclose([a[k] for k in a], [b[k] for k in a], atol=1e-5)
  assert cached_report["video_auc"] == pytest.approx(frames_report["video_auc"], abs=1e-6)


def test_two_processes_build_the_same_cache_and_train_the_same(cached_run, tiny_dataset, tmp_path):
  """Each process computes a share of the videos into the shared files; the result, and the run
  trained on it (global mesh of 2 devices), equal the one-process run."""
  one_workdir, one_cache = cached_run
  _, data_dir = tiny_dataset
  workdir, cache_root = tmp_path / "run", tmp_path / "cache"
  runs.launch_two_processes(
    _train_command(workdir, data_dir, cache_root), tmp_path / "logs", devices_per_process=1
  )
  one_dirs = sorted(p.name for p in one_cache.iterdir())
  assert sorted(p.name for p in cache_root.iterdir()) == one_dirs  # same fingerprints
  for name in one_dirs:
    a, b = (
      feature_cache.FeatureSource(one_cache / name),
      feature_cache.FeatureSource(cache_root / name),
    )
    assert (one_cache / name / "index.json").read_text() == (
      cache_root / name / "index.json"
    ).read_text()
    for i in range(len(a)):
      for key in a.fingerprint["inputs"]:
        np.testing.assert_array_equal(b[i][key], a[i][key])
  one = restore_on_host((one_workdir / "checkpoints" / "4" / "state").absolute())["params"]
  two = restore_on_host((workdir / "checkpoints" / "4" / "state").absolute())["params"]
  jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, atol=1e-5, rtol=0), two, one)


def test_precompute_features_writes_the_caches_training_reuses(cached_run, tiny_dataset, tmp_path):
  _, data_dir = tiny_dataset
  _, train_cache = cached_run
  command = _train_command(tmp_path / "unused", data_dir, tmp_path / "cache")
  at = command.index("--workdir")
  command = [sys.executable, "-m", "ddf.precompute_features", *command[3:at], *command[at + 2 :]]
  env = dict(os.environ, PYTHONPATH=str(REPO), XLA_FLAGS="--xla_force_host_platform_device_count=1")
  proc = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stderr[-4000:]
  # Same config and seed as the training run: the same fingerprints, hence the same caches.
  assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
    p.name for p in train_cache.iterdir()
  )
  assert not (tmp_path / "unused").exists()
