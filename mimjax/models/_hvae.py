"""Two-level hierarchical VAEs of thesis Sec. 4.3 (convHVAE, PixelHVAE; L = 2).

z = [z1, z2] (flat, z1 first). Encoder q(z2|x) q(z1|x, z2); prior
p(z2) p(z1|z2) with p(z2) = N(0, I) ("S") or a VampPrior ("VP"); decoder
p(x|z1, z2) Bernoulli: factorised (convHVAE, and the all-dense HVAE) or an
autoregressive PixelCNN (PixelHVAE). Exact layer sizes are those of Tomczak
& Welling's convHVAE_2level / PixelHVAE_2level (reference digest Sec.
2.2-2.3) and HVAE_2level (their VampPrior paper's "HVAE (L = 2)": gated
dense layers of 300 units); images are NHWC.
"""

import math
from typing import Optional

import flax.linen as nn
import jax.numpy as jnp

from mimjax import distributions
from mimjax.models import _conv
from mimjax.models import _gated
from mimjax.models import _pixelcnn

# (features, kernel, stride, padding) of the two convolutional encoders.
_Q_Z2_CONVS = ((32, 7, 1, 3), (32, 3, 2, 1), (64, 5, 1, 2), (64, 3, 2, 1),
               (6, 3, 1, 1))
_Q_Z1_CONVS = ((32, 3, 1, 1), (32, 3, 2, 1), (64, 3, 1, 1), (64, 3, 2, 1),
               (6, 3, 1, 1))


class GaussianHead(nn.Module):
  """`[..., h]` -> N(mean, diag(std^2)), logvar hardtanh-clipped to
  [min_logvar, 2] (the reference's [-6, 2]: std >= 0.0498)."""

  dim: int
  min_logvar: float = -6.0

  @nn.compact
  def __call__(self, h):
    mean = nn.Dense(self.dim, kernel_init=_gated.he_normal, name="mean")(h)
    logvar = nn.Dense(self.dim, kernel_init=_gated.he_normal, name="logvar")(h)
    return distributions.diag_gaussian(
        mean,
        distributions.scale_from_logvar(logvar, min_logvar=self.min_logvar),
    )


class ConvFeatures(nn.Module):
  """Stack of gated convolutions, flattened: `[B, 28, 28, 1]` -> `[B, 294]`."""

  convs: tuple[tuple[int, int, int, int], ...]

  @nn.compact
  def __call__(self, x):
    for features, kernel, stride, padding in self.convs:
      x = _gated.GatedConv(features, kernel, stride, padding)(x)
    return x.reshape(x.shape[0], -1)


class DenseFeatures(nn.Module):
  """Flattened image through gated dense layers: `[B, H, W, C]` -> `[B, F]`."""

  num_layers: int
  features: int = 300

  @nn.compact
  def __call__(self, x):
    h = x.reshape(x.shape[0], -1)
    for _ in range(self.num_layers):
      h = _gated.GatedDense(self.features)(h)
    return h


def _image_features(network, convs, dense_layers):
  """The x path of an encoder: gated convolutions, or dense for "mlp"."""
  if network == "mlp":
    return DenseFeatures(dense_layers)
  return ConvFeatures(convs)


class PosteriorTop(nn.Module):
  """q(z2 | x): `[B, H, W, C]` -> batch `[B]`, event `[d2]`."""

  dim: int
  network: str = "conv"
  min_logvar: float = -6.0

  @nn.compact
  def __call__(self, x):
    h = _image_features(self.network, _Q_Z2_CONVS, dense_layers=2)(x)
    return GaussianHead(self.dim, self.min_logvar)(h)


