"""Training exactness without a reference run: two processes vs one, the non-finite stop, a
process late to its first collective."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests import train_runs as runs
from tests.conftest import REPO

pytestmark = pytest.mark.slow  # subprocesses / dataset builds


@pytest.fixture(scope="module")
def cache() -> Path:
  return runs.compilation_cache()


def test_two_processes_match_one_process(tiny_dataset, tmp_path, cache):
  _, data_dir = tiny_dataset
  one = tmp_path / "one_process"
  runs.run(one, data_dir, cache, devices=4)
  two = tmp_path / "two_processes"
  # Multi-process CPU programs loaded from the persistent cache abort in gloo (ddf.sharding):
  # the two processes must neither read nor write one, whatever the environment asks.
  two_cache = tmp_path / "two_processes_cache"
  runs.launch_two_processes(
    runs.command(two, data_dir),
    tmp_path / "logs",
    2,
    JAX_COMPILATION_CACHE_DIR=str(two_cache),
    JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
    JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
  )
  assert not list(two_cache.glob("*train_step*"))
  np.testing.assert_allclose(
    list(runs.losses(two).values()), list(runs.losses(one).values()), atol=1e-5, rtol=0
  )
  runs.assert_params_close(runs.params(two), runs.params(one), atol=1e-5)


def test_non_finite_loss_stops_with_the_step(tiny_dataset, tmp_path, cache):
  _, data_dir = tiny_dataset
  proc = subprocess.run(
    # NaN parameters after step 1 (the reference run's program, so it loads from the cache).
    runs.command(tmp_path / "nan", data_dir, poison_after_step=1),
    cwd=REPO,
    env=runs.env(cache),
    capture_output=True,
    text=True,
    timeout=900,
  )
  assert proc.returncode != 0
  assert "Non-finite loss or gradient at step 2" in proc.stderr


def test_a_process_late_to_its_first_collective_is_waited_for(tmp_path):
  # Gloo gives up connecting a group after 30 s; ddf connects its groups at start-up instead.
  runs.launch_two_processes(
    [sys.executable, str(REPO / "tests" / "late_process.py"), "--delay_s", "40"],
    tmp_path / "logs",
    2,
  )
  for i in range(2):
    assert f"process {i}: ok" in (tmp_path / "logs" / f"process_{i}.log").read_text()
