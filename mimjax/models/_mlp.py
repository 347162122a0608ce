"""MLP conditional distributions: an input vector to p(out | in)."""

import flax.linen as nn
import jax.numpy as jnp

from mimjax import distributions

_ACTIVATIONS = {"tanh": nn.tanh, "swish": nn.swish, "relu": nn.relu}
_HEADS = ("gaussian", "bernoulli", "gmm")


class MLPConditional(nn.Module):
  """A conditional distribution regressed by an MLP (thesis Sec. 4.2, 5.3.1).

  `num_hidden_layers` Dense+activation blocks of width `hidden`, then a head:

  * "gaussian": N(mu, diag(sigma^2)), sigma = min_scale + exp(raw) (the
    authors' "two fully connected layers": one hidden layer, one head);
  * "bernoulli": independent Bernoulli logits;
  * "gmm": `num_components` diagonal Gaussians with learned weights (App. B).

  Attributes:
    out_dim: event dimension of the output distribution.
    hidden: hidden width.
    num_hidden_layers: number of hidden layers.
    activation: "tanh", "swish" or "relu".
    head: "gaussian", "bernoulli" or "gmm".
    min_scale: standard-deviation floor of Gaussian heads.
    num_components: mixture size for the "gmm" head.
  """

  out_dim: int
  hidden: int
  num_hidden_layers: int = 1
  activation: str = "tanh"
  head: str = "gaussian"
  min_scale: float = 1e-6
  num_components: int = 1

  def setup(self):
    if self.activation not in _ACTIVATIONS:
      raise ValueError(
          f"unknown activation {self.activation!r}; use one of "
          f"{sorted(_ACTIVATIONS)}"
      )
    if self.head not in _HEADS:
      raise ValueError(f"unknown head {self.head!r}; use one of {_HEADS}")

  @nn.compact
  def __call__(self, inputs):
    """Returns the distribution for `inputs` of shape `[..., in_dim]`."""
    h = inputs
    act = _ACTIVATIONS[self.activation]
    for i in range(self.num_hidden_layers):
      h = act(nn.Dense(self.hidden, name=f"hidden_{i}")(h))
    d = self.out_dim
    if self.head == "bernoulli":
      return distributions.bernoulli(nn.Dense(d, name="logits")(h))
    if self.head == "gaussian":
      loc = nn.Dense(d, name="loc")(h)
      raw = nn.Dense(d, name="raw_scale")(h)
      scale = distributions.scale_from_raw(raw, min_scale=self.min_scale)
      return distributions.diag_gaussian(loc, scale)
    k = self.num_components
    logits = nn.Dense(k, name="logits")(h)
    shape = (*h.shape[:-1], k, d)
    locs = jnp.reshape(nn.Dense(k * d, name="locs")(h), shape)
    raw = jnp.reshape(nn.Dense(k * d, name="raw_scales")(h), shape)
    scales = distributions.scale_from_raw(raw, min_scale=self.min_scale)
    return distributions.gaussian_mixture(logits, locs, scales)
