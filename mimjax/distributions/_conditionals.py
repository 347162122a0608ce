"""Parametric distributions built from network outputs."""

import distrax
import jax
import jax.numpy as jnp

# exp() of a raw log-scale above this overflows float32 in squares; clipping
# there keeps the density finite without limiting any realistic scale.
_MAX_LOG_SCALE = 20.0


def scale_from_raw(raw, *, min_scale, kind="exp"):
  """Maps an unconstrained network output to a standard deviation.

  The variance floor is explicit: scale = min_scale + f(raw), so a MIM encoder,
  which drives posterior scales down, stops at `min_scale` (the authors' toy
  code uses kind="exp", min_scale=1e-6).

  Args:
    raw: `[..., d]` unconstrained values.
    min_scale: additive floor on the standard deviation, >= 0.
    kind: "exp" (raw is a log-std, clipped at 20 for float safety) or
      "softplus".

  Returns:
    `[..., d]` positive standard deviations.
  """
  if min_scale < 0:
    raise ValueError(f"min_scale must be >= 0, got {min_scale}")
  if kind == "exp":
    positive = jnp.exp(jnp.minimum(raw, _MAX_LOG_SCALE))
  elif kind == "softplus":
    positive = jax.nn.softplus(raw)
  else:
    raise ValueError(f"unknown scale kind {kind!r}; use 'exp' or 'softplus'")
  return min_scale + positive


def scale_from_logvar(logvar, *, min_logvar=-6.0, max_logvar=2.0):
  """std = exp(clip(logvar, min, max) / 2): the image models' hardtanh bound.

  Tomczak & Welling's convHVAE / PixelHVAE clip every latent log-variance to
  [-6, 2], i.e. std in [0.0498, 2.718] (reference digest Sec. 1.5).

  Args:
    logvar: `[..., d]` raw log-variances.
    min_logvar: lower clip.
    max_logvar: upper clip.

  Returns:
    `[..., d]` standard deviations.
  """
  return jnp.exp(0.5 * jnp.clip(logvar, min_logvar, max_logvar))


def diag_gaussian(loc, scale):
  """N(loc, diag(scale^2)) over the last axis; samples are reparameterised.

  Args:
    loc: `[..., d]` means.
    scale: `[..., d]` standard deviations (see `scale_from_raw`).

  Returns:
    Distribution with batch shape `[...]` and event shape `[d]`.
  """
  return distrax.MultivariateNormalDiag(loc=loc, scale_diag=scale)


def standard_normal(dim, dtype=jnp.float32):
  """The anchor N(0, I_dim) as a distribution with event shape `[dim]`."""
  return distrax.MultivariateNormalDiag(
      loc=jnp.zeros((dim,), dtype), scale_diag=jnp.ones((dim,), dtype)
  )


def bernoulli(logits, *, event_ndims=1):
  """Independent Bernoulli(sigmoid(logits)) over the trailing axes.

  Log-probabilities are computed from logits (no clamping of probabilities
  needed). Samples are discrete and carry no reparameterised gradient.

  Args:
    logits: `[..., *event]` logits.
    event_ndims: how many trailing axes form one event (3 for `[H, W, C]`).

  Returns:
    Distribution with event shape `logits.shape[-event_ndims:]`.
  """
  return distrax.Independent(
      distrax.Bernoulli(logits=logits), reinterpreted_batch_ndims=event_ndims
  )


def categorical(logits):
  """Categorical(softmax(logits)) over the last axis (event shape `[]`)."""
  return distrax.Categorical(logits=logits)


def gaussian_mixture(logits, locs, scales):
  """Mixture of diagonal Gaussians, sum_k pi_k N(loc_k, diag(scale_k^2)).

  Args:
    logits: `[..., K]` unnormalised mixture log-weights.
    locs: `[..., K, d]` component means.
    scales: `[..., K, d]` component standard deviations.

  Returns:
    Distribution with batch shape `[...]` and event shape `[d]`. Samples are
    reparameterised given the sampled component (the component choice itself
    carries no gradient).
  """
  return distrax.MixtureSameFamily(
      mixture_distribution=distrax.Categorical(logits=logits),
      components_distribution=distrax.MultivariateNormalDiag(
          loc=locs, scale_diag=scales
      ),
  )


def uniform_mixture(components):
  """Equal-weight mixture over the last batch axis of `components`.

  Args:
    components: distribution with batch shape `[..., K]`.

  Returns:
    Distribution with batch shape `[...]` and the components' event shape.
  """
  return distrax.MixtureSameFamily(
      mixture_distribution=distrax.Categorical(
          logits=jnp.zeros(components.batch_shape)
      ),
      components_distribution=components,
  )


class AutoregressiveBernoulli:
  """p(x|z) = prod_i Bernoulli(x_i; sigmoid(f(x_<i, z)_i)) for a causal f.

  The PixelCNN likelihood of PixelHVAE: `log_prob(x)` is one pass of the
  masked network on x (teacher forcing); sampling is ancestral and lives
  outside (e.g. `mimjax.models.pixelcnn_sample`), so this object offers no
  `sample` or `mean`. Samples would be discrete: `reparameterized` is False.

  Attributes:
    logits_fn: `x [B, *event] -> logits [B, *event]`, causal in raster order.
  """

  reparameterized = False

  def __init__(self, logits_fn):
    self.logits_fn = logits_fn

  def log_prob(self, x):
    """`[B, H, W, C]` -> `[B]` (the event is the whole image)."""
    return bernoulli(self.logits_fn(x), event_ndims=3).log_prob(x)

  def conditional_probs(self, x):
    """p(x_i = 1 | x_<i, z) for every pixel given the image x (one pass)."""
    return jax.nn.sigmoid(self.logits_fn(x))


def is_reparameterized(dist):
  """Whether samples of `dist` carry pathwise gradients (else: REINFORCE)."""
  if hasattr(dist, "reparameterized"):
    return dist.reparameterized
  while isinstance(dist, distrax.Independent):
    dist = dist.distribution
  return not isinstance(dist, (distrax.Bernoulli, distrax.Categorical))
