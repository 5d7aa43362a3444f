"""A dataset's builder for a config, and where its data live (behind `ddf.data.build`).

Every option that changes what is stored is part of the builder config's name (e.g.
`c23_f16_s64`), so builds with other options never overwrite or reuse each other. A synthetic
tree lives in a folder named after its generation settings (`synthetic_dirs`), and so does the
dataset built from it: a run with other synthetic settings never reuses another run's data.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import ml_collections
import tensorflow_datasets as tfds

from ddf.data import storage
from ddf.data.celeb_df import CelebDf
from ddf.data.deeper_forensics import DeeperForensics
from ddf.data.dfd import Dfd
from ddf.data.dfdc import Dfdc
from ddf.data.faceforensics import Faceforensics, make_config
from ddf.data.video_builder import BuildOptions, VideoBuilder

# Every dataset `python -m ddf.data.build --dataset NAME` builds, by TFDS name.
DATASETS: dict[str, type[VideoBuilder]] = {
  cls.name: cls for cls in (Faceforensics, CelebDf, Dfdc, Dfd, DeeperForensics)
}


def get_builder(
  data_dir: str | os.PathLike,
  config: str | None = None,
  frames_per_video: int = 32,
  crop_size: int = 256,
  methods: tuple[str, ...] | str | None = None,
  num_workers: int = 0,
  *,
  margin: float = 1.3,
  min_face_size: int = 40,
  sampling: str = "windows",
  num_windows: int = 4,
  detect_on_accelerator: bool = False,
  detect_every: int = 1,
  videos_per_batch: int = 1,
  dataset: str = "faceforensics",
  beam_pipeline_options: str = "",
) -> VideoBuilder:
  """The builder of `dataset` for these options (nothing is built or read yet).

  `config` is the dataset's registered config (FF++: `c23` (default), `c40`, `raw`; see
  `DATASETS[dataset].BUILDER_CONFIGS`); `methods` (FF++ only) defaults to the classic four.
  Options equal to a registered config select that config by name, as `tfds build --config c23`
  does, so both find the same dataset. `num_workers` (0 = all cores) is the local build's;
  `beam_pipeline_options` (`runner=...,project=...`) build on that Beam runner instead;
  `detect_every` > 1 runs the full face detector on every k-th frame of a window only
  (`ddf.faces.FacePipeline`); `videos_per_batch` > 1 detects the faces of that many real videos
  in shared batches (`ddf.data.video_beam.MakeExampleGroups`).
  """
  if dataset not in DATASETS:
    raise ValueError(f"Unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}.")
  cls = DATASETS[dataset]
  options: dict = dict(
    frames_per_video=frames_per_video,
    crop_size=crop_size,
    margin=margin,
    min_face_size=min_face_size,
    sampling=sampling,
    num_windows=num_windows,
  )
  if methods is not None:
    if cls is not Faceforensics:
      raise ValueError(f"methods are an FF++ option; {dataset} has none.")
    options["methods"] = methods
  cfg = cls.make_builder_config(config, **options)
  registered = cls.builder_configs.get(cfg.name)
  builder = cls(
    config=cfg.name if registered is not None else cfg,
    data_dir=os.fspath(storage.as_path(data_dir)),
    file_format="array_record",
  )
  builder.build_options = BuildOptions(
    num_workers=num_workers,
    detect_on_accelerator=detect_on_accelerator,
    beam_pipeline_options=beam_pipeline_options,
    detect_every=detect_every,
    videos_per_batch=videos_per_batch,
  )
  return builder


def build(builder: VideoBuilder, manual_dir: str | os.PathLike) -> VideoBuilder:
  """Builds the dataset from `manual_dir` unless it is already there."""
  manual_dir = storage.as_path(manual_dir)
  builder.check_manual_dir(manual_dir)
  builder.download_and_prepare(
    file_format="array_record",
    download_config=tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir)),
  )
  return builder


def synthetic_settings(data: ml_collections.ConfigDict) -> dict[str, Any]:
  """The `ddf.data.synthetic.generate` arguments of a config's synthetic data."""
  from ddf.data import synthetic_lib as synthetic

  return synthetic.settings_from_config(data)


