"""Face vs. surroundings high-pass energy, for the `ddf.sbi_highpass` command (its docstring)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ddf.baselines_lib import face_box, laplacian_and_gradient, luma

INSET = 6  # pixels between the face box's edge and the region measured inside it


def face_ring_log_ratio(clip: np.ndarray, margin: float, inset: int = INSET) -> float:
  """Clip [T, S, S, 3] uint8 RGB -> log(mean squared luma Laplacian inside the face box, `inset`
  pixels in from its edge) - log(the same outside the face box)."""
  lap, _ = laplacian_and_gradient(luma(np.asarray(clip)))  # [T, S, S]
  size = lap.shape[-1]
  lo, hi = face_box(size, margin)
  if not 0 < lo < hi - 2 * inset < size:
    raise ValueError(f"crop {size} with margin {margin} leaves no face region or no ring")
  ring = np.ones([size, size], bool)
  ring[lo:hi, lo:hi] = False
  energy = lap**2
  inner = energy[:, lo + inset : hi - inset, lo + inset : hi - inset].mean()
  return float(np.log(inner + 1e-6) - np.log(energy[:, ring].mean() + 1e-6))


def measure(config, split: str, blends: int) -> dict[str, list[float]]:
  """{group: per-clip `face_ring_log_ratio`} for reals, each fake method and the self-blends."""
  from ddf.data import build_lib, pipeline, sbi

  builder = build_lib.builder_from_config(config.data, prepare=True)
  rule = pipeline.ClipRule.from_config(config.data)
  margin = float(config.data.get("margin", 1.3))
  source = pipeline.RecordSource(builder, split)
  rng = np.random.default_rng(0)
  groups: dict[str, list[float]] = defaultdict(list)
  for i, entry in enumerate(source.index()):
    starts = rule.eval_starts(entry)
    if not len(starts):
      continue
    record, start = source[i], int(starts[0])
    clip = pipeline.clip_inputs(record, start, rule.clip_len)["clips"]
    groups["real" if entry["label"] == 0 else entry["method"]].append(
      face_ring_log_ratio(clip, margin)
    )
    if entry["label"] != 0:
      continue
    landmarks = np.asarray(record["landmarks"]).reshape(-1, 5, 2)[start : start + rule.clip_len]
    for _ in range(blends):
      seed = int(rng.integers(1 << 31))
      kind = (
        "blurred" if sbi.SelfBlend(np.random.default_rng(seed), clip.shape[1]).blur else "sharpened"
      )
      for warp in sbi.WARPS:
        for frequency in (0.0, 1.0):
          blend = sbi.SelfBlend(np.random.default_rng(seed), clip.shape[1], frequency, warp)
          name = f"self-blend, {warp}, {kind if frequency else 'frequency 0'}"
          groups[name].append(face_ring_log_ratio(blend(clip, landmarks), margin))
  return dict(groups)


def table(groups: dict[str, list[float]], split: str) -> str:
  """`measure`'s groups as a markdown table: n, mean ± std and the mean minus the reals'."""
  if "real" not in groups:
    raise ValueError(f"no real video with an evaluation clip in split {split!r}")
  real = float(np.mean(groups["real"]))
  lines = [
    f"Face vs. surroundings high-pass energy, log ratio ({split}, first clip per video)",
    "| clips | n | mean ± std | mean - reals' |",
    "|---|---|---|---|",
  ]
  for name in ["real", *sorted(k for k in groups if k != "real")]:
    v = np.asarray(groups[name])
    lines.append(
      f"| {name} | {len(v)} | {v.mean():+.3f} ± {v.std():.3f} | {v.mean() - real:+.3f} |"
    )
  return "\n".join(lines)
