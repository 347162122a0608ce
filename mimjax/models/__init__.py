"""Flax latent-variable models exposing encode / decode / priors.

A model is a `LatentVariableModel` (or any Flax module with the same methods):
`encode(x) -> q(z|x)`, `decode(z) -> p(x|z)`, `latent_prior() -> p(z)` and
`data_prior() -> q(x) | None` (None: q(x) is the decoder marginal).
`HierarchicalVAE` is the two-level convHVAE / PixelHVAE of the image chapter;
`SentenceVAE` the GRU sentence auto-encoder of the sentence chapter, with
`generate_sentences` its compiled decoding loop. `Glow` is the multi-scale
normalising flow (to_latent / to_data / log_prob) of the flow chapter and
`TzK` its knowledge-conditioned model.
"""

from mimjax.models._conv import Conv
from mimjax.models._conv import conv2d
from mimjax.models._generate import DECODING_MODES
from mimjax.models._generate import generate_sentences
from mimjax.models._gated import GatedConv
from mimjax.models._gated import GatedDense
from mimjax.models._glow import ActNormParams
from mimjax.models._glow import CouplingNet
from mimjax.models._glow import FlowStep
from mimjax.models._glow import Glow
from mimjax.models._hvae import HierarchicalVAE
from mimjax.models._latent import LatentVariableModel
from mimjax.models._latent import mlp_model
from mimjax.models._mlp import MLPConditional
from mimjax.models._pixelcnn import PixelCNNDecoder
from mimjax.models._pixelcnn import sample as pixelcnn_sample
from mimjax.models._sentence import GRU
from mimjax.models._sentence import SentenceVAE
from mimjax.models._tzk import KnowledgeType
from mimjax.models._tzk import TzK
from mimjax.models._tzk import add_knowledge
from mimjax.models._tzk import knowledge_key

__all__ = (
    "ActNormParams",
    "Conv",
    "CouplingNet",
    "DECODING_MODES",
    "FlowStep",
    "GRU",
    "GatedConv",
    "GatedDense",
    "Glow",
    "HierarchicalVAE",
    "KnowledgeType",
    "LatentVariableModel",
    "MLPConditional",
    "PixelCNNDecoder",
    "SentenceVAE",
    "TzK",
    "add_knowledge",
    "conv2d",
    "generate_sentences",
    "knowledge_key",
    "mlp_model",
    "pixelcnn_sample",
)
