"""Runs N local processes of a ddf command, each with its own CPU devices (multi-host on one box).

  python launch/local_multiprocess.py --num_processes 2 --devices_per_process 2 -- \
      python -m ddf.train --config configs/default.py:tiny --workdir runs/mp

Each process gets DDF_COORDINATOR / DDF_NUM_PROCESSES / DDF_PROCESS_ID (read by
`ddf.sharding.maybe_initialize_distributed`, which calls `jax.distributed.initialize`) and
XLA_FLAGS=--xla_force_host_platform_device_count=<devices_per_process>. CPU collectives use gloo.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def launch(
  command: list[str], num_processes: int, devices_per_process: int, timeout: float | None = None
) -> list[int]:
  """Starts the processes, waits for all, returns their exit codes (all killed if one fails)."""
  port = free_port()
  procs = []
  for i in range(num_processes):
    env = dict(os.environ)
    env.update(
      DDF_COORDINATOR=f"127.0.0.1:{port}",
      DDF_NUM_PROCESSES=str(num_processes),
      DDF_PROCESS_ID=str(i),
      JAX_PLATFORMS="cpu",
      JAX_CPU_COLLECTIVES_IMPLEMENTATION="gloo",
      XLA_FLAGS=f"--xla_force_host_platform_device_count={devices_per_process}",
    )
    procs.append(subprocess.Popen(command, env=env))
  codes = []
  try:
    for p in procs:
      codes.append(p.wait(timeout=timeout))
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
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
