"""Embedded default: synthetic FF++-format data, full fusion model sized for a CPU.

The default tree is the identity-disjoint benchmark (`use_disjoint_benchmark`): 400 / 100 / 200
videos, no face photo in two splits, a camera per video.

Run (generates and builds the synthetic dataset on first use, trains, evaluates val-selected
checkpoint on test, prints a table):

  python -m ddf.train --config configs/default.py --workdir runs/default

Every field can be overridden from the command line, e.g. `--config.num_train_steps=50`.
"""

from __future__ import annotations

import dataclasses

import ml_collections


def get_model_config() -> ml_collections.ConfigDict:
  """Model fields shared by every config: the defaults of `ddf.models.detector`'s sub-configs
  (SpatialConfig, TemporalConfig, MicroConfig, HeadConfig; docs/design.md section 5)."""
  from ddf.models import detector

  m = ml_collections.ConfigDict()
  # Which context vectors feed the head: any subset of spatial, temporal, micro, micro_temporal.
  m.branches = ",".join(detector.BRANCHES)
  m.fusion = "concat"  # "concat" or "attention" (attention over the branch context vectors).
  m.fusion_norm = True  # LayerNorm each branch's context vector before fusion.
  m.spatial = ml_collections.ConfigDict(dataclasses.asdict(detector.SpatialConfig()))
  m.spatial.pretrained = ""  # directory written by `python -m ddf.weights` ("" = random init).
  m.temporal = ml_collections.ConfigDict(dataclasses.asdict(detector.TemporalConfig()))
  m.micro = ml_collections.ConfigDict(dataclasses.asdict(detector.MicroConfig()))
  m.head = ml_collections.ConfigDict(dataclasses.asdict(detector.HeadConfig()))
  m.dtype = "float32"  # compute dtype: float32 | bfloat16 (parameters stay float32).
  return m


def set_optimization(
  c: ml_collections.ConfigDict,
  *,
  batch_size: int,
  eval_batch_size: int,
  learning_rate: float,
  warmup_steps: int,
  num_train_steps: int,
  eval_every_steps: int,
  checkpoint_every_steps: int,
  log_every_steps: int,
) -> None:
  """The schedule of a run: batch sizes (in clips), learning rate, steps and periods."""
  c.batch_size = batch_size  # global batch.
  c.eval_batch_size = eval_batch_size
  c.learning_rate = learning_rate
  c.warmup_steps = warmup_steps
  c.num_train_steps = num_train_steps
  c.eval_every_steps = eval_every_steps  # val evaluation (+ best checkpoint); 0 = never.
  c.checkpoint_every_steps = checkpoint_every_steps
  c.log_every_steps = log_every_steps


def get_mesh_config() -> ml_collections.ConfigDict:
  """Device mesh and logical-axis rules (docs/design.md section 6)."""
  mesh = ml_collections.ConfigDict()
  mesh.axes = ("data", "fsdp", "model")
  mesh.shape = (-1, 1, 1)  # -1: all remaining devices.
  # Logical axis name -> mesh axes. Parameters: conv_in/conv_out/embed/mlp/lstm_gates;
  # activations: batch/time/height/width/channels.
  mesh.rules = (
    ("batch", ("data", "fsdp")),
    ("time", None),
    ("height", None),
    ("width", None),
    ("channels", None),
    ("conv_in", None),
    ("conv_out", "fsdp"),
    ("embed", "fsdp"),
    ("mlp", "model"),
    ("lstm_gates", "model"),
  )
  return mesh


def use_feature_cache(c: ml_collections.ConfigDict) -> None:
  """Frozen backbone, trained on its precomputed features (no pixel augmentation)."""
  c.model.spatial.freeze = True
  c.data.feature_cache = True
  for key in c.data.augment:
    c.data.augment[key] = type(c.data.augment[key])(0)


