"""Micro-expression branch: a small CNN over low-resolution grayscale face crops + its temporal model.

Input convention: frames are converted to grayscale (ITU-R 601 luma) and scaled to [0, 1]
before the CNN (see `to_micro_input`), i.e. the CNN sees `[N, s, s, 1]`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from ddf.models import layers
from ddf.models.attention import SelfAttention, SpatialAttention, TemporalAttention
from ddf.models.lstm import BiLSTM

LUMA_RGB = (0.299, 0.587, 0.114)


def to_micro_input(frames: jnp.ndarray) -> jnp.ndarray:
  """Float RGB `[..., 3]` in [0, 255] -> grayscale `[..., 1]` in [0, 1]."""
  return (frames @ jnp.asarray(LUMA_RGB, frames.dtype))[..., None] / 255.0


class MicroCNN(nn.Module):
  """len(filters) x (conv3x3 SAME -> BN -> ReLU -> maxpool 2x2/2).

  `__call__(x [N, s, s, 1], train) -> maps [N, s / 2^k, s / 2^k, filters[-1]]`.
  """

  filters: Sequence[int] = (32, 64, 128)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    x = x.astype(self.dtype)
    for k, f in enumerate(self.filters):
      x = layers.conv(f, 3, use_bias=False, dtype=self.dtype, name=f"conv_{k}")(x)  # BN follows
      x = layers.batch_norm(train=train, dtype=self.dtype, name=f"bn_{k}")(x)
      x = nn.max_pool(nn.relu(x), (2, 2), strides=(2, 2), padding="VALID")
    return x


class MicroFrameEncoder(nn.Module):
  """MicroCNN -> SpatialAttention -> dense stack `dense` (ReLU) per frame.

  `__call__(x [N, s, s, 1], train) -> (vectors [N, dense[-1]], attention [N, h', w'])`.
  """

  filters: Sequence[int] = (32, 64, 128)
  dense: Sequence[int] = (256, 128)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False) -> tuple[jnp.ndarray, jnp.ndarray]:
    maps = MicroCNN(self.filters, dtype=self.dtype, name="cnn")(x, train)
    v, att = SpatialAttention(dtype=self.dtype, name="spatial_attention")(maps)
    for k, d in enumerate(self.dense):
      v = nn.relu(layers.dense(d, dtype=self.dtype, name=f"dense_{k}")(v))
    return v, att


class MicroTemporal(nn.Module):
  """BiLSTM stack -> dot-product self-attention -> dense stack (ReLU) -> temporal attention.

  `__call__(x [B, T, D], *, train, seq_lengths [B] | None) -> (context [B, dense[-1]],
  weights [B, T])`.
  """

  hidden_sizes: Sequence[int] = (128, 64)
  dense: Sequence[int] = (256, 128)
  dropout: float = 0.2
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(
    self, x: jnp.ndarray, *, train: bool = False, seq_lengths: jnp.ndarray | None = None
  ) -> tuple[jnp.ndarray, jnp.ndarray]:
    mask = None if seq_lengths is None else jnp.arange(x.shape[1])[None] < seq_lengths[:, None]
    h = BiLSTM(self.hidden_sizes, self.dropout, dtype=self.dtype, name="bilstm")(
      x, train=train, seq_lengths=seq_lengths
    )
    h = SelfAttention(dtype=self.dtype, name="self_attention")(h, mask)
    for k, d in enumerate(self.dense):
      h = nn.relu(layers.dense(d, dtype=self.dtype, name=f"dense_{k}")(h))
    h = layers.constrain_seq(h)
    return TemporalAttention(dtype=self.dtype, name="temporal_attention")(h, mask)
