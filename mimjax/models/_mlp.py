"""MLP conditional distributions: an input vector to p(out | in)."""

import flax.linen as nn
import jax.numpy as jnp

from mimjax import distributions
from mimjax.models import _init

_ACTIVATIONS = {"tanh": nn.tanh, "swish": nn.swish, "relu": nn.relu}
_HEADS = ("gaussian", "bernoulli", "gmm")
INITS = ("flax", "torch")


def _dense(features, *, name, init, fan_in):
  """`nn.Dense` with the initialisation `init` names.

  Args:
    features: output width.
    name: submodule name.
    init: "flax" (LeCun normal weights, zero biases) or "torch"
      (U(+-1/sqrt(fan_in)) weights and biases, as the authors' PyTorch code).
    fan_in: input width (for "torch").

  Returns:
    An unbound `nn.Dense`.
  """
  if init == "flax":
    return nn.Dense(features, name=name)
  return nn.Dense(
      features, name=name, kernel_init=_init.torch_uniform(fan_in**-0.5),
      bias_init=_init.torch_uniform(fan_in**-0.5),
  )


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
    init_scheme: parameter initialisation, "flax" (LeCun normal weights, zero
      biases) or "torch" (U(+-1/sqrt(fan_in)) weights and biases, the
      authors' PyTorch default; see `_dense`).
  """

  out_dim: int
  hidden: int
  num_hidden_layers: int = 1
  activation: str = "tanh"
  head: str = "gaussian"
  min_scale: float = 1e-6
  num_components: int = 1
  init_scheme: str = "flax"

  def setup(self):
    if self.activation not in _ACTIVATIONS:
      raise ValueError(
          f"unknown activation {self.activation!r}; use one of "
          f"{sorted(_ACTIVATIONS)}"
      )
    if self.head not in _HEADS:
      raise ValueError(f"unknown head {self.head!r}; use one of {_HEADS}")
    if self.init_scheme not in INITS:
      raise ValueError(
          f"unknown init {self.init_scheme!r}; use one of {INITS}"
      )

  @nn.compact
  def __call__(self, inputs):
    """Returns the distribution for `inputs` of shape `[..., in_dim]`."""
    h = inputs
    act = _ACTIVATIONS[self.activation]

    def layer(features, name, h):
      return _dense(
          features, name=name, init=self.init_scheme, fan_in=h.shape[-1]
      )(h)

    for i in range(self.num_hidden_layers):
      h = act(layer(self.hidden, f"hidden_{i}", h))
    d = self.out_dim
    if self.head == "bernoulli":
      return distributions.bernoulli(layer(d, "logits", h))
    if self.head == "gaussian":
      loc = layer(d, "loc", h)
      raw = layer(d, "raw_scale", h)
      scale = distributions.scale_from_raw(raw, min_scale=self.min_scale)
      return distributions.diag_gaussian(loc, scale)
    k = self.num_components
    logits = layer(k, "logits", h)
    shape = (*h.shape[:-1], k, d)
    locs = jnp.reshape(layer(k * d, "locs", h), shape)
    raw = jnp.reshape(layer(k * d, "raw_scales", h), shape)
    scales = distributions.scale_from_raw(raw, min_scale=self.min_scale)
    return distributions.gaussian_mixture(logits, locs, scales)
