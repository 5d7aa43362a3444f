"""FaceForensics++ TFDS builder folder (`tfds build datasets/faceforensics --config c23 ...`).

The implementation lives in `ddf.data.faceforensics` so that the installed package can build and
read the dataset too; the TFDS command line needs a builder class defined in this module.
"""

from ddf.data.faceforensics import Faceforensics


class Builder(Faceforensics, skip_registration=True):
  """FaceForensics++ (see `ddf.data.faceforensics.Faceforensics`)."""
