"""Runs N local processes of a ddf command, each with its own CPU devices (multi-host on one box).

  python launch/local_multiprocess.py --num_processes 2 --devices_per_process 2 -- \
      python -m ddf.train --config configs/default.py:tiny --workdir runs/mp

Each process gets DDF_COORDINATOR / DDF_NUM_PROCESSES / DDF_PROCESS_ID (read by
`ddf.sharding.maybe_initialize_distributed`, which calls `jax.distributed.initialize`) and
XLA_FLAGS=--xla_force_host_platform_device_count=<devices_per_process>. CPU collectives use gloo.

Gloo (CPU collectives across processes) gives up on connecting a group of devices when one
process reaches the group's first collective more than 30 s after another; `ddf.sharding`
connects the groups at start-up, while the processes are in step. Once connected, a process 50 s
late to a collective was simply waited for with XLA's default flags (checked on the 2-core
development machine); the launcher still raises XLA's CPU collective timeouts to
`COLLECTIVE_TIMEOUT_S` as a margin for machines with many more device threads than cores (a real
hang still ends, after that many seconds).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
from pathlib import Path

COLLECTIVE_TIMEOUT_S = 900


def cpu_xla_flags(devices: int) -> str:
  """XLA_FLAGS for `devices` CPU devices per process, with collective timeouts that tolerate
  a loaded machine."""
  return " ".join(
    (
      f"--xla_force_host_platform_device_count={devices}",
      f"--xla_cpu_collective_call_terminate_timeout_seconds={COLLECTIVE_TIMEOUT_S}",
      f"--xla_cpu_collective_timeout_seconds={COLLECTIVE_TIMEOUT_S}",
    )
  )


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def launch(
  command: list[str],
  num_processes: int,
  devices_per_process: int,
  timeout: float | None = None,
  log_dir: Path | None = None,
  extra_env: dict[str, str] | None = None,
) -> list[int]:
  """Starts the processes, waits for all, returns their exit codes (all killed if one fails).

  Each process gets this process's environment plus `extra_env`. With `log_dir`, process i writes
  its stdout and stderr to `log_dir/process_<i>.log`.
  """
  port = free_port()
  procs = []
  logs = []
  for i in range(num_processes):
    env = dict(os.environ, **(extra_env or {}))
    env.update(
      DDF_COORDINATOR=f"127.0.0.1:{port}",
      DDF_NUM_PROCESSES=str(num_processes),
      DDF_PROCESS_ID=str(i),
      JAX_PLATFORMS="cpu",
      JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo",
      XLA_FLAGS=cpu_xla_flags(devices_per_process),
    )
    if log_dir is None:
      procs.append(subprocess.Popen(command, env=env))
      continue
    Path(log_dir).mkdir(parents=True, exist_ok=True)
    logs.append(open(Path(log_dir) / f"process_{i}.log", "w"))  # noqa: SIM115 (closed below)
    procs.append(subprocess.Popen(command, env=env, stdout=logs[-1], stderr=subprocess.STDOUT))
  codes = []
  try:
    for p in procs:
      codes.append(p.wait(timeout=timeout))
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
    for log in logs:
      log.close()
  return codes


def main() -> None:
  parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument("--num_processes", type=int, default=2)
  parser.add_argument("--devices_per_process", type=int, default=2)
  parser.add_argument("command", nargs=argparse.REMAINDER)
  args = parser.parse_args()
  command = args.command[1:] if args.command[:1] == ["--"] else args.command
  if not command:
    parser.error("give the command to run after --")
  codes = launch(command, args.num_processes, args.devices_per_process)
  sys.exit(max(codes))


if __name__ == "__main__":
  main()
