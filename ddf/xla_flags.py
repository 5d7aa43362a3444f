"""Faster XLA:CPU settings, applied to `XLA_FLAGS` when `ddf` is imported with
`DDF_XLA_CPU_FAST=1` (opt-in).

`--xla_cpu_experimental_ynn_fusion_type=-individual_convolution`: convolutions are left to
XLA's own (Eigen) kernels instead of YNNPACK, while YNNPACK keeps the dot, elementwise and
reduce fusions it is given by default. On the 2-core development CPU (jaxlib 0.10.2) this made
ResNet50 1.4x faster forward and 1.5x faster per train step, in float32 with the same results
within rounding (README, Figures: `benchmarks/bench_peers.py --ddf_fast`, `benchmarks/bench_xla_cpu.py`). Turning every
YNNPACK fusion off instead made the forward as fast but the train step 15% slower.

Opt-in because it changes the floating-point rounding of every convolution, so a run with it is
not bitwise the run without it: every training figure in the README was measured without it.
The flag only reaches XLA when it is in `XLA_FLAGS` before JAX starts its CPU backend. A flag
the user already set for the same option wins. Accelerator backends ignore these flags.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["CPU_FLAGS", "apply_fast_cpu_flags"]

CPU_FLAGS = ("--xla_cpu_experimental_ynn_fusion_type=-individual_convolution",)


def apply_fast_cpu_flags() -> list[str]:
  """With `DDF_XLA_CPU_FAST=1`: appends each of `CPU_FLAGS` whose option `XLA_FLAGS` does
  not set yet; returns those added."""
  if os.environ.get("DDF_XLA_CPU_FAST", "0") != "1":
    return []
  current = os.environ.get("XLA_FLAGS", "")
  added = [f for f in CPU_FLAGS if f.split("=")[0] not in current]
  if not added:
    return []
  os.environ["XLA_FLAGS"] = " ".join([current, *added]).strip()
  if _backend_started():
    logging.getLogger(__name__).warning(
      "ddf was imported after JAX started its backend: %s does not apply in this process "
      "(import ddf first, or put it in XLA_FLAGS).",
      " ".join(added),
    )
  return added


def _backend_started() -> bool:
  if "jax" not in sys.modules:
    return False
  try:
    from jax._src import xla_bridge

    return bool(xla_bridge.backends_are_initialized())
  except (ImportError, AttributeError):
    return False
