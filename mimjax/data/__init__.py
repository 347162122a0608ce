"""Data sources: device-resident toy samplers and arrays, local files.

A *device source* lives on the accelerator and yields training batches inside
the compiled epoch program (no host round-trips):

  epoch_state = source.start_epoch(key)        # once per epoch
  batch = source.batch(epoch_state, step)      # {"x": [B, ...], "label": [B]}

plus fixed `validation` and `test` splits as dicts of arrays.
"""

from mimjax.data._images import IMAGE_DATASETS
from mimjax.data._images import ImageSource
from mimjax.data._images import load_image_arrays
from mimjax.data._images import make_image_source
from mimjax.data._local import load_arrays
from mimjax.data._pca import pca_projection
from mimjax.data._sources import ArraySource
from mimjax.data._sources import GMMSource
from mimjax.data._sources import gmm_means
from mimjax.data._sources import make_source

__all__ = (
    "ArraySource",
    "GMMSource",
    "IMAGE_DATASETS",
    "ImageSource",
    "gmm_means",
    "load_arrays",
    "load_image_arrays",
    "make_image_source",
    "make_source",
    "pca_projection",
)
