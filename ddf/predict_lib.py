"""Scores raw video files with a trained run (the library behind `python -m ddf.predict`).

`Predictor(workdir).predict(path)` runs a video through the same steps as the dataset build and
evaluation: the frames the build would store (`data.sampling`), MTCNN + one face track + aligned
crops (`ddf.faces.FacePipeline` with the config's crop size, margin and min_face_size; JPEG round
trip like the stored frames), the evaluation's fixed clips with faces (`ddf.data.pipeline.ClipRule`)
and the val-selected checkpoint. It returns P(fake) (mean of the clip scores), the clip scores,
the frames with a face and the decision, or an `error` entry naming the file and what to do.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["PredictError", "Predictor", "format_results"]


class Predictor:
  """The val-selected model of a workdir, applied to video files."""

  def __init__(
    self,
    workdir: str | os.PathLike,
    overrides: list[str] | None = None,
    clips_per_video: int | None = None,
  ):
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    from ddf import runs, sharding
    from ddf.data.ffpp_examples import ExampleOptions
    from ddf.data.pipeline import ClipRule
    from ddf.faces import FacePipeline

    self.workdir = Path(workdir).expanduser()
    self.config = runs.load_config(self.workdir, overrides)
    restored = runs.restore(self.config, self.workdir)
    self.step = restored.step
    data = self.config.data
    self.frames_per_video = int(data.frames_per_video)
    self.clip_len = int(data.clip_len)
    self.clips_per_video = int(clips_per_video or data.clips_per_video_eval)
    self.rule = dataclasses.replace(
      ClipRule.from_config(data), clips_per_video=self.clips_per_video
    )
    # Frames sampled and faces found exactly as the dataset build did for the training data.
    self.sampling = ExampleOptions(
      frames_per_video=self.frames_per_video,
      crop_size=int(data.crop_size),
      margin=float(data.get("margin", 1.3)),
      min_face_size=int(data.get("min_face_size", 40)),
      sampling=data.get("sampling", "uniform"),
      num_windows=int(data.get("num_windows", 1)),
      detect_every=int(data.get("detect_every", 1)),
    )
    self.faces = FacePipeline(
      crop_size=self.sampling.crop_size,
      margin=self.sampling.margin,
      min_face_size=self.sampling.min_face_size,
      detect_every=self.sampling.detect_every,
    )
    mesh, rules, model, state = restored.mesh, restored.rules, restored.model, restored.state
    self._batch_sharding = sharding.batch_sharding(mesh, rules)
    self._shards = len(self._batch_sharding.device_set)
    self._variables = {"params": state.params, "batch_stats": state.batch_stats}

    def apply(variables, clips):
      logits, aux = model.apply(variables, clips, train=False)
      return jax.nn.sigmoid(logits.astype(jnp.float32)), aux

    jitted = jax.jit(apply)

    def run(clips: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
      n = len(clips)
      pad = (-n) % self._shards
      if pad:
        clips = np.concatenate([clips, np.zeros((pad,) + clips.shape[1:], clips.dtype)])
      with jax.set_mesh(mesh), nn.logical_axis_rules(rules):
        probs, aux = jitted(self._variables, jax.device_put(clips, self._batch_sharding))
      return np.asarray(probs)[:n], {k: np.asarray(v)[:n] for k, v in aux.items()}

    self._run = run
    self._viz_names: set[str] = set()

  def faces_of(self, path: str | os.PathLike) -> dict[str, Any]:
    """Reads and aligns one video; raises `PredictError` for a file that cannot be scored."""
    from ddf.data import storage
    from ddf.data.ffpp_examples import MIN_FACE_FRACTION, decode_jpeg, encode_jpeg
    from ddf.data.video import VideoError, read_frames

    name = os.fspath(path)
    if not storage.exists(name):  # a local file or a bucket URL (gs://, s3://)
      raise PredictError("not_found", f"{name}: file not found; check the path.")
    try:
      video = read_frames(name, sampler=self.sampling.indices)
    except VideoError as e:
      raise PredictError("unreadable", str(e)) from e
    except Exception as e:  # noqa: BLE001 - a decoder failure is this file's error only.
      raise PredictError(
        "unreadable",
        f"{name}: cannot decode ({type(e).__name__}: {e}); "
        "re-encode it, e.g. `ffmpeg -i in -c:v libx264 out.mp4`.",
      ) from e
    if video.total_frames < self.clip_len:
      raise PredictError(
        "too_short",
        f"{name}: only {video.total_frames} frames decoded, fewer than the "
        f"{self.clip_len} frames of one clip; use a longer video (the model samples "
        f"{self.frames_per_video} frames per video).",
      )
    track = self.faces(video.frames, video.indices)
    found = np.asarray(track.face_found, bool)
    if found.mean() < MIN_FACE_FRACTION:
      raise PredictError(
        "no_face",
        f"{name}: a face was found in {int(found.sum())} of {len(found)} sampled "
        f"frames (at least {MIN_FACE_FRACTION:.0%} needed); use a video with a visible face "
        f"(at least {self.sampling.min_face_size} pixels wide), or crop it closer to the face.",
      )
    # The JPEG round trip of the stored training frames.
    crops = np.stack([decode_jpeg(encode_jpeg(c, 95)) for c in track.crops])
    entry = {"frame_indices": video.indices, "face_found": found}
    starts = self.rule.eval_starts(entry)
    if not len(starts):
      raise PredictError(
        "no_face" if found.mean() < 1 else "too_short",
        f"{name}: {self.rule.unusable_reason(entry)}.",
      )
    return {"crops": crops, "face_found": found, "video": video, "starts": starts}

  def predict(
    self, path: str | os.PathLike, threshold: float = 0.5, viz_dir: str | os.PathLike | None = None
  ) -> dict[str, Any]:
    """Result entry for one file: scores, or `error` (never raises for a bad file)."""
    name = os.fspath(path)
    try:
      faces = self.faces_of(name)
    except PredictError as e:
      return {"file": name, "error": e.message, "error_kind": e.kind}
    crops, found, video, starts = (
      faces["crops"],
      faces["face_found"],
      faces["video"],
      faces["starts"],
    )
    clips = np.stack([crops[s : s + self.clip_len] for s in starts])
    probs, aux = self._run(clips)
    prob = float(np.mean(probs))
    entry: dict[str, Any] = {
      "file": name,
      "probability_fake": prob,
      "fake": bool(prob >= threshold),
      "decision": "fake" if prob >= threshold else "real",
      "clip_scores": [float(p) for p in probs],
      "clip_starts": [int(s) for s in starts],
      "clip_first_frames": [int(video.indices[s]) for s in starts],
      "frames_sampled": len(crops),
      "frames_with_face": int(found.sum()),
      "frame_indices": [int(i) for i in video.indices],
      "total_frames": video.total_frames,
      "warnings": [],
    }
    if video.short:
      entry["warnings"].append(f"only {video.total_frames} frames: sampled frames repeat")
    if viz_dir is not None:
      entry["viz"] = str(
        self._figure(name, entry, crops, found, starts, probs, aux, viz_dir, threshold)
      )
    return entry

  def _figure(
    self,
    name: str,
    entry: dict[str, Any],
    crops: np.ndarray,
    found: np.ndarray,
    starts: np.ndarray,
    probs: np.ndarray,
    aux: dict[str, np.ndarray],
    viz_dir: str | os.PathLike,
    threshold: float,
  ) -> Path:
    from ddf import plots

    t = len(crops)
    per_frame = {}
    for key, value in aux.items():
      if key == "fusion_attention":
        continue
      value = value.reshape(value.shape[:2] + tuple(d for d in value.shape[2:] if d != 1))
      per_frame[key] = plots.frame_values(t, starts, self.clip_len, value)
    scores = plots.frame_values(t, starts, self.clip_len, probs)
    title = (
      f"{Path(name).name}: P(fake) = {entry['probability_fake']:.3f} -> {entry['decision']}  "
      f"({entry['frames_with_face']}/{t} frames with a face, step {self.step})"
    )
    stem = Path(name).stem
    if stem in self._viz_names:  # e.g. 000_003.mp4 of two methods: add the parent folders.
      stem = "_".join([*Path(name).parent.parts[-3:], stem]).replace(os.sep, "_")
    while stem in self._viz_names:
      stem += "_"
    self._viz_names.add(stem)
    out = Path(viz_dir) / f"{stem}.png"
    return plots.prediction_figure(
      out,
      crops,
      scores,
      per_frame,
      title,
      face_found=found,
      frame_indices=entry["frame_indices"],
      threshold=threshold,
    )


class PredictError(Exception):
  """A video that cannot be scored: kind (not_found | unreadable | too_short | no_face), message."""

  def __init__(self, kind: str, message: str):
    super().__init__(message)
    self.kind = kind
    self.message = message


def format_results(results: list[dict[str, Any]], threshold: float) -> str:
  """A markdown table of the results (errors on their own lines)."""
  lines = [
    f"| video | P(fake) | decision (>= {threshold:g}) | clip scores | frames with face |",
    "|---|---|---|---|---|",
  ]
  for r in results:
    if "error" in r:
      lines.append(f"| {Path(r['file']).name} | - | ERROR ({r['error_kind']}) | - | - |")
    else:
      clips = " ".join(f"{s:.3f}" for s in r["clip_scores"])
      lines.append(
        f"| {Path(r['file']).name} | {r['probability_fake']:.4f} | {r['decision']} | "
        f"{clips} | {r['frames_with_face']}/{r['frames_sampled']} |"
      )
  errors = [f"error: {r['error']}" for r in results if "error" in r]
  return "\n".join(lines + ([""] + errors if errors else []))
