"""Tests for the figures of ddf.plots (Agg backend, random inputs)."""

import numpy as np
import pytest

from ddf import plots

T = 12


@pytest.fixture()
def inputs():
  rng = np.random.default_rng(0)
  scores = rng.uniform(size=T)
  scores[-1] = np.nan  # a frame no clip covers
  aux = {
    "spatial_attention": rng.uniform(size=(T, 7, 7)),
    "micro_spatial_attention": rng.uniform(size=(T, 14, 14)),
    "temporal_attention": rng.dirichlet(np.ones(T)),
    "micro_temporal_attention": rng.dirichlet(np.ones(T)),
  }
  found = np.ones(T, bool)
  found[4] = False
  crops = rng.integers(0, 256, (T, 32, 32, 3), dtype=np.uint8)
  return crops, scores, aux, found


def test_prediction_figure_is_labelled(inputs, tmp_path):
  crops, scores, aux, found = inputs
  indices = np.arange(T) * 25 + 12  # real video frame indices of the sampled frames
  fig = plots.build_prediction_figure(
    crops,
    scores,
    aux,
    "video.mp4: P(fake) 0.5",
    found,
    max_frames=6,
    frame_indices=indices,
    threshold=0.5,
  )
  titles = [ax.get_title() for ax in fig.axes if ax.get_title().startswith("frame ")]
  shown = np.unique(np.linspace(0, T - 1, 6).round().astype(int))
  assert titles == [
    f"frame {indices[i]}\nP(fake) "
    + (f"{scores[i]:.2f}" if i < T - 1 else "n/a")
    + ("\nno face found" if i == 4 else "")
    for i in shown
  ]
  bars = [
    ax for ax in fig.axes if "attention" in ax.get_ylabel() and ax.get_label() == "<colorbar>"
  ]
  assert len(bars) == 1 and "not a manipulation mask" in bars[0].get_ylabel()
  score_ax = [ax for ax in fig.axes if ax.get_ylabel() == "P(fake)"]
  att_ax = [ax for ax in fig.axes if ax.get_ylabel().startswith("temporal attention")]
  assert len(score_ax) == 1 and len(att_ax) == 1 and score_ax[0] is not att_ax[0]
  for ax in score_ax + att_ax:
    assert ax.get_xlabel() == "video frame index" and ax.get_legend() is not None
  np.testing.assert_array_equal(score_ax[0].lines[0].get_xdata(), indices)  # x = frame index
  lo, hi = score_ax[0].get_xlim()
  assert lo < indices[0] and hi > indices[-1]
  heat_rows = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel().endswith("\nattention")]
  assert heat_rows == ["spatial branch\nattention", "micro-expression\nbranch\nattention"]
  width, height = fig.get_size_inches()
  assert width >= 12 and height >= 8 and fig.get_dpi() >= 100
  path = plots.save_figure(fig, tmp_path / "viz" / "video.png")
  assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_prediction_figure_old_call_still_works(inputs, tmp_path):
  crops, scores, aux, found = inputs
  path = plots.prediction_figure(tmp_path / "a.png", crops, scores, aux, "title", face_found=found)
  assert path.read_bytes()[:4] == b"\x89PNG"
  fig = plots.build_prediction_figure(crops[:1], scores[:1], {}, "one frame, no attention")
  assert [ax.get_title() for ax in fig.axes][0] == f"frame 0\nP(fake) {scores[0]:.2f}"
  assert len(fig.axes) == 2  # one crop, the P(fake) axes; no empty attention axes
  with pytest.raises(ValueError, match="frame indices"):
    plots.build_prediction_figure(crops, scores, aux, "t", frame_indices=[0, 1])
