"""Per-frame spatial backbones: Keras-exact ResNet50 (v1) / VGG16, torchvision variants, tiny nets.

Every backbone takes float RGB images in [0, 255], shape `[N, H, W, 3]`, applies the input
normalisation its weights expect (`normalization` field, see `preprocess`), and returns the last
feature map `[N, h, w, C]` (ResNet50: 7x7x2048 and VGG16: 7x7x512 at 224x224).

Submodule names equal the Keras layer names (`conv1_conv`, `conv2_block1_0_bn`, `block1_conv1`,
...), so Keras weights import by name (see `ddf.weights_lib`).

Architectures (`get_backbone(arch)`):
  resnet50     keras.applications.ResNet50 (v1: stride on the first 1x1 conv, conv biases,
               BN eps 1.001e-5), caffe normalisation.
  vgg16        keras.applications.VGG16, caffe normalisation.
  resnet50_tv  torchvision resnet50 (v1.5: stride on the 3x3 conv, no conv biases, BN eps 1e-5),
               torch normalisation. Target of `python -m ddf.weights --from torch --arch resnet50`.
  vgg16_tv     torchvision vgg16 features (same layers as vgg16), torch normalisation.
  resnet_tiny  3 single-block bottleneck stages (8/16/32 filters, 128 output channels), stride 16.
  vgg_tiny     3 blocks of one conv (8/16/32 filters), stride 8.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from ddf.models import layers

CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
TORCH_MEAN_RGB = (0.485, 0.456, 0.406)
TORCH_STD_RGB = (0.229, 0.224, 0.225)


def preprocess(x: jnp.ndarray, normalization: str) -> jnp.ndarray:
  """Normalises float RGB images in [0, 255] (`[..., 3]`) as the weights expect.

  'caffe' (Keras ImageNet ResNet50/VGG16): RGB->BGR, subtract CAFFE_MEAN_BGR, no scaling.
  'torch' (torchvision): x/255, subtract TORCH_MEAN_RGB, divide by TORCH_STD_RGB.
  'none': unchanged.
  """
  if normalization == "caffe":
    return x[..., ::-1] - jnp.asarray(CAFFE_MEAN_BGR, x.dtype)
  if normalization == "torch":
    return (x / 255.0 - jnp.asarray(TORCH_MEAN_RGB, x.dtype)) / jnp.asarray(TORCH_STD_RGB, x.dtype)
  if normalization == "none":
    return x
  raise ValueError(f"unknown normalization {normalization!r}")


class ResNet(nn.Module):
  """ResNet v1 with bottleneck blocks, Keras layer names (`keras.applications.resnet.ResNet`).

  `__call__(x [N,H,W,3] float RGB in [0,255], train) -> [N, h, w, 4 * filters[-1]]`.
  """

  stage_sizes: Sequence[int] = (3, 4, 6, 3)
  filters: Sequence[int] = (64, 128, 256, 512)
  stem_filters: int = 64
  stride_in_1x1: bool = True  # Keras v1; torchvision v1.5 puts the stride on the 3x3 conv.
  conv_bias: bool = True
  bn_epsilon: float = 1.001e-5
  normalization: str = "caffe"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    conv = functools.partial(layers.conv, use_bias=self.conv_bias, dtype=self.dtype)
    bn = functools.partial(
      layers.batch_norm, train=train, epsilon=self.bn_epsilon, dtype=self.dtype
    )
    x = preprocess(x.astype(jnp.float32), self.normalization).astype(self.dtype)
    x = conv(self.stem_filters, 7, strides=2, padding=((3, 3), (3, 3)), name="conv1_conv")(x)
    x = nn.relu(bn(name="conv1_bn")(x))
    x = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))  # pool1_pad (zeros; x >= 0 after relu)
    x = nn.max_pool(x, (3, 3), strides=(2, 2), padding="VALID")
    for s, (blocks, f) in enumerate(zip(self.stage_sizes, self.filters, strict=True)):
      for b in range(blocks):
        name = f"conv{s + 2}_block{b + 1}"
        stride = 1 if (s == 0 or b > 0) else 2
        if b == 0:
          shortcut = conv(4 * f, 1, strides=stride, padding="VALID", name=f"{name}_0_conv")(x)
          shortcut = bn(name=f"{name}_0_bn")(shortcut)
        else:
          shortcut = x
        s1, s3 = (stride, 1) if self.stride_in_1x1 else (1, stride)
        y = conv(f, 1, strides=s1, padding="VALID", name=f"{name}_1_conv")(x)
        y = nn.relu(bn(name=f"{name}_1_bn")(y))
        y = conv(f, 3, strides=s3, padding=((1, 1), (1, 1)), name=f"{name}_2_conv")(y)
        y = nn.relu(bn(name=f"{name}_2_bn")(y))
        y = conv(4 * f, 1, padding="VALID", name=f"{name}_3_conv")(y)
        y = bn(name=f"{name}_3_bn")(y)
        x = nn.relu(shortcut + y)
    return x


class VGG(nn.Module):
  """VGG without top, Keras layer names (`blockB_convC`); 2x2/2 max pool after each block.

  `__call__(x [N,H,W,3] float RGB in [0,255], train) -> [N, H/2^k, W/2^k, blocks[-1][-1]]`.
  """

  blocks: Sequence[Sequence[int]] = ((64, 64), (128, 128), (256, 256, 256), (512,) * 3, (512,) * 3)
  normalization: str = "caffe"
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    del train  # no BatchNorm / dropout
    x = preprocess(x.astype(jnp.float32), self.normalization).astype(self.dtype)
    for b, block in enumerate(self.blocks):
      for c, f in enumerate(block):
        x = nn.relu(layers.conv(f, 3, dtype=self.dtype, name=f"block{b + 1}_conv{c + 1}")(x))
      x = nn.max_pool(x, (2, 2), strides=(2, 2), padding="VALID")
    return x


ResNet50 = functools.partial(ResNet)
ResNet50TV = functools.partial(
  ResNet, stride_in_1x1=False, conv_bias=False, bn_epsilon=1e-5, normalization="torch"
)
# No conv biases before BatchNorm: they have zero true gradient (BN removes them), so Adam would
# turn their floating-point-noise gradients into full-size random updates.
ResNetTiny = functools.partial(
  ResNet, stage_sizes=(1, 1, 1), filters=(8, 16, 32), stem_filters=16, conv_bias=False
)
VGG16 = functools.partial(VGG)
VGG16TV = functools.partial(VGG, normalization="torch")
VGGTiny = functools.partial(VGG, blocks=((8,), (16,), (32,)))

BACKBONES = {
  "resnet50": ResNet50,
  "vgg16": VGG16,
  "resnet50_tv": ResNet50TV,
  "vgg16_tv": VGG16TV,
  "resnet_tiny": ResNetTiny,
  "vgg_tiny": VGGTiny,
}


def get_backbone(
  arch: str, dtype: Any = jnp.float32, *, remat: bool = False, **kwargs: Any
) -> nn.Module:
  """Backbone module for `arch` (see module docstring); `dtype` is the compute dtype.

  `remat=True` wraps the module class with `nn.remat` (`train` static). Extra kwargs (e.g.
  `name`) go to the module constructor.
  """
  if arch not in BACKBONES:
    raise ValueError(f"unknown backbone arch {arch!r}; choose from {sorted(BACKBONES)}")
  part = BACKBONES[arch]
  cls = nn.remat(part.func, static_argnums=(2,)) if remat else part.func
  return cls(**part.keywords, dtype=layers.as_dtype(dtype), **kwargs)


def backbone_normalization(arch: str) -> str:
  """Input normalisation declared by `arch` ('caffe' or 'torch')."""
  return get_backbone(arch).normalization
