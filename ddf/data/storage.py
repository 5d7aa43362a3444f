"""Where dataset files live: local folders or buckets (`gs://`, `s3://`, `az://`), through the file
system layer TFDS itself uses (`etils.epath`: TensorFlow's `tf.io.gfile` when TensorFlow is
installed, else fsspec with gcsfs / s3fs / adlfs).

Listing, reading and writing go through `as_path`; only the video decoder needs a local file, so a
video in a bucket is copied to the worker's temporary folder for as long as it is decoded
(`local_copy`).
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator

from etils import epath

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


def is_remote(path: str | os.PathLike) -> bool:
  """True for a URL (`gs://b/x.mp4`), False for a local path."""
  return bool(_URL.match(os.fspath(path)))


def as_path(path: str | os.PathLike) -> epath.Path:
  """`path` as an `epath.Path`; `~` expanded in a local one."""
  text = os.fspath(path)
  return epath.Path(text if is_remote(text) else os.path.expanduser(text))


def size_and_mtime(path: str | os.PathLike) -> tuple[int, int]:
  """(bytes, modification time) of a file: nanoseconds for a local file, what the store reports
  for a URL (seconds on most)."""
  text = os.fspath(path)
  if is_remote(text):
    stat = epath.Path(text).stat()
    return int(stat.length), int(stat.mtime)
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
      while chunk := src.read(1 << 22):
        out.write(chunk)
    yield local
  finally:
    os.remove(local)
