"""Detection metrics (scikit-learn where it has them): AUC, EER, AP, ACC, precision, recall, F1."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from sklearn import metrics as skm


def equal_error_rate(labels: np.ndarray, scores: np.ndarray) -> float:
  """EER: the point of the ROC curve where false positive rate = false negative rate."""
  fpr, tpr, _ = skm.roc_curve(labels, scores)
  fnr = 1.0 - tpr
  i = int(np.nanargmin(np.abs(fnr - fpr)))
  return float((fpr[i] + fnr[i]) / 2.0)


def binary_metrics(labels: Sequence[int], scores: Sequence[float],
                   threshold: float = 0.5) -> dict[str, float]:
  """labels in {0 real, 1 fake}; scores = P(fake). Threshold-free metrics are NaN on one class."""
  y = np.asarray(labels, np.int32)
  s = np.asarray(scores, np.float64)
  pred = (s >= threshold).astype(np.int32)
  both = len(np.unique(y)) == 2
  out = {
      "n": int(len(y)),
      "n_fake": int(y.sum()),
      "auc": float(skm.roc_auc_score(y, s)) if both else math.nan,
      "ap": float(skm.average_precision_score(y, s)) if both else math.nan,
      "eer": equal_error_rate(y, s) if both else math.nan,
      "acc": float(skm.accuracy_score(y, pred)) if len(y) else math.nan,
  }
  p, r, f1, _ = skm.precision_recall_fscore_support(
      y, pred, average="binary", pos_label=1, zero_division=0)
  out.update(precision=float(p), recall=float(r), f1=float(f1))
  return out


def video_scores(video_index: Sequence[int], clip_scores: Sequence[float]) -> dict[int, float]:
  """Clip scores -> video score (mean of its clips' probabilities)."""
  acc: dict[int, list[float]] = defaultdict(list)
  for v, s in zip(video_index, clip_scores, strict=True):
    acc[int(v)].append(float(s))
  return {v: float(np.mean(s)) for v, s in acc.items()}
