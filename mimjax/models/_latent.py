"""Encoder / decoder / priors bundled as one Flax module."""

import functools
from typing import Optional

import flax.linen as nn

from mimjax import distributions
from mimjax.models import _mlp


class LatentVariableModel(nn.Module):
  """q(z|x), p(x|z), p(z) and an optional parametric q(x) (thesis Fig. 3.1).

  Attributes:
    encoder: module mapping `[B, *x_shape]` to q(z|x) (batch `[B]`).
    decoder: module mapping `[B, d_z]` to p(x|z) (batch `[B]`).
    prior: module called as `prior(encode)` returning p(z).
    data_prior_module: module called as `data_prior_module()` returning a
      parametric q(x); None makes q(x) the decoder marginal E_{p(z)} p(x|z)
      (eq 3.25), handled by the objectives through its Jensen bound.
  """

  encoder: nn.Module
  decoder: nn.Module
  prior: nn.Module
  data_prior_module: Optional[nn.Module] = None

  def encode(self, x):
    return self.encoder(x)

  def decode(self, z):
    return self.decoder(z)

  def latent_prior(self):
    return self.prior(self.encoder)

  def data_prior(self):
    if self.data_prior_module is None:
      return None
    return self.data_prior_module()

  def __call__(self, x):
    """Touches every submodule (for `init`); returns q(z|x)'s mean."""
    q = self.encode(x)
    z = q.mean()
    self.decode(z)
    self.latent_prior().log_prob(z)
    q_x = self.data_prior()
    if q_x is not None:
      q_x.log_prob(x)
    return z


def mlp_model(
    *,
    x_dim,
    latent_dim,
    hidden,
    num_hidden_layers=1,
    activation="tanh",
    min_scale=1e-6,
    decoder_min_scale=0.0,
    conditional="gaussian",
    decoder_head="gaussian",
    num_components=10,
    prior_components=None,
    prior="standard_normal",
    data_prior="marginal",
    vamp_pseudo_inputs=50,
    init="flax",
):
  """Builds the low-dimensional models of thesis ch. 4-5 and App. B.

  Args:
    x_dim: data dimension.
    latent_dim: latent dimension.
    hidden: hidden width of encoder and decoder MLPs.
    num_hidden_layers: hidden layers per MLP (1 = the thesis's "two fully
      connected layers").
    activation: "tanh" (ch. 4-5) or "swish" (App. B).
    min_scale: standard-deviation floor of the Gaussian heads (encoder and,
      unless `decoder_min_scale`, decoder).
    decoder_min_scale: the floor of the decoder's Gaussian heads instead, if
      > 0 (no effect on a "bernoulli" decoder). MIM's decoder half scores
      -log p(x|z) at x ~ p(x|z), the decoder's own entropy, which a sharper
      decoder always lowers; on continuous data only this floor bounds it.
    conditional: encoder head, "gaussian" or "gmm" (App. B).
    decoder_head: "gaussian", "gmm" or "bernoulli".
    num_components: mixture size for GMM heads (and GMM priors).
    prior_components: mixture size of GMM priors p(z), q(x) if different
      (1: a learned Gaussian, App. B.2).
    prior: p(z): "standard_normal" (= the anchor), "gmm" or "vamp".
    data_prior: q(x): "marginal" (decoder marginal) or "gmm".
    vamp_pseudo_inputs: K for the VampPrior.
    init: initialisation of the encoder and decoder MLPs, "flax" or "torch"
      (the authors' U(+-1/sqrt(fan_in)); see `models.MLPConditional`).

  Returns:
    An uninitialised `LatentVariableModel`.
  """
  mlp = functools.partial(
      _mlp.MLPConditional,
      hidden=hidden,
      num_hidden_layers=num_hidden_layers,
      activation=activation,
      min_scale=min_scale,
      num_components=num_components,
      init_scheme=init,
  )
  encoder = mlp(out_dim=latent_dim, head=conditional)
  decoder = mlp(out_dim=x_dim, head=decoder_head,
                min_scale=decoder_min_scale or min_scale)
  prior_components = prior_components or num_components
  if prior == "standard_normal":
    prior_module = distributions.StandardNormalPrior(latent_dim)
  elif prior == "gmm":
    prior_module = distributions.GaussianMixturePrior(
        latent_dim, prior_components
    )
  elif prior == "vamp":
    prior_module = distributions.VampPrior(vamp_pseudo_inputs, (x_dim,))
  else:
    raise ValueError(
        f"unknown prior {prior!r}; use 'standard_normal', 'gmm' or 'vamp'"
    )
  if data_prior == "marginal":
    data_prior_module = None
  elif data_prior == "gmm":
    data_prior_module = distributions.GaussianMixturePrior(
        x_dim, prior_components
    )
  else:
    raise ValueError(
        f"unknown data_prior {data_prior!r}; use 'marginal', 'gmm'"
    )
  return LatentVariableModel(encoder, decoder, prior_module, data_prior_module)
