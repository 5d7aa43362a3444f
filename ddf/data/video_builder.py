"""The TFDS builder shared by every video dataset (FF++, Celeb-DF, DFDC, DFD, DeeperForensics).

A dataset subclasses `VideoBuilder` and says only how its download lists the videos of each split
(`split_entries` -> `VideoEntry`s, missing files included) and which configs it has (`VARIANTS`).
Everything else is shared: the feature dict (`_info`), the face pipeline
(`ffpp_examples.make_example`), the sampling options and their encoding in the config name
(`c23_f16_w2`, `v2_s64`), the build report (`build_report.json`) and the per-split index
(`ddf_index.json`) beside the dataset.

Examples are made by an Apache Beam pipeline (`ddf.data.video_beam`): on this machine's cores by
default, on a cluster with Beam pipeline options. Per split, real videos are built first and their
face tracks kept; a fake whose `target_id` is a real of the same split with as many frames is
cropped with that real's track (it shows the same person at the same place), any other fake with
its own. Missing files are counted, never fatal.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow_datasets as tfds
from etils.epath import Path

from ddf.data import ffpp_examples, storage, video_beam, video_report
from ddf.data import sampling as sampling_lib
from ddf.data.ffpp_layout import VideoEntry
from ddf.data.provenance import REPORT_NAME


@dataclasses.dataclass
class VideoConfig(tfds.core.BuilderConfig):
  """What one build stores: the dataset's variant, frame sampling and face crops."""

  variant: str = ""  # the registered config this one derives from (the start of its name).
  compression: str = "raw"
  frames_per_video: int = 32
  crop_size: int = 256
  margin: float = 1.3
  min_face_size: int = 40  # pixels in the original frame.
  sampling: str = "windows"  # windows | uniform (ddf.data.sampling)
  num_windows: int = 4


@dataclasses.dataclass(frozen=True)
class BuildOptions:
  """How a build runs (not what it stores): where, on how many workers, where faces are detected."""

  num_workers: int = 0  # local build: processes for decode + detection; 0 = all cores.
  detect_on_accelerator: bool = False  # one process owns the accelerator and detects in batches.
  # Full face detection on every k-th frame of each stored window only, O-Net tracking between
  # (ddf.faces.FacePipeline; landmarks within ~2 px of detecting every frame). 1 = every frame.
  detect_every: int = 1
  # Real videos per worker element, their key frames detected in shared batches (an accelerator
  # worker keeps busier); 1 = one video at a time. A build's bytes depend on it (float rounding).
  videos_per_batch: int = 1
  # Beam pipeline options (`runner=FlinkRunner,flink_master=h:8081,...`); "" = local DirectRunner.
  # `tfds build --beam_pipeline_options` takes precedence.
  beam_pipeline_options: str = ""


_DEFAULTS = VideoConfig(name="defaults")
SAMPLING_OPTIONS = (
  "frames_per_video",
  "crop_size",
  "margin",
  "min_face_size",
  "sampling",
  "num_windows",
)


def options_suffix(
  frames_per_video: int = 32,
  crop_size: int = 256,
  margin: float = 1.3,
  min_face_size: int = 40,
  sampling: str = "windows",
  num_windows: int = 4,
) -> str:
  """`_f16_s64_w2`-style: every sampling option that differs from its default, for names."""
  d = _DEFAULTS
  windows = num_windows if sampling == d.sampling else d.num_windows  # uniform: no windows.
  parts = [
    (frames_per_video, d.frames_per_video, f"_f{frames_per_video}"),
    (crop_size, d.crop_size, f"_s{crop_size}"),
    (sampling, d.sampling, f"_{sampling}"),
    (windows, d.num_windows, f"_w{num_windows}"),
    (margin, d.margin, f"_m{margin:g}"),
    (min_face_size, d.min_face_size, f"_min{min_face_size}"),
  ]
  return "".join(text for value, default, text in parts if value != default)


def make_config(
  variants: Mapping[str, str],
  variant: str,
  frames_per_video: int = 32,
  crop_size: int = 256,
  margin: float = 1.3,
  min_face_size: int = 40,
  sampling: str = "windows",
  num_windows: int = 4,
  *,
  config_class: type[VideoConfig] = VideoConfig,
  suffix: str = "",
  **fields: Any,
) -> VideoConfig:
  """A validated config named `<variant><options_suffix><suffix>` (builds never collide).

  Args:
    variants: registered variant -> the compression its videos have.
    variant: one of `variants`.
    config_class, fields: a dataset's config class and its own fields.
    suffix: the dataset's own name part for its own fields.
  """
  if variant not in variants:
    raise ValueError(f"config must be one of {', '.join(variants)}, got {variant!r}")
  sampling_lib.check_sampling(sampling, frames_per_video, num_windows)
  num_windows = num_windows if sampling == "windows" else 1
  name = (
    variant
    + options_suffix(frames_per_video, crop_size, margin, min_face_size, sampling, num_windows)
    + suffix
  )
  return config_class(
    name=name,
    variant=variant,
    compression=variants[variant],
    frames_per_video=frames_per_video,
    crop_size=crop_size,
    margin=margin,
    min_face_size=min_face_size,
    sampling=sampling,
    num_windows=num_windows,
    **fields,
  )


