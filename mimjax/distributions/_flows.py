"""Glow bijectors on image events `[..., H, W, C]` (event_ndims 3).

Kingma & Dhariwal 2018 (Glow); the flows of thesis ch. 8 / App. G. As in
distrax, `forward` maps latent -> data and `inverse` maps data -> latent, so a
density on data is log p(x) = log p_z(inverse(x)) + inverse log-det. Every
log-det has the event's batch shape `x.shape[:-3]`. All bijectors are plain
array code (no Python control flow on values): they jit and vmap.
"""

import distrax
import jax
import jax.numpy as jnp
import numpy as np

# Glow's coupling scale is sigmoid(raw + 2) (~0.88 when the network outputs
# 0), here floored: s = s_min + (1 - s_min) sigmoid(raw + 2) with s_min = 0.1.
_COUPLING_SCALE_OFFSET = 2.0
_MIN_COUPLING_SCALE = 0.1
# SplitPrior bounds log sigma softly to (-5, 5), i.e. sigma in (0.0067, 148).
_MAX_LOG_SIGMA = 5.0


def _zero_log_det(x):
  return jnp.zeros(x.shape[:-3], x.dtype)


class Squeeze(distrax.Bijector):
  """Depth-to-space forward, space-to-depth inverse (Glow's squeeze, f = 2).

  With z a `[..., H/f, W/f, f^2 C]` event and x a `[..., H, W, C]` event:

  - Forward: `x[f h + i, f w + j, c] = z[h, w, (f i + j) C + c]`
  - Forward Jacobian log determinant: `0`
  - Inverse: `z[h, w, (f i + j) C + c] = x[f h + i, f w + j, c]`
  - Inverse Jacobian log determinant: `0`

  The event shape changes; distrax infers the new one from `forward`.

  Attributes:
    factor: f, the spatial block size.
  """

  def __init__(self, factor=2):
    if factor < 1:
      raise ValueError(f"factor must be >= 1, got {factor}")
    super().__init__(event_ndims_in=3, is_constant_jacobian=True)
    self.factor = factor

  def forward_and_log_det(self, x):
    """`[..., h, w, f^2 C]` -> (`[..., f h, f w, C]`, `[...]` zeros)."""
    self._check_forward_input_shape(x)
    f = self.factor
    *batch, h, w, c = x.shape
    if c % (f * f):
      raise ValueError(f"{c} channels do not split into {f}x{f} blocks")
    y = x.reshape(*batch, h, w, f, f, c // (f * f))
    y = jnp.swapaxes(y, -4, -3)  # [..., h, f, w, f, C]
    return y.reshape(*batch, h * f, w * f, c // (f * f)), _zero_log_det(x)

  def inverse_and_log_det(self, y):
    """`[..., H, W, C]` -> (`[..., H/f, W/f, f^2 C]`, `[...]` zeros)."""
    self._check_inverse_input_shape(y)
    f = self.factor
    *batch, h, w, c = y.shape
    if h % f or w % f:
      raise ValueError(f"spatial shape {(h, w)} is not divisible by {f}")
    x = y.reshape(*batch, h // f, f, w // f, f, c)
    x = jnp.swapaxes(x, -4, -3)  # [..., H/f, W/f, f, f, C]
    return x.reshape(*batch, h // f, w // f, f * f * c), _zero_log_det(y)


class ActNorm(distrax.Block):
  """Per-channel affine map with learned shift b and log-scale s (Glow).

  With z and x `[..., H, W, C]` events and b, s `[C]`:

  - Forward: `x = z * exp(s) + b`
  - Forward Jacobian log determinant: `H W sum_c s_c`
  - Inverse: `z = (x - b) * exp(-s)`
  - Inverse Jacobian log determinant: `-H W sum_c s_c`

  A `distrax.ScalarAffine` promoted to 3 event axes with `distrax.Block`, so
  the per-element log-scales are summed over (H, W, C). Data-dependent
  initialisation (b = channel mean, exp(s) = channel std) lives with the
  parameters, in `mimjax.models.ActNormParams`.
  """

  def __init__(self, shift, log_scale):
    """Builds the map from its parameters.

    Args:
      shift: `[C]` b.
      log_scale: `[C]` s.
    """
    if jnp.ndim(shift) != 1 or jnp.shape(shift) != jnp.shape(log_scale):
      raise ValueError(
          "shift and log_scale must both be [C], got "
          f"{jnp.shape(shift)} and {jnp.shape(log_scale)}"
      )
    super().__init__(
        distrax.ScalarAffine(shift=shift, log_scale=log_scale), ndims=3
    )


class ChannelPermutation(distrax.Bijector):
  """Fixed permutation pi of the channel axis (the thesis's "shuffle").

  With z and x `[..., H, W, C]` events:

  - Forward: `x[..., c] = z[..., pi(c)]`
  - Forward Jacobian log determinant: `0`
  - Inverse: `z[..., pi(c)] = x[..., c]`
  - Inverse Jacobian log determinant: `0`
  """

  def __init__(self, permutation):
    """Checks and stores pi.

    Args:
      permutation: `[C]` static (numpy) permutation pi of range(C).
    """
    permutation = np.asarray(permutation)
    if permutation.ndim != 1 or not np.array_equal(
        np.sort(permutation), np.arange(permutation.size)
    ):
      raise ValueError(f"not a permutation of range(C): {permutation}")
    super().__init__(event_ndims_in=3, is_constant_jacobian=True)
    self.permutation = permutation
    self._inverse_permutation = np.argsort(permutation)

  def forward_and_log_det(self, x):
    """`[..., H, W, C]` -> (permuted channels, `[...]` zeros)."""
    self._check_forward_input_shape(x)
    return jnp.take(x, self.permutation, axis=-1), _zero_log_det(x)

  def inverse_and_log_det(self, y):
    """`[..., H, W, C]` -> (un-permuted channels, `[...]` zeros)."""
    self._check_inverse_input_shape(y)
    return jnp.take(y, self._inverse_permutation, axis=-1), _zero_log_det(y)


class Invertible1x1Conv(distrax.Bijector):
  """Invertible 1x1 convolution: one C x C matrix W at every pixel (Glow).

  With z and x `[..., H, W, C]` events (H x W pixels):

  - Forward: `x[h, w, :] = W z[h, w, :]`
  - Forward Jacobian log determinant: `H W log|det W|`
  - Inverse: `z[h, w, :] = W^{-1} x[h, w, :]`
  - Inverse Jacobian log determinant: `-H W log|det W|`

  log|det W| comes from `slogdet` (LU); the matrix products run at full
  float32 precision so the round trip stays exact on accelerators too.
  """

  def __init__(self, weight):
    """Stores W.

    Args:
      weight: `[C, C]` invertible W.
    """
    if jnp.ndim(weight) != 2 or weight.shape[0] != weight.shape[1]:
      raise ValueError(f"weight must be [C, C], got {jnp.shape(weight)}")
    super().__init__(event_ndims_in=3, is_constant_jacobian=True)
    self.weight = weight

  def _apply(self, matrix, x, sign):
    y = jnp.einsum(
        "...c,dc->...d", x, matrix, precision=jax.lax.Precision.HIGHEST
    )
    pixels = x.shape[-3] * x.shape[-2]
    log_det = sign * pixels * jnp.linalg.slogdet(self.weight)[1]
    return y, jnp.broadcast_to(log_det, x.shape[:-3])

  def forward_and_log_det(self, x):
    """`[..., H, W, C]` -> (W z per pixel, `[...]` log-det)."""
    self._check_forward_input_shape(x)
    return self._apply(self.weight, x, 1.0)

  def inverse_and_log_det(self, y):
    """`[..., H, W, C]` -> (W^{-1} x per pixel, `[...]` log-det)."""
    self._check_inverse_input_shape(y)
    return self._apply(jnp.linalg.inv(self.weight), y, -1.0)


class _HalfChannelCoupling(distrax.Bijector):
  """Keeps the first ceil(C/2) channels, maps the last C//2 given them.

  A `distrax.SplitCoupling` on the channel axis, built per call because C is
  only known from the input. Subclasses give the elementwise inner bijector
  from the conditioner's output: `_inner(params) -> distrax.ScalarAffine`.
  """

  def __init__(self, conditioner):
    """Stores the conditioner.

    Args:
      conditioner: `[..., H, W, C - C//2]` -> a pair of `[..., H, W, C//2]`
        arrays (e.g. a bound Flax module).
    """
    super().__init__(event_ndims_in=3)
    self.conditioner = conditioner

  @staticmethod
  def kept_channels(channels):
    """ceil(C/2): how many leading channels pass through unchanged."""
    return channels - channels // 2

  def _coupling(self, channels):
    if channels < 2:
      raise ValueError(f"a coupling needs >= 2 channels, got {channels}")
    return distrax.SplitCoupling(
        split_index=self.kept_channels(channels),
        event_ndims=3,
        conditioner=self.conditioner,
        bijector=self._inner,
    )

  def forward_and_log_det(self, x):
    self._check_forward_input_shape(x)
    return self._coupling(x.shape[-1]).forward_and_log_det(x)

  def inverse_and_log_det(self, y):
    self._check_inverse_input_shape(y)
    return self._coupling(y.shape[-1]).inverse_and_log_det(y)


class AffineCoupling(_HalfChannelCoupling):
  """Glow's affine coupling on the channel axis.

  Split z and x `[..., H, W, C]` into the first ceil(C/2) channels (a, passed
  through) and the last C//2 (b). With (t, r) = conditioner(a) and Glow's
  scale floored at s_min = 0.1, s = s_min + (1 - s_min) sigmoid(r + 2), so
  that Glow's data -> latent formula z_b = (x_b + t) * s is the inverse here:

  - Forward: `x_a = z_a`, `x_b = z_b / s - t`
  - Forward Jacobian log determinant: `-sum_{h, w, c} log s`
  - Inverse: `z_a = x_a`, `z_b = (x_b + t) * s`
  - Inverse Jacobian log determinant: `sum_{h, w, c} log s`

  s < 1 keeps the data -> latent (training) direction contractive. The floor
  bounds the latent -> data expansion to 1 / s_min per coupling: with Glow's
  bare sigmoid a CPU-trained MNIST flow sent 70 of 256 draws z ~ N(0, I) to
  inf (its scales reach sigmoid(r + 2) ~ 0 off the data), which breaks
  sampling and TzK's decoder samples t = f_t(z). log s is computed with
  `log_sigmoid` / `logaddexp` for stability.
  """

  def _inner(self, params):
    shift, raw = params
    log_scale = jnp.logaddexp(
        np.log(_MIN_COUPLING_SCALE),
        np.log1p(-_MIN_COUPLING_SCALE)
        + jax.nn.log_sigmoid(raw + _COUPLING_SCALE_OFFSET),
    )
    return distrax.ScalarAffine(shift=-shift, log_scale=-log_scale)


class SplitPrior(_HalfChannelCoupling):
  """Glow's factored-out half with a learned conditional Gaussian prior.

  Split z and x `[..., H, W, C]` into the first ceil(C/2) channels (a, kept
  and passed on to the next level) and the last C//2 (b, factored out). With
  (mu, r) = conditioner(x_a) and the soft clamp log sigma = 5 tanh(r / 5):

  - Forward: `x_a = z_a`, `x_b = z_b * sigma + mu`
  - Forward Jacobian log determinant: `sum_{h, w, c} log sigma`
  - Inverse: `z_a = x_a`, `z_b = (x_b - mu) / sigma`
  - Inverse Jacobian log determinant: `-sum_{h, w, c} log sigma`

  With a standard-normal base on z_b, log N(z_b; 0, I) + inverse log-det =
  log N(x_b; mu(x_a), diag(sigma(x_a)^2)): Glow's split prior. The tanh clamp
  keeps sigma in (e^-5, e^5) so an untrained prior cannot overflow.
  """

  def _inner(self, params):
    loc, raw = params
    log_sigma = _MAX_LOG_SIGMA * jnp.tanh(raw / _MAX_LOG_SIGMA)
    return distrax.ScalarAffine(shift=loc, log_scale=log_sigma)
