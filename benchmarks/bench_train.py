"""Train-step throughput and MFU of the detector (a table of figures, not a test).

  python benchmarks/bench_train.py                       # default config + ResNet50, batch 2
  python benchmarks/bench_train.py --configs default --batch_size 8 --steps 10
  python benchmarks/bench_train.py --configs resnet50_frozen,resnet50_cached

Configs: default, resnet50, resnet50_bf16, resnet50_frozen (frozen backbone, frames in),
resnet50_cached (frozen backbone, its precomputed float16 features in: `data.feature_cache`).
The last column divides clips/s by the first row's, measured in the same run.

For each config: compile time, step time, clips/s, frames/s, model FLOPs per step (XLA cost
analysis of the step lowered for the host CPU, not yet optimised: the same count on every backend) and
MFU = FLOPs / step time / peak. The peak is measured in the same
run (a large matmul on the same device, `--peak_dtype float32` or `bfloat16`), so MFU is a ratio of
two figures of one machine; `--peak_tflops` adds a column against a datasheet figure (e.g. 989 for
H200 bf16 dense).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from configs import default  # noqa: E402
from ddf import sharding, train_step  # noqa: E402
from ddf.models import build_detector, frame_features  # noqa: E402


def bench_config(name: str, batch_size: int, clip_len: int):
  # The model of the README's figures: the CPU-sized default model as it was until 2026-12-01
  # (the benchmark default adds only a 3x3 high-pass filter in front of the backbone).
  c = default.get_config("shared")
  c.unlock()
  c.batch_size = batch_size
  c.data.clip_len = clip_len
  if name not in ("default", "resnet50", "resnet50_bf16", "resnet50_frozen", "resnet50_cached"):
    raise ValueError(f"unknown benchmark config {name}")
  if name.startswith("resnet50"):
    c.model.spatial.arch = "resnet50"
    c.model.spatial.image_size = 224
    c.data.crop_size = 224
  if name == "resnet50_bf16":
    c.model.dtype = "bfloat16"
  if name in ("resnet50_frozen", "resnet50_cached"):
    default.use_feature_cache(c)
    c.data.feature_cache = name == "resnet50_cached"
  c.lock()
  return c


def random_batch(config, model) -> dict[str, np.ndarray]:
  """A host batch of the inputs the config trains on: frames, or cached float16 features."""
  rng = np.random.default_rng(0)
  b, t, s = config.batch_size, config.data.clip_len, config.data.crop_size
  frames = rng.integers(0, 255, (b, t, s, s, 3), np.uint8)
  batch = {"label": rng.integers(0, 2, (b,), np.int32)}
  if not config.data.feature_cache:
    return {**batch, "clips": frames}
  variables = jax.eval_shape(lambda: model.init(jax.random.key(0), frames[:1], train=False))
  shapes = jax.eval_shape(
    lambda v, f: frame_features(model, v, f),
    variables,
    jax.ShapeDtypeStruct((b * t, s, s, 3), jnp.uint8),
  )
  for name, x in shapes.items():
    batch[name] = rng.random((b, t) + x.shape[1:]).astype(config.data.feature_cache_dtype)
  return batch


def measure_peak_tflops(dtype: str = "float32", n: int = 0, reps: int = 10) -> float:
  """TFLOP/s of a square `dtype` matmul on the default device (n: 8192 on GPU/TPU, 2048 on CPU)."""
  n = n or (2048 if jax.default_backend() == "cpu" else 8192)
  a = jax.random.normal(jax.random.key(0), (n, n), dtype)
  f = jax.jit(lambda x: x @ x)
  f(a).block_until_ready()
  t = time.perf_counter()
  for _ in range(reps):
    out = f(a)
  out.block_until_ready()
  return 2 * n**3 * reps / (time.perf_counter() - t) / 1e12


def program_flops(fn, *args) -> float:
  """FLOPs of one call of `fn`: XLA's cost analysis of the program lowered for the host CPU, before
  any backend optimisation (a GPU compile's own count leaves out what it hands to cuDNN, the
  convolutions, and GPU plugins do not analyse lowered programs)."""
  abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), args)
  with jax.default_device(jax.devices("cpu")[0]):
    cost = jax.jit(fn).lower(*abstract).cost_analysis()
  cost = cost[0] if isinstance(cost, list) else cost
  return float(cost.get("flops", float("nan"))) if cost else float("nan")


def bench(config, steps: int) -> dict[str, float]:
  mesh = sharding.create_mesh(config.mesh)
  rules = sharding.logical_rules(config.mesh)
  model = build_detector(config.model)
  state, shardings = train_step.create_train_state(config, model, mesh, rules, jax.random.key(0))
  batch_sh = sharding.batch_sharding(mesh, rules)
  batch = sharding.to_global(random_batch(config, model), batch_sh)

  def step_fn(st, b, r):
    return train_step.train_step(st, b, r, config=config)

  step = jax.jit(
    step_fn,
    in_shardings=(shardings, batch_sh, None),
    out_shardings=(shardings, None, None),
    donate_argnums=(0,),
  )
  key = jax.random.key(1)
  flops = program_flops(step_fn, state, batch, key)
  t = time.perf_counter()
  compiled = step.lower(state, batch, key).compile()
  compile_s = time.perf_counter() - t
  state, _, _ = compiled(state, batch, key)  # warm-up
  jax.block_until_ready(state)
  t = time.perf_counter()
  for _ in range(steps):
    state, m, _ = compiled(state, batch, key)
  jax.block_until_ready(state)
  step_s = (time.perf_counter() - t) / steps
  out = {
    "compile_s": compile_s,
    "step_s": step_s,
    "flops": flops,
    "clips_s": config.batch_size / step_s,
    "frames_s": config.batch_size * config.data.clip_len / step_s,
  }
  if config.data.feature_cache:  # the one-time cost: the backbone forward over each stored frame.
    s = config.data.crop_size
    frames = jnp.zeros((config.batch_size * config.data.clip_len, s, s, 3), jnp.uint8)
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    extract = jax.jit(lambda v, f: frame_features(model, v, f))
    jax.block_until_ready(extract(variables, frames))
    t = time.perf_counter()
    for _ in range(steps):
      feats = extract(variables, frames)
    jax.block_until_ready(feats)
    out["extract_frames_s"] = len(frames) * steps / (time.perf_counter() - t)
  return out


def main() -> None:
  parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  parser.add_argument("--configs", default="default,resnet50")
  parser.add_argument("--batch_size", type=int, default=2)
  parser.add_argument("--clip_len", type=int, default=8)
  parser.add_argument("--steps", type=int, default=5)
  parser.add_argument(
    "--peak_dtype", default="float32", help="dtype of the matmul whose measured rate is the peak"
  )
  parser.add_argument(
    "--peak_tflops", type=float, default=0.0, help="datasheet peak: adds an MFU column against it"
  )
  args = parser.parse_args()
  peak = measure_peak_tflops(args.peak_dtype)
  device = jax.devices()[0]
  print(
    f"device: {device.platform} {device.device_kind} x{jax.device_count()}; peak measured in this "
    f"run ({args.peak_dtype} matmul): {peak:.1f} TFLOP/s"
    + (f"; datasheet peak given: {args.peak_tflops:.0f} TFLOP/s" if args.peak_tflops else "")
  )
  sheet = " MFU (datasheet) |" if args.peak_tflops else ""
  print(
    "| config | batch | compile s | step s | clips/s | frames/s | GFLOP/step | MFU (measured peak) |"
    f"{sheet} clips/s vs first |"
  )
  print("|---|---|---|---|---|---|---|---|---|" + ("---|" if sheet else ""))
  first, notes = None, []
  for name in args.configs.split(","):
    r = bench(bench_config(name, args.batch_size, args.clip_len), args.steps)
    if "extract_frames_s" in r:
      notes.append(
        f"{name}: computing the cache (once per stored frame) runs at "
        f"{r['extract_frames_s']:.1f} frames/s"
      )
    mfu = r["flops"] / r["step_s"] / (peak * 1e12)
    mfu_sheet = (
      f" {r['flops'] / r['step_s'] / (args.peak_tflops * 1e12):.1%} |" if args.peak_tflops else ""
    )
    first = first or r["clips_s"]
    print(
      f"| {name} | {args.batch_size} | {r['compile_s']:.1f} | {r['step_s']:.3f} | "
      f"{r['clips_s']:.2f} | {r['frames_s']:.1f} | {r['flops'] / 1e9:.1f} | {mfu:.1%} |"
      f"{mfu_sheet} {r['clips_s'] / first:.2f}x |",
      flush=True,
    )
  for note in notes:
    print(note)


if __name__ == "__main__":
  main()