def synthetic_dirs(data: ml_collections.ConfigDict) -> tuple[Path, Path]:
  """(tree folder, TFDS data_dir) of a config's synthetic data, named after its settings.

  `<manual_dir>/<slug>` and `<data_dir>/synthetic/<slug>`, where the slug spells the main
  settings and ends in a digest of all of them (and of the generator's version).
  """
  from ddf.data import synthetic_lib as synthetic

  settings = synthetic_settings(data)
  key = json.dumps(
    {"settings": settings, "generator": synthetic.GENERATOR_VERSION}, sort_keys=True, default=list
  )
  digest = hashlib.sha256(key.encode()).hexdigest()[:8]
  pairs = "-".join(str(p) for p in settings["pairs"])
  slug = (
    f"p{pairs}_s{settings['size']}_f{settings['num_frames']}"
    f"_d{settings['difficulty']:g}_seed{settings['seed']}_{digest}"
  )
  root = Path(os.path.expanduser(str(data.manual_dir)))
  return root / slug, Path(os.path.expanduser(str(data.data_dir))) / "synthetic" / slug


def data_dirs(data: ml_collections.ConfigDict) -> tuple[Path, Path]:
  """(manual_dir, data_dir) a config reads: as given, or per synthetic settings."""
  if data.get("synthetic", False):
    return synthetic_dirs(data)
  return storage.as_path(data.manual_dir), storage.as_path(data.data_dir)


def stored_options(data: Any) -> dict[str, Any]:
  """`make_config` arguments of a config's `data` field (a ConfigDict or a plain dict)."""
  get = data.get
  return dict(
    compression=get("config"),
    frames_per_video=get("frames_per_video"),
    crop_size=get("crop_size"),
    methods=get("methods"),
    margin=get("margin", 1.3),
    min_face_size=get("min_face_size", 40),
    sampling=get("sampling", "uniform"),
    num_windows=get("num_windows", 1),
  )


def builder_config_name(data: Any) -> str:
  """The builder config name a config's `data` field trains on (e.g. `c23_f16_s64_w2`)."""
  return make_config(**stored_options(data)).name


def builder_from_config(data: ml_collections.ConfigDict, prepare: bool = True) -> Faceforensics:
  """The builder of a training config's `data` field; generates/builds missing data if asked.

  With `data.synthetic`, a missing tree is made by the synthetic FF++ generator first.
  """
  manual_dir, data_dir = data_dirs(data)
  options = stored_options(data)
  builder = get_builder(
    data_dir,
    options.pop("compression"),
    num_workers=data.get("build_workers", 0),
    detect_on_accelerator=data.get("detect_on_accelerator", False),
    detect_every=data.get("detect_every", 1),
    videos_per_batch=data.get("videos_per_batch", 1),
    beam_pipeline_options=data.get("beam_pipeline_options", ""),
    **options,
  )
  if not prepare or builder.data_path.exists():
    return builder
  if data.get("synthetic", False):
    from ddf.data import synthetic_lib as synthetic

    if not synthetic.is_complete(manual_dir):
      print(f"Generating the synthetic FF++ tree in {manual_dir} ...", flush=True)
      synthetic.generate(manual_dir, **synthetic_settings(data))
  elif not (manual_dir / "splits").exists():
    raise FileNotFoundError(
      f"data.manual_dir={manual_dir} has no splits/ folder and data.synthetic is False.\n\n"
      + Faceforensics.MANUAL_DOWNLOAD_INSTRUCTIONS
    )
  print(
    f"Building {builder.name}/{builder.builder_config.name} into {builder.data_dir} ...", flush=True
  )
  return build(builder, manual_dir)
