"""TFDS builder for FaceForensics++ (manual download), also used for the synthetic FF++ tree.

`datasets/faceforensics/faceforensics_dataset_builder.py` exposes this class as `Builder` so that
`tfds build datasets/faceforensics --manual_dir M --data_dir D --config c23` finds it.

Per video: frames sampled as the config says (`ddf.data.sampling`: 4 windows of 8 consecutive
frames by default), one face track found on the real videos (MTCNN), and every fake cropped with
its target's track (FF++ fakes are frame-aligned with their target; a fake whose frame count
differs from its target's gets its own track, counted in the build report). Beside the dataset,
`build_report.json` (per split: listed / built / skipped / missing with reasons, faceless frames,
worker memory) and `ddf_index.json` (per record: label, method, compression, frame indices,
faces found), so that readers never have to decode the records to learn what they hold.
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
from ddf.data import sampling as sampling_lib
from ddf.data.ffpp_layout import CLASSIC_METHODS, COMPRESSIONS, SPLITS, parse_methods, split_entries
from ddf.data.provenance import REPORT_NAME

SYNTHETIC_META = "synthetic_meta.json"  # written by `ddf.data.synthetic` in its tree.

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
  """What one FF++ build stores: compression, frame sampling, face crops, methods."""

  compression: str = "c23"
  frames_per_video: int = 32
  crop_size: int = 256
  margin: float = 1.3
  methods: tuple[str, ...] = CLASSIC_METHODS
  min_face_size: int = 40  # pixels in the original frame; FF++ faces are larger.
  sampling: str = "windows"  # windows | uniform (ddf.data.sampling)
  num_windows: int = 4


@dataclasses.dataclass(frozen=True)
class BuildOptions:
  """How a build runs (not what it stores): worker processes and where faces are detected."""

  num_workers: int = 0  # processes for decode + detection; 0 = all cores.
  detect_on_accelerator: bool = False  # one process owns the accelerator and detects in batches.


_DEFAULTS = FaceForensicsConfig(name="defaults")
# The config fields that decide what is stored (all encoded in the config name).
DATA_OPTIONS = ("compression", "frames_per_video", "crop_size", "margin", "methods",
                "min_face_size", "sampling", "num_windows")


def config_name(compression: str, frames_per_video: int = 32, crop_size: int = 256,
                methods: tuple[str, ...] = CLASSIC_METHODS, margin: float = 1.3,
                min_face_size: int = 40, sampling: str = "windows", num_windows: int = 4) -> str:
  """A name that encodes every option that differs from the default (so builds never collide)."""
  d = _DEFAULTS
  name = compression
  if frames_per_video != d.frames_per_video:
    name += f"_f{frames_per_video}"
  if crop_size != d.crop_size:
    name += f"_s{crop_size}"
  if sampling != d.sampling:
    name += f"_{sampling}"
  elif num_windows != d.num_windows:
    name += f"_w{num_windows}"
  if margin != d.margin:
    name += f"_m{margin:g}"
  if min_face_size != d.min_face_size:
    name += f"_min{min_face_size}"
  if tuple(methods) != d.methods:
    name += "_" + "-".join(m.lower() for m in methods)
  return name


def make_config(compression: str = "c23", frames_per_video: int = 32, crop_size: int = 256,
                methods: tuple[str, ...] | str = CLASSIC_METHODS, margin: float = 1.3,
                min_face_size: int = 40, sampling: str = "windows",
                num_windows: int = 4) -> FaceForensicsConfig:
  """A validated config named by `config_name`."""
  if compression not in COMPRESSIONS:
    raise ValueError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
  sampling_lib.check_sampling(sampling, frames_per_video, num_windows)
  methods = parse_methods(methods)
  num_windows = num_windows if sampling == "windows" else 1
  name = config_name(compression, frames_per_video, crop_size, methods, margin, min_face_size,
                     sampling, num_windows)
  return FaceForensicsConfig(
      name=name, compression=compression, frames_per_video=frames_per_video, crop_size=crop_size,
      margin=margin, methods=methods, min_face_size=min_face_size, sampling=sampling,
      num_windows=num_windows)


def _empty_split_report(listed: int, missing: list[str]) -> dict[str, Any]:
  return {"listed": listed, "missing": len(missing), "missing_files": missing, "built": 0,
          "skipped": 0, "skipped_files": {}, "warnings": [], "videos_with_faceless_frames": 0,
          "fakes_with_target_track": 0, "fakes_with_own_track": 0, "own_track_files": {},
          "seconds": 0.0}


class Faceforensics(tfds.core.GeneratorBasedBuilder):
  """FaceForensics++: aligned face crops of the sampled frames of every video, with metadata."""

  VERSION = tfds.core.Version("2.0.0")
  RELEASE_NOTES = {
      "1.0.0": "Initial release.",
      "2.0.0": "Windows of consecutive frames by default; fakes cropped with their target's face "
               "track; min_face_size, margin and sampling in the config name; per-split index.",
  }
  MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS
  BUILDER_CONFIGS = [make_config("c23"), make_config("c40"), make_config("raw")]
  DEFAULT_CONFIG_NAME = "c23"
  build_options = BuildOptions()  # set per builder by `ddf.data.build_lib.get_builder`.

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

  def example_options(self) -> ffpp_examples.ExampleOptions:
    cfg = self.builder_config
    return ffpp_examples.ExampleOptions(
        frames_per_video=cfg.frames_per_video, crop_size=cfg.crop_size, margin=cfg.margin,
        min_face_size=cfg.min_face_size, sampling=cfg.sampling, num_windows=cfg.num_windows,
        detect_on_accelerator=self.build_options.detect_on_accelerator)

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    manual_dir = Path(dl_manager.manual_dir)
    cfg = self.builder_config
    self._report: dict[str, Any] = {
        "manual_dir": str(manual_dir), "config": cfg.name, "version": str(self.version),
        "options": {k: getattr(cfg, k) for k in DATA_OPTIONS},
        "splits": {}, "workers": {}}
    meta = manual_dir / SYNTHETIC_META
    if meta.exists():
      self._report["synthetic"] = json.loads(meta.read_text()).get("params")
    entries = {split: split_entries(manual_dir, split, cfg.compression, cfg.methods)
               for split in SPLITS}
    present = {split: [e for e in es if e.path.exists()] for split, es in entries.items()}
    for split in SPLITS:
      missing = [str(e.path) for e in entries[split] if not e.path.exists()]
      self._report["splits"][split] = _empty_split_report(len(entries[split]), missing)
    if not any(present.values()):
      raise FileNotFoundError(
          f"No FF++ video of the splits was found under {manual_dir} for compression "
          f"{cfg.compression!r} and methods {', '.join(cfg.methods)} (looked e.g. for "
          f"{entries['train'][0].path if entries['train'] else '...'}).\n\n{_INSTRUCTIONS}")
    return {split: self._generate_examples(split, present[split]) for split in SPLITS}

  def _generate_examples(self, split: str, entries):
    """Reals first (their face tracks are kept), then every fake with its target's track."""
    options = self.example_options()
    report = self._report["splits"][split]
    start = time.time()
    reals = [e for e in entries if e.label == 0]
    fakes = [e for e in entries if e.label == 1]
    tracks: dict[str, ffpp_examples.TargetTrack] = {}
    for result in self._workers.map(reals, options, [None] * len(reals)):
      if result.track is not None:
        tracks[result.key.split("/")[-1]] = result.track
      yield from self._record(report, result)
    targets = [tracks.get(e.target_id) for e in fakes]
    for result in self._workers.map(fakes, options, targets):
      yield from self._record(report, result)
    report["seconds"] = round(time.time() - start, 1)

  def _record(self, report: dict[str, Any], result: ffpp_examples.ExampleResult):
    report["warnings"].extend(result.warnings)
    if result.worker:
      pid = str(result.worker["pid"])
      self._report["workers"][pid] = dict(result.worker, pid=int(pid))
    if result.example is None:
      report["skipped"] += 1
      report["skipped_files"][result.key] = result.skipped
      return
    report["built"] += 1
    report["videos_with_faceless_frames"] += int(result.frames_without_face > 0)
    if result.example["label"] == 1:
      if result.face_source == "target":
        report["fakes_with_target_track"] += 1
      else:
        report["fakes_with_own_track"] += 1
        report["own_track_files"][result.key] = result.own_track_reason
    yield result.key, result.example

  def download_and_prepare(self, *args, **kwargs) -> None:
    """Builds as usual, then writes the index and the build report beside the dataset."""
    start = time.time()
    already = self.data_path.exists()
    self._workers = _VideoWorkers(self.build_options.num_workers,
                                  self.build_options.detect_on_accelerator)
    try:
      super().download_and_prepare(*args, **kwargs)
    finally:
      self._workers.close()
    report = getattr(self, "_report", None)
    if already or report is None:
      return
    from ddf.data.pipeline import write_index

    if self.info.file_format == tfds.core.FileFormat.ARRAY_RECORD:  # random access needed
      write_index(self)
    report["seconds"] = round(time.time() - start, 1)
    report["workers"] = sorted(report["workers"].values(), key=lambda w: w["pid"])
    report["peak_rss_mb_per_worker"] = max((w["peak_rss_mb"] for w in report["workers"]),
                                           default=0.0)
    (Path(self.data_dir) / REPORT_NAME).write_text(json.dumps(report, indent=1))
    print(format_report(report, Path(self.data_dir) / REPORT_NAME))


