"""Scores every clip of a split, aggregates clips to videos, and reports the protocol's metrics
overall, per manipulation method (that method's fakes vs all reals) and per compression.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh

from ddf import sharding
from ddf.context import Context, describe_inputs
from ddf.data import provenance
from ddf.data.pipeline import ClipRule, RecordSource, eval_batches, video_metadata
from ddf.metrics import binary_metrics, paired_auc, video_scores

# global model inputs ({'clips': [B, T, S, S, 3]} or cached features) -> P(fake) [B]
PredictFn = Callable[[dict[str, jax.Array]], jax.Array]


def score_clips(
  source: Any,
  predict_fn: PredictFn,
  mesh: Mesh,
  rules: sharding.Rules,
  rule: ClipRule,
  global_batch_size: int,
  progress: str | None = None,
  perturbation: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
  """(video index [N_clips], P(fake) [N_clips]) for the whole split, on every process.

  With `progress` (a name), process 0 prints how many clips are scored, every few seconds;
  `perturbation` corrupts the frames first (`ddf.data.perturb`).
  """
  local_bs = sharding.local_batch_size(global_batch_size, mesh, rules)
  batch_sharding = sharding.batch_sharding(mesh, rules)
  total = sum(len(rule.eval_starts(e)) for e in source.index())
  say = progress is not None and jax.process_index() == 0
  videos, scores = [], []
  done, last = 0, time.time()

  def collect(batch, probs) -> None:  # waits for the batch's scores
    local = multihost_utils.global_array_to_host_local_array(probs, mesh, batch_sharding.spec)
    videos.append(np.asarray(batch.records)[batch.mask])
    scores.append(np.asarray(local)[batch.mask])

  pending = None  # the batch on the devices while the host prepares the next one
  for batch in eval_batches(source, rule, local_bs, perturbation=perturbation):
    probs = predict_fn(sharding.to_global(batch.inputs, batch_sharding))
    if pending is not None:
      collect(*pending)
    pending = (batch, probs)
    done += int(batch.mask.sum()) * jax.process_count()
    if say and time.time() - last > 5.0:
      print(f"  {progress}: {min(done, total)}/{total} clips scored", flush=True)
      last = time.time()
  if pending is not None:
    collect(*pending)
  video_index = np.concatenate(videos) if videos else np.zeros([0], np.int64)
  clip_scores = np.concatenate(scores) if scores else np.zeros([0], np.float32)
  if jax.process_count() > 1:
    video_index, clip_scores = _allgather_ragged(video_index, clip_scores)
  if say:
    print(f"  {progress}: {len(clip_scores)}/{total} clips scored", flush=True)
  return video_index, clip_scores


def _allgather_ragged(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  sizes = multihost_utils.process_allgather(np.array([len(a)]))
  m = int(sizes.max())
  pad_a = np.full([m], -1, np.int64)
  pad_a[: len(a)] = a
  pad_b = np.zeros([m], np.float32)
  pad_b[: len(b)] = b
  ga = multihost_utils.process_allgather(pad_a)
  gb = multihost_utils.process_allgather(pad_b)
  keep = ga.reshape(-1) >= 0
  return ga.reshape(-1)[keep], gb.reshape(-1)[keep]


def _prefixed(metrics: dict[str, float], prefix: str) -> dict[str, float]:
  return {f"{prefix}_{k}": v for k, v in metrics.items()}


def _level_metrics(
  meta: list[dict[str, Any]],
  video_index: np.ndarray,
  clip_scores: np.ndarray,
  videos: set[int] | None = None,
) -> dict[str, float]:
  keep = np.ones(len(video_index), bool) if videos is None else np.isin(video_index, list(videos))
  clip_labels = [meta[int(v)]["label"] for v in video_index[keep]]
  out = _prefixed(binary_metrics(clip_labels, clip_scores[keep]), "clip")
  per_video = video_scores(video_index[keep], clip_scores[keep])
  out.update(
    _prefixed(
      binary_metrics([meta[v]["label"] for v in per_video], list(per_video.values())), "video"
    )
  )
  out.update(_paired(meta, per_video))
  return out


def _paired(meta: list[dict[str, Any]], per_video: dict[int, float]) -> dict[str, Any]:
  """`video_paired_auc` / `video_paired_n` (`metrics.paired_auc`): each fake against the real
  video of its `target_id` and compression; absent where no fake's real is scored."""

  def key(m: dict[str, Any]) -> tuple[str, str]:
    return str(m["target_id"]), m["compression"]

  named = {v: s for v, s in per_video.items() if meta[v].get("target_id")}
  reals = {key(meta[v]): s for v, s in named.items() if meta[v]["label"] == 0}
  fakes = [(key(meta[v]), s) for v, s in named.items() if meta[v]["label"] == 1]
  value, n = paired_auc(reals, fakes)
  return {"video_paired_auc": value, "video_paired_n": n} if n else {}


