"""Batches moved to the devices ahead of the step that uses them, without losing the data position.

`DevicePrefetch(iterator, sharding, size=2)` keeps `size` global batches in flight: while a step
runs (JAX dispatches it asynchronously), the host draws, decodes and starts transferring the next
ones. Its `get_state` / `set_state` are those of the wrapped grain iterator *as of the last batch
handed out*, so a checkpoint taken at step s resumes at batch s + 1, exactly as without prefetching
(grain's orbax handler saves and restores any iterator with these methods).
"""

from __future__ import annotations

import collections
import json
from typing import Any

from jax.sharding import NamedSharding

from ddf import sharding as sharding_lib


class DevicePrefetch:
  """Iterator of globally sharded batches, `size` ahead of the consumer."""

  def __init__(self, iterator: Any, batch_sharding: NamedSharding, size: int = 2):
    self._iterator = iterator
    self._sharding = batch_sharding
    self._size = max(1, size)
    self._buffer: collections.deque = collections.deque()
    self._state = iterator.get_state()  # the wrapped iterator's state after the last batch out

  def __iter__(self) -> DevicePrefetch:
    return self

  def __next__(self) -> dict[str, Any]:
    while len(self._buffer) < self._size:
      batch = sharding_lib.to_global(next(self._iterator), self._sharding)
      self._buffer.append((batch, self._iterator.get_state()))
    batch, self._state = self._buffer.popleft()
    return batch

  def get_state(self) -> bytes:
    return json.dumps(self._state, indent=1).encode()

  def set_state(self, state: bytes) -> None:
    self._state = json.loads(state.decode() if isinstance(state, bytes) else state)
    self._iterator.set_state(self._state)
    self._buffer.clear()

  def start_prefetch(self) -> None:
    """Called by grain's checkpoint handler after a restore; batches are drawn on demand."""