class _VideoWorkers:
  """Worker processes for decode + face detection, started once and shared by all splits.

  CPU detection: `num_workers` spawned processes (0 = all cores), one thread each. Detection on
  an accelerator: this process alone, one video's frames per detector batch.
  """

  def __init__(self, num_workers: int, on_accelerator: bool):
    self._workers = 1 if on_accelerator else (num_workers or os.cpu_count() or 1)
    self._pool: concurrent.futures.ProcessPoolExecutor | None = None

  def map(self, entries, options: ffpp_examples.ExampleOptions, targets):
    """Yields an ExampleResult per entry (in order); `targets` are the fakes' target tracks."""
    if self._workers <= 1 or len(entries) <= 1:
      for entry, target in zip(entries, targets, strict=True):
        yield ffpp_examples.make_example(entry, options, target)
      return
    if self._pool is None:
      self._pool = concurrent.futures.ProcessPoolExecutor(
          self._workers, mp_context=multiprocessing.get_context("spawn"),  # JAX is not fork-safe.
          initializer=ffpp_examples.init_worker, initargs=(options,))
    yield from self._pool.map(ffpp_examples.make_example, entries, [options] * len(entries),
                              targets, chunksize=2)

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
                 f"{r['videos_with_faceless_frames']} with frames without a face; fakes cropped "
                 f"with their target's track: {r.get('fakes_with_target_track', 0)}, with their "
                 f"own: {r.get('fakes_with_own_track', 0)}")
    for key, reason in list(r["skipped_files"].items())[:10]:
      lines.append(f"      skipped {key}: {reason}")
    if r["missing"]:
      lines.append(f"      missing e.g. {r['missing_files'][0]}")
  if report.get("workers"):
    lines.append(f"  {len(report['workers'])} worker process(es), peak memory per worker "
                 f"{report['peak_rss_mb_per_worker']:.0f} MB")
  if path is not None:
    lines.append(f"  full report: {path}")
  return "\n".join(lines)
