"""One of several local processes (launch/local_multiprocess.py) that reaches its first collective
late: process 1 sleeps `--delay_s` after `ddf.sharding.maybe_initialize_distributed`, then every
process sums ones over all devices and checks the total."""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec

from ddf import sharding


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument("--delay_s", type=float, required=True)
  args = parser.parse_args()
  sharding.maybe_initialize_distributed()
  if jax.process_index() == 1:
    time.sleep(args.delay_s)
  mesh = jax.make_mesh((jax.device_count(),), ("data",))
  ones = jax.make_array_from_process_local_data(
    NamedSharding(mesh, PartitionSpec("data")), np.ones((jax.local_device_count(), 3), np.float32)
  )
  total = jax.jit(lambda x: jnp.sum(x, axis=0), out_shardings=NamedSharding(mesh, PartitionSpec()))
  np.testing.assert_array_equal(np.asarray(total(ones)), np.full(3, jax.device_count()))
  multihost_utils.sync_global_devices("late_process: done")
  print(f"process {jax.process_index()}: ok", flush=True)


if __name__ == "__main__":
  main()
