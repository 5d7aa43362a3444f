"""Figures (matplotlib, Agg backend): ROC curves of an eval report, attention of a prediction.

`roc_figure(report, path)` draws the video-level ROC overall and per manipulation method (that
method's fakes vs all reals) from the `videos` list of an eval report (`ddf.eval_lib`).
`prediction_figure(path, ...)` draws, for one video, a strip of face crops titled with their video
frame index and P(fake), the spatial attention heatmaps over them (with a colour bar), and P(fake)
and temporal attention per frame on axes of their own; `build_prediction_figure(...)` returns that
figure without saving it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import cm, colors, ticker  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from sklearn import metrics as skm  # noqa: E402

__all__ = [
  "roc_curves",
  "roc_figure",
  "frame_values",
  "build_prediction_figure",
  "prediction_figure",
  "save_figure",
]


def save_figure(fig: plt.Figure, path: str | os.PathLike) -> Path:
  """Lays out, writes (creating the folder) and closes `fig`; returns the path."""
  if fig.get_layout_engine() is None:
    fig.tight_layout()
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fig.savefig(path)
  plt.close(fig)
  return path


def roc_curves(report: Mapping[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
  """{'all' | method: (fpr, tpr, auc)} at video level; groups with one class are left out."""
  videos = report["videos"]
  labels = np.array([v["label"] for v in videos], np.int32)
  scores = np.array([v["score"] for v in videos], np.float64)
  methods = np.array([v["method"] for v in videos])
  groups = {"all": np.ones(len(videos), bool)}
  for m in sorted({v["method"] for v in videos if v["label"] == 1}):
    groups[m] = (labels == 0) | (methods == m)
  out = {}
  for name, keep in groups.items():
    if len(np.unique(labels[keep])) < 2:
      continue
    fpr, tpr, _ = skm.roc_curve(labels[keep], scores[keep])
    out[name] = (fpr, tpr, float(skm.roc_auc_score(labels[keep], scores[keep])))
  return out


def roc_figure(
  report: Mapping[str, Any], path: str | os.PathLike, title: str | None = None
) -> Path:
  """Writes the video-level ROC curves (overall + per method) of an eval report as a PNG."""
  curves = roc_curves(report)
  fig, ax = plt.subplots(figsize=(4.2, 4.0), dpi=90)
  ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls="--")
  for name, (fpr, tpr, auc) in curves.items():
    ax.plot(
      fpr,
      tpr,
      lw=2.2 if name == "all" else 1.2,
      label=f"{name} (AUC {auc:.3f})",
      color="black" if name == "all" else None,
    )
  if not curves:
    ax.text(0.5, 0.5, "one class only: no ROC", ha="center", va="center")
  ax.set_xlim(0, 1)
  ax.set_ylim(0, 1.01)
  ax.set_xlabel("false positive rate")
  ax.set_ylabel("true positive rate")
  ax.set_title(
    title or f"{report.get('dataset', '')} {report.get('split', '')} (video level)", fontsize=9
  )
  ax.legend(loc="lower right", fontsize=7)
  return save_figure(fig, path)


def frame_values(
  num_frames: int, starts: Sequence[int], clip_len: int, per_clip: np.ndarray
) -> np.ndarray:
  """Per-frame mean of clip values over the clips covering each frame.

  per_clip: [C] (one value per clip) or [C, clip_len, ...] (one per clip frame). Frames no clip
  covers are NaN.
  """
  per_clip = np.asarray(per_clip, np.float64)
  tail = per_clip.shape[2:] if per_clip.ndim > 1 else ()
  total = np.zeros((num_frames,) + tail)
  count = np.zeros((num_frames,))
  for c, s in enumerate(starts):
    for k in range(clip_len):
      total[s + k] += per_clip[c] if per_clip.ndim == 1 else per_clip[c, k]
      count[s + k] += 1
  with np.errstate(invalid="ignore"):
    return total / count.reshape((-1,) + (1,) * len(tail))


# Readable names of the attention outputs of `FusionDetector` (`ddf.models.detector`).
_MAP_ROWS = {
  "spatial_attention": "spatial branch",
  "micro_spatial_attention": "micro-expression\nbranch",
}
_CURVES = {
  "temporal_attention": "temporal branch",
  "micro_temporal_attention": "micro-expression temporal branch",
}
HEATMAP_LABEL = "spatial attention weight\n(where the model looked;\nnot a manipulation mask)"
HEATMAP_CMAP = "inferno"


def _overlay(
  ax, crop: np.ndarray, heat: np.ndarray | None, norm: Any = None, cmap: str = HEATMAP_CMAP
) -> Any:
  """Draws `crop` (and `heat` over it, stretched to the crop); returns the heatmap image."""
  ax.imshow(crop)
  image = None
  if heat is not None and np.all(np.isfinite(heat)):
    s = crop.shape[0]
    image = ax.imshow(
      heat,
      cmap=cmap,
      norm=norm,
      alpha=0.5,
      extent=(-0.5, s - 0.5, s - 0.5, -0.5),
      interpolation="bilinear",
    )
  ax.set_xticks([])
  ax.set_yticks([])
  return image


def _bar_width(x: np.ndarray) -> float:
  gaps = np.diff(np.unique(x))
  return 0.8 * float(gaps.min()) if len(gaps) else 0.8


def build_prediction_figure(
  crops: np.ndarray,
  frame_scores: np.ndarray,
  aux: Mapping[str, np.ndarray],
  title: str,
  face_found: np.ndarray | None = None,
  max_frames: int = 8,
  *,
  frame_indices: Sequence[int] | None = None,
  threshold: float | None = None,
) -> Figure:
  """One video as a matplotlib Figure (see `prediction_figure`, which also saves it).

  Rows: the face crops of up to `max_frames` evenly spaced sampled frames, titled with their
  video frame index and P(fake); the spatial attention maps over those crops (one row per branch,
  one colour bar); P(fake) per sampled frame; temporal attention per sampled frame. The two
  curves have their own axes, with the video frame index on x.

  Args:
    crops: [T, S, S, 3] uint8 aligned face crops of the sampled frames.
    frame_scores: [T] P(fake) per frame (mean of the scores of the clips covering it; NaN where
      no clip covers the frame).
    aux: per-frame attention, already mapped to frames: `temporal_attention` [T],
      `micro_temporal_attention` [T], `spatial_attention` [T, h, w],
      `micro_spatial_attention` [T, h', w'] (any subset).
    title: figure title (file name, probability, decision).
    face_found: [T] bool; frames without a face are marked in red.
    max_frames: at most this many frames are drawn (evenly spaced) in the image rows.
    frame_indices: [T] index in the video of each sampled frame (default 0..T-1).
    threshold: decision threshold, drawn on the P(fake) axes when given.
  """
  t = len(crops)
  frame_scores = np.asarray(frame_scores, np.float64)
  x = np.arange(t) if frame_indices is None else np.asarray(frame_indices, np.int64)
  if x.shape != (t,) or frame_scores.shape != (t,):
    raise ValueError(f"{t} crops but {len(frame_scores)} scores and {len(x)} frame indices")
  shown = np.unique(np.linspace(0, t - 1, min(t, max_frames)).round().astype(int))
  maps = [k for k in _MAP_ROWS if k in aux]
  curves = [k for k in _CURVES if k in aux]
  n = len(shown)
  rows = 1 + len(maps)
  plot_rows = 1 + bool(curves)
  width = max(13.0, 1.75 * n + 3.0)
  thumb = min((width - 3.0) / n, 2.4)  # thumbnail height, inches
  # Not registered with pyplot: nothing to close when the figure is only inspected.
  fig = Figure(
    figsize=(width, rows * (thumb + 0.45) + plot_rows * 2.6 + 0.8), dpi=100, layout="constrained"
  )
  grid = fig.add_gridspec(
    rows + plot_rows, n, height_ratios=[thumb + 0.45] * rows + [2.6] * plot_rows
  )

  # Face crops, titled with the real frame index and that frame's P(fake).
  no_face = np.zeros(t, bool) if face_found is None else ~np.asarray(face_found, bool)
  for j, i in enumerate(shown):
    ax = fig.add_subplot(grid[0, j])
    _overlay(ax, crops[i], None)
    score = f"{frame_scores[i]:.2f}" if np.isfinite(frame_scores[i]) else "n/a"
    ax.set_title(
      f"frame {x[i]}\nP(fake) {score}" + ("\nno face found" if no_face[i] else ""),
      fontsize=11,
      color="red" if no_face[i] else "black",
    )
    if j == 0:
      ax.set_ylabel("face crop", fontsize=11)

  # Spatial attention over the crops: one colour scale for all maps, one colour bar.
  heats = [np.asarray(aux[k][i], np.float64) for k in maps for i in shown]
  finite = [h for h in heats if np.all(np.isfinite(h))]
  lo = min((float(h.min()) for h in finite), default=0.0)
  hi = max((float(h.max()) for h in finite), default=1.0)
  if hi - lo < 1e-6:
    lo, hi = lo - 0.05, hi + 0.05
  norm = colors.Normalize(lo, hi)
  heat_axes = []
  for r, key in enumerate(maps, start=1):
    for j, i in enumerate(shown):
      ax = fig.add_subplot(grid[r, j])
      _overlay(ax, crops[i], np.asarray(aux[key][i]), norm, HEATMAP_CMAP)
      heat_axes.append(ax)
      if j == 0:
        ax.set_ylabel(f"{_MAP_ROWS[key]}\nattention", fontsize=11)
  if maps:
    bar = fig.colorbar(
      cm.ScalarMappable(norm, HEATMAP_CMAP),
      ax=heat_axes,
      fraction=0.025,
      pad=0.01,
      aspect=12 * len(maps),
    )
    bar.set_label(HEATMAP_LABEL, fontsize=10)
    bar.ax.tick_params(labelsize=9)

  # P(fake) per sampled frame, on its own axes.
  ax = fig.add_subplot(grid[rows, :n])
  ax.plot(x, frame_scores, "k.-", lw=1.5, ms=7, label="P(fake) of the frame")
  if threshold is not None:
    ax.axhline(
      threshold, color="tab:red", ls="--", lw=1.2, label=f"decision threshold {threshold:g}"
    )
  if no_face.any():
    ax.plot(
      x[no_face], np.zeros(int(no_face.sum())), "x", color="red", ms=9, mew=2, label="no face found"
    )
  if len(shown) < t:
    ax.plot(
      x[shown],
      frame_scores[shown],
      "o",
      mfc="none",
      mec="tab:blue",
      ms=11,
      mew=1.5,
      label="frame shown above",
    )
  ax.set_ylim(-0.03, 1.03)
  ax.set_ylabel("P(fake)", fontsize=11)
  ax.set_xlabel("video frame index", fontsize=11)
  ax.set_title("P(fake) per sampled frame (mean over the clips covering the frame)", fontsize=11)
  ax.grid(alpha=0.3)
  ax.tick_params(labelsize=10)
  ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True, min_n_ticks=1))
  ax.legend(loc="best", fontsize=9, framealpha=0.85, ncol=2)
  pad = _bar_width(x)
  ax.set_xlim(x.min() - pad, x.max() + pad)

  # Temporal attention per sampled frame, on its own axes.
  if curves:
    ax2 = fig.add_subplot(grid[rows + 1, :n], sharex=ax)
    w = _bar_width(x) / len(curves)
    for k, key in enumerate(curves):
      ax2.bar(
        x - 0.5 * w * len(curves) + w * (k + 0.5),
        np.asarray(aux[key], np.float64),
        width=w,
        alpha=0.8,
        label=_CURVES[key],
      )
    ax2.set_ylabel("temporal attention\nweight", fontsize=11)
    ax2.set_xlabel("video frame index", fontsize=11)
    ax2.set_title(
      "temporal attention per sampled frame (softmax over the frames of a clip, "
      "mean over the clips covering the frame)",
      fontsize=11,
    )
    ax2.grid(alpha=0.3, axis="y")
    ax2.tick_params(labelsize=10)
    ax2.legend(loc="best", fontsize=9, framealpha=0.85)
  fig.suptitle(title, fontsize=13)
  return fig


def prediction_figure(path: str | os.PathLike, *args: Any, **kwargs: Any) -> Path:
  """Writes `build_prediction_figure(*args, **kwargs)` as a PNG at `path`."""
  return save_figure(build_prediction_figure(*args, **kwargs), path)
