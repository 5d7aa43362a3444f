"""FusionDetector: spatial + temporal + micro-expression branches, fused, -> one logit per clip.

Variable tree (top-level submodule names, in `params` / `batch_stats`):
  backbone                spatial backbone (`ddf.models.backbones`; Keras layer names inside)
  spatial_attention       SpatialAttention on the backbone maps
  temporal                BiLSTM over per-frame spatial vectors; temporal_attention
  micro_encoder           MicroFrameEncoder (cnn, spatial_attention, dense_k)
  micro_temporal          MicroTemporal (bilstm, self_attention, dense_k, temporal_attention)
  fusion_norm_{branch}    per-branch LayerNorm of the context vectors (fusion_norm only)
  fusion_proj_{branch}, fusion_score   (fusion='attention' only)
  head_{k}, logit         head
Pretrained backbone weights go to `params['backbone']` / `batch_stats['backbone']`
(`ddf.weights_lib.merge_pretrained`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from ddf.models import layers
from ddf.models.attention import SpatialAttention, TemporalAttention
from ddf.models.backbones import get_backbone
from ddf.models.lstm import BiLSTM
from ddf.models.micro import MicroFrameEncoder, MicroTemporal, to_micro_input

BRANCHES = ("spatial", "temporal", "micro", "micro_temporal")
# Per-frame inputs a frozen-backbone detector can take precomputed (see `frame_features`).
FEATURE_INPUTS = ("backbone_maps", "micro_inputs")


def _resize(frames: jnp.ndarray, size: int) -> jnp.ndarray:
  """[N, H, W, C] -> [N, size, size, C] (bilinear, antialiased); identity if already sized."""
  n, h, w, c = frames.shape
  if (h, w) == (size, size):
    return frames
  return jax.image.resize(frames, (n, size, size, c), method="bilinear")


def laplacian_residual(frames: jnp.ndarray, gain: float = 2.0) -> jnp.ndarray:
  """[N, H, W, C] in [0, 255] -> per-channel 3x3 Laplacian (4-neighbour) high-pass, times `gain`,
  centred on 127.5: [N, H, W, C]. Flat and linear regions map to 127.5; edges zero-padded."""
  c = frames.shape[-1]
  kernel = jnp.array([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], frames.dtype)
  kernel = jnp.tile(kernel[:, :, None, None], (1, 1, 1, c))  # HWIO, one filter per channel
  lap = jax.lax.conv_general_dilated(
    frames,
    kernel,
    (1, 1),
    "SAME",
    dimension_numbers=("NHWC", "HWIO", "NHWC"),
    feature_group_count=c,
  )
  return 127.5 + gain * lap


def scale_free_residual(frames: jnp.ndarray, target_std: float = 32.0) -> jnp.ndarray:
  """[N, H, W, C] in [0, 255] -> the Laplacian residual divided by its RMS over each frame's
  interior (H and W without the one-pixel border, whose zero padding would dominate it; and C),
  times `target_std`, centred on 127.5: [N, H, W, C]. The video's overall noise and sharpness
  level cancels; what is left is how each region's high-pass energy compares with the rest of
  the crop (a face noisier or smoother than its surroundings)."""
  lap = laplacian_residual(frames, gain=1.0) - 127.5
  interior = lap[:, 1:-1, 1:-1]
  rms = jnp.sqrt(jnp.mean(jnp.square(interior), axis=(1, 2, 3), keepdims=True))
  return 127.5 + target_std * lap / (rms + 1e-3)


def backbone_frames(frames: jnp.ndarray, spatial: SpatialConfig) -> jnp.ndarray:
  """Float RGB frames [N, H, W, 3] in [0, 255] -> the backbone's input [N, S, S, 3]
  (S = `spatial.image_size`): resized, then, with `spatial.highpass`, their Laplacian residual
  (`highpass_norm`: divided by its RMS over each frame, `scale_free_residual`)."""
  frames = _resize(frames, spatial.image_size)
  if spatial.highpass_norm:
    return scale_free_residual(frames)
  return laplacian_residual(frames) if spatial.highpass else frames


def micro_frames(frames: jnp.ndarray, size: int) -> jnp.ndarray:
  """Float RGB frames [N, H, W, 3] in [0, 255] -> micro-CNN input [N, size, size, 1] in [0, 1]."""
  return to_micro_input(_resize(frames, size))


def _needs(frames: jnp.ndarray | None, name: str) -> jnp.ndarray:
  if frames is None:
    raise ValueError(f"FusionDetector: no clips given, and no precomputed {name}")
  return frames


@dataclasses.dataclass(frozen=True)
class SpatialConfig:
  """Per-frame backbone: `arch` (resnet50 | vgg16 | resnet_tiny | vgg_tiny), the side frames are
  resized to before it, whether it is frozen, whether it is rematerialised, and whether it sees
  the frames' Laplacian residual (`highpass`, `laplacian_residual`) instead of the frames: blend
  seams and resampling live in the residual, which a small backbone trained from scratch did not
  find in the raw frames of the identity-disjoint tree (README). `highpass_norm` (needs
  `highpass`) divides each frame's residual by its own RMS (`scale_free_residual`), so that
  only relative high-pass energy reaches the backbone, not the video's noise level."""

  arch: str = "resnet_tiny"
  image_size: int = 64
  freeze: bool = False
  remat: bool = False
  highpass: bool = False
  highpass_norm: bool = False

  def __post_init__(self):
    if self.highpass_norm and not self.highpass:
      raise ValueError("model.spatial.highpass_norm needs model.spatial.highpass=True")


