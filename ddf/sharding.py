"""Device mesh, logical-axis rules and host-local <-> global arrays (docs/design.md section 6)."""

from __future__ import annotations

import logging
import math
import os
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

Rules = tuple[tuple[str, Any], ...]


def maybe_initialize_distributed() -> None:
  """Calls `jax.distributed.initialize()` when launched as one of several processes.

  TPU pods and SLURM are detected by JAX itself; a local launcher sets DDF_COORDINATOR,
  DDF_NUM_PROCESSES and DDF_PROCESS_ID (see launch/local_multiprocess.py).
  """
  if jax.distributed.is_initialized():
    return
  if "DDF_COORDINATOR" in os.environ:
    jax.distributed.initialize(
      coordinator_address=os.environ["DDF_COORDINATOR"],
      num_processes=int(os.environ["DDF_NUM_PROCESSES"]),
      process_id=int(os.environ["DDF_PROCESS_ID"]),
      local_device_ids=None,
    )
  elif int(os.environ.get("SLURM_NTASKS", "1")) > 1 or "TPU_WORKER_HOSTNAMES" in os.environ:
    jax.distributed.initialize()
  else:
    return
  logging.info("jax.distributed: process %d of %d", jax.process_index(), jax.process_count())
  if jax.default_backend() == "cpu":
    _compile_afresh()
    _connect_cpu_collectives()


def _compile_afresh() -> None:
  """Turns the persistent compilation cache off for a CPU run of several processes.

  A multi-process CPU train step loaded from the cache aborts in its first gloo all-reduce
  (`op.preamble.length <= op.nbytes. 64 vs 32 ... collective mismatch`) in 3 of 3 runs here,
  while the same program compiled afresh ran in 4 of 4 (jaxlib 0.10.2). Called before the first
  compilation, so the cache is neither read nor written.
  """
  if jax.config.jax_enable_compilation_cache:
    logging.warning(
      "Persistent compilation cache off: multi-process CPU programs loaded from it abort in "
      "their collectives (gloo); each process compiles afresh."
    )
    jax.config.update("jax_enable_compilation_cache", False)


def _connect_cpu_collectives() -> None:
  """Opens the gloo groups of CPU collectives while the processes are in step.

  Gloo connects a group of devices at its first collective and fails (`Gloo context initialization
  failed: ... GetKeyValue() timed out`) when one process arrives more than 30 s after another,
  which a first compile on a loaded machine exceeds. Once connected, a group waits as long as
  `--xla_cpu_collective_timeout_seconds` (30 min by default). `jax.distributed.initialize` is a
  barrier, so right after it the processes are in step: connect the group of all devices (the
  data-parallel reductions) and the per-local-device groups (`sync_global_devices`, used by orbax).
  """
  mesh = jax.make_mesh((jax.device_count(),), ("devices",))
  ones = jax.make_array_from_process_local_data(
    NamedSharding(mesh, PartitionSpec("devices")), np.ones(jax.local_device_count(), np.float32)
  )
  total = jax.jit(jnp.sum, out_shardings=NamedSharding(mesh, PartitionSpec()))(ones)
  if int(total) != jax.device_count():
    raise RuntimeError(
      f"CPU collectives summed {int(total)} ones over {jax.device_count()} devices"
    )
  multihost_utils.sync_global_devices("ddf: CPU collectives connected")


def create_mesh(mesh_cfg: ml_collections.ConfigDict) -> Mesh:
  """A mesh over all devices with `mesh_cfg.axes`; one size in `mesh_cfg.shape` may be -1."""
  shape = list(mesh_cfg.shape)
  n = jax.device_count()
  if shape.count(-1) > 1:
    raise ValueError(f"mesh.shape {tuple(shape)}: at most one -1 allowed")
  known = math.prod(s for s in shape if s != -1)
  if -1 in shape:
    if n % known:
      raise ValueError(f"mesh.shape {tuple(mesh_cfg.shape)} does not divide {n} devices")
    shape[shape.index(-1)] = n // known
  if math.prod(shape) != n:
    raise ValueError(f"mesh.shape {tuple(shape)} needs {math.prod(shape)} devices, have {n}")
  axes = tuple(mesh_cfg.axes)
  # Auto axes: GSPMD propagates shardings from the logical constraints and in/out shardings.
  return jax.make_mesh(tuple(shape), axes, axis_types=(jax.sharding.AxisType.Auto,) * len(axes))


def logical_rules(mesh_cfg: ml_collections.ConfigDict) -> Rules:
  return tuple(
    (name, tuple(axes) if isinstance(axes, list) else axes) for name, axes in mesh_cfg.rules
  )


def _fit_spec(shape: tuple[int, ...], spec: PartitionSpec, mesh: Mesh) -> PartitionSpec:
  """Drops mesh axes from dimensions they do not divide (e.g. a 1-channel attention conv)."""
  out = []
  for i, axes in enumerate(tuple(spec) + (None,) * (len(shape) - len(spec))):
    if axes is None:
      out.append(None)
      continue
    names = axes if isinstance(axes, tuple) else (axes,)
    size = math.prod(mesh.shape[a] for a in names)
    out.append(axes if shape[i] % size == 0 else None)
  return PartitionSpec(*out)


def tree_shardings(abstract_tree: Any, mesh: Mesh, rules: Rules) -> Any:
  """NamedShardings for a tree of boxed (`nn.LogicallyPartitioned`) abstract values.

  Unboxed leaves are replicated; leaf-less nodes (e.g. optax's `MaskedNode` for frozen
  parameters) are kept as they are.
  """

  def leaf_sharding(leaf: Any) -> Any:
    if isinstance(leaf, nn.LogicallyPartitioned):
      if not hasattr(leaf.value, "shape"):  # a boxed MaskedNode: no array to place.
        return leaf.value
      spec = nn.logical_to_mesh_axes(leaf.names, rules)
      return NamedSharding(mesh, _fit_spec(leaf.value.shape, spec, mesh))
    return NamedSharding(mesh, PartitionSpec())

  return jax.tree.map(
    leaf_sharding, abstract_tree, is_leaf=lambda x: isinstance(x, nn.LogicallyPartitioned)
  )


def batch_sharding(mesh: Mesh, rules: Rules) -> NamedSharding:
  """Sharding of the leading (batch) axis of input batches, from the `batch` rule."""
  spec = nn.logical_to_mesh(PartitionSpec("batch"), rules)
  return NamedSharding(mesh, spec)


def local_batch_size(global_batch_size: int, mesh: Mesh, rules: Rules) -> int:
  """Rows of a global batch that this process provides."""
  sharding = batch_sharding(mesh, rules)
  axes = sharding.spec[0] if len(sharding.spec) else None
  names = () if axes is None else (axes if isinstance(axes, tuple) else (axes,))
  shards = math.prod(mesh.shape[a] for a in names)
  if global_batch_size % shards:
    raise ValueError(
      f"batch size {global_batch_size} is not divisible by the {shards} batch "
      f"shards of mesh {dict(mesh.shape)}"
    )
  if global_batch_size % jax.process_count():
    raise ValueError(
      f"batch size {global_batch_size} not divisible by {jax.process_count()} processes"
    )
  return global_batch_size // jax.process_count()


def to_global(local_batch: dict[str, np.ndarray], sharding: NamedSharding) -> dict[str, jax.Array]:
  """Host-local numpy batch (this process's rows) -> globally sharded jax arrays."""
  return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, x), local_batch)
