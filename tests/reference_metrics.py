"""Reference metrics for tests, from first principles (no scikit-learn): slow but obvious.

EER: sweep every threshold, count errors by brute force, build the ROC polyline in (FPR, FNR) and
intersect each of its segments with the line FNR = FPR in exact rational arithmetic.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np


def roc_points(labels, scores) -> list[tuple[Fraction, Fraction]]:
  """(FPR, FNR) for thresholds +inf, every distinct score (descending) and -inf; fake iff s >= t."""
  y = np.asarray(labels).astype(bool)
  s = np.asarray(scores, np.float64)
  n_fake, n_real = int(y.sum()), int((~y).sum())
  thresholds = [math.inf, *sorted(set(s.tolist()), reverse=True), -math.inf]
  points = []
  for t in thresholds:
    flagged = s >= t
    false_pos = int(np.count_nonzero(flagged & ~y))
    false_neg = int(np.count_nonzero(~flagged & y))
    points.append((Fraction(false_pos, n_real), Fraction(false_neg, n_fake)))
  return points


def equal_error_rate(labels, scores) -> float:
  """Where the piecewise-linear ROC meets FNR = FPR; NaN unless both classes are present."""
  y = np.asarray(labels).astype(bool)
  if y.all() or not y.any():
    return math.nan
  points = roc_points(labels, scores)
  crossings = set()
  for (x0, n0), (x1, n1) in zip(points[:-1], points[1:], strict=True):
    # Along the segment P(u) = P0 + u (P1 - P0), u in [0, 1]: FNR - FPR = g0 + u (g1 - g0).
    g0, g1 = n0 - x0, n1 - x1
    if g0 == g1:
      if g0 == 0:  # the whole segment on the line (only if it is a single point)
        crossings.update({x0, x1})
      continue
    u = g0 / (g0 - g1)
    if 0 <= u <= 1:
      crossings.add(x0 + u * (x1 - x0))
  if len(crossings) != 1:
    raise AssertionError(f"the ROC meets FNR = FPR at {sorted(crossings)}, not at one point")
  return float(crossings.pop())
