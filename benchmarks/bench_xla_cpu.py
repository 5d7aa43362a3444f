"""Where XLA:CPU's convolution time goes: XLA flag variants and convolution formulations.

  python benchmarks/bench_xla_cpu.py                    # both tables (about 8 min on 2 cores)
  python benchmarks/bench_xla_cpu.py --only flags       # or: --only formulations

Table 1 (`flags`): ddf's ResNet50 (forward, batch 8, and a train step's gradient, batch 4, with
batch statistics) and VGG16 (forward, batch 8) at 224 px, float32, each XLA_FLAGS variant in a
fresh process (compilation cache off), best of a few timed calls. Which library XLA gives a
convolution to on this jaxlib is set by `--xla_cpu_experimental_ynn_fusion_type` (YNNPACK
fusion kinds, `-kind` removes one from the default set); `DDF_XLA_CPU_FAST=1` is the
`-individual_convolution` row (ddf/xla_flags.py). The bf16 row runs the models in bfloat16.

Table 2 (`formulations`): one 3x3 convolution (stride 1, SAME) of each shape, forward and
gradient (input and kernel), as `lax.conv_general_dilated`, as a sum of 9 shifted 1x1
products ("taps") and as im2col + one product, with and without DDF_XLA_CPU_FAST.

Figures only; nothing is asserted. Ratios are against the first row of the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
YNN = "--xla_cpu_experimental_ynn_fusion_type="
FLAG_VARIANTS = (
  ("default (YNNPACK convolutions)", "", "float32"),
  ("DDF_XLA_CPU_FAST: -individual_convolution", f"{YNN}-individual_convolution", "float32"),
  ("no YNNPACK fusion at all", YNN, "float32"),
  ("-individual_convolution,-reduce", f"{YNN}-individual_convolution,-reduce", "float32"),
  ("-individual_convolution,-eltwise", f"{YNN}-individual_convolution,-eltwise", "float32"),
  ("--xla_cpu_use_onednn=true", "--xla_cpu_use_onednn=true", "float32"),
  ("default, bfloat16 compute", "", "bfloat16"),
)
CONV_SHAPES = ((8, 224, 64, 64), (8, 56, 256, 256), (8, 28, 512, 512))  # B, H=W, Cin, Cout


def _best(fn, repeats: int, *args) -> float:
  """Best seconds of `repeats` calls fn(*args) after one untimed call."""
  import jax

  jax.block_until_ready(fn(*args))
  best = float("inf")
  for _ in range(repeats):
    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    best = min(best, time.perf_counter() - t)
  return best


def models_worker(dtype: str) -> dict:
  """img/s of ResNet50 forward / gradient and VGG16 forward in this process's XLA setup."""
  import jax
  import jax.numpy as jnp

  from ddf.models import get_backbone

  x = jax.random.uniform(jax.random.key(0), (8, 224, 224, 3), jnp.float32, 0, 255)
  out = {}
  for arch in ("resnet50", "vgg16"):
    model = get_backbone(arch, dtype=dtype)
    variables = jax.jit(lambda m=model: m.init(jax.random.key(1), x, train=False))()
    fwd = jax.jit(lambda v, x, m=model: m.apply(v, x, train=False))
    out[f"{arch}_fwd"] = 8 / _best(fwd, 4, variables, x)
    if "batch_stats" not in variables:
      continue

    def loss(params, stats, m=model):
      y, _ = m.apply(
        {"params": params, "batch_stats": stats}, x[:4], train=True, mutable=["batch_stats"]
      )
      return jnp.mean(jnp.square(y.astype(jnp.float32)))

    grad = jax.jit(jax.grad(loss))
    out[f"{arch}_train"] = 4 / _best(grad, 3, variables["params"], variables["batch_stats"])
  return out


