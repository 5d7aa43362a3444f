"""Celeb-DF TFDS builder folder (`tfds build datasets/celeb_df --config v2 ...`).

The implementation lives in `ddf.data.celeb_df`; the TFDS command line needs a builder class
defined in this module.
"""

from ddf.data.celeb_df import CelebDf


class Builder(CelebDf, skip_registration=True):
  """Celeb-DF (see `ddf.data.celeb_df.CelebDf`)."""
