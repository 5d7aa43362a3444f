"""DFD (Google/Jigsaw DeepFakeDetection) builder folder (`tfds build datasets/dfd ...`).

The implementation lives in `ddf.data.dfd`; the TFDS command line needs a builder class
defined in this module.
"""

from ddf.data.dfd import Dfd


class Builder(Dfd, skip_registration=True):
  """DFD, Google/Jigsaw DeepFakeDetection (see `ddf.data.dfd.Dfd`)."""