@dataclasses.dataclass(frozen=True)
class TemporalConfig:
  """Stacked BiLSTM over per-frame spatial vectors: units per direction of each layer;
  `input_norm` layer-normalises each frame's vector first (unnormalised backbone features saturate
  the LSTM gates); `time_standardize` instead standardises each feature over the clip's frames
  (zero mean, unit variance along time), so that the BiLSTM sees how frames change, not their
  common content (which the spatial branch already has)."""

  hidden_sizes: tuple[int, ...] = (128, 64)
  dropout: float = 0.2
  input_norm: bool = False
  time_standardize: bool = False


@dataclasses.dataclass(frozen=True)
class MicroConfig:
  """Micro-expression branch: grayscale input side, CNN filters, dense widths, BiLSTM units;
  `time_standardize` as in `TemporalConfig`, for the micro_temporal BiLSTM's input."""

  image_size: int = 64
  filters: tuple[int, ...] = (32, 64, 128)
  dense: tuple[int, ...] = (256, 128)
  hidden_sizes: tuple[int, ...] = (128, 64)
  dropout: float = 0.2
  time_standardize: bool = False


@dataclasses.dataclass(frozen=True)
class HeadConfig:
  """Fusion head: hidden widths and dropout; `zero_init` starts the logit layer's kernel at zero
  (as big_vision's `head_zeroinit`): the first steps then need not cancel random initial logits,
  which is what pushes the four-branch model into its constant-output stall (README, Quickstart)."""

  hidden: tuple[int, ...] = (256, 128, 64)
  dropout: float = 0.5
  zero_init: bool = True


def _sub_config(cls: type, fields: Any) -> Any:
  """A sub-config from a ConfigDict / dict (lists become tuples; unknown keys are errors)."""
  values = dict(fields)
  names = {f.name for f in dataclasses.fields(cls)}
  unknown = set(values) - names
  if unknown:
    raise ValueError(
      f"{cls.__name__}: unknown model settings {sorted(unknown)}; known: {sorted(names)}"
    )
  return cls(**{k: tuple(v) if isinstance(v, list | tuple) else v for k, v in values.items()})


