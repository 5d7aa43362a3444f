"""Where training metrics go: one clu `MultiWriter` over TensorBoard, a JSON-lines file and the console.

`make_writer(workdir)` writes, on process 0, `WORKDIR/tensorboard` (clu's default writer, which
also logs), `WORKDIR/train_log.jsonl` (one `{"step": ..., <scalar>: ...}` line per write) and a
short line per train/val write on stdout; other processes only log.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
from clu import metric_writers
from clu.metric_writers import interface


class _ScalarsOnly(interface.MetricWriter):
  """A writer that keeps scalars and ignores every other kind of summary."""

  def write_summaries(self, step, values, metadata=None):
    del step, values, metadata

  def write_images(self, step, images):
    del step, images

  def write_videos(self, step, videos):
    del step, videos

  def write_audios(self, step, audios, *, sample_rate):
    del step, audios, sample_rate

  def write_texts(self, step, texts):
    del step, texts

  def write_histograms(self, step, arrays, num_buckets=None):
    del step, arrays, num_buckets

  def write_hparams(self, hparams):
    del hparams

  def flush(self):
    pass

  def close(self):
    pass


class JsonlWriter(_ScalarsOnly):
  """Appends `{"step": step, **scalars}` to a JSON-lines file."""

  def __init__(self, path: str | Path):
    self.path = Path(path)

  def write_scalars(self, step: int, scalars: dict[str, Any]) -> None:
    with open(self.path, "a") as f:
      f.write(json.dumps({"step": int(step), **{k: float(v) for k, v in scalars.items()}}) + "\n")


class ConsoleWriter(_ScalarsOnly):
  """One readable stdout line per train or val write (other scalars are left to the log)."""

  def __init__(self, num_train_steps: int):
    self.num_train_steps = num_train_steps

  def write_scalars(self, step: int, scalars: dict[str, Any]) -> None:
    s = {k: float(v) for k, v in scalars.items()}
    if "train_loss" in s:
      rate = s.get("train_steps_per_sec", float("nan"))
      eta = (self.num_train_steps - step) / rate if rate > 0 else float("nan")
      print(
        f"step {step}/{self.num_train_steps}  loss {s['train_loss']:.4f}  acc "
        f"{s.get('train_accuracy', float('nan')):.3f}  {rate:.2f} steps/s  ETA {eta:.0f}s",
        flush=True,
      )
    elif "val_video_auc" in s:
      print(
        f"step {step}: val video AUC {s['val_video_auc']:.4f}  ACC "
        f"{s.get('val_video_acc', float('nan')):.4f}",
        flush=True,
      )


def make_writer(workdir: str | Path, num_train_steps: int) -> metric_writers.MetricWriter:
  """TensorBoard + train_log.jsonl + console on process 0; logging only elsewhere."""
  workdir = Path(workdir)
  if jax.process_index() > 0:
    return metric_writers.create_default_writer(just_logging=True, asynchronous=False)
  return metric_writers.MultiWriter(
    [
      metric_writers.create_default_writer(str(workdir / "tensorboard")),
      JsonlWriter(workdir / "train_log.jsonl"),
      ConsoleWriter(num_train_steps),
    ]
  )
