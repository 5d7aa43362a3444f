"""Shallow baselines on the detector's splits and clips (the library behind `ddf.baselines`).

Reads (and, like `ddf.train`, generates / builds when missing) the config's dataset and scores the
same fixed clips the detector is evaluated on (`ClipRule.eval_starts`; the same rule picks the
train clips). Three baselines, all face-agnostic apart from the alignment of the crops:

  grid_logreg      per clip, on a 4x4 grid of the crop: sharpness (log variance of the Laplacian,
                   mean gradient magnitude, of luma), mean Lab colour and frame-to-frame change
                   (mean |luma difference| of consecutive frames), each as mean and std over the
                   clip's frames -> StandardScaler + LogisticRegression (balanced classes), fitted on
                   the train clips; C is chosen from `C_GRID` by video-level AUC on val.
  face_edge_ratio  no training: per clip, log(mean gradient magnitude inside the central face box
                   / outside it); the box is the central crop_size / data.margin pixels, where
                   alignment puts the face (`ddf.faces.align`). Its sign is the one with the larger
                   train video AUC; P(fake) = sigmoid(sign * log ratio), so 0.5 is equal edge
                   strength (ACC / precision / recall / F1 use that threshold).
  brightness_flicker  no training: per clip, mean |second difference over frames| of the face
                   box's mean luma (lighting that jumps instead of drifting; the trivial temporal
                   method the `Shuffled` diagnostic is measured against); P(fake) = sigmoid(sign
                   * (value - its train median)), the sign chosen on train as above.

Writes `WORKDIR/eval/<dataset>_{val,test}.json` in the format of `ddf.eval_lib.split_report` (with
`data` provenance, `baseline` and `baseline_params`: chosen C and val AUC per C, or sign) and
`WORKDIR/config.json` (the config plus `baseline` and `baseline_params`: {C} or {sign}), so
`ddf.tables` reads the workdir like a trained run's. The test split is read only after everything
is fitted and chosen.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import ml_collections
import numpy as np
from absl import logging

BASELINES = ("grid_logreg", "face_edge_ratio", "brightness_flicker")

C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)  # inverse L2 strengths tried on val.
GRID = 4  # cells per side of the feature grid.
GRID_FEATURES = ("log_lap_var", "grad", "L", "a", "b")  # per frame and cell; + "diff" per pair.
# Column blocks of `grid_features` (GRID * GRID columns each), in the order it writes them.
GRID_BLOCKS = (
  *(f"{f}_mean" for f in GRID_FEATURES),
  *(f"{f}_std" for f in GRID_FEATURES),
  "diff_mean",
  "diff_std",
)
# What `--feature_groups` refits grid_logreg on, one at a time: each feature (its mean and std
# over the clip's frames), then the three kinds of cue.
FEATURE_GROUPS = {
  **{f: (f,) for f in (*GRID_FEATURES, "diff")},
  "texture": ("log_lap_var", "grad"),
  "colour": ("L", "a", "b"),
  "change": ("diff",),
}
_CHUNK = 256  # clips featurised at once.

Featurizer = Callable[[np.ndarray], np.ndarray]  # clips [B, T, S, S, 3] uint8 -> [B, F] float32


# ---------------------------------------------------------------------------------------------
# Features.


def luma(clips: np.ndarray) -> np.ndarray:
  """[..., S, S, 3] uint8 RGB -> [..., S, S] float32 luma in [0, 255] (BT.601)."""
  return np.tensordot(clips.astype(np.float32), np.array([0.299, 0.587, 0.114], np.float32), 1)


def laplacian_and_gradient(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Luma [..., H, W] -> (4-neighbour Laplacian, central-difference gradient magnitude), same
  shape; borders replicated within each image."""
  pad = [(0, 0)] * (y.ndim - 2) + [(1, 1), (1, 1)]
  p = np.pad(y, pad, mode="edge")
  up, down = p[..., :-2, 1:-1], p[..., 2:, 1:-1]
  left, right = p[..., 1:-1, :-2], p[..., 1:-1, 2:]
  lap = up + down + left + right - 4.0 * y
  grad = 0.5 * np.sqrt((right - left) ** 2 + (down - up) ** 2)
  return lap, grad


def cell_means(x: np.ndarray, grid: int = GRID) -> np.ndarray:
  """[..., H, W] -> [..., grid, grid] means over a grid of near-equal cells."""
  eh = np.linspace(0, x.shape[-2], grid + 1).round().astype(int)
  ew = np.linspace(0, x.shape[-1], grid + 1).round().astype(int)
  s = np.add.reduceat(np.add.reduceat(x, eh[:-1], axis=-2), ew[:-1], axis=-1)
  return s / (np.diff(eh)[:, None] * np.diff(ew)[None, :])