class FusionDetector(nn.Module):
  """Clip-level deepfake detector (docs/design.md section 5). Build with `FusionDetector.from_config`.

  `__call__(clips [B, T, H, W, 3] uint8 RGB, *, train, seq_lengths [B] | None)
  -> (logits [B] float32, aux)`; aux holds, for the computed parts, `spatial_attention`
  [B, T, h, w], `temporal_attention` [B, T], `micro_spatial_attention` [B, T, h', w'],
  `micro_temporal_attention` [B, T], `fusion_attention` [B, n_branches] (fusion='attention').
  Frames are resized to `spatial.image_size` (backbone, RGB [0, 255] -> its own normalisation)
  and to `micro.image_size` (micro CNN, grayscale in [0, 1]).

  A frozen backbone's output does not change in training, so it can be precomputed once
  (`frame_features`, `ddf.data.feature_cache`) and passed instead of the clips:
  `backbone_maps` [B, T, h, w, C] (the backbone's output) and `micro_inputs` [B, T, m, m, 1]
  (the micro CNN's input); each replaces the clips for the branches that use it.
  """

  branches: Sequence[str] = BRANCHES
  fusion: str = "concat"
  # LayerNorm each branch's context vector before fusion. The contexts differ in scale by three
  # orders of magnitude at initialisation (spatial ~7, micro_temporal ~0.005 on the embedded
  # data); without it the four-branch model first shrinks the largest to cancel its random
  # logits, collapses to a constant output and stalls (README, "the full model's stall").
  fusion_norm: bool = True
  spatial: SpatialConfig = SpatialConfig()
  temporal: TemporalConfig = TemporalConfig()
  micro: MicroConfig = MicroConfig()
  head: HeadConfig = HeadConfig()
  dtype: Any = jnp.float32

  @classmethod
  def from_config(cls, model_cfg: Any) -> FusionDetector:
    """The detector of a config's `model` field (`configs/default.py:get_model_config`).

    `spatial.pretrained` is where training loads weights from, not a property of the model.
    """
    c = model_cfg.to_dict() if hasattr(model_cfg, "to_dict") else dict(model_cfg)
    spatial = {k: v for k, v in c["spatial"].items() if k != "pretrained"}
    return cls(
      branches=parse_branches(c["branches"]),
      fusion=c["fusion"],
      # A run directory written before fusion_norm existed was trained without it.
      fusion_norm=bool(c.get("fusion_norm", False)),
      spatial=_sub_config(SpatialConfig, spatial),
      temporal=_sub_config(TemporalConfig, c["temporal"]),
      micro=_sub_config(MicroConfig, c["micro"]),
      head=_sub_config(HeadConfig, c["head"]),
      dtype=str(c["dtype"]),
    )

  @nn.compact
  def __call__(
    self,
    clips: jnp.ndarray | None = None,
    *,
    train: bool,
    seq_lengths: jnp.ndarray | None = None,
    backbone_maps: jnp.ndarray | None = None,
    micro_inputs: jnp.ndarray | None = None,
  ) -> tuple[jnp.ndarray, dict[str, jnp.ndarray]]:
    branches = tuple(self.branches)
    if not branches or any(b not in BRANCHES for b in branches):
      raise ValueError(f"branches must be a non-empty subset of {BRANCHES}, got {branches}")
    if backbone_maps is not None and not self.spatial.freeze:
      raise ValueError("precomputed backbone_maps need a frozen backbone (spatial.freeze=True)")
    dtype = layers.as_dtype(self.dtype)
    given = [x for x in (clips, backbone_maps, micro_inputs) if x is not None]
    if not given:
      raise ValueError("FusionDetector needs clips, or precomputed backbone_maps / micro_inputs")
    b, t = given[0].shape[:2]
    mask = None if seq_lengths is None else jnp.arange(t)[None] < seq_lengths[:, None]
    frames = None
    if clips is not None:
      clips = layers.constrain_maps(clips)
      frames = clips.reshape(b * t, *clips.shape[2:]).astype(jnp.float32)
    contexts: dict[str, jnp.ndarray] = {}
    aux: dict[str, jnp.ndarray] = {}

    if "spatial" in branches or "temporal" in branches:
      if backbone_maps is None:
        backbone = get_backbone(self.spatial.arch, dtype, remat=self.spatial.remat, name="backbone")
        spatial_in = backbone_frames(_needs(frames, "backbone_maps"), self.spatial)
        maps = backbone(spatial_in, train and not self.spatial.freeze)
        if self.spatial.freeze:
          maps = jax.lax.stop_gradient(maps)
        maps = maps.reshape(b, t, *maps.shape[1:])
      else:
        maps = backbone_maps.astype(dtype)
      maps = layers.constrain_maps(maps)
      vec, att = SpatialAttention(dtype=dtype, name="spatial_attention")(
        maps.reshape(b * t, *maps.shape[2:])
      )
      aux["spatial_attention"] = att.reshape(b, t, *att.shape[1:])
      seq = layers.constrain_seq(vec.reshape(b, t, -1))
      if "spatial" in branches:
        contexts["spatial"] = layers.masked_mean_over_time(seq, mask)
      if "temporal" in branches:
        if self.temporal.input_norm:
          seq = layers.layer_norm(dtype=dtype, name="temporal_norm")(seq)
        if self.temporal.time_standardize:
          seq = layers.standardize_over_time(seq, mask).astype(dtype)
        hs = BiLSTM(
          self.temporal.hidden_sizes, self.temporal.dropout, dtype=dtype, name="temporal"
        )(seq, train=train, seq_lengths=seq_lengths)
        ctx, wts = TemporalAttention(dtype=dtype, name="temporal_attention")(hs, mask)
        contexts["temporal"] = ctx
        aux["temporal_attention"] = wts

    if "micro" in branches or "micro_temporal" in branches:
      if micro_inputs is None:
        x = micro_frames(_needs(frames, "micro_inputs"), self.micro.image_size)
      else:
        x = micro_inputs.reshape(b * t, *micro_inputs.shape[2:]).astype(jnp.float32)
      vec, att = MicroFrameEncoder(
        self.micro.filters, self.micro.dense, dtype=dtype, name="micro_encoder"
      )(x, train)
      aux["micro_spatial_attention"] = att.reshape(b, t, *att.shape[1:])
      seq = layers.constrain_seq(vec.reshape(b, t, -1))
      if "micro" in branches:
        contexts["micro"] = layers.masked_mean_over_time(seq, mask)
      if "micro_temporal" in branches:
        if self.micro.time_standardize:
          seq = layers.standardize_over_time(seq, mask).astype(dtype)
        ctx, wts = MicroTemporal(
          self.micro.hidden_sizes,
          self.micro.dense,
          self.micro.dropout,
          dtype=dtype,
          name="micro_temporal",
        )(seq, train=train, seq_lengths=seq_lengths)
        contexts["micro_temporal"] = ctx
        aux["micro_temporal_attention"] = wts

    names = [n for n in BRANCHES if n in contexts]
    if self.fusion_norm:
      contexts = {
        n: layers.layer_norm(dtype=dtype, name=f"fusion_norm_{n}")(contexts[n]) for n in names
      }
    if self.fusion == "concat":
      z = jnp.concatenate([contexts[n].astype(dtype) for n in names], axis=-1)
    elif self.fusion == "attention":
      width = self.head.hidden[0] if self.head.hidden else 128
      proj = jnp.stack(
        [
          jnp.tanh(layers.dense(width, dtype=dtype, name=f"fusion_proj_{n}")(contexts[n]))
          for n in names
        ],
        axis=1,
      )  # [B, n, width]
      scores = layers.dense(1, dtype=dtype, name="fusion_score")(proj)[..., 0]
      wts = jax.nn.softmax(scores.astype(jnp.float32), axis=-1)
      aux["fusion_attention"] = wts
      z = jnp.einsum("bn,bnd->bd", wts, proj.astype(jnp.float32)).astype(dtype)
    else:
      raise ValueError(f"fusion must be 'concat' or 'attention', got {self.fusion!r}")

    for k, d in enumerate(self.head.hidden):
      z = nn.relu(layers.dense(d, dtype=dtype, name=f"head_{k}")(z))
      z = nn.Dropout(self.head.dropout, deterministic=not train)(z)
    logits = layers.dense(1, zero_init=self.head.zero_init, dtype=dtype, name="logit")(z)[..., 0]
    return logits.astype(jnp.float32), aux