def _first_of_each_key(entries: list[VideoEntry]) -> list[VideoEntry]:
  """`entries` without repeats (a list that names a video twice), in order."""
  first: dict[str, VideoEntry] = {}
  for entry in entries:
    first.setdefault(entry.key, entry)
  return list(first.values())


class VideoBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Aligned face crops of the sampled frames of every listed video, with metadata.

  Subclasses set `VARIANTS` (a registered config each, the first the default), `SPLITS`,
  `TITLE`, `HOMEPAGE`, `CITATION`, `MANUAL_DOWNLOAD_INSTRUCTIONS` and define `split_entries`.
  """

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Initial release."}
  VARIANTS: Mapping[str, str] = {}  # registered config -> compression of its videos.
  SPLITS: tuple[str, ...] = ("train", "test")
  TITLE = ""  # the dataset's name in messages.
  HOMEPAGE = ""
  CITATION = ""
  DATA_OPTIONS: tuple[str, ...] = ("variant", "compression") + SAMPLING_OPTIONS  # in the report.
  build_options = BuildOptions()  # set per builder by `ddf.data.build_lib.get_builder`.

  def __init_subclass__(cls, **kwargs: Any):
    """A dataset that sets `VARIANTS` gets one registered config per variant (first: default)."""
    if "VARIANTS" in cls.__dict__ and "BUILDER_CONFIGS" not in cls.__dict__:
      cls.BUILDER_CONFIGS = [make_config(cls.VARIANTS, v) for v in cls.VARIANTS]
      cls.DEFAULT_CONFIG_NAME = next(iter(cls.VARIANTS))
    super().__init_subclass__(**kwargs)

  @classmethod
  def make_builder_config(cls, variant: str | None = None, **options: Any) -> VideoConfig:
    """The config of `variant` (default: the default config) with these sampling options."""
    return make_config(cls.VARIANTS, variant or cls.DEFAULT_CONFIG_NAME, **options)

  @abc.abstractmethod
  def split_entries(self, manual_dir: Path) -> dict[str, list[VideoEntry]]:
    """{split: every video the dataset's lists put in it}, files missing on disk included.

    Raises FileNotFoundError, naming the file and what to do, when a list file is missing.
    """

  def check_manual_dir(self, manual_dir: Path) -> None:
    """Raises FileNotFoundError (saying what to do) when the download cannot be listed."""
    self.split_entries(manual_dir)

  def require(self, path: Path, what: str) -> Path:
    """`path`, or FileNotFoundError naming it (`what` it is) and the download instructions."""
    if not path.exists():
      raise FileNotFoundError(f"Missing {what}: {path}.\n\n{self.MANUAL_DOWNLOAD_INSTRUCTIONS}")
    return path

  def report_extras(self, manual_dir: Path) -> dict[str, Any]:
    """More top-level entries of the build report (e.g. a synthetic tree's settings)."""
    del manual_dir
    return {}

  def missing_hint(self) -> str:
    """What was looked for, in the error raised when no listed video is on disk."""
    return ""

  def _info(self) -> tfds.core.DatasetInfo:
    cfg = self.builder_config
    t, s = cfg.frames_per_video, cfg.crop_size
    return self.dataset_info_from_configs(
      features=tfds.features.FeaturesDict(
        {
          "video_id": tfds.features.Text(),
          "label": tfds.features.ClassLabel(names=["real", "fake"]),
          "method": tfds.features.Text(),
          "compression": tfds.features.Text(),
          "target_id": tfds.features.Text(),
          "source_id": tfds.features.Text(),
          "frames": tfds.features.Sequence(
            tfds.features.Image(shape=(s, s, 3), encoding_format="jpeg"), length=t
          ),
          "landmarks": tfds.features.Tensor(shape=(t, 5, 2), dtype=np.float32),
          "face_found": tfds.features.Tensor(shape=(t,), dtype=np.bool_),
          "frame_indices": tfds.features.Tensor(shape=(t,), dtype=np.int32),
          "fps": tfds.features.Scalar(dtype=np.float32),
          "original_height": tfds.features.Scalar(dtype=np.int32),
          "original_width": tfds.features.Scalar(dtype=np.int32),
        }
      ),
      supervised_keys=None,
      homepage=self.HOMEPAGE,
      citation=self.CITATION,
    )

  def example_options(self) -> ffpp_examples.ExampleOptions:
    cfg = self.builder_config
    return ffpp_examples.ExampleOptions(
      frames_per_video=cfg.frames_per_video,
      crop_size=cfg.crop_size,
      margin=cfg.margin,
      min_face_size=cfg.min_face_size,
      sampling=cfg.sampling,
      num_windows=cfg.num_windows,
      detect_on_accelerator=self.build_options.detect_on_accelerator,
      detect_every=self.build_options.detect_every,
      videos_per_batch=self.build_options.videos_per_batch,
    )

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    storage.check_shards_writable(self.data_dir)  # before any video is decoded (`tfds build`)
    manual_dir = storage.as_path(dl_manager.manual_dir)
    cfg = self.builder_config
    self._report = video_report.new_report(
      manual_dir, cfg.name, str(self.version), {k: getattr(cfg, k) for k in self.DATA_OPTIONS}
    )
    self._report.update(self.report_extras(manual_dir))
    entries = {
      split: _first_of_each_key(es) for split, es in self.split_entries(manual_dir).items()
    }
    present = {}
    for split, es in entries.items():  # one existence check per video (a remote call on a bucket)
      found = [storage.exists(e.path) for e in es]
      present[split] = [e for e, ok in zip(es, found, strict=True) if ok]
      missing = [str(e.path) for e, ok in zip(es, found, strict=True) if not ok]
      self._report["splits"][split] = video_report.split_report(len(es), missing)
    if not any(present.values()):
      example = next((e.path for es in entries.values() for e in es), "...")
      raise FileNotFoundError(
        f"No {self.TITLE} video of the splits was found under {manual_dir}{self.missing_hint()} "
        f"(looked e.g. for {example}).\n\n{self.MANUAL_DOWNLOAD_INSTRUCTIONS}"
      )
    # TFDS cannot write an empty split: one with no video on disk is only in the report.
    return {split: self._generate_examples(split, es) for split, es in present.items() if es}

  def _generate_examples(self, split: str, entries: list[VideoEntry]):
    """A Beam PTransform: reals first (their face tracks kept), then every fake with its target's
    track (`ddf.data.video_beam.generate_split`)."""
    return video_beam.generate_split(
      split,
      entries,
      self.example_options(),
      os.fspath(storage.as_path(self.data_dir) / video_beam.REPORT_PARTS),
      worker_process=not video_beam.runs_in_this_process(self._beam_options),
      cache_dir=self._cache_dir,
    )

  def download_and_prepare(self, *args, download_config=None, **kwargs) -> None:
    """Builds with Beam (locally unless `download_config` or `build_options` names a runner),
    then writes the index and the build report beside the dataset."""
    start = time.time()
    if self.data_path.exists():
      super().download_and_prepare(*args, download_config=download_config, **kwargs)
      return
    config = download_config or tfds.download.DownloadConfig()
    if config.beam_options is None:
      options = self.build_options
      config = dataclasses.replace(
        config,
        beam_options=video_beam.pipeline_options(
          options.beam_pipeline_options or None,
          options.num_workers,
          options.detect_on_accelerator,
        ),
      )
    self._beam_options = config.beam_options
    # Beside the dataset's folder (TFDS builds in a temporary one that a failure deletes).
    self._cache_dir = os.fspath(
      storage.as_path(self.data_dir).parent / f"{self.version}.{video_beam.CACHE_SUFFIX}"
    )
    runner, workers = video_beam.describe(config.beam_options)
    if config.beam_runner is not None:
      runner = type(config.beam_runner).__name__
    print(
      f"Building {self.name}/{self.builder_config.name} with Beam: runner {runner}, "
      f"workers {workers}",
      flush=True,
    )
    if storage.exists(self._cache_dir):
      print(f"Resuming: videos finished by an interrupted build are in {self._cache_dir}")
    super().download_and_prepare(*args, download_config=config, **kwargs)
    storage.remove_tree(self._cache_dir)  # complete: nothing to resume
    report = getattr(self, "_report", None)
    if report is None:
      return
    from ddf.data.pipeline import write_index

    if self.info.file_format == tfds.core.FileFormat.ARRAY_RECORD:  # random access needed
      write_index(self)
    parts = storage.as_path(self.data_dir) / video_beam.REPORT_PARTS
    records = [
      json.loads(line)
      for path in sorted(parts.glob("*.jsonl"))
      for line in path.read_text().splitlines()
      if line.strip()
    ]
    video_report.add_records(report, records)
    storage.remove_tree(parts)
    report["beam"] = {"runner": runner, "workers": workers}
    # How faces were found: not in the config name, so recorded here (1 = every stored frame).
    report["detect_every"] = self.build_options.detect_every
    report["videos_per_batch"] = self.build_options.videos_per_batch
    video_report.finish(report, time.time() - start)
    path = storage.as_path(self.data_dir) / REPORT_NAME
    path.write_text(json.dumps(report, indent=1))
    print(video_report.format_report(report, path, self.TITLE))
