"""Training exactness without a reference run: two processes vs one, the non-finite stop."""

from __future__ import annotations

import os
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
  sys.path.insert(0, str(REPO / "launch"))
  from local_multiprocess import launch

  one = tmp_path / "one_process"
  runs.run(one, data_dir, cache, devices=4)
  two = tmp_path / "two_processes"
  env_backup = dict(os.environ)
  try:
    os.environ.update(PYTHONPATH=str(REPO), JAX_COMPILATION_CACHE_DIR=str(cache))
    codes = launch(runs.command(two, data_dir), num_processes=2, devices_per_process=2, timeout=900)
  finally:
    os.environ.clear()
    os.environ.update(env_backup)
  assert codes == [0, 0]
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