class PosteriorBottom(nn.Module):
  """q(z1 | x, z2) from the x path's features hx `[B, F]` and z2 `[B, d2]`.

  z2 may carry extra leading sample axes (`[S, B, d2]`); hx (the output of
  the model's `posterior_bottom_features`) is broadcast to them, so the x
  path runs once per `encode`, however often q(z1 | x, z2) is evaluated.
  """

  dim: int
  min_logvar: float = -6.0

  @nn.compact
  def __call__(self, hx, z2):
    hz = _gated.GatedDense(hx.shape[-1])(z2)  # [..., B, F] (F: 294, 300)
    hx = jnp.broadcast_to(hx, hz.shape)
    h = _gated.GatedDense(300)(jnp.concatenate([hx, hz], axis=-1))
    return GaussianHead(self.dim, self.min_logvar)(h)


class PriorBottom(nn.Module):
  """p(z1 | z2): `[..., d2]` -> event `[d1]`."""

  dim: int
  min_logvar: float = -6.0

  @nn.compact
  def __call__(self, z2):
    h = _gated.GatedDense(300)(_gated.GatedDense(300)(z2))
    return GaussianHead(self.dim, self.min_logvar)(h)


class ConvDecoder(nn.Module):
  """p(x | z1, z2): Bernoulli over `[28, 28, 1]` (reference Sec. 2.2)."""

  image_shape: tuple[int, int, int] = (28, 28, 1)

  @nn.compact
  def __call__(self, z1, z2):
    """z1 `[B, d1]`, z2 `[B, d2]` -> Bernoulli with batch `[B]`."""
    h = jnp.concatenate(
        [_gated.GatedDense(300)(z1), _gated.GatedDense(300)(z2)], axis=-1
    )
    h = _gated.GatedDense(math.prod(self.image_shape))(h)
    h = h.reshape(h.shape[0], *self.image_shape)
    for _ in range(4):
      h = _gated.GatedConv(64, 3, 1, 1)(h)
    logits = _conv.Conv(
        self.image_shape[-1], 1, kernel_init=_gated.torch_uniform
    )(h)
    return distributions.bernoulli(logits, event_ndims=3)


class DenseDecoder(nn.Module):
  """p(x | z1, z2) of HVAE_2level: gated dense layers, Bernoulli `[H, W, C]`."""

  image_shape: tuple[int, int, int] = (28, 28, 1)

  @nn.compact
  def __call__(self, z1, z2):
    """z1 `[B, d1]`, z2 `[B, d2]` -> Bernoulli with batch `[B]`."""
    h = jnp.concatenate(
        [_gated.GatedDense(300)(z1), _gated.GatedDense(300)(z2)], axis=-1
    )
    h = _gated.GatedDense(300)(h)
    logits = nn.Dense(
        math.prod(self.image_shape), kernel_init=_gated.he_normal
    )(h)
    return distributions.bernoulli(
        logits.reshape(h.shape[0], *self.image_shape), event_ndims=3
    )


_NETWORKS = ("conv", "pixelcnn", "mlp")


