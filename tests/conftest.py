"""Shared fixtures: one tiny synthetic FF++ tree and its built dataset per test session."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

# Small, deterministic CPU runs; keep TensorFlow (imported by tfds / clu) quiet.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# One persistent XLA compilation cache for the session, shared by the pytest-xdist workers and every
# subprocess they start (ddf.train, ddf.evaluate, ...): a program compiled by one test loads from
# disk in the next. A size limit turns on JAX's file locking (safe across processes).
os.environ.setdefault(
  "JAX_COMPILATION_CACHE_DIR", str(Path(tempfile.gettempdir()) / "ddf_tests_jax_cache")
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "1")
os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(8 << 30))

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "launch"))  # launch/local_multiprocess.py, a script
TINY_PAIRS = (3, 2, 2)
TINY_FRAMES_PER_VIDEO = 4  # one window of 4 consecutive frames (configs/default.py:tiny)
TINY_CROP = 32


# Tests that need a generated tree or a built dataset are in the slow tier.
_SLOW_FIXTURES = {"tiny_tree", "tiny_dataset"}


# Scheduling over the two test processes (`--dist loadfile --no-loadscope-reorder` in
# pyproject.toml): each file goes whole to one process (its module fixtures run once), in collection
# order. The files below take minutes each, so they go first, longest first: started last, one of
# them would run alone at the end.
_LONGEST_FIRST = (
  "test_train.py",
  "test_real_data.py",
  "test_train_processes.py",
  "test_feature_cache.py",
  "test_end_to_end.py",
  "test_builder.py",
  "test_faces.py",
  "test_models.py",
)


def _rank(item: pytest.Item) -> int:
  name = item.path.name
  return _LONGEST_FIRST.index(name) if name in _LONGEST_FIRST else len(_LONGEST_FIRST)


def pytest_collection_modifyitems(items):
  for item in items:
    if _SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
      item.add_marker(pytest.mark.slow)
  items.sort(key=_rank)


@pytest.fixture(scope="module")
def fast_prng():
  """Parameters drawn with the `rbg` PRNG for a module's tests: on CPU its programs compile about
  3x faster than threefry's (a tiny detector's init: 4 s instead of 12 s). For tests whose
  assertions hold whatever PRNG draws the parameters; training and the slow tier keep threefry."""
  import jax

  previous = jax.config.jax_default_prng_impl
  jax.config.update("jax_default_prng_impl", "rbg")
  yield
  jax.config.update("jax_default_prng_impl", previous)


@pytest.fixture(scope="session")
def tiny_tree(tmp_path_factory) -> Path:
  """A synthetic FF++ tree: 3/2/2 pairs, four methods, c23, 128x128, 8 frames."""
  from ddf.data import synthetic_lib as synthetic

  out = tmp_path_factory.mktemp("ffpp") / "manual"
  synthetic.generate(out, pairs=TINY_PAIRS, size=128, num_frames=8, seed=0, workers=2)
  return out


@pytest.fixture(scope="session")
def tiny_dataset(tiny_tree, tmp_path_factory):
  """The tiny tree built by the FF++ builder: (builder, data_dir)."""
  from ddf.data import build_lib as build

  data_dir = tmp_path_factory.mktemp("tfds")
  builder = build.get_builder(
    data_dir, "c23", TINY_FRAMES_PER_VIDEO, TINY_CROP, num_workers=1, num_windows=1
  )
  build.build(builder, tiny_tree)
  return builder, data_dir


def restore_on_host(state_dir: Path) -> dict:
  """An orbax-saved train state as a tree of host numpy arrays (whatever mesh saved it)."""
  import jax
  import numpy as np
  import orbax.checkpoint as ocp

  checkpointer = ocp.PyTreeCheckpointer()
  metadata = checkpointer.metadata(state_dir)
  tree = getattr(metadata, "item_metadata", metadata)
  tree = getattr(tree, "tree", tree)
  return checkpointer.restore(
    state_dir, restore_args=jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), tree)
  )


@pytest.fixture
def bucket(monkeypatch):
  """`gs://` served by an in-memory fsspec file system, through the same `etils.epath` layer that
  TFDS and ddf use for buckets (no network here; in production gcsfs or TensorFlow serve it)."""
  from etils.epath import backend, gpath
  from fsspec.implementations.memory import MemoryFileSystem

  class InMemoryBucket(MemoryFileSystem):
    protocol = ("gs", "gcs")
    store: dict = {}
    pseudo_dirs = [""]

  from fsspec.registry import _registry

  for p in InMemoryBucket.protocol:
    monkeypatch.setitem(_registry, p, InMemoryBucket)
  # epath prefers TensorFlow's gfile for buckets when TensorFlow is installed (it is, for Keras);
  # this is what EPATH_USE_TF=false does (read once per process, hence the patch).
  monkeypatch.setattr(gpath, "_is_tf_installed", lambda: False)
  backend.fsspec_backend._get_filesystem.cache_clear()
  yield "gs://ddf-test-bucket"
  backend.fsspec_backend._get_filesystem.cache_clear()
