"""Figures (matplotlib, Agg backend): ROC curves of an eval report, attention of a prediction.

`roc_figure(report, path)` draws the video-level ROC overall and per manipulation method (that
method's fakes vs all reals) from the `videos` list of an eval report (`ddf.eval_lib`).
`prediction_figure(...)` draws, for one video, a strip of frames with their scores, the temporal
attention over the frames and the spatial attention heatmaps over the face crops.
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
from sklearn import metrics as skm  # noqa: E402

__all__ = ["roc_curves", "roc_figure", "frame_values", "prediction_figure"]


def _save(fig: plt.Figure, path: str | os.PathLike) -> Path:
  """Lays out, writes (creating the folder) and closes `fig`; returns the path."""
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


def roc_figure(report: Mapping[str, Any], path: str | os.PathLike, title: str | None = None) -> Path:
  """Writes the video-level ROC curves (overall + per method) of an eval report as a PNG."""
  curves = roc_curves(report)
  fig, ax = plt.subplots(figsize=(4.2, 4.0), dpi=90)
  ax.plot([0, 1], [0, 1], color="0.7", lw=0.8, ls="--")
  for name, (fpr, tpr, auc) in curves.items():
    ax.plot(fpr, tpr, lw=2.2 if name == "all" else 1.2, label=f"{name} (AUC {auc:.3f})",
            color="black" if name == "all" else None)
  if not curves:
    ax.text(0.5, 0.5, "one class only: no ROC", ha="center", va="center")
  ax.set_xlim(0, 1)
  ax.set_ylim(0, 1.01)
  ax.set_xlabel("false positive rate")
  ax.set_ylabel("true positive rate")
  ax.set_title(title or f"{report.get('dataset', '')} {report.get('split', '')} (video level)",
               fontsize=9)
  ax.legend(loc="lower right", fontsize=7)
  return _save(fig, path)


def frame_values(num_frames: int, starts: Sequence[int], clip_len: int,
                 per_clip: np.ndarray) -> np.ndarray:
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


def _overlay(ax, crop: np.ndarray, heat: np.ndarray | None) -> None:
  ax.imshow(crop)
  if heat is not None and np.all(np.isfinite(heat)):
    s = crop.shape[0]
    ax.imshow(heat, cmap="jet", alpha=0.45, extent=(-0.5, s - 0.5, s - 0.5, -0.5),
              interpolation="bilinear")
  ax.set_xticks([])
  ax.set_yticks([])


def prediction_figure(path: str | os.PathLike, crops: np.ndarray, frame_scores: np.ndarray,
                      aux: Mapping[str, np.ndarray], title: str, face_found: np.ndarray | None = None,
                      max_frames: int = 8) -> Path:
  """One video: frames with their scores, temporal attention, spatial attention heatmaps.

  Args:
    path: PNG to write.
    crops: [T, S, S, 3] uint8 aligned face crops of the sampled frames.
    frame_scores: [T] P(fake) per frame (mean of the scores of the clips covering it).
    aux: per-frame attention, already mapped to frames: `temporal_attention` [T],
      `micro_temporal_attention` [T], `spatial_attention` [T, h, w],
      `micro_spatial_attention` [T, h', w'] (any subset).
    title: figure title (file name, probability, decision).
    face_found: [T] bool; frames without a face get a red label.
    max_frames: at most this many frames are drawn (evenly spaced) in the image rows.
  """
  t = len(crops)
  shown = np.unique(np.linspace(0, t - 1, min(t, max_frames)).round().astype(int))
  maps = [k for k in ("spatial_attention", "micro_spatial_attention") if k in aux]
  curves = [k for k in ("temporal_attention", "micro_temporal_attention") if k in aux]
  rows = 1 + len(maps)
  n = len(shown)
  fig = plt.figure(figsize=(1.25 * n + 0.6, 1.3 * rows + 1.9), dpi=72)
  grid = fig.add_gridspec(rows + 1, n, height_ratios=[1.0] * rows + [1.35])
  for j, i in enumerate(shown):
    ax = fig.add_subplot(grid[0, j])
    _overlay(ax, crops[i], None)
    no_face = face_found is not None and not bool(face_found[i])
    label = f"#{i}  {frame_scores[i]:.2f}" if np.isfinite(frame_scores[i]) else f"#{i}  -"
    ax.set_title(label + ("\nno face" if no_face else ""), fontsize=7,
                 color="red" if no_face else "black")
    for r, key in enumerate(maps, start=1):
      ax = fig.add_subplot(grid[r, j])
      _overlay(ax, crops[i], np.asarray(aux[key][i]))
      if j == 0:
        ax.set_ylabel(key.replace("_attention", "").replace("_", " "), fontsize=7)
  ax = fig.add_subplot(grid[rows, :])
  x = np.arange(t)
  ax.plot(x, frame_scores, "k.-", lw=1.2, label="P(fake) per frame")
  ax.set_ylim(-0.02, 1.02)
  ax.set_xlim(-0.5, t - 0.5)
  ax.set_xlabel("frame", fontsize=7)
  ax.tick_params(labelsize=6)
  if curves:
    ax2 = ax.twinx()
    width = 0.8 / len(curves)
    for k, key in enumerate(curves):
      ax2.bar(x - 0.4 + width * (k + 0.5), np.asarray(aux[key], np.float64), width=width,
              alpha=0.45, label=key.replace("_", " "))
    ax2.set_ylabel("attention", fontsize=7)
    ax2.tick_params(labelsize=6)
    ax2.legend(loc="lower right", fontsize=6, framealpha=0.6)
    ax.set_zorder(ax2.get_zorder() + 1)  # the score line above the attention bars.
    ax.patch.set_visible(False)
  ax.legend(loc="lower left", fontsize=6, framealpha=0.6)
  fig.suptitle(title, fontsize=8)
  return _save(fig, path)
