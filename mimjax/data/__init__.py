"""Data sources: device-resident toy samplers and arrays, local files.

A *device source* lives on the accelerator and yields training batches inside
the compiled epoch program (no host round-trips). Its training arrays,
`source.device_data` (a pytree), are an argument of that program:

  data = source.device_data                          # once, on the mesh
  epoch_state = source.start_epoch(key, data)        # once per epoch
  batch = source.batch(epoch_state, step, data)      # {"x": [B, ...], ...}

(`data` may be omitted in eager use).

plus fixed `validation` and `test` splits as dicts of arrays.

Flow images (`make_flow_source`) stay 8-bit gray levels; the loss
dequantises them with `uniform_dequantize` and the step's key.
"""

from mimjax.data._dequantize import uniform_dequantize
from mimjax.data._flow_images import FLOW_DATASETS
from mimjax.data._flow_images import FlowImageSource
from mimjax.data._flow_images import knowledge_in_data
from mimjax.data._flow_images import knowledge_matrix
from mimjax.data._flow_images import load_flow_dataset
from mimjax.data._flow_images import make_flow_source
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
from mimjax.data._text import EOS
from mimjax.data._text import PAD
from mimjax.data._text import SOS
from mimjax.data._text import SPECIAL_TOKENS
from mimjax.data._text import TEXT_DATASETS
from mimjax.data._text import TextSource
from mimjax.data._text import UNK
from mimjax.data._text import Vocabulary
from mimjax.data._text import encode_sentences
from mimjax.data._text import make_text_source
from mimjax.data._text import read_sentences

__all__ = (
    "ArraySource",
    "EOS",
    "FLOW_DATASETS",
    "FlowImageSource",
    "GMMSource",
    "IMAGE_DATASETS",
    "ImageSource",
    "PAD",
    "SOS",
    "SPECIAL_TOKENS",
    "TEXT_DATASETS",
    "TextSource",
    "UNK",
    "Vocabulary",
    "encode_sentences",
    "gmm_means",
    "knowledge_in_data",
    "knowledge_matrix",
    "load_arrays",
    "load_flow_dataset",
    "load_image_arrays",
    "make_flow_source",
    "make_image_source",
    "make_source",
    "make_text_source",
    "pca_projection",
    "read_sentences",
    "uniform_dequantize",
)