def feature_inputs(branches: Sequence[str]) -> tuple[str, ...]:
  """Which precomputable inputs (`backbone_maps`, `micro_inputs`) the given branches use."""
  uses = ({"spatial", "temporal"} & set(branches), {"micro", "micro_temporal"} & set(branches))
  return tuple(name for name, used in zip(FEATURE_INPUTS, uses, strict=True) if used)


def frame_features(
  model: FusionDetector, variables: dict[str, Any], frames: jnp.ndarray
) -> dict[str, jnp.ndarray]:
  """The per-frame inputs a frozen-backbone detector can take precomputed.

  frames [N, H, W, 3] uint8 -> {'backbone_maps': [N, h, w, C] (backbone in inference mode),
  'micro_inputs': [N, m, m, 1]}, for the inputs `model`'s branches use. `variables` are the
  detector's (`params` / `batch_stats` with a `backbone` entry).
  """
  frames = frames.astype(jnp.float32)
  dtype = layers.as_dtype(model.dtype)
  out = {}
  for name in feature_inputs(model.branches):
    if name == "backbone_maps":
      backbone = get_backbone(model.spatial.arch, dtype)
      sub = {k: v["backbone"] for k, v in variables.items() if "backbone" in v}
      out[name] = backbone.apply(sub, backbone_frames(frames, model.spatial), False)
    else:
      out[name] = micro_frames(frames, model.micro.image_size)
  return out


def parse_branches(branches: str | Sequence[str]) -> tuple[str, ...]:
  """'spatial,temporal' -> ('spatial', 'temporal') (validated, canonical order)."""
  if isinstance(branches, str):
    branches = [s.strip() for s in branches.split(",") if s.strip()]
  unknown = set(branches) - set(BRANCHES)
  if unknown or not branches:
    raise ValueError(f"branches must be a non-empty subset of {BRANCHES}, got {branches}")
  return tuple(n for n in BRANCHES if n in branches)


def build_detector(model_cfg: Any) -> FusionDetector:
  """`FusionDetector.from_config(model_cfg)`."""
  return FusionDetector.from_config(model_cfg)