def split_report(
  meta: list[dict[str, Any]], video_index: np.ndarray, clip_scores: np.ndarray
) -> dict[str, Any]:
  """Metrics overall, per method and per compression, plus per-video scores. Where fakes name
  the real video they were made from (`target_id`, as FF++'s do), each level also has
  `video_paired_auc`: how often a fake outscores its own real (`metrics.paired_auc`).

  Videos without a scored clip (`meta[i]['not_scored']`) count in `num_videos` but not in the
  metrics; they are listed with the reason under `not_scored`.
  """
  report: dict[str, Any] = _level_metrics(meta, video_index, clip_scores)
  reals = {i for i, m in enumerate(meta) if m["label"] == 0}
  methods = sorted({m["method"] for m in meta if m["label"] == 1})
  report["per_method"] = {
    method: _level_metrics(
      meta,
      video_index,
      clip_scores,
      reals | {i for i, m in enumerate(meta) if m["method"] == method},
    )
    for method in methods
  }
  report["per_compression"] = {
    comp: _level_metrics(
      meta, video_index, clip_scores, {i for i, m in enumerate(meta) if m["compression"] == comp}
    )
    for comp in sorted({m["compression"] for m in meta})
  }
  per_video = video_scores(video_index, clip_scores)
  report["num_videos"] = len(meta)
  report["num_scored_videos"] = len(per_video)
  report["num_clips"] = int(len(video_index))
  report["videos_with_faceless_frames"] = sum(m["frames_without_face"] > 0 for m in meta)
  report["not_scored"] = {
    f"{m['method']}/{m['video_id']}": m["not_scored"] for m in meta if m.get("not_scored")
  }
  report["videos"] = [
    {
      "video_id": meta[v]["video_id"],
      "method": meta[v]["method"],
      "compression": meta[v]["compression"],
      "label": meta[v]["label"],
      "frames_without_face": meta[v]["frames_without_face"],
      "score": s,
    }
    for v, s in sorted(per_video.items())
  ]
  return report


def evaluate_split(
  source: Any,
  predict_fn: PredictFn,
  mesh: Mesh,
  rules: sharding.Rules,
  rule: ClipRule,
  global_batch_size: int,
  progress: str | None = None,
  perturbation: str | None = None,
) -> dict[str, Any]:
  video_index, clip_scores = score_clips(
    source, predict_fn, mesh, rules, rule, global_batch_size, progress, perturbation
  )
  return split_report(video_metadata(source, rule), video_index, clip_scores)


def make_predict_fn(model: nn.Module, state_shardings: Any, mesh: Mesh, rules: sharding.Rules):
  """`bind(state) -> PredictFn`: jit(inputs) -> P(fake) [B], the batch sharded like the inputs.

  `inputs`: {'clips': [B, T, S, S, 3] uint8} or a frozen backbone's cached features.
  """
  batch_sh = sharding.batch_sharding(mesh, rules)

  def predict(params, batch_stats, inputs):
    logits, _ = model.apply({"params": params, "batch_stats": batch_stats}, **inputs, train=False)
    return jax.nn.sigmoid(logits.astype(jnp.float32))

  jitted = jax.jit(
    predict,
    in_shardings=(state_shardings.params, state_shardings.batch_stats, batch_sh),
    out_shardings=batch_sh,
  )

  def bind(state: Any) -> PredictFn:
    def fn(inputs):
      with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
        return jitted(state.params, state.batch_stats, inputs)

    return fn

  return bind