def use_disjoint_benchmark(c: ml_collections.ConfigDict) -> None:
  """The embedded benchmark, the default: every shipped face photo, none in two splits, swaps
  that warp another identity's face, a camera per video, fakes made on the filmed video (after
  capture), 400 / 100 / 200 videos (80 / 20 / 40 reals); the model reads the frames' Laplacian
  residual, trains without colour jitter or head dropout, for 1500 steps. Each setting was
  chosen on the val splits of the identity-disjoint trees (README, "How the benchmark was
  chosen")."""
  c.data.synthetic_photos = "disjoint"
  c.data.synthetic_pairs = (40, 10, 20)
  c.data.synthetic_camera = 1.0
  c.data.synthetic_capture = "after"
  c.data.augment.color_jitter = 0.0
  c.model.spatial.highpass = True
  c.model.head.dropout = 0.0
  c.num_train_steps = 1500
  c.eval_every_steps = 250
  c.checkpoint_every_steps = 250


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  """Default config (the identity-disjoint benchmark, `use_disjoint_benchmark`); `arg` is a
  comma-separated list of options:

  tiny      the test-sized variant (a few seconds of training) of the shared tree;
  frozen    frozen (randomly initialised) backbone, trained on its cached features.

  The trees of the README's earlier experiments, each with the model and schedule of the
  two-photo tree (the default until 2026-12-01), so that their commands still reproduce them:

  shared    scikit-image's two face photos in every split, 80 / 20 / 40 videos, one camera;
  disjoint  shared's settings on the identity-disjoint pool, 400 / 100 / 200 videos;
  morphed   disjoint, and no identity twice in a split: ids beyond a split's photos are morphs
            of two of its photos;
  camera    every synthetic video filmed by a camera of its own (white balance, focus, noise).
  """
  known = ("tiny", "frozen", "shared", "disjoint", "morphed", "camera")
  opts = set((arg or "").split(",")) - {""}
  if opts - set(known):
    raise ValueError(
      f"configs/default.py: unknown options {sorted(opts - set(known))}; "
      f"choose from {', '.join(known)}"
    )
  c = ml_collections.ConfigDict()
  c.seed = 0

  # Data: the synthetic FF++-format tree, built by the same TFDS builder as real FF++.
  c.data = ml_collections.ConfigDict()
  c.data.name = "faceforensics"  # TFDS builder name.
  c.data.config = "c23"  # builder config: c23 | c40 | raw.
  c.data.data_dir = "~/ddf_data/tfds"  # where the built array_record dataset lives.
  c.data.manual_dir = "~/ddf_data/synthetic_ffpp"  # FF++ download tree (or synthetic one).
  c.data.synthetic = True  # generate the synthetic tree in manual_dir when it is missing.
  c.data.synthetic_pairs = (16, 4, 4)  # [target, source] pairs in train / val / test.
  # Identity pool: "shared" = scikit-image's two face photos in every split; "disjoint" = every
  # shipped face photo, none in two splits, swaps warp another identity's face (the default);
  # "morphed" = disjoint + morphs of a split's photos where it has more ids than photos.
  c.data.synthetic_photos = "shared"
  c.data.synthetic_size = 160  # synthetic video frame size (pixels, square).
  c.data.synthetic_frames = 24  # frames per synthetic video.
  c.data.synthetic_difficulty = 0.5
  c.data.synthetic_seed = 0
  c.data.synthetic_face_dirs = ()  # folders of extra face photos for the generator.
  c.data.synthetic_dynamics = 1.0  # lighting-drift speed (configs/diagnostics.py: faster).
  # Per-video capture variability (white balance, focus, noise; ddf/data/synthetic_camera.py),
  # 0 = one fixed camera for every video (option camera: 1).
  c.data.synthetic_camera = 0.0
  # When a fake is made: "before" its target's camera films it (the options' trees), or "after"
  # (the benchmark), composited onto the filmed video with noise of its own
  # (ddf/data/synthetic_lib.py).
  c.data.synthetic_capture = "before"
  # Std of a fine texture fixed to every face (ddf.data.synthetic_faces.with_skin_texture; 0 = none).
  c.data.synthetic_skin_texture = 0.0
  c.data.methods = "Deepfakes,Face2Face,FaceSwap,NeuralTextures"
  # Frames stored per video at build time (ddf/data/sampling.py): `num_windows` windows of
  # consecutive frames spread over the video ("windows"), or evenly spaced frames ("uniform").
  c.data.frames_per_video = 16
  c.data.sampling = "windows"
  c.data.num_windows = 2
  c.data.crop_size = 64  # aligned face crop stored per frame.
  c.data.margin = 1.3  # the face spans 1/margin of the crop.
  c.data.min_face_size = 40  # smallest face side (original pixels) found by the detector.
  c.data.clip_len = 8  # frames per training / eval clip (inside one window).
  c.data.clips_per_video_eval = 1  # fixed clips per video at evaluation ("uniform" only).
  # A clip is trained on or scored only when this fraction of its frames had a detected face.
  c.data.min_face_fraction = 1.0
  c.data.balance = True  # oversample reals to 1:1 in training.
  c.data.augment = ml_collections.ConfigDict()
  c.data.augment.flip = True
  c.data.augment.color_jitter = 0.1
  c.data.augment.jpeg_prob = 0.0
  c.data.augment.blur_prob = 0.0
  c.data.augment.shift = 0  # translate a clip by up to this many pixels (all frames alike).
  # Self-blended fakes made on the fly from real clips (ddf/data/sbi.py): "off", "reals_only"
  # (train on reals + their self-blends, as SBI does) or "mixed" (+ the dataset's own fakes);
  # `frequency` scales the self-blends' blur / sharpening (1 = SBI's ranges, 0 = none); `warp`
  # is the interpolation of the source's scale and shift ("linear" | "cubic"; ddf/data/sbi.py).
  c.data.sbi = ml_collections.ConfigDict(
    dict(mode="off", fraction=0.5, frequency=1.0, warp="linear")
  )
  c.data.num_workers = 0  # grain worker processes (0 = in process).
  c.data.build_workers = 0  # processes for decode + face detection at build time (0 = all cores).
  # Build on a Beam runner (`runner=FlinkRunner,flink_master=...`; README); "" = on this machine.
  c.data.beam_pipeline_options = ""
  c.data.detect_on_accelerator = False  # build: detect faces on the accelerator, batched.
  # Build and predict: full face detection on every k-th frame of each window, O-Net tracking
  # in between (ddf.faces.FacePipeline); 1 = every frame.
  c.data.detect_every = 1
  # Build: real videos whose faces are detected in shared batches (for an accelerator); 1 = alone.
  c.data.videos_per_batch = 1
  # Frozen backbone only: precompute its features once per split and train on them
  # (ddf/data/feature_cache.py; pixel augmentation is then skipped).
  c.data.feature_cache = False
  c.data.feature_cache_dir = "~/ddf_data/feature_cache"
  c.data.feature_cache_dtype = "float16"  # storage: float16 (half the disk) or float32.
  c.data.feature_cache_batch_frames = 64  # frames per backbone call when computing the cache.

  c.model = get_model_config()
  # Sized for a 2-core CPU (the structure of docs/design.md section 5, narrower layers);
  # configs/ffpp.py restores the original widths.
  c.model.micro.image_size = 32
  c.model.micro.filters = (16, 32, 64)
  c.model.micro.dense = (128, 64)
  c.model.micro.hidden_sizes = (64, 32)
  c.model.temporal.hidden_sizes = (64, 32)
  c.model.head.hidden = (128, 64, 32)
  c.model.head.dropout = 0.2
  c.mesh = get_mesh_config()

  # Optimisation.
  set_optimization(
    c,
    batch_size=8,
    eval_batch_size=16,
    learning_rate=5e-4,
    warmup_steps=20,
    num_train_steps=600,
    eval_every_steps=100,
    checkpoint_every_steps=100,
    log_every_steps=20,
  )
  c.weight_decay = 1e-4
  c.grad_clip_norm = 1.0
  c.grad_accum_steps = 1
  c.max_to_keep = 3
  c.nan_policy = "stop"  # stop | skip
  c.eval_splits = ("val", "test")
  c.select_metric = "video_auc"  # best checkpoint chosen on val by this metric.

  if not opts & {"tiny", "shared", "disjoint", "morphed", "camera"}:
    use_disjoint_benchmark(c)
  if "disjoint" in opts or "morphed" in opts:
    c.data.synthetic_photos = "morphed" if "morphed" in opts else "disjoint"
    c.data.synthetic_pairs = (40, 10, 20)
  if "camera" in opts:
    c.data.synthetic_camera = 1.0
  if "frozen" in opts:
    use_feature_cache(c)
  if "tiny" in opts:
    c.data.synthetic_pairs = (4, 2, 2)
    c.data.synthetic_size = 96
    c.data.synthetic_frames = 8
    c.data.frames_per_video = 4
    c.data.num_windows = 1
    c.data.clip_len = 4
    c.data.crop_size = 32
    c.model.spatial.image_size = 32
    c.model.micro.image_size = 16
    c.model.micro.filters = (4, 8, 8)
    c.model.micro.dense = (16, 8)
    c.model.micro.hidden_sizes = (8, 4)
    c.model.temporal.hidden_sizes = (8, 4)
    c.model.head.hidden = (16, 8)
    # Tests compare the outputs of untrained or briefly trained models (paths, meshes, caches);
    # a zero logit layer would make those outputs constant and the comparisons blind.
    c.model.head.zero_init = False
    set_optimization(
      c,
      batch_size=4,
      eval_batch_size=4,
      learning_rate=c.learning_rate,
      warmup_steps=1,
      num_train_steps=4,
      eval_every_steps=2,
      checkpoint_every_steps=2,
      log_every_steps=1,
    )
  c.lock()
  return c
