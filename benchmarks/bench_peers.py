"""ddf's models against the same models in Keras 3 (TensorFlow backend) and PyTorch, same device.

  python benchmarks/bench_peers.py                          # all workloads, 5 rounds
  python benchmarks/bench_peers.py --workloads resnet50_fwd,bilstm_train_t32 --rounds 9
  python benchmarks/bench_peers.py --threads 1 --peers keras  # one core, Keras only
  python benchmarks/bench_peers.py --ddf_fast   # + ddf with DDF_XLA_CPU_FAST=1 (ddf/xla_flags.py)

Workloads (`--workloads`, comma-separated; default all):
  resnet50_train     ResNet50 (v1, 1000-class logits head) train step, SGD momentum 0.9,
                     softmax cross-entropy; `--batch_size` images of 224x224 (img/s).
  resnet50_fwd       ResNet50 forward without the head, inference mode (img/s).
  vgg16_fwd          VGG16 convolutional part (include_top=False) forward (img/s).
  bilstm_train_t32   bidirectional 2-layer LSTM (128 then 64 units per direction), mean over
  bilstm_train_t128  time, 1-logit head, Adam, sigmoid cross-entropy, on [`--lstm_batch_size`, T,
                     2048] sequences with T = 32 / 128 (seq/s).

ddf runs `ddf.models.get_backbone` / `ddf.models.BiLSTM` (jitted step, buffers donated); Keras
runs `keras.applications.ResNet50` / `VGG16` (weights=None) and `keras.layers.LSTM` through
`train_on_batch` / `predict_on_batch` (XLA as Keras decides: `--keras_jit_compile`); PyTorch
(only if `import torch` works) runs the same architectures written below in eager mode,
channels_last, and `torch.nn.LSTM(bidirectional=True)`. The ResNet50 is v1 everywhere (stride on
the first 1x1 conv, conv biases), as in Keras and ddf's `resnet50`. ddf's backbones normalise their
[0, 255] input themselves (one subtraction); the peers get the same [0, 255] tensor unnormalised.

Method. Each framework runs in its own persistent worker process (this script with `--worker`;
Keras gets KERAS_BACKEND=tensorflow), so backends never share a process and nothing is compiled
twice. For each workload every worker builds the model and runs it once (the "first call" column
of the details: compilation / graph tracing). Then come `--rounds` rounds; in each round every
framework runs one timed block, in an order rotated by one each round, so slow drifts of the
machine (other jobs, clocks, heat) fall on all frameworks alike. A block is `--warmup` untimed
steps, then `--iters` timed steps ended by a device sync; its throughput is items / seconds. The
table gives per-framework medians over rounds, and "ddf vs best peer" is the median over rounds of
the paired ratio ddf throughput / throughput of the peer with the highest median (a ratio within
one round compares runs made seconds apart). The details give every peer's ratio with its range.
`--threads` limits every framework to that many cores (CPU affinity plus each framework's own
intra-op setting); the default is every core this process may use. Figures only; nothing is
asserted.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any, TextIO

REPO = Path(__file__).resolve().parents[1]

WORKLOADS: dict[str, tuple[str, str]] = {
  "resnet50_train": ("ResNet50 train step", "img/s"),
  "resnet50_fwd": ("ResNet50 forward", "img/s"),
  "vgg16_fwd": ("VGG16 forward", "img/s"),
  "bilstm_train_t32": ("BiLSTM train step, T=32", "seq/s"),
  "bilstm_train_t128": ("BiLSTM train step, T=128", "seq/s"),
}
FRAMEWORKS = ("ddf", "ddf_fast", "keras", "torch")
PEERS = ("keras", "torch")
LABELS = {
  "ddf": "ddf",
  "ddf_fast": "ddf fast",  # DDF_XLA_CPU_FAST=1
  "keras": "Keras-TF",
  "torch": "PyTorch",
}
IMAGE_SIZE = 224
FEATURES = 2048  # BiLSTM input width (ResNet50 pooled features)
HIDDEN = (128, 64)
NUM_CLASSES = 1000


# ----------------------------------------------------------------------------- workers


@dataclass
class Runner:
  """One built workload: `step()` enqueues one step, `sync()` waits for the device."""

  step: Callable[[], None]
  sync: Callable[[], None]
  items: int  # images or sequences per step


def _seq_len(workload: str) -> int:
  return int(workload.rsplit("_t", 1)[1])


def _batch(workload: str, args: argparse.Namespace) -> int:
  return args.lstm_batch_size if workload.startswith("bilstm") else args.batch_size


def _cpu_name() -> str:
  try:
    with open("/proc/cpuinfo") as f:
      for line in f:
        if line.startswith("model name"):
          return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine()


def _limit_cores(threads: int) -> None:
  """Pins this process to `threads` of its allowed cores (before any framework starts)."""
  cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
  if 0 < threads < len(cpus):
    os.sched_setaffinity(0, cpus[:threads])


class DdfImpl:
  """ddf's Flax modules under jax.jit."""

  def __init__(self, args: argparse.Namespace):
    sys.path.insert(0, str(REPO))
    import flax
    import jax
    import optax

    import ddf.models  # noqa: F401  (fail here, not in setup, if ddf does not import)

    self.args = args
    dev = jax.devices()[0]
    self.info = {
      "versions": f"jax {jax.__version__}, flax {flax.__version__}, optax {optax.__version__}",
      "device": f"{dev.platform} ({dev.device_kind}) x{jax.device_count()}",
      "platform": dev.platform,
    }

  def setup(self, workload: str) -> Runner:
    import flax.linen as nn
    import jax
    import jax.numpy as jnp
    import optax

    from ddf.models import BiLSTM, get_backbone

    b = _batch(workload, self.args)
    kx, kinit = jax.random.split(jax.random.key(self.args.seed))
    if workload.startswith("bilstm"):

      class SeqModel(nn.Module):
        @nn.compact
        def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
          y = BiLSTM(HIDDEN, 0.0)(x, train=train, seq_lengths=None)
          return nn.Dense(1)(y.mean(axis=1))[:, 0]

      model: nn.Module = SeqModel()
      x = jax.random.normal(kx, (b, _seq_len(workload), FEATURES), jnp.float32)
      y = (jnp.arange(b) % 2).astype(jnp.float32)
      tx = optax.adam(1e-3)

      def loss(logits: jax.Array) -> jax.Array:
        return optax.sigmoid_binary_cross_entropy(logits, y).mean()

    else:
      arch = workload.split("_")[0]
      x = jax.random.uniform(kx, (b, IMAGE_SIZE, IMAGE_SIZE, 3), jnp.float32, 0.0, 255.0)
      y = jnp.arange(b) % NUM_CLASSES
      tx = optax.sgd(0.01, momentum=0.9)

      class Classifier(nn.Module):
        @nn.compact
        def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
          f = get_backbone(arch, name="backbone")(x, train=train)
          return nn.Dense(NUM_CLASSES)(f.mean(axis=(1, 2)))

      model = Classifier() if workload.endswith("_train") else get_backbone(arch)

      def loss(logits: jax.Array) -> jax.Array:
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    variables = nn.meta.unbox(jax.jit(lambda: model.init(kinit, x, train=False))())
    params = variables["params"]
    stats = variables.get("batch_stats")

    if not workload.endswith("_train"):
      fwd = jax.jit(lambda v, x: model.apply(v, x, train=False))
      out: list[Any] = [None]

      def step() -> None:
        out[0] = fwd(variables, x)

      return Runner(step, lambda: jax.block_until_ready(out[0]), b)

    def train_step(params: Any, stats: Any, opt_state: Any) -> tuple[Any, Any, Any, jax.Array]:
      def loss_fn(p: Any) -> tuple[jax.Array, Any]:
        if stats is None:
          return loss(model.apply({"params": p}, x, train=True)), None
        logits, upd = model.apply(
          {"params": p, "batch_stats": stats}, x, train=True, mutable=["batch_stats"]
        )
        return loss(logits), upd["batch_stats"]

      (value, new_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
      updates, opt_state = tx.update(grads, opt_state, params)
      return optax.apply_updates(params, updates), new_stats, opt_state, value

    jstep = jax.jit(train_step, donate_argnums=(0, 1, 2))
    state: list[Any] = [params, stats, tx.init(params), None]

    def step() -> None:
      state[:] = jstep(*state[:3])

    return Runner(step, lambda: jax.block_until_ready(state), b)


class KerasImpl:
  """keras.applications / keras.layers on the TensorFlow backend."""

  def __init__(self, args: argparse.Namespace):
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    for gpu in tf.config.list_physical_devices("GPU"):
      tf.config.experimental.set_memory_growth(gpu, True)
    import keras

    if keras.backend.backend() != "tensorflow":
      raise RuntimeError(f"Keras backend is {keras.backend.backend()!r}, not 'tensorflow'")
    self.args = args
    gpus = tf.config.list_physical_devices("GPU")
    self.info = {
      "versions": f"keras {keras.__version__}, tensorflow {tf.__version__}",
      "device": f"gpu x{len(gpus)}" if gpus else "cpu",
      "platform": "gpu" if gpus else "cpu",
    }

  def setup(self, workload: str) -> Runner:
    import keras
    import numpy as np
    import tensorflow as tf

    b = _batch(workload, self.args)
    rng = np.random.default_rng(self.args.seed)
    train = workload.endswith("_train")
    if workload.startswith("bilstm"):
      t = _seq_len(workload)
      layers = keras.layers
      model = keras.Sequential(
        [layers.Input((t, FEATURES))]
        + [layers.Bidirectional(layers.LSTM(u, return_sequences=True)) for u in HIDDEN]
        + [layers.GlobalAveragePooling1D(), layers.Dense(1)]
      )
      x = rng.standard_normal((b, t, FEATURES), np.float32)
      y = (np.arange(b) % 2).astype(np.float32)
      opt = keras.optimizers.Adam(1e-3)
      loss = keras.losses.BinaryCrossentropy(from_logits=True)
    else:
      shape = (IMAGE_SIZE, IMAGE_SIZE, 3)
      if workload.startswith("resnet50"):
        model = keras.applications.ResNet50(
          weights=None, include_top=train, input_shape=shape, classifier_activation=None
        )
      else:
        model = keras.applications.VGG16(weights=None, include_top=False, input_shape=shape)
      x = rng.uniform(0.0, 255.0, (b,) + shape).astype(np.float32)
      y = np.arange(b) % NUM_CLASSES
      opt = keras.optimizers.SGD(0.01, momentum=0.9)
      loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    jit = {"auto": "auto", "on": True, "off": False}[self.args.keras_jit_compile]
    model.compile(optimizer=opt, loss=loss, jit_compile=jit)
    self.info["jit_compile"] = bool(model.jit_compile)
    x, y = tf.constant(x), tf.constant(y)
    out: list[Any] = [None]

    def step() -> None:  # both return host numpy values, i.e. they sync
      if train:
        out[0] = model.train_on_batch(x, y)
      else:
        out[0] = model.predict_on_batch(x)

    return Runner(step, lambda: None, b)


def _torch_modules() -> dict[str, Any]:
  """Compact ResNet50 (v1, Keras layout), VGG16 features and BiLSTM in torch.nn."""
  import torch
  from torch import nn

  eps = 1.001e-5  # Keras ResNet50 BatchNorm epsilon

  class Bottleneck(nn.Module):
    def __init__(self, cin: int, f: int, stride: int):
      super().__init__()
      self.conv1, self.bn1 = nn.Conv2d(cin, f, 1, stride), nn.BatchNorm2d(f, eps=eps)
      self.conv2, self.bn2 = nn.Conv2d(f, f, 3, 1, 1), nn.BatchNorm2d(f, eps=eps)
      self.conv3, self.bn3 = nn.Conv2d(f, 4 * f, 1), nn.BatchNorm2d(4 * f, eps=eps)
      self.shortcut = (
        nn.Sequential(nn.Conv2d(cin, 4 * f, 1, stride), nn.BatchNorm2d(4 * f, eps=eps))
        if stride != 1 or cin != 4 * f
        else nn.Identity()
      )
      self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
      y = self.relu(self.bn1(self.conv1(x)))
      y = self.relu(self.bn2(self.conv2(y)))
      return self.relu(self.bn3(self.conv3(y)) + self.shortcut(x))

  class ResNet50(nn.Module):
    def __init__(self, num_classes: int | None = None):
      super().__init__()
      mods: list[nn.Module] = [
        nn.Conv2d(3, 64, 7, 2, 3),
        nn.BatchNorm2d(64, eps=eps),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
      ]
      cin = 64
      for s, (blocks, f) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512), strict=True)):
        for i in range(blocks):
          mods.append(Bottleneck(cin, f, 2 if (s > 0 and i == 0) else 1))
          cin = 4 * f
      if num_classes:
        mods += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes)]
      self.layers = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
      return self.layers(x)

  def vgg16() -> nn.Module:
    mods: list[nn.Module] = []
    cin = 3
    for block in ((64, 64), (128, 128), (256,) * 3, (512,) * 3, (512,) * 3):
      for f in block:
        mods += [nn.Conv2d(cin, f, 3, 1, 1), nn.ReLU(inplace=True)]
        cin = f
      mods.append(nn.MaxPool2d(2, 2))
    return nn.Sequential(*mods)

  class BiLSTM(nn.Module):
    def __init__(self):
      super().__init__()
      self.lstm1 = nn.LSTM(FEATURES, HIDDEN[0], batch_first=True, bidirectional=True)
      self.lstm2 = nn.LSTM(2 * HIDDEN[0], HIDDEN[1], batch_first=True, bidirectional=True)
      self.head = nn.Linear(2 * HIDDEN[1], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
      y, _ = self.lstm1(x)
      y, _ = self.lstm2(y)
      return self.head(y.mean(dim=1))[:, 0]

  return {"resnet50": ResNet50, "vgg16": vgg16, "bilstm": BiLSTM}


class TorchImpl:
  """Eager PyTorch, channels_last for the conv nets."""

  def __init__(self, args: argparse.Namespace):
    import torch

    torch.set_num_threads(args.threads)
    self.args = args
    self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name() if self.device.type == "cuda" else _cpu_name()
    self.info = {
      "versions": f"torch {torch.__version__}",
      "device": f"{self.device.type} ({name}), {torch.get_num_threads()} threads",
      "platform": "gpu" if self.device.type == "cuda" else "cpu",
    }
    self.modules = _torch_modules()

  def setup(self, workload: str) -> Runner:
    import torch

    b = _batch(workload, self.args)
    dev = self.device
    gen = torch.Generator().manual_seed(self.args.seed)
    train = workload.endswith("_train")
    if workload.startswith("bilstm"):
      model = self.modules["bilstm"]().to(dev)
      x = torch.randn(b, _seq_len(workload), FEATURES, generator=gen).to(dev)
      y = (torch.arange(b) % 2).float().to(dev)
      loss_fn: Any = torch.nn.BCEWithLogitsLoss()
      opt: Any = torch.optim.Adam(model.parameters(), 1e-3)
    else:
      arch = workload.split("_")[0]
      model = self.modules[arch](NUM_CLASSES) if train else self.modules[arch]()
      model = model.to(dev, memory_format=torch.channels_last)
      x = torch.rand(b, 3, IMAGE_SIZE, IMAGE_SIZE, generator=gen) * 255.0
      x = x.to(dev, memory_format=torch.channels_last)
      y = (torch.arange(b) % NUM_CLASSES).to(dev)
      loss_fn = torch.nn.CrossEntropyLoss()
      opt = torch.optim.SGD(model.parameters(), 0.01, momentum=0.9)
    model.train(train)

    def sync() -> None:
      if dev.type == "cuda":
        torch.cuda.synchronize(dev)

    if not train:

      def fwd() -> None:
        with torch.inference_mode():
          model(x)

      return Runner(fwd, sync, b)

    def step() -> None:
      opt.zero_grad(set_to_none=True)
      loss_fn(model(x), y).backward()
      opt.step()

    return Runner(step, sync, b)


IMPLS: dict[str, Callable[[argparse.Namespace], Any]] = {
  "ddf": DdfImpl,
  "ddf_fast": DdfImpl,
  "keras": KerasImpl,
  "torch": TorchImpl,
}


def worker_main(args: argparse.Namespace) -> int:
  """Serves JSON-line commands on stdin: setup / run / drop / quit (see `Worker`)."""
  proto = os.fdopen(os.dup(1), "w", buffering=1)
  os.dup2(2, 1)  # anything the frameworks print goes to the log, not into the protocol

  def send(msg: dict[str, Any]) -> None:
    proto.write(json.dumps(msg) + "\n")

  def error(e: BaseException) -> dict[str, Any]:
    traceback.print_exc()
    sys.stderr.flush()
    return {"ok": False, "error": f"{type(e).__name__}: {e}".splitlines()[0][:300]}

  try:
    impl = IMPLS[args.worker](args)
  except Exception as e:  # reported to the parent
    send(error(e))
    return 1
  send({"ok": True, "info": impl.info})
  runners: dict[str, Runner] = {}
  for line in sys.stdin:
    cmd = json.loads(line)
    op, name = cmd["cmd"], cmd.get("workload", "")
    try:
      if op == "setup":
        t = time.perf_counter()
        r = impl.setup(name)
        r.step()
        r.sync()
        runners[name] = r
        send({"ok": True, "first_s": time.perf_counter() - t, "info": impl.info})
      elif op == "run":
        r = runners[name]
        for _ in range(args.warmup):
          r.step()
        r.sync()
        t = time.perf_counter()
        for _ in range(args.iters):
          r.step()
        r.sync()
        send({"ok": True, "seconds": time.perf_counter() - t, "items": r.items * args.iters})
      elif op == "drop":
        runners.pop(name, None)
        gc.collect()
        send({"ok": True})
      elif op == "quit":
        send({"ok": True})
        return 0
      else:
        send({"ok": False, "error": f"unknown command {op!r}"})
    except Exception as e:  # reported to the parent
      runners.pop(name, None)
      send(error(e))
  return 0


# ----------------------------------------------------------------------------- parent


class Worker:
  """A persistent worker process for one framework, spoken to in JSON lines."""

  def __init__(self, fw: str, args: argparse.Namespace, log_dir: str):
    self.fw = fw
    self.log_path = os.path.join(log_dir, f"{fw}.log")
    self.log: TextIO = open(self.log_path, "w")  # closed in close()
    env = dict(os.environ)
    n = str(args.threads)
    env.update(OMP_NUM_THREADS=n, MKL_NUM_THREADS=n, TF_CPP_MIN_LOG_LEVEL="2")
    if fw == "keras":
      env.update(KERAS_BACKEND="tensorflow", TF_NUM_INTRAOP_THREADS=n)
    elif fw.startswith("ddf"):
      env.update(XLA_PYTHON_CLIENT_PREALLOCATE="false")
      env.pop("DDF_XLA_CPU_FAST", None)
      if fw == "ddf_fast":  # ddf.xla_flags' opt-in XLA:CPU flags
        env.update(DDF_XLA_CPU_FAST="1")
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", fw]
    for k in ("threads", "batch_size", "lstm_batch_size", "warmup", "iters", "seed"):
      cmd += [f"--{k}", str(getattr(args, k))]
    cmd += ["--keras_jit_compile", args.keras_jit_compile]
    self.proc = subprocess.Popen(
      cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env
    )
    self.hello = self._recv()

  def _recv(self) -> dict[str, Any]:
    line = self.proc.stdout.readline() if self.proc.stdout else ""
    if not line:
      rc = self.proc.wait()
      return {"ok": False, "error": f"worker exited (rc {rc}); {self.log_tail()}"}
    return json.loads(line)

  def call(self, op: str, workload: str = "") -> dict[str, Any]:
    if self.proc.poll() is not None or self.proc.stdin is None:
      return {"ok": False, "error": f"worker not running; {self.log_tail()}"}
    try:
      self.proc.stdin.write(json.dumps({"cmd": op, "workload": workload}) + "\n")
      self.proc.stdin.flush()
    except BrokenPipeError:
      return {"ok": False, "error": f"worker exited; {self.log_tail()}"}
    return self._recv()

  def log_tail(self, lines: int = 8) -> str:
    self.log.flush()
    with open(self.log_path) as f:
      tail = [s.rstrip() for s in f.readlines()[-lines:]]
    return "log tail:\n    " + "\n    ".join(tail) if tail else "empty log"

  def close(self) -> None:
    if self.proc.poll() is None:
      self.call("quit")
      try:
        self.proc.wait(timeout=30)
      except subprocess.TimeoutExpired:
        self.proc.kill()
        self.proc.wait()
    self.log.close()


@dataclass
class Result:
  first_s: float | None = None
  rates: list[float | None] = field(default_factory=list)  # per round; None = failed
  error: str | None = None


def _median(xs: Sequence[float | None]) -> float | None:
  v = [x for x in xs if x is not None]
  return statistics.median(v) if v else None


def _fmt_rate(x: float | None) -> str:
  if x is None:
    return "n/a"
  return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def _fmt_ratio(r: float) -> str:
  return f"{r:.2f}x faster" if r >= 1 else f"{1 / r:.2f}x slower"


def paired_ratios(a: Sequence[float | None], b: Sequence[float | None]) -> list[float]:
  """a[i] / b[i] for the rounds where both ran."""
  return [x / y for x, y in zip(a, b, strict=False) if x is not None and y is not None and y > 0]


def bench_workload(
  workload: str, workers: list[Worker], args: argparse.Namespace
) -> dict[str, Result]:
  res = {w.fw: Result() for w in workers}
  live = []
  for w in workers:
    r = w.call("setup", workload)
    if r["ok"]:
      res[w.fw].first_s = r["first_s"]
      w.hello["info"] = r.get("info", w.hello.get("info"))
      live.append(w)
    else:
      res[w.fw].error = r["error"]
      print(f"  {workload}: {LABELS[w.fw]} setup failed: {r['error']}", file=sys.stderr)
  for k in range(args.rounds):
    order = live[k % len(live) :] + live[: k % len(live)] if live else []
    for w in order:
      r = w.call("run", workload)
      res[w.fw].rates.append(r["items"] / r["seconds"] if r["ok"] else None)
      if not r["ok"]:
        res[w.fw].error = r["error"]
    done = ", ".join(f"{LABELS[w.fw]} {_fmt_rate(res[w.fw].rates[-1])}" for w in order)
    print(f"  {workload} round {k + 1}/{args.rounds}: {done}", file=sys.stderr, flush=True)
  for w in live:
    w.call("drop", workload)
  return res


def _vs_best_peer(res: dict[str, Result], fw: str, peers: list[str]) -> str:
  """`fw`'s median paired ratio against the peer with the highest median, as text."""
  med = {f: _median(r.rates) for f, r in res.items()}
  ranked = sorted((p for p in peers if med.get(p) is not None), key=lambda p: -med[p])
  if not ranked or med.get(fw) is None:
    return "n/a"
  ratios = paired_ratios(res[fw].rates, res[ranked[0]].rates)
  if not ratios:
    return "n/a"
  return f"{_fmt_ratio(statistics.median(ratios))} ({LABELS[ranked[0]]})"


def print_report(results: dict[str, dict[str, Result]], peers: list[str]) -> None:
  ran = [fw for fw in FRAMEWORKS if any(fw in res for res in results.values())]
  ours = [fw for fw in ran if fw.startswith("ddf")]
  cols = [LABELS[fw] for fw in ran] + [f"{LABELS[fw]} vs best peer" for fw in ours]
  print("| workload | " + " | ".join(cols) + " |")
  print("|---" * (len(cols) + 1) + "|")
  details = []
  for name, res in results.items():
    unit = WORKLOADS[name][1]
    med = {fw: _median(r.rates) for fw, r in res.items()}
    cells = []
    for fw in ran:
      if fw not in res:
        cells.append("-")
      elif med[fw] is None:
        cells.append("error")
      else:
        cells.append(f"{_fmt_rate(med[fw])} {unit}")
    cells += [_vs_best_peer(res, fw, peers) for fw in ours]
    print(f"| {name} | " + " | ".join(cells) + " |")
    for fw, r in res.items():
      rates = [x for x in r.rates if x is not None]
      line = f"{name} {LABELS[fw]}: "
      if rates:
        first = f"{r.first_s:.1f} s" if r.first_s is not None else "n/a"
        line += (
          f"median {_fmt_rate(med[fw])} {unit} over {len(rates)} rounds "
          f"[{_fmt_rate(min(rates))}, {_fmt_rate(max(rates))}], first call {first}"
        )
        if fw != "ddf" and med.get("ddf") is not None:
          ratios = paired_ratios(res["ddf"].rates, r.rates)
          if ratios:
            line += (
              f"; ddf/{LABELS[fw]} paired ratio median {statistics.median(ratios):.2f} "
              f"[{min(ratios):.2f}, {max(ratios):.2f}]"
            )
      if r.error:
        line += f" ERROR: {r.error}"
      details.append(line)
  print("\nthroughput: median over rounds [min, max]; ratios > 1: ddf faster")
  for line in details:
    print(line)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
  p = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
  )
  ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
  p.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated")
  p.add_argument("--peers", default="keras,torch", help="comma-separated: keras, torch")
  p.add_argument("--rounds", type=int, default=5)
  p.add_argument("--warmup", type=int, default=2, help="untimed steps before each timed block")
  p.add_argument("--iters", type=int, default=3, help="timed steps per block")
  p.add_argument("--batch_size", type=int, default=8, help="images per step")
  p.add_argument("--lstm_batch_size", type=int, default=16, help="sequences per step")
  p.add_argument("--threads", type=int, default=ncpu or 1, help="cores per framework")
  p.add_argument("--keras_jit_compile", choices=("auto", "on", "off"), default="auto")
  p.add_argument(
    "--ddf_fast",
    action="store_true",
    help="also run ddf with DDF_XLA_CPU_FAST=1 (ddf/xla_flags.py) as a column of its own",
  )
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--worker", choices=FRAMEWORKS, help=argparse.SUPPRESS)
  args = p.parse_args(argv)
  for k in ("rounds", "iters", "batch_size", "lstm_batch_size", "threads"):
    if getattr(args, k) < 1:
      p.error(f"--{k} must be >= 1")
  if args.warmup < 0:
    p.error("--warmup must be >= 0")
  bad = [w for w in args.workloads.split(",") if w not in WORKLOADS]
  if bad:
    p.error(f"unknown workloads {bad}; choose from {', '.join(WORKLOADS)}")
  bad = [x for x in args.peers.split(",") if x and x not in PEERS]
  if bad:
    p.error(f"unknown peers {bad}; choose from keras, torch")
  return args