def evaluate_checkpoint(
  config: ml_collections.ConfigDict,
  ctx: Context,
  state: Any,
  shardings: Any,
  splits: tuple[str, ...],
  step: int,
  sources: dict[str, Any] | None = None,
  dataset: str | None = None,
  perturbations: tuple[str | None, ...] = (None,),
) -> dict[str, dict[str, Any]]:
  """{name: report} of one checkpoint on `ctx.builder`'s splits (the built frames unless
  `sources` gives them), each with the data it was measured on (`report['data']`).

  Names are the splits, or `<split>_<perturbation>` for each perturbation other than None
  (`ddf.data.perturb`, e.g. 'test_GB3')."""
  predict = make_predict_fn(ctx.model, shardings, ctx.mesh, ctx.rules)(state)
  rule = ClipRule.from_config(config.data)
  cfg = ctx.builder.builder_config
  reports = {}
  for split in splits:
    source = sources[split] if sources else RecordSource(ctx.builder, split)
    for perturbation in perturbations:
      name = split if perturbation is None else f"{split}_{perturbation}"
      report = evaluate_split(
        source,
        predict,
        ctx.mesh,
        ctx.rules,
        rule,
        config.eval_batch_size,
        progress=name,
        perturbation=perturbation,
      )
      report.update(
        dataset=dataset or config.data.name,
        split=split,
        checkpoint_step=int(step),
        builder_config=cfg.name if cfg else "",
        inputs=describe_inputs(source),
        perturbation=perturbation,
      )
      report["data"] = provenance.data_record(ctx.builder, split, report)
      reports[name] = report
  return reports


def write_report(workdir: str | Path, dataset: str, split: str, report: dict[str, Any]) -> Path:
  """Writes `<workdir>/eval/<dataset>_<split>.json` (process 0 only); returns the path."""
  path = Path(workdir) / "eval" / f"{dataset}_{split}.json"
  if jax.process_index() == 0:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, default=float))
  return path


def format_ci(report: dict[str, Any], key: str = "video_auc") -> str:
  """'0.9531-1.0000' from `<key>_ci` (or '-' when the report has none)."""
  lo, hi = report.get(f"{key}_ci") or (float("nan"), float("nan"))
  return "-" if lo != lo or hi != hi else f"{lo:.4f}-{hi:.4f}"


def format_table(reports: dict[str, dict[str, Any]]) -> str:
  """A small markdown table: video-level AUC (95% bootstrap CI) / ACC / EER and clip AUC per split."""
  lines = [
    "| split | videos (scored) | clips | video AUC | 95% CI | video ACC | video EER | clip AUC |",
    "|---|---|---|---|---|---|---|---|",
  ]
  for split, r in reports.items():
    lines.append(
      f"| {split} | {r['num_videos']} ({r.get('num_scored_videos', r['num_videos'])}) | "
      f"{r['num_clips']} | {r['video_auc']:.4f} | {format_ci(r)} | "
      f"{r['video_acc']:.4f} | {r['video_eer']:.4f} | {r['clip_auc']:.4f} |"
    )
  return "\n".join(lines)


def format_report(report: dict[str, Any]) -> str:
  """A short markdown table: overall, per method and per compression (video AUC / ACC / EER)."""

  def row(name: str, r: dict[str, Any]) -> str:
    return (
      f"| {name} | {r['video_n']} | {r['video_auc']:.4f} | {format_ci(r)} | "
      f"{r['video_acc']:.4f} | {r['video_eer']:.4f} | {r['video_ap']:.4f} | "
      f"{r['clip_auc']:.4f} |"
    )

  lines = [
    "| subset | videos | video AUC | 95% CI | video ACC | video EER | video AP | clip AUC |",
    "|---|---|---|---|---|---|---|---|",
    row("all", report),
  ]
  lines += [row(m, r) for m, r in report["per_method"].items()]
  lines += [row(c, r) for c, r in report["per_compression"].items()]
  return "\n".join(lines)


def format_robustness(reports: dict[str, dict[str, Any]], split: str) -> str:
  """Video AUC per perturbation type (rows) and level (columns), with the clean split's."""
  from ddf.data import perturb

  lines = [
    f"clean {split} video AUC {reports[split]['video_auc']:.4f}",
    "| perturbation | " + " | ".join(str(level) for level in perturb.LEVELS) + " | avg |",
    "|---" * (len(perturb.LEVELS) + 2) + "|",
  ]
  for kind, (title, _) in perturb.TYPES.items():
    values = [
      reports.get(f"{split}_{kind}{level}", {}).get("video_auc") for level in perturb.LEVELS
    ]
    if all(v is None for v in values):
      continue
    shown = [v for v in values if v is not None]
    cells = ["-" if v is None else f"{v:.4f}" for v in values]
    lines.append(f"| {kind} ({title}) | " + " | ".join(cells) + f" | {np.mean(shown):.4f} |")
  return "\n".join(lines)
