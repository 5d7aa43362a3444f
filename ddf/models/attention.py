"""Attention layers: spatial (over a feature map), temporal (over time), dot-product self-attention."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from ddf.models import layers


class SpatialAttention(nn.Module):
  """1x1 conv -> sigmoid map -> multiply -> global average pool.

  The score conv starts at zero (map 0.5 everywhere): backbone maps can be large (caffe-scale
  inputs), and a random init would saturate the sigmoid. `__call__(x [N, h, w, C]) -> (vectors [N, C], attention map [N, h, w] float32 in (0, 1))`.
  """

  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray) -> tuple[jnp.ndarray, jnp.ndarray]:
    logits = nn.Conv(
      1,
      (1, 1),
      dtype=self.dtype,
      param_dtype=jnp.float32,
      kernel_init=nn.with_logical_partitioning(
        nn.initializers.zeros_init(), layers.CONV_KERNEL_AXES
      ),
      bias_init=nn.with_logical_partitioning(nn.initializers.zeros_init(), layers.CONV_BIAS_AXES),
      name="score",
    )(x)
    att = jax.nn.sigmoid(logits.astype(jnp.float32))  # [N, h, w, 1]
    pooled = jnp.mean(x.astype(jnp.float32) * att, axis=(1, 2))
    return pooled.astype(self.dtype), att[..., 0]


def _masked_softmax(scores: jnp.ndarray, mask: jnp.ndarray | None, axis: int = -1) -> jnp.ndarray:
  scores = scores.astype(jnp.float32)
  if mask is not None:
    scores = jnp.where(mask, scores, jnp.finfo(jnp.float32).min)
  return jax.nn.softmax(scores, axis=axis)


class TemporalAttention(nn.Module):
  """score_t = dense(1, tanh)(x_t); softmax over time (masked); weighted sum.

  `__call__(x [B, T, D], mask [B, T] bool | None) -> (context [B, D], weights [B, T] float32)`.
  Weights sum to 1 over the valid steps and are 0 on masked ones.
  """

  dtype: Any = jnp.float32

  @nn.compact
  def __call__(
    self, x: jnp.ndarray, mask: jnp.ndarray | None = None
  ) -> tuple[jnp.ndarray, jnp.ndarray]:
    scores = jnp.tanh(layers.dense(1, dtype=self.dtype, name="score")(x))[..., 0]
    weights = _masked_softmax(scores, mask)
    context = jnp.einsum("bt,btd->bd", weights, x.astype(jnp.float32))
    return context.astype(self.dtype), weights


class SelfAttention(nn.Module):
  """Parameter-free dot-product self-attention (query = key = value = x), like
  `keras.layers.Attention()([x, x])` but scaled by 1/sqrt(D) when `scale` is set.

  `__call__(x [B, T, D], mask [B, T] bool | None) -> [B, T, D]` (keys masked).
  """

  scale: bool = True
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray, mask: jnp.ndarray | None = None) -> jnp.ndarray:
    scores = jnp.einsum("bqd,bkd->bqk", x, x).astype(jnp.float32)
    if self.scale:
      scores = scores / jnp.sqrt(jnp.float32(x.shape[-1]))
    weights = _masked_softmax(scores, None if mask is None else mask[:, None, :])
    return jnp.einsum("bqk,bkd->bqd", weights, x.astype(jnp.float32)).astype(self.dtype)
