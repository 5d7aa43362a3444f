"""FaceForensics++ runs: compression x backbone, plus frozen-backbone and TPU-pod variants.

Build the dataset once (see README, "Real FaceForensics++"), then e.g.

  python -m ddf.train --config configs/ffpp.py:c23,resnet50 --workdir runs/ffpp_c23_r50
  python -m ddf.train --config configs/ffpp.py:c40,resnet50 --workdir runs/ffpp_c40_r50
  python -m ddf.train --config configs/ffpp.py:c23,vgg16 --workdir runs/ffpp_c23_vgg16
  python -m ddf.train --config configs/ffpp.py:c40,vgg16 --workdir runs/ffpp_c40_vgg16
  # frozen ImageNet backbone, features precomputed once (fast on small hardware):
  python -m ddf.train --config configs/ffpp.py:c23,resnet50,frozen --workdir runs/ffpp_c23_r50_frozen
  # self-blended training (SBI): reals and their self-blends only; or mixed with the FF++ fakes
  python -m ddf.train --config configs/ffpp.py:c23,resnet50,sbi --workdir runs/ffpp_c23_r50_sbi
  python -m ddf.train --config configs/ffpp.py:c23,resnet50,sbi_mixed --workdir runs/ffpp_sbi_mix
  # 32 evenly spaced frames per video instead of 4 windows of 8 consecutive ones:
  python -m ddf.train --config configs/ffpp.py:c23,resnet50,uniform --workdir runs/ffpp_c23_r50_uni
  # TPU pod slice (see launch/tpu_pod.sh): FSDP over the pod, bf16 compute, remat:
  bash launch/tpu_pod.sh configs/ffpp.py:c23,resnet50,tpu gs://BUCKET/runs/ffpp_c23_r50_tpu

The frozen variant computes the backbone's features of every stored frame once (the first run;
later runs with the same weights reuse them) into `data.feature_cache_dir`: ResNet50 at 224 px
stores 7x7x2048 float16 values per frame, ~6.4 MB per 32-frame video, ~32 GB for c23 train/val/test
(VGG16: a quarter of that). Pixel augmentation does not apply to precomputed features.

Pretrained weights: `python -m ddf.weights --from keras --arch resnet50 --input FILE --output
~/ddf_data/weights/resnet50` (see README, "Pretrained weights"); the path is
`model.spatial.pretrained`.
"""

from __future__ import annotations

import ml_collections

from configs import default

OPTIONS = {
  "compression": ("c23", "c40", "raw"),
  "backbone": ("resnet50", "vgg16"),
  "variant": ("frozen", "uniform", "tpu", "sbi", "sbi_mixed"),
}


def parse_options(arg: str | None) -> set[str]:
  """'c23,resnet50,frozen' -> options; an unknown or conflicting option is an error."""
  opts = set((arg or "c23,resnet50").split(",")) - {""}
  known = {o for group in OPTIONS.values() for o in group}
  if opts - known:
    raise ValueError(
      f"configs/ffpp.py: unknown options {sorted(opts - known)}; choose from "
      + "; ".join(f"{k}: {', '.join(v)}" for k, v in OPTIONS.items())
    )
  for group in ("compression", "backbone"):
    if len(opts & set(OPTIONS[group])) > 1:
      raise ValueError(
        f"configs/ffpp.py: give one {group}, got {sorted(opts & set(OPTIONS[group]))}"
      )
  return opts


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  opts = parse_options(arg)
  compression = next((o for o in OPTIONS["compression"] if o in opts), "c23")
  arch = next((o for o in OPTIONS["backbone"] if o in opts), "resnet50")
  c = default.get_config()
  c.unlock()
  c.data.config = compression
  c.data.synthetic = False
  c.data.manual_dir = "~/ddf_data/FaceForensics++"
  c.data.frames_per_video = 32
  c.data.sampling = "windows"  # 4 windows of 8 consecutive frames; each window is one clip.
  c.data.num_windows = 4
  c.data.crop_size = 256
  c.data.clip_len = 8
  c.data.clips_per_video_eval = 4
  c.data.augment.flip = True
  c.data.augment.color_jitter = 0.1
  c.data.augment.jpeg_prob = 0.3
  c.data.augment.blur_prob = 0.1
  c.data.num_workers = -1  # grain workers: one per CPU core, at most 8.
  c.model = default.get_model_config()  # the original widths (docs/design.md section 5)
  c.model.spatial.arch = arch
  c.model.spatial.image_size = 224  # crops are resized to 224 before the backbone.
  c.model.spatial.pretrained = f"~/ddf_data/weights/{arch}"
  default.set_optimization(
    c,
    batch_size=32,
    eval_batch_size=64,
    learning_rate=1e-4,
    warmup_steps=1000,
    num_train_steps=30_000,
    eval_every_steps=1000,
    checkpoint_every_steps=1000,
    log_every_steps=100,
  )
  if "uniform" in opts:  # 32 evenly spaced frames: the frame-level protocol, 4 clips per video.
    c.data.sampling = "uniform"
  if "sbi" in opts:  # reals + their self-blended fakes only (Shiohara & Yamasaki, CVPR 2022)
    c.data.sbi.mode = "reals_only"
  if "sbi_mixed" in opts:  # the FF++ fakes plus self-blended ones
    c.data.sbi.mode = "mixed"
  if "frozen" in opts:
    default.use_feature_cache(c)
    c.learning_rate = 1e-3
  if "tpu" in opts:
    c.mesh.shape = (-1, 4, 1)  # data x fsdp; parameters and optimizer state sharded 4 ways.
    c.model.dtype = "bfloat16"
    c.model.spatial.remat = True
    c.batch_size = 256
    c.eval_batch_size = 512
    c.data.num_workers = 16
    c.data.data_dir = "gs://YOUR_BUCKET/tensorflow_datasets"
  c.lock()
  return c
