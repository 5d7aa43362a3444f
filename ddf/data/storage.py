"""Where dataset files live: local folders or buckets (`gs://`, `s3://`, `az://`), through the file
system layer TFDS itself uses (`etils.epath`).

`epath` serves a bucket with TensorFlow's `tf.io.gfile` when TensorFlow is installed (it is, for
Keras; GCS is built into it), else, or with `EPATH_USE_TF=false`, with fsspec and `gcsfs` / `s3fs`
/ `adlfs` (install the one you need). Listing, reading and writing go through `as_path`; only the
video decoder needs a local file, so a video in a bucket is copied to the worker's temporary folder
for as long as it is decoded (`local_copy`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator

from etils import epath

BUCKET_SCHEMES = ("gs://", "s3://", "az://")


def is_remote(path: str | os.PathLike) -> bool:
  """True for a bucket URL (`gs://b/x.mp4`, `s3://`, `az://`); anything else is a local path."""
  return os.fspath(path).startswith(BUCKET_SCHEMES)


def as_path(path: str | os.PathLike) -> epath.Path:
  """`path` as an `epath.Path`; `~` expanded in a local one."""
  text = os.fspath(path)
  return epath.Path(text if is_remote(text) else os.path.expanduser(text))


def same_place(a: str | os.PathLike, b: str | os.PathLike) -> bool:
  """Whether two paths name the same folder or file (local ones resolved, URLs as written)."""
  a, b = os.fspath(a), os.fspath(b)
  if is_remote(a) or is_remote(b):
    return a.rstrip("/") == b.rstrip("/")
  return os.path.realpath(os.path.expanduser(a)) == os.path.realpath(os.path.expanduser(b))


def exists(path: str | os.PathLike) -> bool:
  """Whether the file or folder `path` (local, as given, or a bucket URL) exists."""
  text = os.fspath(path)
  return epath.Path(text).exists() if is_remote(text) else os.path.exists(text)


def remove_tree(path: str | os.PathLike) -> None:
  """Deletes the folder `path` if it is there; errors are ignored (a leftover is harmless)."""
  text = os.fspath(path)
  if not is_remote(text):
    shutil.rmtree(text, ignore_errors=True)
    return
  with contextlib.suppress(OSError):
    epath.Path(text).rmtree(missing_ok=True)


def check_shards_writable(data_dir: str | os.PathLike) -> None:
  """Raises ValueError when TFDS could not write array_record shards under a bucket `data_dir`
  (a local one is always writable this way; nothing is checked for it).

  TFDS writes array_record shards with array_record's own writer, not through `epath`, and the
  array_record wheel may open only local paths (0.8.6 does: `open() failed: No such file or
  directory` for a `gs://` path). A build would then fail at its first shard, after every video
  had been decoded; this tries one empty shard first, and removes it when it was written.
  """
  text = os.fspath(data_dir)
  if not is_remote(text):
    return
  from array_record.python import array_record_module

  probe = f"{text.rstrip('/')}/.ddf_write_probe_{os.getpid()}.array_record"
  try:
    writer = array_record_module.ArrayRecordWriter(probe, "group_size:1")
    writer.close()
  except (RuntimeError, OSError, ValueError) as e:
    raise ValueError(
      f"array_record cannot write dataset shards to {text} ({e}). TFDS writes array_record "
      "shards with array_record's own writer, which in this installation opens local paths "
      "only. Point --data_dir at a file system every worker mounts (NFS, or the bucket "
      "mounted with gcsfuse / s3fs); the manual dir may stay in the bucket (README, "
      "'Building on a cluster')."
    ) from e
  with contextlib.suppress(OSError):
    epath.Path(probe).unlink(missing_ok=True)


def size_and_mtime(path: str | os.PathLike) -> tuple[int, int]:
  """(bytes, modification time) of a file: nanoseconds for a local file; for a URL, what the
  store reports (whole seconds, or 0 on stores that report none)."""
  text = os.fspath(path)
  if is_remote(text):
    stat = epath.Path(text).stat()
    return int(stat.length), int(stat.mtime or 0)
  stat = os.stat(text)
  return stat.st_size, stat.st_mtime_ns


@contextlib.contextmanager
def local_copy(path: str | os.PathLike) -> Iterator[str]:
  """Yields a local file with the contents of `path`: `path` itself when it is local, else a
  temporary copy (same suffix) that is removed on exit."""
  text = os.fspath(path)
  if not is_remote(text):
    yield text
    return
  suffix = os.path.splitext(text)[1]
  fd, local = tempfile.mkstemp(prefix="ddf_video_", suffix=suffix)
  try:
    with os.fdopen(fd, "wb") as out, epath.Path(text).open("rb") as src:
      shutil.copyfileobj(src, out, 1 << 22)
    yield local
  finally:
    os.remove(local)
