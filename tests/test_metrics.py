"""ddf.metrics: EER against an independent threshold sweep; bootstrap interval of the AUC."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from ddf import metrics
from tests import reference_metrics as ref


def _nearest_point_eer(y, s) -> float:
  """The old definition: nearest point of the ROC with intermediate points dropped."""
  fpr, tpr, _ = skm.roc_curve(y, s)
  i = int(np.nanargmin(np.abs((1 - tpr) - fpr)))
  return float((fpr[i] + 1 - tpr[i]) / 2)


def _random_sets(seed: int, count: int):
  """Small sets (2..60 items, both classes) of assorted class ratios and score kinds."""
  rng = np.random.default_rng(seed)
  for i in range(count):
    if i % 5 == 0:
      n_real, n_fake = 8, 32
    else:
      n = int(rng.integers(2, 61))
      n_real = int(rng.integers(1, n))
      n_fake = n - n_real
    y = np.r_[np.zeros(n_real, np.int32), np.ones(n_fake, np.int32)]
    kind = i % 4
    if kind == 0:  # continuous, almost surely no ties
      s = rng.normal(size=len(y)) + rng.uniform(-1, 3) * y
    elif kind == 1:  # integer scores, many ties within and across classes
      s = (rng.integers(0, int(rng.integers(1, 8)), len(y)) + rng.integers(0, 3) * y).astype(float)
    elif kind == 2:  # probabilities rounded to 1 decimal
      s = np.round(rng.uniform(size=len(y)) * 0.7 + 0.3 * y * rng.uniform(), 1)
    else:  # separable or reversed
      s = rng.permutation(len(y)).astype(float) + rng.choice([-1, 1]) * 100 * y
    order = rng.permutation(len(y))
    yield y[order], s[order]


def test_eer_matches_independent_sweep_on_thousands_of_small_sets():
  worst = 0.0
  for y, s in _random_sets(seed=0, count=3000):
    got, want = metrics.equal_error_rate(y, s), ref.equal_error_rate(y, s)
    assert got == pytest.approx(want, abs=1e-9), (y.tolist(), s.tolist())
    if len(y) == 40 and y.sum() == 32:
      worst = max(worst, abs(_nearest_point_eer(y, s) - want))
  assert worst >= 0.125  # the old definition is off by that much on the 8 real / 32 fake sets


def test_eer_lies_between_the_bracketing_roc_points():
  for y, s in _random_sets(seed=1, count=500):
    e = metrics.equal_error_rate(y, s)
    pts = np.array([[float(a), float(b)] for a, b in ref.roc_points(y, s)])
    lo, hi = pts.min(axis=1).max(), pts.max(axis=1).min()  # every point: min <= EER <= max
    assert lo - 1e-12 <= e <= hi + 1e-12


def test_eer_invariances():
  rng = np.random.default_rng(2)
  for y, s in _random_sets(seed=3, count=300):
    e = metrics.equal_error_rate(y, s)
    p = rng.permutation(len(y))
    assert metrics.equal_error_rate(y[p], s[p]) == pytest.approx(e, abs=1e-12)
    assert metrics.equal_error_rate(y, np.exp(s / 10) * 3 - 1) == pytest.approx(e, abs=1e-12)
    # Swapping the classes and negating the scores swaps FPR and FNR: same crossing.
    assert metrics.equal_error_rate(1 - y, -s) == pytest.approx(e, abs=1e-12)


@pytest.mark.parametrize(
  "reals,fakes,want",
  [
    ([0.1, 0.2], [0.8, 0.9], 0.0),  # separable
    ([0.8, 0.9], [0.1, 0.2], 1.0),  # reversed
    ([0.5], [0.5], 0.5),  # one tie: the diagonal (0, 1) -> (1, 0)
    ([0.5], [0.9, 0.1], 0.5),  # horizontal segment (0, 1/2) -> (1, 1/2)
    ([0.3, 0.5], [0.5, 0.5, 0.9], 2 / 7),  # tie: segment (0, 2/3) -> (1/2, 0)
    ([0.1, 0.6], [0.4, 0.9], 0.5),  # exact hit at the point (1/2, 1/2)
    ([0, 0, 0, 1, 1, 1], [1, 1, 2, 2, 2, 3], 1 / 5),  # ties: (0, 1/3) -> (1/2, 0)
  ],
)
def test_eer_hand_computed(reals, fakes, want):
  y = np.r_[np.zeros(len(reals)), np.ones(len(fakes))]
  s = np.r_[reals, fakes]
  assert metrics.equal_error_rate(y, s) == pytest.approx(want, abs=1e-12)
  assert ref.equal_error_rate(y, s) == pytest.approx(want, abs=1e-12)


def test_eer_where_nearest_point_was_off_by_one_eighth():
  # 8 reals / 32 fakes: 24 fakes on top, 4 reals, 8 fakes, 4 reals. Dropping the intermediate
  # points leaves (FPR, FNR) = (0, 1/4) and (1/2, 1/4) around the crossing; the ROC itself passes
  # through (1/4, 1/4) (2 reals and 8 fakes wrong), which is the EER.
  s = np.r_[
    np.linspace(0.76, 0.99, 24),
    np.linspace(0.6, 0.7, 4),
    np.linspace(0.3, 0.5, 8),
    np.linspace(0.0, 0.2, 4),
  ]
  y = np.r_[np.ones(24), np.zeros(4), np.ones(8), np.zeros(4)]
  assert metrics.equal_error_rate(y, s) == pytest.approx(0.25, abs=1e-12)
  assert ref.equal_error_rate(y, s) == pytest.approx(0.25, abs=1e-12)
  assert _nearest_point_eer(y, s) == pytest.approx(0.125)


def test_eer_degenerate_inputs_are_nan():
  assert math.isnan(metrics.equal_error_rate(np.zeros(3), np.arange(3.0)))
  assert math.isnan(metrics.equal_error_rate(np.ones(3), np.arange(3.0)))
  assert math.isnan(metrics.equal_error_rate(np.zeros(0), np.zeros(0)))
  assert math.isnan(ref.equal_error_rate(np.ones(2), np.arange(2.0)))


def test_binary_metrics_eer_matches_reference():
  for y, s in _random_sets(seed=4, count=50):
    assert metrics.binary_metrics(y, s)["eer"] == pytest.approx(
      ref.equal_error_rate(y, s), abs=1e-9
    )


# --- bootstrap interval of the AUC ---------------------------------------------------------------


def _typical(n: int, seed: int, fake_share: float = 0.8):
  rng = np.random.default_rng(seed)
  y = (rng.random(n) < fake_share).astype(np.int32)
  return y, rng.normal(size=n) + 1.0 * y


def test_vectorized_auc_matches_sklearn_on_resamples():
  rng = np.random.default_rng(5)
  for _ in range(20):
    n_real, n_fake = rng.integers(2, 40, size=2)
    s = np.round(rng.normal(size=n_real + n_fake), 1)  # ties
    values, codes = np.unique(s, return_inverse=True)
    real, fake = codes[:n_real], codes[n_real:]
    rr = real[rng.integers(0, n_real, (3, 4, n_real))]  # a (3, 4) batch of resamples
    ff = fake[rng.integers(0, n_fake, (3, 4, n_fake))]
    got = metrics._auc_of_codes(rr, ff, len(values))
    assert got.shape == (3, 4)
    for i in np.ndindex(3, 4):
      want = skm.roc_auc_score(
        np.r_[np.zeros(n_real), np.ones(n_fake)], values[np.r_[rr[i], ff[i]]]
      )
      assert got[i] == pytest.approx(want, abs=1e-12)
    moved = metrics._auc_of_codes(
      np.moveaxis(rr, -1, 0), np.moveaxis(ff, -1, 0), len(values), axis=0
    )
    np.testing.assert_allclose(moved, got, atol=1e-12)


def test_auc_ci_contains_point_auc_and_is_deterministic():
  for seed in range(5):
    y, s = _typical(300, seed)
    ci = metrics.auc_confidence_interval(y, s)
    auc = skm.roc_auc_score(y, s)
    assert 0.0 <= ci[0] < auc < ci[1] <= 1.0
    assert metrics.auc_confidence_interval(y, s) == ci  # same seed, same interval
    assert metrics.auc_confidence_interval(y, s, seed=1) != ci
    assert metrics.auc_confidence_interval(y, s, seed=1) == pytest.approx(ci, abs=0.03)
  wider = metrics.auc_confidence_interval(y, s, confidence=0.99)
  assert wider[0] < ci[0] and wider[1] > ci[1]


def test_auc_ci_matches_scipy_on_raw_scores():
  # The coded statistic is only a speed-up: same interval as bootstrapping the raw scores.
  y, s = _typical(200, seed=6)

  def auc(real, fake, axis=-1):
    ranks = stats.rankdata(np.concatenate([real, fake], axis=axis), axis=axis)
    n0, n1 = real.shape[axis], fake.shape[axis]
    return (np.take(ranks, np.arange(n0, n0 + n1), axis=axis).sum(axis) - n1 * (n1 + 1) / 2) / (
      n0 * n1
    )

  res = stats.bootstrap(
    (s[y == 0], s[y == 1]),
    auc,
    n_resamples=2000,
    batch=1000,
    vectorized=True,
    method="percentile",
    **{metrics._BOOTSTRAP_SEED_KW: np.random.default_rng(0)},
  )
  want = [res.confidence_interval.low, res.confidence_interval.high]
  assert metrics.auc_confidence_interval(y, s) == pytest.approx(want, abs=1e-12)


def test_auc_ci_narrows_with_more_data():
  widths = []
  for n in (100, 400, 1600):
    lo, hi = metrics.auc_confidence_interval(*_typical(n, seed=7))
    widths.append(hi - lo)
  assert widths[0] > widths[1] > widths[2]
  assert widths[2] < 0.6 * widths[0]


def test_auc_ci_coverage_on_simulated_data():
  # reals ~ N(0, 1), fakes ~ N(1, 1): true AUC = Phi(1 / sqrt(2)).
  true_auc = stats.norm.cdf(1 / math.sqrt(2))
  rng = np.random.default_rng(8)
  reps, hits = 400, 0
  for _ in range(reps):
    y = np.r_[np.zeros(40, np.int32), np.ones(60, np.int32)]
    s = rng.normal(size=100) + y
    lo, hi = metrics.auc_confidence_interval(y, s, n_resamples=500, seed=int(rng.integers(1e6)))
    hits += lo <= true_auc <= hi
  assert 0.9 <= hits / reps <= 0.98, hits / reps  # nominal 0.95; binomial sd 0.011


def test_auc_ci_degenerate_inputs():
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    for y, s in [
      ([0, 0, 0], [0.1, 0.2, 0.3]),
      ([1, 1], [0.1, 0.2]),
      ([], []),
      ([0, 1, 1, 1], [0.1, 0.2, 0.3, 0.4]),
    ]:  # one real: nothing to resample
      ci = metrics.auc_confidence_interval(y, s)
      assert len(ci) == 2 and all(math.isnan(v) for v in ci)
    assert metrics.auc_confidence_interval([0, 0, 1, 1], [0.5] * 4) == [0.5, 0.5]
    assert metrics.auc_confidence_interval([0, 0, 1, 1, 1], [0, 1, 2, 3, 4]) == [1.0, 1.0]


def test_binary_metrics_carries_auc_ci():
  y, s = _typical(1000, seed=9)
  m = metrics.binary_metrics(y, s)
  assert list(m) == [
    "n",
    "n_fake",
    "auc",
    "auc_ci",
    "ap",
    "eer",
    "acc",
    "precision",
    "recall",
    "f1",
  ]
  assert m["auc"] == pytest.approx(skm.roc_auc_score(y, s))
  assert isinstance(m["auc_ci"], list) and all(isinstance(v, float) for v in m["auc_ci"])
  assert m["auc_ci"][0] < m["auc"] < m["auc_ci"][1]
  assert json.loads(json.dumps(m))["auc_ci"] == m["auc_ci"]
  one = metrics.binary_metrics([1, 1, 1], [0.2, 0.7, 0.9])
  assert math.isnan(one["auc"]) and all(math.isnan(v) for v in one["auc_ci"])


def _brute_paired(reals: dict, fakes: list) -> float:
  """Independent definition: loop over (fake, its real) pairs, count 1 / 0.5 / 0 by hand."""
  total, pairs = 0.0, 0
  for key, score in fakes:
    if key not in reals:
      continue
    pairs += 1
    if score > reals[key]:
      total += 1.0
    elif score == reals[key]:
      total += 0.5
  return total / pairs


def test_paired_auc_ignores_an_offset_each_identity_shares():
  """Each person's real and fakes share a score offset: the AUC falls, the paired AUC stays 1."""
  rng = np.random.default_rng(0)
  offsets = rng.uniform(0, 1, 30)
  reals = {f"{i:03d}": float(o) for i, o in enumerate(offsets)}
  fakes = [(f"{i:03d}", float(o + rng.uniform(0.01, 0.2))) for i, o in enumerate(offsets)]
  value, n = metrics.paired_auc(reals, fakes)
  assert (value, n) == (1.0, 30)
  labels = [0] * 30 + [1] * 30
  assert skm.roc_auc_score(labels, list(reals.values()) + [s for _, s in fakes]) < 0.75
  # Ties, a fake below its real, a fake whose real is missing, against the hand count.
  tied = [*fakes[:5], ("000", reals["000"]), ("001", reals["001"] - 0.5), ("999", 9.0)]
  value, n = metrics.paired_auc(reals, tied)
  assert n == 7 and value == pytest.approx(_brute_paired(reals, tied)) == pytest.approx(5.5 / 7)
  assert math.isnan(metrics.paired_auc({}, fakes)[0]) and metrics.paired_auc({}, fakes)[1] == 0


