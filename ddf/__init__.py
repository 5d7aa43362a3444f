"""ddf: video deepfake detection in JAX/Flax (spatial + temporal + micro-expression fusion)."""

from ddf import xla_flags as _xla_flags

__version__ = "0.1.0"

_xla_flags.apply_fast_cpu_flags()  # opt-in: DDF_XLA_CPU_FAST=1 (ddf/xla_flags.py)
