"""Pure Flax linen modules: backbones, attention, BiLSTM, micro-expression branch, detector."""

from ddf.models.attention import SelfAttention, SpatialAttention, TemporalAttention
from ddf.models.backbones import (
  BACKBONES,
  VGG,
  ResNet,
  backbone_normalization,
  get_backbone,
  preprocess,
)
from ddf.models.detector import (
  BRANCHES,
  FusionDetector,
  build_detector,
  feature_inputs,
  frame_features,
  parse_branches,
)
from ddf.models.lstm import BiLSTM, BiLSTMLayer
from ddf.models.micro import MicroCNN, MicroFrameEncoder, MicroTemporal

__all__ = [
  "BACKBONES",
  "BRANCHES",
  "VGG",
  "BiLSTM",
  "BiLSTMLayer",
  "FusionDetector",
  "MicroCNN",
  "MicroFrameEncoder",
  "MicroTemporal",
  "ResNet",
  "SelfAttention",
  "SpatialAttention",
  "TemporalAttention",
  "backbone_normalization",
  "build_detector",
  "feature_inputs",
  "frame_features",
  "get_backbone",
  "parse_branches",
  "preprocess",
]
