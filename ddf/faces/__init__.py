"""Faces: MTCNN detection in JAX, one face track per video, 5-point aligned crops."""

from ddf.faces.align import (
  ARCFACE_TEMPLATE_112,
  align_face,
  crop_template,
  estimate_similarity,
  transform_points,
)
from ddf.faces.boxes import iou_matrix, nms, square_boxes
from ddf.faces.mtcnn import MTCNN, FaceDetections, detect_faces, load_mtcnn_params
from ddf.faces.pipeline import FacePipeline, FaceTrackResult, centre_square_crops
from ddf.faces.track import FaceTrack, link_tracks, track_faces

__all__ = [
  "ARCFACE_TEMPLATE_112",
  "FaceDetections",
  "FacePipeline",
  "FaceTrack",
  "FaceTrackResult",
  "MTCNN",
  "align_face",
  "centre_square_crops",
  "crop_template",
  "detect_faces",
  "estimate_similarity",
  "iou_matrix",
  "link_tracks",
  "load_mtcnn_params",
  "nms",
  "square_boxes",
  "track_faces",
  "transform_points",
]
