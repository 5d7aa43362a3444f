"""DeeperForensics-1.0 TFDS builder folder (`tfds build
datasets/deeper_forensics --config end_to_end ...`).

The implementation lives in `ddf.data.deeper_forensics`; the TFDS command line needs a builder class
defined in this module.
"""

from ddf.data.deeper_forensics import DeeperForensics


class Builder(DeeperForensics, skip_registration=True):
  """DeeperForensics-1.0 (see `ddf.data.deeper_forensics.DeeperForensics`)."""
