"""Bidirectional LSTM stack (`nn.RNN` over `nn.OptimizedLSTMCell`, i.e. `nn.scan` over time).

Gate layout matches Keras `Bidirectional(LSTM(u, return_sequences=True))` (merge_mode='concat':
[forward, backward] on the last axis); Keras gates i, f, c, o map to Flax ii/if/ig/io (input
kernels, no bias) and hi/hf/hg/ho (recurrent kernels + bias). See `ddf.weights_lib.bilstm_params_from_keras`.

Parameter tree of `BiLSTM(hidden_sizes=(a, b))`: `bilstm_{k}/{forward,backward}/{ii,if,ig,io,hi,hf,hg,ho}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from ddf.models import layers

_p = nn.with_logical_partitioning


def lstm_cell(
  units: int, dtype: Any = jnp.float32, name: str | None = None
) -> nn.OptimizedLSTMCell:
  """OptimizedLSTMCell with logical axis names on kernels / bias."""
  return nn.OptimizedLSTMCell(
    units,
    dtype=dtype,
    param_dtype=jnp.float32,
    kernel_init=_p(nn.initializers.lecun_normal(), layers.LSTM_KERNEL_AXES),
    recurrent_kernel_init=_p(nn.initializers.orthogonal(), layers.LSTM_RECURRENT_AXES),
    bias_init=_p(nn.initializers.zeros_init(), layers.LSTM_BIAS_AXES),
    name=name,
  )


class BiLSTMLayer(nn.Module):
  """One bidirectional LSTM layer, returning sequences.

  `__call__(x [B, T, D], seq_lengths [B] int | None) -> [B, T, 2 * units]`. With `seq_lengths`,
  each sequence is valid on `[0, len)`: the backward direction starts at step len-1, and
  outputs past `len` are not meaningful (mask them downstream).
  """

  units: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray, seq_lengths: jnp.ndarray | None = None) -> jnp.ndarray:
    # Cells are named here (they bind to this module): params live at forward/* and backward/*.
    fwd = nn.RNN(lstm_cell(self.units, self.dtype, name="forward"))
    bwd = nn.RNN(lstm_cell(self.units, self.dtype, name="backward"), reverse=True, keep_order=True)
    y = nn.Bidirectional(fwd, bwd)(x, seq_lengths=seq_lengths)
    return layers.constrain_seq(y.astype(self.dtype))


class BiLSTM(nn.Module):
  """Stack of `BiLSTMLayer`s (`hidden_sizes` units per direction), dropout after each layer.

  `__call__(x [B, T, D], *, train, seq_lengths [B] | None) -> [B, T, 2 * hidden_sizes[-1]]`.
  Dropout uses the 'dropout' RNG stream when `train`.
  """

  hidden_sizes: Sequence[int] = (128, 64)
  dropout: float = 0.0
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(
    self, x: jnp.ndarray, *, train: bool = False, seq_lengths: jnp.ndarray | None = None
  ) -> jnp.ndarray:
    for k, units in enumerate(self.hidden_sizes):
      x = BiLSTMLayer(units, dtype=self.dtype, name=f"bilstm_{k}")(x, seq_lengths)
      x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return x
