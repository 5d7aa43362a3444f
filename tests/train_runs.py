"""Tiny `ddf.train` runs in subprocesses, for the training exactness tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
from local_multiprocess import cpu_xla_flags, launch

from tests.conftest import REPO, restore_on_host

NUM_STEPS = 6
CKPT_EVERY = 3


def overrides(data_dir: Path, **extra) -> list[str]:
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


def command(
  workdir: Path, data_dir: Path, step_delay_s: float = 0.0, poison_after_step: int = 0, **extra
) -> list[str]:
  # Injected faults (a sleep after each step, NaN parameters) are hooks added to the loop by
  # tests/slow_train.py; without them the command is `ddf.train`.
  faults = {"step_delay_s": step_delay_s, "poison_after_step": poison_after_step}
  faults = [f"--{k}={v}" for k, v in faults.items() if v]
  entry = ["tests/slow_train.py", *faults] if faults else ["-m", "ddf.train"]
  return [
    sys.executable,
    *entry,
    "--config",
    "configs/default.py:tiny",
    "--workdir",
    str(workdir),
    *overrides(data_dir, **extra),
  ]


def env(cache: Path, devices: int = 1) -> dict[str, str]:
  values = dict(os.environ)
  values.update(
    XLA_FLAGS=cpu_xla_flags(devices),
    JAX_COMPILATION_CACHE_DIR=str(cache),
    JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
    JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
    PYTHONPATH=str(REPO),
  )
  return values


def run(workdir: Path, data_dir: Path, cache: Path, devices: int = 1, **extra) -> None:
  proc = subprocess.run(
    command(workdir, data_dir, **extra),
    cwd=REPO,
    env=env(cache, devices),
    capture_output=True,
    text=True,
    timeout=900,
  )
  assert proc.returncode == 0, proc.stderr[-4000:]


def params(workdir: Path, step: int = NUM_STEPS) -> dict[str, np.ndarray]:
  # Host numpy arrays: checkpoints of an 8-device mesh restore in this 1-device process.
  restored = restore_on_host((workdir / "checkpoints" / str(step) / "state").absolute())
  return {
    jax.tree_util.keystr(k): np.asarray(v)
    for k, v in jax.tree_util.tree_leaves_with_path(restored["params"])
  }


def losses(workdir: Path) -> dict[int, float]:
  lines = (workdir / "train_log.jsonl").read_text().splitlines()
  return {r["step"]: r["train_loss"] for r in map(json.loads, lines)}


def assert_params_close(a: dict, b: dict, atol: float) -> None:
  assert a.keys() == b.keys()
  worst = max(float(np.max(np.abs(a[k] - b[k]))) for k in a)
  assert worst <= atol, f"max parameter difference {worst:.3g} > {atol}"


def compilation_cache() -> Path:
  """The session's persistent compilation cache (tests/conftest.py)."""
  return Path(os.environ["JAX_COMPILATION_CACHE_DIR"])


def _log_tail(log: Path, chars: int = 3000) -> str:
  """The end of a process log up to its first fatal error (without the thread dumps after it)."""
  text = log.read_text()
  fatal = text.find("Fatal Python error")
  if fatal >= 0:
    end = text.find("\n", fatal)
    text = text if end < 0 else text[:end]
  return text[-chars:]


def launch_two_processes(
  command: list[str], log_dir: Path, devices_per_process: int, **env
) -> None:
  """Runs `command` as two local processes (launch/local_multiprocess.py); fails with the end of
  each process's output unless both exit 0."""
  codes = launch(
    command,
    num_processes=2,
    devices_per_process=devices_per_process,
    timeout=900,
    log_dir=log_dir,
    extra_env={"PYTHONPATH": str(REPO), **env},
  )
  tails = [_log_tail(log_dir / f"process_{i}.log") for i in range(2)]
  assert codes == [0, 0], "\n".join(f"--- process {i} ---\n{t}" for i, t in enumerate(tails))