def main(argv: Sequence[str] | None = None) -> int:
  args = parse_args(argv)
  if args.worker:
    _limit_cores(args.threads)
    return worker_main(args)

  workloads = args.workloads.split(",")
  wanted = (
    ["ddf"] + (["ddf_fast"] if args.ddf_fast else []) + [x for x in args.peers.split(",") if x]
  )
  missing = {
    "keras": [m for m in ("keras", "tensorflow") if find_spec(m) is None],
    "torch": [m for m in ("torch",) if find_spec(m) is None],
  }
  ncpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
  argv_shown = sys.argv[1:] if argv is None else list(argv)
  print(f"command: {shlex.join([sys.executable, sys.argv[0], *argv_shown])}")
  print(
    f"host: {platform.platform()}, {_cpu_name()}, "
    f"python {platform.python_version()}, {ncpu} usable cores, {args.threads} threads/framework"
  )
  print(
    f"method: {args.rounds} interleaved rounds x ({args.warmup} untimed + {args.iters} timed "
    f"steps); batch {args.batch_size} images, {args.lstm_batch_size} sequences"
  )
  workers: list[Worker] = []
  results: dict[str, dict[str, Result]] = {}
  with tempfile.TemporaryDirectory(prefix="bench_peers_") as log_dir:
    try:
      for fw in wanted:
        if missing.get(fw):
          print(f"{LABELS[fw]}: not installed ({', '.join(missing[fw])})")
          continue
        w = Worker(fw, args, log_dir)
        if not w.hello["ok"]:
          print(f"{LABELS[fw]}: failed to start: {w.hello['error']}")
          w.close()
          continue
        info = w.hello["info"]
        print(f"{LABELS[fw]}: {info['versions']}; device {info['device']}")
        workers.append(w)
      if not workers or workers[0].fw != "ddf":
        print("error: the ddf worker did not start", file=sys.stderr)
        return 1
      plat = {w.fw: w.hello["info"]["platform"] for w in workers}
      for fw, p in plat.items():
        if p != plat["ddf"]:
          print(f"warning: {LABELS[fw]} runs on {p}, ddf on {plat['ddf']}: not the same device")
      print(flush=True)
      for name in workloads:
        results[name] = bench_workload(name, workers, args)
      keras = next((w for w in workers if w.fw == "keras"), None)
      if keras and "jit_compile" in keras.hello["info"]:
        print(f"Keras jit_compile (XLA): {keras.hello['info']['jit_compile']}")
      print()
      print_report(results, [w.fw for w in workers if w.fw in PEERS])
    finally:
      for w in workers:
        w.close()
  return 0


if __name__ == "__main__":
  sys.exit(main())