def _lab(clips: np.ndarray) -> np.ndarray:
  """[..., S, S, 3] uint8 RGB -> float32 Lab (L in [0, 100], a, b about [-127, 127])."""
  s = clips.shape[-2]
  flat = np.ascontiguousarray(clips.reshape(-1, s, 3), np.float32) / 255.0
  return cv2.cvtColor(flat, cv2.COLOR_RGB2Lab).reshape(clips.shape)


def grid_features(clips: np.ndarray, grid: int = GRID) -> np.ndarray:
  """Clips [B, T, S, S, 3] uint8 RGB -> features [B, 12 * grid * grid] float32, `grid * grid`
  columns per block of `GRID_BLOCKS`, in that order.

  Per cell: mean and std over the T frames of log(1 + variance of the Laplacian), mean gradient
  magnitude and mean L, a, b (`GRID_FEATURES`); mean and std over the T - 1 consecutive pairs of
  mean |luma diff| ("diff").
  """
  clips = np.asarray(clips)
  b, t = clips.shape[:2]
  y = luma(clips)  # [B, T, S, S]
  lap, grad = laplacian_and_gradient(y)
  lap_var = np.maximum(cell_means(lap * lap, grid) - cell_means(lap, grid) ** 2, 0.0)
  lab = np.moveaxis(_lab(clips), -1, 2)  # [B, T, 3, S, S]
  lab_cells = cell_means(lab, grid)  # [B, T, 3, g, g]
  per_frame = {  # [B, T, g, g] each
    "log_lap_var": np.log1p(lap_var),
    "grad": cell_means(grad, grid),
    "L": lab_cells[:, :, 0],
    "a": lab_cells[:, :, 1],
    "b": lab_cells[:, :, 2],
  }
  if t > 1:
    per_frame_pair = cell_means(np.abs(y[:, 1:] - y[:, :-1]), grid)  # [B, T-1, g, g]
  else:
    per_frame_pair = np.zeros([b, 1, grid, grid], np.float32)
  blocks = {}
  for stat in ("mean", "std"):
    for name, x in (*per_frame.items(), ("diff", per_frame_pair)):
      blocks[f"{name}_{stat}"] = getattr(x, stat)(1)
  return np.stack([blocks[k] for k in GRID_BLOCKS], 1).reshape(b, -1).astype(np.float32)


def face_box(size: int, margin: float) -> tuple[int, int]:
  """[lo, hi) pixel range of the central face box (side size / margin) of an aligned crop."""
  lo = int(round(size * (1.0 - 1.0 / margin) / 2.0))
  return lo, size - lo


def edge_log_ratio(clips: np.ndarray, margin: float) -> np.ndarray:
  """Clips [B, T, S, S, 3] uint8 -> [B] log(mean gradient magnitude inside the face box / outside
  it), over all frames of each clip."""
  _, grad = laplacian_and_gradient(luma(np.asarray(clips)))  # [B, T, S, S]
  size = grad.shape[-1]
  lo, hi = face_box(size, margin)
  if not 0 < lo < hi < size:
    raise ValueError(f"crop {size} with margin {margin} leaves no ring around the face box")
  inside = np.zeros([size, size], bool)
  inside[lo:hi, lo:hi] = True
  inner = grad[..., inside].mean(-1).mean(-1)
  ring = grad[..., ~inside].mean(-1).mean(-1)
  return (np.log(inner + 1e-3) - np.log(ring + 1e-3)).astype(np.float32)


def brightness_flicker(clips: np.ndarray, margin: float) -> np.ndarray:
  """Clips [B, T, S, S, 3] uint8 (T >= 3) -> [B] log(1 + mean |second difference over time| of the
  face box's mean luma)."""
  y = luma(np.asarray(clips))  # [B, T, S, S]
  lo, hi = face_box(y.shape[-1], margin)
  m = y[..., lo:hi, lo:hi].mean((-1, -2))  # [B, T]
  if m.shape[1] < 3:
    raise ValueError(f"brightness_flicker needs clips of 3+ frames, got {m.shape[1]}")
  return np.log1p(np.abs(m[:, 2:] - 2 * m[:, 1:-1] + m[:, :-2]).mean(-1)).astype(np.float32)


HAND_FEATURES = {"face_edge_ratio": edge_log_ratio, "brightness_flicker": brightness_flicker}


# ---------------------------------------------------------------------------------------------
# Clips of a split.