class HierarchicalVAE(nn.Module):
  """q(z2|x) q(z1|x,z2), p(z2) p(z1|z2), p(x|z1,z2) on z = [z1, z2].

  Same methods as `LatentVariableModel`, so every objective in
  `mimjax.objectives` applies. `encode` and `latent_prior` return
  `distributions.TwoLevelLatent` objects tied to this bound module, so they
  are used inside one `apply` (as `mimjax.objectives` does).

  Attributes:
    latent_dims: (d1, d2).
    vamp_pseudo_inputs: K of the VampPrior on z2; 0 gives p(z2) = N(0, I).
    pseudo_input_init: initialiser of the `[K, 28, 28, 1]` pseudo-inputs
      (`distributions.data_initializer` of training images, as the
      reference's `--use_training_data_init`).
    image_shape: `[H, W, C]`.
    network: "conv" (convHVAE), "pixelcnn" (PixelHVAE: convHVAE's encoder,
      a PixelCNN decoder with BatchNorm: apply with
      `mutable=["batch_stats"]` in training) or "mlp" (HVAE_2level: every
      network gated dense, 300 units).
    train: BatchNorm mode of the PixelCNN decoder (batch statistics if True,
      running averages if False); `model.clone(train=False)` evaluates.
    min_logvar: floor of every latent Gaussian's log-variance (posteriors
      and p(z1|z2)); -6 (std 0.0498) as the reference.
  """

  latent_dims: tuple[int, int] = (40, 40)
  vamp_pseudo_inputs: int = 500
  pseudo_input_init: Optional[nn.initializers.Initializer] = None
  image_shape: tuple[int, int, int] = (28, 28, 1)
  network: str = "conv"
  train: bool = True
  min_logvar: float = -6.0

  def setup(self):
    if self.network not in _NETWORKS:
      raise ValueError(
          f"unknown network {self.network!r}; use one of {_NETWORKS}"
      )
    d1, d2 = self.latent_dims
    encoder = "mlp" if self.network == "mlp" else "conv"
    self.posterior_top = PosteriorTop(d2, encoder, self.min_logvar)
    self.posterior_bottom_features = _image_features(
        encoder, _Q_Z1_CONVS, dense_layers=1
    )
    self.posterior_bottom = PosteriorBottom(d1, self.min_logvar)
    self.prior_bottom = PriorBottom(d1, self.min_logvar)
    if self.network == "conv":
      self.decoder = ConvDecoder(self.image_shape)
    elif self.network == "mlp":
      self.decoder = DenseDecoder(self.image_shape)
    else:
      self.decoder = _pixelcnn.PixelCNNDecoder(self.image_shape)
    if self.vamp_pseudo_inputs:
      self.prior_top = distributions.VampPrior(
          self.vamp_pseudo_inputs,
          self.image_shape,
          pseudo_input_init=(
              self.pseudo_input_init or nn.initializers.normal(0.01)
          ),
          clip_to_unit=True,
      )
    else:
      self.prior_top = distributions.StandardNormalPrior(d2)

  def encode(self, x):
    """x `[B, H, W, C]` -> q(z|x) with batch `[B]`, event `[d1 + d2]`.

    The x path of q(z1 | x, z2) runs here, once; each evaluation of the
    conditional at some z2 then costs only its z2 path and head.
    """
    hx = self.posterior_bottom_features(x)
    return distributions.TwoLevelLatent(
        self.posterior_top(x),
        lambda z2: self.posterior_bottom(hx, z2),
        self.latent_dims[0],
    )

  def decode(self, z):
    """z `[B, d1 + d2]` -> p(x|z), Bernoulli with event `[H, W, C]`.

    For the PixelCNN decoder an `AutoregressiveBernoulli` (log_prob only;
    sample with `pixelcnn_sample`).
    """
    z1, z2 = z[..., : self.latent_dims[0]], z[..., self.latent_dims[0] :]
    if self.network == "pixelcnn":
      return distributions.AutoregressiveBernoulli(
          lambda x: self.decoder(x, z1, z2, train=self.train)
      )
    return self.decoder(z1, z2)

  def decoder_logits(self, x, z):
    """PixelCNN logits `[B, H, W, C]` of x given z (for ancestral sampling)."""
    d1 = self.latent_dims[0]
    return self.decoder(x, z[..., :d1], z[..., d1:], train=self.train)

  def latent_prior(self):
    """p(z) = p(z2) p(z1|z2), batch `[]`, event `[d1 + d2]`."""
    return distributions.TwoLevelLatent(
        self.prior_top(self.posterior_top),
        self.prior_bottom,
        self.latent_dims[0],
    )

  def data_prior(self):
    """None: q(x) is the decoder marginal (thesis Alg. 3)."""
    return None

  def __call__(self, x):
    """Touches every submodule (for `init`); returns the posterior mean."""
    z = self.encode(x).mean()
    self.decode(z).log_prob(x)
    self.latent_prior().log_prob(z)
    return z
