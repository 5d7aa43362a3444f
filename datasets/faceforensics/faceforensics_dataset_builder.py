"""FaceForensics++ TFDS builder folder (`tfds build datasets/faceforensics --config c23 ...`).

The implementation lives in `ddf.data.faceforensics` so that the installed package can build and
read the dataset too; this module is what the TFDS command line looks for.
"""

from ddf.data.faceforensics import Faceforensics as Builder  # noqa: F401
