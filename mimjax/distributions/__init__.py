"""Distributions and priors (the only mimjax package that imports distrax).

Constructors return `distrax.Distribution`s whose event is the last axis (or
the trailing `event_ndims` axes), so `log_prob` of a `[B, ...]` batch is `[B]`.
Learnable priors are Flax modules that return such a distribution. The Glow
bijectors (`Squeeze`, `ActNorm`, `ChannelPermutation`, `Invertible1x1Conv`,
`AffineCoupling`, `SplitPrior`) act on `[..., H, W, C]` events; forward maps
latent -> data.
"""

from mimjax.distributions._conditionals import AutoregressiveBernoulli
from mimjax.distributions._conditionals import DiagGaussianMixture
from mimjax.distributions._conditionals import bernoulli
from mimjax.distributions._conditionals import categorical
from mimjax.distributions._conditionals import diag_gaussian
from mimjax.distributions._conditionals import diag_gaussian_mixture_log_prob
from mimjax.distributions._conditionals import gaussian_mixture
from mimjax.distributions._conditionals import is_reparameterized
from mimjax.distributions._conditionals import scale_from_logvar
from mimjax.distributions._conditionals import scale_from_raw
from mimjax.distributions._conditionals import standard_normal
from mimjax.distributions._conditionals import uniform_mixture
from mimjax.distributions._flows import ActNorm
from mimjax.distributions._flows import AffineCoupling
from mimjax.distributions._flows import ChannelPermutation
from mimjax.distributions._flows import Invertible1x1Conv
from mimjax.distributions._flows import SplitPrior
from mimjax.distributions._flows import Squeeze
from mimjax.distributions._hierarchical import TwoLevelLatent
from mimjax.distributions._hierarchical import sample_with_log_prob
from mimjax.distributions._priors import GaussianMixturePrior
from mimjax.distributions._priors import StandardNormalPrior
from mimjax.distributions._priors import VampPrior
from mimjax.distributions._priors import data_initializer
from mimjax.distributions._sequence import SequenceCategorical

__all__ = (
    "ActNorm",
    "AffineCoupling",
    "AutoregressiveBernoulli",
    "ChannelPermutation",
    "DiagGaussianMixture",
    "GaussianMixturePrior",
    "Invertible1x1Conv",
    "SequenceCategorical",
    "SplitPrior",
    "Squeeze",
    "StandardNormalPrior",
    "TwoLevelLatent",
    "VampPrior",
    "bernoulli",
    "categorical",
    "data_initializer",
    "diag_gaussian",
    "diag_gaussian_mixture_log_prob",
    "gaussian_mixture",
    "is_reparameterized",
    "sample_with_log_prob",
    "scale_from_logvar",
    "scale_from_raw",
    "standard_normal",
    "uniform_mixture",
)
