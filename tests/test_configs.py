"""Every documented config variant builds, and its backbone sees `model.spatial.image_size`.

The spatial attention map must have the backbone's native size at `image_size` (7x7 for ResNet50
and VGG16 at 224) on the frame path (what training, `ddf.evaluate` and `ddf.predict` run) and on
the feature-cache path, whatever the stored crop size (256 for FF++).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import pytest

from configs import ablation, default, ffpp
from ddf.models import build_detector, frame_features, get_backbone


def documented_variants() -> dict[str, object]:
  """name -> config, for every variant the config files document."""
  out = {
    f"default.py:{a}": default.get_config(a or None)
    for a in ("", "tiny", "frozen", "shared", "disjoint", "morphed", "disjoint,camera")
  }
  for comp in ffpp.OPTIONS["compression"]:
    for arch in ffpp.OPTIONS["backbone"]:
      for extra in ("",) + ffpp.OPTIONS["variant"]:
        arg = ",".join(x for x in (comp, arch, extra) if x)
        out[f"ffpp.py:{arg}"] = ffpp.get_config(arg)
  for name in ablation.BRANCHES:
    for extra in ("", ",tiny", ",ffpp"):
      out[f"ablation.py:{name}{extra}"] = ablation.get_config(name + extra)
  return out


VARIANTS = documented_variants()


@functools.cache
def _native_size(arch: str, image_size: int) -> tuple[int, int]:
  """The backbone's own output map size at `image_size` (computed on the backbone alone)."""
  net = get_backbone(arch)
  x = jax.ShapeDtypeStruct((1, image_size, image_size, 3), jnp.float32)
  variables = jax.eval_shape(lambda v: net.init(jax.random.key(0), v, False), x)
  out = jax.eval_shape(lambda v, y: net.apply(v, y, False), variables, x)
  return tuple(out.shape[1:3])


@functools.cache
def _shapes(model_json: str, crop: int, clip_len: int):
  """(spatial attention map [h, w] on frames, backbone_maps [h, w] of the feature path)."""
  import json

  import ml_collections

  model = build_detector(ml_collections.ConfigDict(json.loads(model_json)))
  clips = jax.ShapeDtypeStruct((1, clip_len, crop, crop, 3), jnp.uint8)
  variables = jax.eval_shape(
    lambda c: model.init(
      {"params": jax.random.key(0), "dropout": jax.random.key(1)}, c, train=False
    ),
    clips,
  )
  _, aux = jax.eval_shape(lambda v, c: model.apply(v, c, train=False), variables, clips)
  frames = jax.ShapeDtypeStruct((2, crop, crop, 3), jnp.uint8)
  feats = jax.eval_shape(lambda v, f: frame_features(model, v, f), variables, frames)
  att = aux.get("spatial_attention")
  maps = feats.get("backbone_maps")
  return (
    None if att is None else tuple(att.shape[2:4]),
    None if maps is None else tuple(maps.shape[1:3]),
  )


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_backbone_sees_image_size_on_every_path(name):
  config = VARIANTS[name]
  m, d = config.model, config.data
  if not {"spatial", "temporal"} & set(m.branches.split(",")):
    pytest.skip("no spatial backbone in this variant")
  native = _native_size(m.spatial.arch, m.spatial.image_size)
  if m.spatial.arch in ("resnet50", "vgg16") and m.spatial.image_size == 224:
    assert native == (7, 7)
  attention, maps = _shapes(m.to_json(), d.crop_size, d.clip_len)
  assert attention == native, f"{name}: attention map {attention} on {d.crop_size} px crops"
  assert maps == native, f"{name}: cached backbone maps {maps}"


def test_ffpp_configs_store_larger_crops_than_the_backbone_reads():
  # The case the resize guards: crops 256, backbone 224.
  c = ffpp.get_config("c23,resnet50")
  assert c.data.crop_size == 256 and c.model.spatial.image_size == 224


def test_unknown_ffpp_option_is_an_error():
  with pytest.raises(ValueError, match="unknown options.*c32"):
    ffpp.get_config("c32,resnet50")
  with pytest.raises(ValueError, match="one compression"):
    ffpp.get_config("c23,c40")


def test_default_is_the_identity_disjoint_benchmark_the_readme_measured():
  """The default equals the README's seed runs on `disjoint,camera` with the flags chosen on its
  val split and fakes made after capture, and its test split has the issue's size: >= 200
  videos, >= 40 reals, and no photo shared between splits."""
  from ddf.data import synthetic_lib

  readme_run = default.get_config("disjoint,camera")
  readme_run.unlock()
  readme_run.model.spatial.highpass = True
  readme_run.data.augment.color_jitter = 0.0
  readme_run.model.head.dropout = 0.0
  readme_run.num_train_steps = 1500
  readme_run.eval_every_steps = 250
  readme_run.checkpoint_every_steps = 250
  readme_run.data.synthetic_capture = "after"
  c = default.get_config()
  assert c.to_json() == readme_run.to_json()

  methods = c.data.methods.split(",")
  splits = synthetic_lib.make_splits(c.data.synthetic_pairs, c.data.synthetic_seed)
  reals = {name: {v for pair in pairs for v in pair} for name, pairs in splits.items()}
  fakes = {name: 2 * len(pairs) * len(methods) for name, pairs in splits.items()}
  assert len(reals["test"]) >= 40 and len(reals["test"]) + fakes["test"] >= 200
  photos = synthetic_lib._photo_assignment((), c.data.synthetic_pairs, 0, c.data.synthetic_photos)
  used = {}
  for name, ids in reals.items():
    used[name] = {photos[int(v)][0][photos[int(v)][1]].name for v in ids}
  assert used["train"].isdisjoint(used["val"] | used["test"])
  assert used["val"].isdisjoint(used["test"])


def test_the_earlier_trees_keep_their_settings():
  """`shared` is the two-photo default of the README's earlier tables; tree options start from it."""
  shared = default.get_config("shared")
  assert shared.data.synthetic_photos == "shared" and shared.data.synthetic_pairs == (16, 4, 4)
  assert not shared.model.spatial.highpass and shared.num_train_steps == 600
  disjoint = default.get_config("disjoint")
  assert disjoint.data.synthetic_camera == 0.0 and not disjoint.model.spatial.highpass
  for option in ("shared", "disjoint", "morphed", "camera", "disjoint,camera", "tiny"):
    assert default.get_config(option).data.synthetic_capture == "before", option
  assert default.get_config("tiny").data.synthetic_photos == "shared"
