"""DFDC TFDS builder folder (`tfds build datasets/dfdc --config full ...`).

The implementation lives in `ddf.data.dfdc`; the TFDS command line needs a builder class
defined in this module.
"""

from ddf.data.dfdc import Dfdc


class Builder(Dfdc, skip_registration=True):
  """DFDC (see `ddf.data.dfdc.Dfdc`)."""