@dataclasses.dataclass
class ClipSet:
  """Features of every fixed clip of a split."""

  split: str
  x: np.ndarray  # [N_clips, F] float32
  video_index: np.ndarray  # [N_clips] index of the clip's video in the split
  labels: np.ndarray  # [N_clips] 0 real / 1 fake
  meta: list[dict[str, Any]]  # `pipeline.video_metadata` of the split (every video)


def load_split(builder: Any, split: str, rule: Any, featurize: Featurizer) -> ClipSet:
  """Featurises the clips `rule.eval_starts` picks in every video of `split`."""
  from ddf.data import pipeline

  source = pipeline.RecordSource(builder, split)
  index = source.index()
  feats, videos, pending = [], [], []

  def flush() -> None:
    if pending:
      feats.append(featurize(np.stack(pending)))
      pending.clear()

  for i, entry in enumerate(index):
    starts = rule.eval_starts(entry)
    if not len(starts):
      continue
    record = source[i]
    for s in starts:
      pending.append(pipeline.clip_inputs(record, int(s), rule.clip_len)["clips"])
      videos.append(i)
    if len(pending) >= _CHUNK:
      flush()
  flush()
  video_index = np.asarray(videos, np.int64)
  x = np.concatenate(feats) if feats else np.zeros([0, 0], np.float32)
  labels = np.array([index[v]["label"] for v in video_index], np.int32)
  return ClipSet(split, x, video_index, labels, pipeline.video_metadata(source, rule))


def video_auc(clips: ClipSet, clip_scores: np.ndarray) -> float:
  """Video-level ROC AUC of clip scores (mean per video); NaN with one class."""
  from sklearn.metrics import roc_auc_score

  from ddf.metrics import video_scores

  per_video = video_scores(clips.video_index, clip_scores)
  y = [clips.meta[v]["label"] for v in per_video]
  return float(roc_auc_score(y, list(per_video.values()))) if len(set(y)) == 2 else float("nan")


# ---------------------------------------------------------------------------------------------
# Baselines.


def make_logreg(c: float) -> Any:
  """StandardScaler + L2 logistic regression with balanced class weights."""
  from sklearn.linear_model import LogisticRegression
  from sklearn.pipeline import make_pipeline
  from sklearn.preprocessing import StandardScaler

  return make_pipeline(
    StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=5000)
  )


def select_c(
  train: ClipSet, val: ClipSet, cs: Sequence[float] = C_GRID
) -> tuple[Any, float, dict[str, float]]:
  """Fits on train for every C; keeps the best val video AUC (ties: the smallest C).

  Returns (model fitted on train, chosen C, {str(C): val video AUC}).
  """
  best, best_c, best_auc, aucs = None, None, -np.inf, {}
  for c in sorted(cs):
    model = make_logreg(c).fit(train.x, train.labels)
    auc = video_auc(val, model.predict_proba(val.x)[:, 1])
    aucs[str(c)] = auc
    if best is None or (not np.isnan(auc) and auc > best_auc):
      best, best_c, best_auc = model, c, (auc if not np.isnan(auc) else -np.inf)
  return best, float(best_c), aucs


def group_columns(features: Sequence[str], grid: int = GRID) -> np.ndarray:
  """Column indices of `grid_features` holding the named features (mean and std blocks)."""
  blocks = [i for i, b in enumerate(GRID_BLOCKS) if b.rsplit("_", 1)[0] in features]
  return np.concatenate([np.arange(i * grid * grid, (i + 1) * grid * grid) for i in blocks])


def feature_group_aucs(train: ClipSet, val: ClipSet, test: ClipSet) -> dict[str, dict[str, float]]:
  """grid_logreg refitted on each of `FEATURE_GROUPS` alone (C chosen on val, as `select_c`):
  {group: {"val": video AUC, "test": video AUC, "C": chosen C}} -- which cues carry it."""
  out = {}
  for group, features in FEATURE_GROUPS.items():
    cols = group_columns(features)
    tr, va, te = (dataclasses.replace(c, x=c.x[:, cols]) for c in (train, val, test))
    model, c, aucs = select_c(tr, va)
    out[group] = {
      "val": aucs[str(c)],
      "test": video_auc(te, model.predict_proba(te.x)[:, 1]),
      "C": c,
    }
  return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
  return (1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))).astype(np.float32)


