"""Training exactness: determinism, resume after SIGKILL, 8-device mesh and 2 processes vs 1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from tests.conftest import REPO, restore_on_host

pytestmark = pytest.mark.slow  # subprocesses / dataset builds

NUM_STEPS = 6
CKPT_EVERY = 3


def _overrides(data_dir: Path, **extra) -> list[str]:
  values = {
    "data.data_dir": str(data_dir),
    "data.manual_dir": "/nonexistent",
    "data.synthetic": False,
    "num_train_steps": NUM_STEPS,
    "checkpoint_every_steps": CKPT_EVERY,
    "eval_every_steps": 0,
    "eval_splits": "()",
    "batch_size": 8,
    **extra,
  }
  return [f"--config.{k}={v}" for k, v in values.items()]


def _command(workdir: Path, data_dir: Path, step_delay_s: float = 0.0, **extra) -> list[str]:
  # A slowed-down run adds a sleep hook to the loop (tests/slow_train.py), else `ddf.train`.
  entry = (
    ["tests/slow_train.py", "--step_delay_s", str(step_delay_s)]
    if step_delay_s
    else ["-m", "ddf.train"]
  )
  return [
    sys.executable,
    *entry,
    "--config",
    "configs/default.py:tiny",
    "--workdir",
    str(workdir),
    *_overrides(data_dir, **extra),
  ]


def _env(cache: Path, devices: int = 1) -> dict[str, str]:
  env = dict(os.environ)
  env.update(
    XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
    JAX_COMPILATION_CACHE_DIR=str(cache),
    JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
    JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
    PYTHONPATH=str(REPO),
  )
  return env


def _run(workdir: Path, data_dir: Path, cache: Path, devices: int = 1, **extra) -> None:
  proc = subprocess.run(
    _command(workdir, data_dir, **extra),
    cwd=REPO,
    env=_env(cache, devices),
    capture_output=True,
    text=True,
    timeout=900,
  )
  assert proc.returncode == 0, proc.stderr[-4000:]


def _params(workdir: Path, step: int = NUM_STEPS) -> dict[str, np.ndarray]:
  # Host numpy arrays: checkpoints of an 8-device mesh restore in this 1-device process.
  restored = restore_on_host((workdir / "checkpoints" / str(step) / "state").absolute())
  return {
    jax.tree_util.keystr(k): np.asarray(v)
    for k, v in jax.tree_util.tree_leaves_with_path(restored["params"])
  }


def _losses(workdir: Path) -> dict[int, float]:
  lines = (workdir / "train_log.jsonl").read_text().splitlines()
  return {r["step"]: r["train_loss"] for r in map(json.loads, lines)}


def _assert_params_close(a: dict, b: dict, atol: float) -> None:
  assert a.keys() == b.keys()
  worst = max(float(np.max(np.abs(a[k] - b[k]))) for k in a)
  assert worst <= atol, f"max parameter difference {worst:.3g} > {atol}"


@pytest.fixture(scope="module")
def cache() -> Path:
  """The session's persistent compilation cache (tests/conftest.py)."""
  return Path(os.environ["JAX_COMPILATION_CACHE_DIR"])


@pytest.fixture(scope="module")
def reference(tiny_dataset, tmp_path_factory, cache) -> Path:
  """An uninterrupted 1-device run of NUM_STEPS steps."""
  _, data_dir = tiny_dataset
  workdir = tmp_path_factory.mktemp("reference")
  _run(workdir, data_dir, cache)
  return workdir


def test_same_config_and_seed_give_identical_runs(reference, tiny_dataset, tmp_path, cache):
  _, data_dir = tiny_dataset
  _run(tmp_path / "again", data_dir, cache)
  assert _losses(tmp_path / "again") == _losses(reference)
  _assert_params_close(_params(tmp_path / "again"), _params(reference), atol=0.0)
  # and the run actually trained: parameters moved away from their step-3 values
  moved = _params(reference, CKPT_EVERY)
  assert any(not np.array_equal(moved[k], v) for k, v in _params(reference).items())


def test_resume_after_sigkill_matches_uninterrupted_run(reference, tiny_dataset, tmp_path, cache):
  _, data_dir = tiny_dataset
  workdir = tmp_path / "killed"
  # Slow steps (a fault-injection hook) so that the kill lands mid-run, after checkpoint 3.
  proc = subprocess.Popen(
    _command(workdir, data_dir, step_delay_s=2.0),
    cwd=REPO,
    env=_env(cache),
    stdout=subprocess.DEVNULL,
    stderr=subprocess.PIPE,
  )
  committed = workdir / "checkpoints" / str(CKPT_EVERY)
  deadline = time.time() + 600
  while not committed.exists() and time.time() < deadline and proc.poll() is None:
    time.sleep(0.2)
  assert committed.exists(), "checkpoint never committed"
  os.kill(proc.pid, signal.SIGKILL)
  proc.wait()
  assert proc.returncode == -signal.SIGKILL
  assert not (workdir / "checkpoints" / str(NUM_STEPS)).exists(), "run finished before the kill"

  _run(workdir, data_dir, cache)  # same command: resumes from the latest committed step
  _assert_params_close(_params(workdir), _params(reference), atol=0.0)
  resumed = _losses(workdir)
  assert all(resumed[s] == v for s, v in _losses(reference).items() if s > CKPT_EVERY)


def test_eight_device_mesh_matches_single_device(reference, tiny_dataset, tmp_path, cache):
  _, data_dir = tiny_dataset
  _run(tmp_path / "mesh", data_dir, cache, devices=8, **{"mesh.shape": "(4,2,1)"})
  ref, got = _losses(reference), _losses(tmp_path / "mesh")
  assert ref.keys() == got.keys()
  np.testing.assert_allclose(list(got.values()), list(ref.values()), atol=1e-5, rtol=0)
  _assert_params_close(_params(tmp_path / "mesh"), _params(reference), atol=1e-5)


@pytest.mark.xdist_group(
  "test_train.py:without_reference"
)  # needs no `reference`: may run beside it
def test_two_processes_match_one_process(tiny_dataset, tmp_path, cache):
  _, data_dir = tiny_dataset
  sys.path.insert(0, str(REPO / "launch"))
  from local_multiprocess import launch

  one = tmp_path / "one_process"
  _run(one, data_dir, cache, devices=4)
  two = tmp_path / "two_processes"
  env_backup = dict(os.environ)
  try:
    os.environ.update(PYTHONPATH=str(REPO), JAX_COMPILATION_CACHE_DIR=str(cache))
    codes = launch(_command(two, data_dir), num_processes=2, devices_per_process=2, timeout=900)
  finally:
    os.environ.clear()
    os.environ.update(env_backup)
  assert codes == [0, 0]
  np.testing.assert_allclose(
    list(_losses(two).values()), list(_losses(one).values()), atol=1e-5, rtol=0
  )
  _assert_params_close(_params(two), _params(one), atol=1e-5)


@pytest.mark.xdist_group(
  "test_train.py:without_reference"
)  # needs no `reference`: may run beside it
def test_non_finite_loss_stops_with_the_step(tiny_dataset, tmp_path, cache):
  _, data_dir = tiny_dataset
  proc = subprocess.run(
    _command(tmp_path / "nan", data_dir, learning_rate="inf"),
    cwd=REPO,
    env=_env(cache),
    capture_output=True,
    text=True,
    timeout=900,
  )
  assert proc.returncode != 0
  assert "Non-finite loss or gradient at step 2" in proc.stderr
