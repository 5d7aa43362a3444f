"""Layer constructors with logical axis names on every parameter.

Parameters carry `nn.LogicallyPartitioned` boxes (see `nn.with_logical_partitioning`);
sharding rules come from config (`configs/default.py:get_mesh_config`). Without rules or a
mesh the boxes are inert and `nn.meta.unbox` gives plain arrays.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

Dtype = Any

CONV_KERNEL_AXES = (None, None, "conv_in", "conv_out")
CONV_BIAS_AXES = ("conv_out",)
DENSE_KERNEL_AXES = ("embed", "mlp")
DENSE_BIAS_AXES = ("mlp",)
LSTM_KERNEL_AXES = ("embed", "lstm_gates")
LSTM_RECURRENT_AXES = ("mlp", "lstm_gates")
LSTM_BIAS_AXES = ("lstm_gates",)

MAP_AXES = ("batch", "time", "height", "width", "channels")
SEQ_AXES = ("batch", "time", "channels")

_p = nn.with_logical_partitioning

# Scale and bias of a normalisation layer: float32, partitioned along the channels.
_NORM_PARAMS = dict(
  param_dtype=jnp.float32,
  scale_init=_p(nn.initializers.ones_init(), CONV_BIAS_AXES),
  bias_init=_p(nn.initializers.zeros_init(), CONV_BIAS_AXES),
)


def conv(
  features: int,
  kernel_size: int,
  *,
  strides: int = 1,
  padding: Any = "SAME",
  use_bias: bool = True,
  dtype: Dtype = jnp.float32,
  name: str | None = None,
) -> nn.Conv:
  """2-D conv (NHWC, HWIO kernel as in Keras) with partitioned params."""
  return nn.Conv(
    features,
    (kernel_size, kernel_size),
    strides=(strides, strides),
    padding=padding,
    use_bias=use_bias,
    dtype=dtype,
    param_dtype=jnp.float32,
    kernel_init=_p(nn.initializers.lecun_normal(), CONV_KERNEL_AXES),
    bias_init=_p(nn.initializers.zeros_init(), CONV_BIAS_AXES),
    name=name,
  )


def batch_norm(
  *,
  train: bool,
  epsilon: float = 1e-3,
  momentum: float = 0.99,
  dtype: Dtype = jnp.float32,
  name: str | None = None,
) -> nn.BatchNorm:
  """BatchNorm over the last axis (Keras defaults: momentum 0.99, eps 1e-3)."""
  return nn.BatchNorm(
    use_running_average=not train,
    momentum=momentum,
    epsilon=epsilon,
    dtype=dtype,
    name=name,
    **_NORM_PARAMS,
  )


def layer_norm(*, dtype: Dtype = jnp.float32, name: str | None = None) -> nn.LayerNorm:
  """LayerNorm over the last axis (eps 1e-6), float32 scale and bias."""
  return nn.LayerNorm(epsilon=1e-6, dtype=dtype, name=name, **_NORM_PARAMS)


def dense(
  features: int,
  *,
  use_bias: bool = True,
  zero_init: bool = False,
  dtype: Dtype = jnp.float32,
  name: str | None = None,
) -> nn.Dense:
  """Dense layer with `('embed', 'mlp')` kernel and `('mlp',)` bias; `zero_init` starts the kernel
  at zero (a classifier layer that outputs its bias until the first update)."""
  kernel_init = nn.initializers.zeros_init() if zero_init else nn.initializers.lecun_normal()
  return nn.Dense(
    features,
    use_bias=use_bias,
    dtype=dtype,
    param_dtype=jnp.float32,
    kernel_init=_p(kernel_init, DENSE_KERNEL_AXES),
    bias_init=_p(nn.initializers.zeros_init(), DENSE_BIAS_AXES),
    name=name,
  )


constrain_maps = functools.partial(nn.with_logical_constraint, logical_axis_resources=MAP_AXES)
constrain_seq = functools.partial(nn.with_logical_constraint, logical_axis_resources=SEQ_AXES)


def as_dtype(name: str | Dtype) -> Dtype:
  """'float32' | 'bfloat16' -> jnp dtype."""
  if isinstance(name, str):
    return {"float32": jnp.float32, "bfloat16": jnp.bfloat16}[name]
  return name


def masked_mean_over_time(
  x: jnp.ndarray, mask: jnp.ndarray | None = None, keepdims: bool = False
) -> jnp.ndarray:
  """[B, T, D] -> [B, D] float32 ([B, 1, D] with `keepdims`): the mean over the valid steps
  (`mask` [B, T]; all steps when None)."""
  x = x.astype(jnp.float32)
  if mask is None:
    return jnp.mean(x, axis=1, keepdims=keepdims)
  m = mask.astype(jnp.float32)[..., None]
  total = jnp.sum(x * m, axis=1, keepdims=keepdims)
  return total / jnp.maximum(jnp.sum(m, axis=1, keepdims=keepdims), 1.0)


def standardize_over_time(
  x: jnp.ndarray, mask: jnp.ndarray | None = None, eps: float = 1e-3
) -> jnp.ndarray:
  """[B, T, D] -> [B, T, D] float32: each feature of each sequence minus its mean over the valid
  steps (`mask` [B, T], all when None), divided by its standard deviation over them; invalid
  steps are zero. What is left is how the steps differ, not what they share."""
  x = x.astype(jnp.float32)
  centred = x - masked_mean_over_time(x, mask, keepdims=True)
  if mask is not None:
    centred = centred * mask.astype(jnp.float32)[..., None]
  var = masked_mean_over_time(jnp.square(centred), mask, keepdims=True)
  return centred * jax.lax.rsqrt(var + eps)