def run(
  config: ml_collections.ConfigDict,
  workdir: str | Path,
  baseline: str = "grid_logreg",
  feature_groups: bool = False,
) -> dict[str, dict[str, Any]]:
  """Fits / orients the baseline on train (and val), scores val and test; writes the reports and
  `config.json`. Returns {split: report}. `feature_groups` (grid_logreg only): also refits on
  each of `FEATURE_GROUPS` alone, prints their AUCs and stores them as
  `baseline_params["feature_groups"]`."""
  from ddf import eval_lib
  from ddf.data import build_lib as data_build
  from ddf.data import provenance
  from ddf.data.pipeline import ClipRule

  if baseline not in BASELINES:
    raise ValueError(f"unknown baseline {baseline!r}; choose from {', '.join(BASELINES)}")
  if feature_groups and baseline != "grid_logreg":
    raise ValueError(f"feature groups are those of grid_logreg, not of {baseline}")
  workdir = Path(workdir).expanduser()
  workdir.mkdir(parents=True, exist_ok=True)
  builder = data_build.builder_from_config(config.data, prepare=True)
  rule = ClipRule.from_config(config.data)
  margin = float(config.data.get("margin", 1.3))

  def load(split: str, featurize: Featurizer) -> ClipSet:
    t0 = time.time()
    clips = load_split(builder, split, rule, featurize)
    print(
      f"  {split}: {len(clips.labels)} clips of {len(clips.meta)} videos featurised in "
      f"{time.time() - t0:.1f}s",
      flush=True,
    )
    return clips

  print(
    f"Baseline {baseline} on {builder.name}/{builder.builder_config.name} ({builder.data_dir})",
    flush=True,
  )
  if baseline == "grid_logreg":
    train, val = load("train", grid_features), load("val", grid_features)
    model, c, val_aucs = select_c(train, val)
    params: dict[str, Any] = {
      "C": c,
      "val_video_auc_by_C": val_aucs,
      "grid": GRID,
      "num_features": int(train.x.shape[1]),
    }
    print(
      f"  C = {c:g} (val video AUC by C: "
      + ", ".join(f"{k}: {v:.4f}" for k, v in val_aucs.items())
      + ")",
      flush=True,
    )

    def score(clips: ClipSet) -> np.ndarray:
      return model.predict_proba(clips.x)[:, 1].astype(np.float32)

    featurize = grid_features
  else:

    def featurize(clips: np.ndarray) -> np.ndarray:
      return HAND_FEATURES[baseline](clips, margin)[:, None]

    train, val = load("train", featurize), load("val", featurize)
    raw = train.x[:, 0]
    # face_edge_ratio: 0 = equal edge strength; brightness_flicker (>= 0): the train median.
    center = float(np.median(raw)) if baseline == "brightness_flicker" else 0.0
    train_auc = video_auc(train, _sigmoid(raw - center))
    sign = -1.0 if train_auc < 0.5 else 1.0
    params = {
      "sign": sign,
      "center": center,
      "train_video_auc": max(train_auc, 1.0 - train_auc),
      "face_box": list(face_box(int(config.data.crop_size), margin)),
    }
    print(f"  sign = {sign:+g} (train video AUC {params['train_video_auc']:.4f})", flush=True)

    def score(clips: ClipSet) -> np.ndarray:
      return _sigmoid(sign * (clips.x[:, 0] - center))

  splits = {"val": val, "test": load("test", featurize)}  # test: after everything is chosen.
  if feature_groups:
    params["feature_groups"] = feature_group_aucs(train, val, splits["test"])
    print("\nFeature group alone | val video AUC | test video AUC | C", flush=True)
    for group, r in params["feature_groups"].items():
      print(f"{group} | {r['val']:.4f} | {r['test']:.4f} | {r['C']:g}", flush=True)
  reports = {}
  for split, clips in splits.items():
    report = eval_lib.split_report(clips.meta, clips.video_index, score(clips))
    report["data"] = provenance.data_record(builder, split, report)
    report.update(
      dataset=config.data.name,
      split=split,
      checkpoint_step=0,
      builder_config=builder.builder_config.name,
      inputs="frames",
      baseline=baseline,
      baseline_params=params,
    )
    path = eval_lib.write_report(workdir, config.data.name, split, report)
    logging.info("Wrote %s", path)
    reports[split] = report
  record = json.loads(config.to_json_best_effort())
  record.update(
    baseline=baseline,
    baseline_params={k: params[k] for k in ("C", "sign", "center") if k in params},
  )
  (workdir / "config.json").write_text(json.dumps(record, indent=1, default=str))
  print(f"\nBaseline {baseline}\n{eval_lib.format_table(reports)}", flush=True)
  for split, r in reports.items():
    lo, hi = r["video_auc_ci"]
    print(f"{split} video AUC {r['video_auc']:.4f} (95% CI {lo:.4f}-{hi:.4f})", flush=True)
  print(f"Metrics written to {workdir / 'eval'}, config to {workdir / 'config.json'}", flush=True)
  return reports
