"""ddf.xla_flags: the opt-in XLA:CPU convolution setting reaches XLA and keeps the numbers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ddf import xla_flags
from tests.conftest import REPO

# In a fresh process: import ddf (which applies the flags), compile one ResNet50-sized 3x3
# convolution, and report whether XLA handed it to YNNPACK, with the output on a fixed input.
_PROBE = """
import json, ddf, jax, jax.numpy as jnp, numpy as np
x = jax.random.normal(jax.random.key(0), (2, 28, 28, 64))
w = jax.random.normal(jax.random.key(1), (3, 3, 64, 64)) / 24.0
conv = jax.jit(lambda x, w: jax.lax.conv_general_dilated(
    x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")))
hlo = conv.lower(x, w).compile().as_text()
print(json.dumps({"ynn_conv": "__ynn_fusion" in hlo, "y": np.asarray(conv(x, w)).tolist()}))
"""


def _probe(**env: str) -> dict:
  full = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "DDF_XLA_CPU_FAST")}
  full.update(env, JAX_PLATFORMS="cpu", JAX_ENABLE_COMPILATION_CACHE="false")
  out = subprocess.run(
    [sys.executable, "-c", _PROBE], cwd=REPO, env=full, capture_output=True, text=True, check=True
  )
  return json.loads(out.stdout.strip().splitlines()[-1])


def test_opt_in_flags_respect_the_users_own(monkeypatch):
  monkeypatch.delenv("DDF_XLA_CPU_FAST", raising=False)
  monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
  assert xla_flags.apply_fast_cpu_flags() == []  # off unless asked
  monkeypatch.setenv("DDF_XLA_CPU_FAST", "1")
  assert xla_flags.apply_fast_cpu_flags() == list(xla_flags.CPU_FLAGS)
  assert os.environ["XLA_FLAGS"].split() == ["--xla_dump_to=/tmp/x", *xla_flags.CPU_FLAGS]
  assert xla_flags.apply_fast_cpu_flags() == []  # already there: not added twice
  own = "--xla_cpu_experimental_ynn_fusion_type="
  monkeypatch.setenv("XLA_FLAGS", own)
  assert xla_flags.apply_fast_cpu_flags() == [] and os.environ["XLA_FLAGS"] == own


@pytest.mark.slow  # two fresh JAX processes
def test_fast_cpu_flags_move_convolutions_off_ynnpack_with_the_same_result():
  """Guards a jaxlib upgrade: the flag must still change where convolutions run (a no-op or
  unknown flag fails here), and the result must stay within float32 rounding."""
  plain, fast = _probe(), _probe(DDF_XLA_CPU_FAST="1")
  assert plain["ynn_conv"] and not fast["ynn_conv"]
  y0, y1 = np.asarray(plain["y"]), np.asarray(fast["y"])
  np.testing.assert_allclose(y1, y0, rtol=1e-5, atol=1e-5 * np.abs(y0).max())
