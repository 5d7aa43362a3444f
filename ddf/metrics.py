"""Detection metrics (scikit-learn where it has them): AUC (+ bootstrap CI), EER, AP, ACC,
precision, recall, F1."""

from __future__ import annotations

import inspect
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats
from sklearn import metrics as skm

# scipy >= 1.15 names the seed argument `rng` (`random_state` before); both take a Generator.
_BOOTSTRAP_SEED_KW = (
  "rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"
)


def equal_error_rate(labels: np.ndarray, scores: np.ndarray) -> float:
  """EER: where the ROC over all thresholds meets false negative rate = false positive rate.

  The ROC is the polyline through the (FPR, FNR) points of every distinct threshold (predict fake
  when score >= threshold), from (0, 1) at threshold +inf to (1, 0) at the lowest score; no point
  is dropped. FNR - FPR never increases along it, so it meets FNR = FPR exactly once: at a ROC
  point, or inside the segment between the two points that bracket the sign change, found by
  linear interpolation along that segment. A segment is diagonal when reals and fakes tie on one
  score. NaN unless both classes are present.
  """
  y = np.asarray(labels)
  s = np.asarray(scores, np.float64)
  if y.size == 0 or np.all(y == y.flat[0]):
    return math.nan
  fpr, tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
  d = (1.0 - tpr) - fpr  # FNR - FPR: 1 at the first point, -1 at the last, non-increasing
  k = int(np.argmax(d <= 0.0))  # first point on or past the crossing; k >= 1 since d[0] = 1
  if d[k] == 0.0:
    return float(fpr[k])
  u = d[k - 1] / (d[k - 1] - d[k])  # fraction of segment (k-1, k) where d reaches 0
  fpr_x = fpr[k - 1] + u * (fpr[k] - fpr[k - 1])
  fnr_x = (1.0 - tpr[k - 1]) + u * (tpr[k - 1] - tpr[k])
  return float((fpr_x + fnr_x) / 2.0)  # equal up to rounding


def _auc_of_codes(real: np.ndarray, fake: np.ndarray, num_codes: int, axis: int = -1) -> np.ndarray:
  """Vectorized ROC AUC (ties count 1/2) of integer-coded scores along `axis`.

  Codes are ranks of the distinct pooled scores (0..num_codes-1), so every batch row reduces to
  two histograms: AUC = sum_k fakes_k * (reals_below_k + reals_k / 2) / (n_real * n_fake).
  """
  real = np.moveaxis(np.asarray(real), axis, -1).astype(np.int64)
  fake = np.moveaxis(np.asarray(fake), axis, -1).astype(np.int64)
  batch_shape = real.shape[:-1]

  def hist(codes: np.ndarray) -> np.ndarray:
    rows = codes.reshape(-1, codes.shape[-1])
    flat = (rows + num_codes * np.arange(len(rows))[:, None]).ravel()
    return np.bincount(flat, minlength=len(rows) * num_codes).reshape(len(rows), num_codes)

  h_real, h_fake = hist(real), hist(fake)
  below = np.cumsum(h_real, axis=1) - h_real
  wins = (h_fake * (2 * below + h_real)).sum(axis=1) / 2.0
  auc = wins / (real.shape[-1] * fake.shape[-1])
  return auc.reshape(batch_shape)


def auc_confidence_interval(
  labels: Sequence[int],
  scores: Sequence[float],
  confidence: float = 0.95,
  n_resamples: int = 2000,
  seed: int = 0,
) -> list[float]:
  """Bootstrap percentile interval [lo, hi] of the ROC AUC, over items (videos or clips).

  `scipy.stats.bootstrap`, percentile method, seeded (same inputs and seed -> same interval).
  The resampling is stratified (as pROC's default): reals and fakes are resampled with
  replacement separately, each to its own size, so every resample holds both classes in the
  original proportions and has a defined AUC. [NaN, NaN] when a class has fewer than two items
  (nothing to resample) or on empty input.
  """
  y = np.asarray(labels, np.int32)
  s = np.asarray(scores, np.float64)
  n_fake = int((y == 1).sum())
  if n_fake < 2 or len(y) - n_fake < 2:
    return [math.nan, math.nan]
  values, codes = np.unique(s, return_inverse=True)
  codes = codes.reshape(-1)

  def statistic(real, fake, axis=-1):
    return _auc_of_codes(real, fake, len(values), axis)

  res = stats.bootstrap(
    (codes[y == 0], codes[y == 1]),
    statistic,
    n_resamples=n_resamples,
    batch=1000,
    vectorized=True,
    confidence_level=confidence,
    method="percentile",  # batch: bounds memory (1000 x n per array)
    **{_BOOTSTRAP_SEED_KW: np.random.default_rng(seed)},
  )
  return [float(res.confidence_interval.low), float(res.confidence_interval.high)]


def binary_metrics(
  labels: Sequence[int], scores: Sequence[float], threshold: float = 0.5
) -> dict[str, Any]:
  """labels in {0 real, 1 fake}; scores = P(fake). Threshold-free metrics are NaN on one class.

  `auc_ci` is the 95% bootstrap interval [lo, hi] of `auc` (`auc_confidence_interval`, seed 0).
  """
  y = np.asarray(labels, np.int32)
  s = np.asarray(scores, np.float64)
  pred = (s >= threshold).astype(np.int32)
  both = len(np.unique(y)) == 2
  out = {
    "n": int(len(y)),
    "n_fake": int(y.sum()),
    "auc": float(skm.roc_auc_score(y, s)) if both else math.nan,
    "auc_ci": auc_confidence_interval(y, s),
    "ap": float(skm.average_precision_score(y, s)) if both else math.nan,
    "eer": equal_error_rate(y, s) if both else math.nan,
    "acc": float(skm.accuracy_score(y, pred)) if len(y) else math.nan,
  }
  p, r, f1, _ = skm.precision_recall_fscore_support(
    y, pred, average="binary", pos_label=1, zero_division=0
  )
  out.update(precision=float(p), recall=float(r), f1=float(f1))
  return out


def paired_auc(
  real_scores: dict[Any, float], fake_scores: Sequence[tuple[Any, float]]
) -> tuple[float, int]:
  """AUC per real/fake pair: the fraction of fakes that score above the real video they were made
  from (ties 1/2). `real_scores`: {key: score}; `fake_scores`: (key of the fake's real, score)
  pairs, those whose real is missing skipped. A score offset that a person's real and fake
  videos share cannot move it, where it moves the AUC. -> (value, pairs); NaN with no pair."""
  wins = [
    float(s > real_scores[k]) + 0.5 * float(s == real_scores[k])
    for k, s in fake_scores
    if k in real_scores
  ]
  return (float(np.mean(wins)) if wins else math.nan), len(wins)


def video_scores(video_index: Sequence[int], clip_scores: Sequence[float]) -> dict[int, float]:
  """Clip scores -> video score (mean of its clips' probabilities)."""
  acc: dict[int, list[float]] = defaultdict(list)
  for v, s in zip(video_index, clip_scores, strict=True):
    acc[int(v)].append(float(s))
  return {v: float(np.mean(s)) for v, s in acc.items()}