def conv_worker() -> dict:
  """GFLOP/s of one 3x3 convolution per shape and formulation, forward and gradient."""
  import jax
  import jax.numpy as jnp

  def conv(x, w):
    return jax.lax.conv_general_dilated(
      x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )

  def shifted(x):  # the 9 shifted views of the zero-padded input
    h, w = x.shape[1:3]
    p = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    return [p[:, i : i + h, j : j + w] for i in range(3) for j in range(3)]

  def taps(x, w):
    k = w.reshape(9, *w.shape[2:])
    return sum(jnp.einsum("bhwc,co->bhwo", s, k[t]) for t, s in enumerate(shifted(x)))

  def im2col(x, w):
    return jnp.einsum("bhwk,ko->bhwo", jnp.concatenate(shifted(x), -1), w.reshape(-1, w.shape[-1]))

  out = {}
  for b, h, c, o in CONV_SHAPES:
    x = jax.random.normal(jax.random.key(0), (b, h, h, c))
    w = jax.random.normal(jax.random.key(1), (3, 3, c, o)) / (3 * c**0.5)
    gflop = 2 * b * h * h * 9 * c * o / 1e9
    for name, f in (("conv", conv), ("taps", taps), ("im2col", im2col)):
      fwd = jax.jit(f)
      grad = jax.jit(jax.grad(lambda x, w, f=f: f(x, w).sum(), argnums=(0, 1)))
      out[f"{b}x{h}x{h}x{c}->{o} {name}"] = (
        gflop / _best(fwd, 4, x, w),
        2 * gflop / _best(grad, 3, x, w),
      )
  return out


def _run(worker: str, xla_flags: str, fast: bool, dtype: str = "float32") -> dict:
  env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "DDF_XLA_CPU_FAST")}
  env.update(JAX_ENABLE_COMPILATION_CACHE="false", JAX_PLATFORMS="cpu")
  if xla_flags:
    env["XLA_FLAGS"] = xla_flags
  if fast:
    env["DDF_XLA_CPU_FAST"] = "1"
  cmd = [sys.executable, __file__, "--worker", worker, "--dtype", dtype]
  done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
  if done.returncode:
    raise RuntimeError(f"{cmd} with XLA_FLAGS={xla_flags!r} failed:\n{done.stderr[-2000:]}")
  return json.loads(done.stdout.strip().splitlines()[-1])


def flags_table() -> None:
  cols = ("resnet50_fwd", "resnet50_train", "vgg16_fwd")
  print(
    "| XLA:CPU setting | ResNet50 forward img/s | ResNet50 gradient img/s | VGG16 forward img/s |"
  )
  print("|---|---|---|---|")
  ref = None
  for name, flags, dtype in FLAG_VARIANTS:
    got = _run("models", flags, fast=False, dtype=dtype)
    ref = ref or got
    cells = [f"{got[c]:.2f} ({got[c] / ref[c]:.2f}x)" for c in cols]
    print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


def formulations_table() -> None:
  plain, fast = _run("conv", "", fast=False), _run("conv", "", fast=True)
  print("| 3x3 convolution | default: fwd / grad GFLOP/s | DDF_XLA_CPU_FAST: fwd / grad GFLOP/s |")
  print("|---|---|---|")
  for key in plain:
    a, b = plain[key], fast[key]
    print(f"| {key} | {a[0]:.0f} / {a[1]:.0f} | {b[0]:.0f} / {b[1]:.0f} |", flush=True)


def main(argv: list[str] | None = None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--only", choices=("flags", "formulations"))
  p.add_argument("--worker", choices=("models", "conv"), help=argparse.SUPPRESS)
  p.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
  args = p.parse_args(argv)
  if args.worker:
    sys.path.insert(0, str(REPO))
    import ddf  # noqa: F401  (applies DDF_XLA_CPU_FAST before JAX starts)

    out = models_worker(args.dtype) if args.worker == "models" else conv_worker()
    print(json.dumps(out))
    return 0
  print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
  if args.only in (None, "flags"):
    flags_table()
    print()
  if args.only in (None, "formulations"):
    formulations_table()
  return 0


if __name__ == "__main__":
  sys.exit(main())