def test_split_report_pairs_each_fake_with_its_own_real_per_method_and_compression():
  """`video_paired_auc` in an eval report: video scores are clip means, fakes meet the real of
  their target_id and compression only, and sources without target ids get no key."""
  from ddf import eval_lib

  rng = np.random.default_rng(1)
  meta, video_index, clip_scores = [], [], []
  for comp in ("c23", "c40"):
    for t in range(6):
      target = f"{t:03d}"
      for method in ("original", "Deepfakes", "Face2Face"):
        label = int(method != "original")
        vid = target if not label else f"{target}_{(t + 1) % 6:03d}"
        meta.append(
          dict(label=label, video_id=vid, method=method, compression=comp, target_id=target)
        )
        meta[-1]["frames_without_face"] = 0
        for _ in range(int(rng.integers(1, 4))):  # 1-3 clips per video
          video_index.append(len(meta) - 1)
          clip_scores.append(float(rng.uniform()))
  video_index, clip_scores = np.asarray(video_index), np.asarray(clip_scores)
  report = eval_lib.split_report(meta, video_index, clip_scores)
  mean = {v: clip_scores[video_index == v].mean() for v in range(len(meta))}

  def expected(keep):
    reals = {
      (m["target_id"], m["compression"]): mean[v]
      for v, m in enumerate(meta)
      if keep(m) and not m["label"]
    }
    fakes = [
      ((m["target_id"], m["compression"]), mean[v])
      for v, m in enumerate(meta)
      if keep(m) and m["label"]
    ]
    return _brute_paired(reals, fakes), len(fakes)

  assert (report["video_paired_auc"], report["video_paired_n"]) == pytest.approx(
    expected(lambda m: True)
  )
  for method in ("Deepfakes", "Face2Face"):
    got = report["per_method"][method]
    want = expected(lambda m, method=method: m["method"] in ("original", method))
    assert (got["video_paired_auc"], got["video_paired_n"]) == pytest.approx(want)
  got = report["per_compression"]["c40"]
  assert (got["video_paired_auc"], got["video_paired_n"]) == pytest.approx(
    expected(lambda m: m["compression"] == "c40")
  )
  unnamed = [{**m, "target_id": ""} for m in meta]
  assert "video_paired_auc" not in eval_lib.split_report(unnamed, video_index, clip_scores)
