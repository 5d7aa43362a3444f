"""TFDS builder for FaceForensics++ (manual download), also used for the synthetic FF++ tree.

`datasets/faceforensics/faceforensics_dataset_builder.py` exposes this class as `Builder` so that
`tfds build datasets/faceforensics --manual_dir M --data_dir D --config c23` finds it.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow_datasets as tfds

from ddf.data import ffpp_examples
from ddf.data.ffpp_layout import CLASSIC_METHODS, COMPRESSIONS, SPLITS, parse_methods, split_entries

REPORT_NAME = "build_report.json"

_INSTRUCTIONS = """\
FaceForensics++ is distributed by its authors on request
(https://github.com/ondyari/FaceForensics, fill in their form to get the download script).
Download the compression you need, e.g.

  python download-FaceForensics.py <manual_dir> -d all -c c23 -t videos

and copy the repository's `dataset/splits` folder into <manual_dir>, so that it holds

  <manual_dir>/splits/{train,val,test}.json
  <manual_dir>/original_sequences/youtube/c23/videos/000.mp4 ...
  <manual_dir>/manipulated_sequences/<Method>/c23/videos/000_003.mp4 ...

Partial downloads (one compression, some methods) are fine: missing videos are listed in the
build report. A synthetic tree in the same layout: `python -m ddf.data.synthetic --out <manual_dir>`.
"""


@dataclasses.dataclass
class FaceForensicsConfig(tfds.core.BuilderConfig):
  """Compression, frames per video and face-crop options of one FF++ build."""

  compression: str = "c23"
  frames_per_video: int = 32
  crop_size: int = 256
  margin: float = 1.3
  methods: tuple[str, ...] = CLASSIC_METHODS
  min_face_size: int = 40  # pixels in the original frame; FF++ faces are larger.
  num_workers: int = 0  # processes for decode + detection; 0 = all cores.


def make_config(compression: str = "c23", frames_per_video: int = 32, crop_size: int = 256,
                methods: tuple[str, ...] | str = CLASSIC_METHODS, **kwargs: Any) -> FaceForensicsConfig:
  """A config whose name encodes every non-default option (so builds never collide)."""
  if compression not in COMPRESSIONS:
    raise ValueError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
  methods = parse_methods(methods)
  name = compression
  if frames_per_video != 32:
    name += f"_f{frames_per_video}"
  if crop_size != 256:
    name += f"_s{crop_size}"
  if methods != CLASSIC_METHODS:
    name += "_" + "-".join(m.lower() for m in methods)
  return FaceForensicsConfig(name=name, compression=compression,
                             frames_per_video=frames_per_video, crop_size=crop_size,
                             methods=methods, **kwargs)


class Faceforensics(tfds.core.GeneratorBasedBuilder):
  """FaceForensics++: aligned face crops of T evenly spaced frames per video, with metadata."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  BUILDER_CONFIGS = [
      make_config("c23"),
      make_config("c40"),
      make_config("raw"),
  ]
  DEFAULT_CONFIG_NAME = "c23"

  def _info(self) -> tfds.core.DatasetInfo:
    cfg = self.builder_config
    t, s = cfg.frames_per_video, cfg.crop_size
    return self.dataset_info_from_configs(
        features=tfds.features.FeaturesDict({
            "video_id": tfds.features.Text(),
            "label": tfds.features.ClassLabel(names=["real", "fake"]),
            "method": tfds.features.Text(),
            "compression": tfds.features.Text(),
            "target_id": tfds.features.Text(),
            "source_id": tfds.features.Text(),
            "frames": tfds.features.Sequence(
                tfds.features.Image(shape=(s, s, 3), encoding_format="jpeg"), length=t),
            "landmarks": tfds.features.Tensor(shape=(t, 5, 2), dtype=np.float32),
            "face_found": tfds.features.Tensor(shape=(t,), dtype=np.bool_),
            "frame_indices": tfds.features.Tensor(shape=(t,), dtype=np.int32),
            "fps": tfds.features.Scalar(dtype=np.float32),
            "original_height": tfds.features.Scalar(dtype=np.int32),
            "original_width": tfds.features.Scalar(dtype=np.int32),
        }),
        supervised_keys=None,
        homepage="https://github.com/ondyari/FaceForensics",
        citation="""@inproceedings{roessler2019faceforensicspp,
  title={FaceForensics++: Learning to Detect Manipulated Facial Images},
  author={R{\\"o}ssler, Andreas and Cozzolino, Davide and Verdoliva, Luisa and Riess, Christian
          and Thies, Justus and Nie{\\ss}ner, Matthias},
  booktitle={ICCV}, year={2019}}""",
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    manual_dir = Path(dl_manager.manual_dir)
    cfg = self.builder_config
    self._report: dict[str, Any] = {
        "manual_dir": str(manual_dir), "config": cfg.name, "splits": {}}
    entries = {split: split_entries(manual_dir, split, cfg.compression, cfg.methods)
               for split in SPLITS}
    present = {split: [e for e in es if e.path.exists()] for split, es in entries.items()}
    for split in SPLITS:
      missing = [str(e.path) for e in entries[split] if not e.path.exists()]
      self._report["splits"][split] = {
          "listed": len(entries[split]), "missing": len(missing), "missing_files": missing,
          "built": 0, "skipped": 0, "skipped_files": {}, "warnings": [],
          "videos_with_faceless_frames": 0}
    if not any(present.values()):
      raise FileNotFoundError(
          f"No FF++ video of the splits was found under {manual_dir} for compression "
          f"{cfg.compression!r} and methods {', '.join(cfg.methods)} (looked e.g. for "
          f"{entries['train'][0].path if entries['train'] else '...'}).\n\n{_INSTRUCTIONS}")
    return {split: self._generate_examples(split, present[split]) for split in SPLITS}

  def _generate_examples(self, split: str, entries):
    cfg = self.builder_config
    options = ffpp_examples.ExampleOptions(
        frames_per_video=cfg.frames_per_video, crop_size=cfg.crop_size, margin=cfg.margin,
        min_face_size=cfg.min_face_size)
    report = self._report["splits"][split]
    for result in self._workers.map(entries, options, cfg.num_workers):
      report["warnings"].extend(result.warnings)
      if result.example is None:
        report["skipped"] += 1
        report["skipped_files"][result.key] = result.skipped
        continue
      report["built"] += 1
      report["videos_with_faceless_frames"] += int(result.frames_without_face > 0)
      yield result.key, result.example

  def download_and_prepare(self, *args, **kwargs) -> None:
    """Builds as usual, then writes and prints the build report beside the dataset."""
    start = time.time()
    already = self.data_path.exists()
    self._workers = _VideoWorkers()
    try:
      super().download_and_prepare(*args, **kwargs)
    finally:
      self._workers.close()
    report = getattr(self, "_report", None)
    if already or report is None:
      return
    report["seconds"] = round(time.time() - start, 1)
    (Path(self.data_dir) / REPORT_NAME).write_text(json.dumps(report, indent=1))
    print(format_report(report, Path(self.data_dir) / REPORT_NAME))


class _VideoWorkers:
  """Worker processes for decode + face detection, started once and shared by all splits."""

  def __init__(self):
    self._pool: concurrent.futures.ProcessPoolExecutor | None = None

  def map(self, entries, options: ffpp_examples.ExampleOptions, num_workers: int):
    """Yields an ExampleResult per entry (in order)."""
    workers = num_workers or os.cpu_count() or 1
    if workers <= 1 or len(entries) <= 1:
      ffpp_examples.init_worker(options)
      for entry in entries:
        yield ffpp_examples.make_example(entry, options)
      return
    if self._pool is None:
      self._pool = concurrent.futures.ProcessPoolExecutor(
          workers, mp_context=multiprocessing.get_context("spawn"),  # JAX is not fork-safe.
          initializer=ffpp_examples.init_worker, initargs=(options,))
    yield from self._pool.map(ffpp_examples.make_example, entries, [options] * len(entries),
                              chunksize=2)

  def close(self) -> None:
    if self._pool is not None:
      self._pool.shutdown(cancel_futures=True)
      self._pool = None


def format_report(report: dict[str, Any], path: Path | None = None) -> str:
  """A short human-readable summary of a build report."""
  lines = [f"FF++ build report ({report['config']}, manual dir {report['manual_dir']}):"]
  for split, r in report["splits"].items():
    lines.append(f"  {split:5s}: {r['built']} built, {r['skipped']} skipped, "
                 f"{r['missing']} missing on disk (of {r['listed']} listed), "
                 f"{r['videos_with_faceless_frames']} with frames without a face")
    for key, reason in list(r["skipped_files"].items())[:10]:
      lines.append(f"      skipped {key}: {reason}")
    if r["missing"]:
      lines.append(f"      missing e.g. {r['missing_files'][0]}")
  if path is not None:
    lines.append(f"  full report: {path}")
  return "\n".join(lines)
