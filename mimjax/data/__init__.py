"""Data sources: device-resident toy samplers and arrays, local files.

A *device source* lives on the accelerator and yields training batches inside
the compiled epoch program (no host round-trips):

  epoch_state = source.start_epoch(key)        # once per epoch
  batch = source.batch(epoch_state, step)      # {"x": [B, ...], "label": [B]}

plus fixed `validation` and `test` splits as dicts of arrays.
"""

from mimjax.data._local import load_arrays
from mimjax.data._pca import pca_projection
from mimjax.data._sources import ArraySource
from mimjax.data._sources import GMMSource
from mimjax.data._sources import gmm_means
from mimjax.data._sources import make_source

__all__ = (
    "ArraySource",
    "GMMSource",
    "gmm_means",
    "load_arrays",
    "make_source",
    "pca_projection",
)
