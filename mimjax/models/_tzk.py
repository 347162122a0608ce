"""TzK: a t-flow with knowledge-conditioned priors (thesis ch. 8, App. G).

The observation t (an image) has a Glow "t-flow" t = f_t(z), z ~ N(0, I_D),
giving the unconditional q(t). Each knowledge type i (e.g. "this is MNIST",
"this is a 3") adds, with separate regressor weights for e^i = 0 and 1:

  q(c^i | e^i, t)  Gaussian regressor t -> (mu, sigma) in R^C, then the code
                   flow f_c^i                                        (8.5)
  p(t | e^i, c^i)  Gaussian regressor c -> (mu, sigma) in z space, then the
                   shared t-flow f_t                                 (8.6)
  p(e^i = 1 | t), p(e^i = 1 | c^i)  discriminators (sigmoid logits)  (8.5, 8.7)
  p(c^i)           the code flow f_c^i from N(0, I_C)                 (8.7)

The code flow f_c^i is shared by the code prior and the encoder, as the t-flow
is shared by q(t) and the decoder (the thesis writes f_c^i for both).
Knowledge types are named submodules, so adding a type adds parameters
without touching the others (`add_knowledge`).
"""

import re

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from mimjax import distributions
from mimjax.models import _conv
from mimjax.models import _glow

# Soft bound on regressed log standard deviations: 5 tanh(raw / 5).
_LOG_SCALE_BOUND = 5.0


def knowledge_key(name):
  """Parameter-safe name of a knowledge type ("mnist:3" -> "mnist_3")."""
  return re.sub(r"[^0-9A-Za-z]+", "_", name)


def _bounded_log_scale(raw):
  return _LOG_SCALE_BOUND * jnp.tanh(raw / _LOG_SCALE_BOUND)


def _log_normal(x, mu, log_sigma):
  """log N(x; mu, diag(exp(2 log_sigma))) of `[B, d]` rows -> `[B]`."""
  return distributions.diag_gaussian(mu, jnp.exp(log_sigma)).log_prob(x)


def _actnorm(x):
  """Data-initialised ActNorm of a regressor input (zero mean, unit var)."""
  return _glow.ActNormParams()(x).inverse(x)


def _squeeze(x):
  """`[B, H, W, C]` -> `[B, H/2, W/2, 4C]` (space to depth)."""
  return distributions.Squeeze().inverse(x)


class _Conv3x3(nn.Module):
  features: int
  stride: int = 1
  zero_init: bool = False

  @nn.compact
  def __call__(self, x):
    init = nn.initializers.lecun_normal()
    if self.zero_init:
      init = nn.initializers.zeros
    return _conv.Conv(
        self.features, 3, stride=self.stride, padding=1, kernel_init=init
    )(x)


class CodeRegressor(nn.Module):
  """t -> (mu, log sigma) of the Gaussian base of q(c | e, t) (App. G.1).

  ActNorm on the input, a 3x3 convolution, then `levels` x (squeeze, 3x3
  convolution), all with `channels` channels and swish, then a zero-initialised
  linear map to 2 C.

  Attributes:
    code_dim: C.
    channels: convolution channels (80 in the thesis).
    levels: squeeze + convolution blocks (3 in the thesis).
  """

  code_dim: int
  channels: int = 80
  levels: int = 3

  @nn.compact
  def __call__(self, t):
    """`[B, H, W, ch]` -> (mu `[B, C]`, log sigma `[B, C]`)."""
    h = _actnorm(t)
    h = nn.swish(_Conv3x3(self.channels)(h))
    for _ in range(self.levels):
      h = nn.swish(_Conv3x3(self.channels)(_squeeze(h)))
    out = nn.Dense(2 * self.code_dim, kernel_init=nn.initializers.zeros)(
        h.reshape(h.shape[0], -1)
    )
    mu, raw = jnp.split(out, 2, axis=-1)
    return mu, _bounded_log_scale(raw)


class LatentRegressor(nn.Module):
  """c -> (mu, log sigma) of the Gaussian over the t-flow's z (App. G.1).

  ActNorm on the code, a linear map to a `[grid, grid, width]` tensor, three
  3x3 convolutions with `channels` channels and swish, and a zero-initialised
  3x3 convolution to 2 D / grid^2 channels, read as the flat `[D]` mean and
  log standard deviation.

  Attributes:
    latent_dim: D (the t-flow's dimension).
    channels: convolution channels (512 in the thesis).
    width: channels of the linear map's output (80 in the thesis).
    grid: spatial size of the regressed tensor (4 in the thesis).
  """

  latent_dim: int
  channels: int = 512
  width: int = 80
  grid: int = 4

  @nn.compact
  def __call__(self, c):
    """`[B, C]` -> (mu `[B, D]`, log sigma `[B, D]`)."""
    cells = self.grid * self.grid
    if self.latent_dim % cells:
      raise ValueError(
          f"latent dimension {self.latent_dim} is not divisible by "
          f"{self.grid}x{self.grid}"
      )
    h = _actnorm(c[:, None, None, :])
    h = nn.Dense(cells * self.width)(h.reshape(h.shape[0], -1))
    h = h.reshape(-1, self.grid, self.grid, self.width)
    for _ in range(3):
      h = nn.swish(_Conv3x3(self.channels)(h))
    out = _Conv3x3(2 * self.latent_dim // cells, zero_init=True)(h)
    mu, raw = jnp.split(out, 2, axis=-1)
    flat = lambda a: a.reshape(a.shape[0], -1)
    return flat(mu), _bounded_log_scale(flat(raw))


class Discriminator(nn.Module):
  """Logit of p(e = 1 | input) for an image or a code (App. G.1).

  ActNorm, three 3x3 convolutions (stride 2, swish) and a linear map to one
  logit. The thesis does not give strides; stride 2 keeps the final linear
  layer small on 32x32 images and changes nothing on `[1, 1, C]` codes.

  Attributes:
    channels: convolution channels (10 C in the thesis).
  """

  channels: int

  @nn.compact
  def __call__(self, x):
    """`[B, H, W, ch]` -> `[B]` logits."""
    h = _actnorm(x)
    for _ in range(3):
      h = nn.swish(_Conv3x3(self.channels, stride=2)(h))
    return nn.Dense(1)(h.reshape(h.shape[0], -1))[:, 0]


def _log_bernoulli(logits, e):
  """log p(e | logits) for e in {0, 1}, `[B]`."""
  return e * jax.nn.log_sigmoid(logits) + (1.0 - e) * jax.nn.log_sigmoid(
      -logits
  )


def _select(e, pair):
  """Per row, the e = 1 entry of a pair of `[B, ...]` arrays where e is 1.

  The e = 0 and e = 1 networks (App. G.1's separate weights) both run on
  every row; under jit and vmap a data-dependent branch would run both too.
  """
  off, on = pair
  mask = jnp.reshape(e, (-1,) + (1,) * (on.ndim - 1)) > 0.5
  return jnp.where(mask, on, off)


class KnowledgeType(nn.Module):
  """All factors of one knowledge type k^i = (e^i, c^i) (eqs 8.5-8.7).

  Attributes:
    latent_dim: D of the t-flow.
    code_dim: C.
    code_flow_steps: steps of the one-level code flow (4 in the thesis).
    code_flow_hidden: its coupling channels (default 10 C).
    code_channels: channels of the t -> c regressors (80).
    code_levels: squeeze blocks of the t -> c regressors (3).
    latent_channels: channels of the c -> z regressors (512).
    latent_width: width of their linear map (80).
    latent_grid: spatial size of their output (4).
    discriminator_channels: channels of both discriminators (default 10 C).
  """

  latent_dim: int
  code_dim: int = 10
  code_flow_steps: int = 4
  code_flow_hidden: int = 0
  code_channels: int = 80
  code_levels: int = 3
  latent_channels: int = 512
  latent_width: int = 80
  latent_grid: int = 4
  discriminator_channels: int = 0

  def setup(self):
    c = self.code_dim
    self.code_flow = _glow.Glow(
        event_shape=(1, 1, c),
        levels=1,
        steps=self.code_flow_steps,
        hidden=self.code_flow_hidden or 10 * c,
        squeeze=False,
    )
    self.code_encoders = [
        CodeRegressor(c, self.code_channels, self.code_levels)
        for _ in range(2)
    ]
    self.latent_decoders = [
        LatentRegressor(
            self.latent_dim,
            self.latent_channels,
            self.latent_width,
            self.latent_grid,
        )
        for _ in range(2)
    ]
    channels = self.discriminator_channels or 10 * c
    self.t_discriminator = Discriminator(channels)
    self.c_discriminator = Discriminator(channels)

  def _code_event(self, c):
    return c.reshape(c.shape[0], 1, 1, self.code_dim)

  def log_code_prior(self, c):
    """log p(c) under the code flow, `[B, C]` -> `[B]` (eq 8.7)."""
    return self.code_flow.log_prob(self._code_event(c))

  def sample_code_prior(self, key, n):
    """c ~ p(c) (reparameterised): (c `[n, C]`, log p(c) `[n]`)."""
    u = jax.random.normal(key, (n, self.code_dim))
    c, log_det = self.code_flow.to_data(u)
    log_p = _log_normal(u, jnp.zeros_like(u), jnp.zeros_like(u)) - log_det
    return c.reshape(n, self.code_dim), log_p

  def code_base(self, t, e):
    """Gaussian base of q(c | e, t): (mu, log sigma), each `[B, C]`."""
    pairs = [encoder(t) for encoder in self.code_encoders]
    return _select(e, (pairs[0][0], pairs[1][0])), _select(
        e, (pairs[0][1], pairs[1][1])
    )

  def log_code_posterior(self, c, t, e):
    """log q(c | e, t) = log N(f_c^-1(c); mu(t), sigma(t)) + log|det|, `[B]`."""
    mu, log_sigma = self.code_base(t, e)
    u, log_det = self.code_flow.to_latent(self._code_event(c))
    return _log_normal(u, mu, log_sigma) + log_det

  def sample_code_posterior(self, key, t, e):
    """c ~ q(c | e, t) (reparameterised): (c `[B, C]`, log q `[B]`)."""
    mu, log_sigma = self.code_base(t, e)
    u = mu + jnp.exp(log_sigma) * jax.random.normal(key, mu.shape)
    c, log_det = self.code_flow.to_data(u)
    return c.reshape(u.shape), _log_normal(u, mu, log_sigma) - log_det

  def latent_base(self, c, e):
    """Gaussian over z of p(t | e, c): (mu, log sigma), each `[B, D]`."""
    pairs = [decoder(c) for decoder in self.latent_decoders]
    return _select(e, (pairs[0][0], pairs[1][0])), _select(
        e, (pairs[0][1], pairs[1][1])
    )

  def log_e_given_t(self, t, e):
    """log p(e | t), `[B]`."""
    return _log_bernoulli(self.t_discriminator(t), e)

  def log_e_given_c(self, c, e):
    """log p(e | c), `[B]`."""
    return _log_bernoulli(self.c_discriminator(self._code_event(c)), e)

  def __call__(self, t, e):
    """Initialises every factor (for `init`); returns log q(c | e, t).

    The data-dependent ActNorms see real inputs: the code flow N(0, I)
    draws, the code-side networks codes from p(c), the image-side ones t.
    """
    u = jax.random.normal(self.make_rng("params"), (t.shape[0], self.code_dim))
    self.code_flow(self._code_event(u))
    c, _ = self.sample_code_prior(self.make_rng("params"), t.shape[0])
    self.latent_base(c, e)
    self.log_e_given_c(c, e)
    self.log_e_given_t(t, e)
    return self.log_code_posterior(c, t, e)


class TzK(nn.Module):
  """The TzK model: a Glow t-flow plus knowledge types (ch. 8, App. G.1).

  Attributes:
    event_shape: `(H, W, ch)` of t.
    knowledge: knowledge type names, e.g. ("mnist",) or ("mnist:3",); empty
      for the t-flow alone (C = 0).
    flow: keyword arguments of the t-flow `Glow` (levels, steps, hidden,
      permutation).
    knowledge_config: keyword arguments of every `KnowledgeType` (code_dim,
      regressor and discriminator sizes).
  """

  event_shape: tuple
  knowledge: tuple = ()
  flow: dict = None
  knowledge_config: dict = None

  def setup(self):
    self.t_flow = _glow.Glow(
        event_shape=tuple(self.event_shape), **(self.flow or {})
    )
    latent_dim = int(np.prod(self.event_shape))
    self.types = {
        knowledge_key(name): KnowledgeType(
            latent_dim, **(self.knowledge_config or {})
        )
        for name in self.knowledge
    }

  def type_of(self, index):
    return self.types[knowledge_key(self.knowledge[index])]

  def __call__(self, t):
    """log q(t) `[B]`; at `init`, also initialises every knowledge type."""
    _, _, log_q_t = self.flow_log_prob(t)
    e = jnp.ones((t.shape[0],), t.dtype)
    for name in self.knowledge:
      self.types[knowledge_key(name)](t, e)
    return log_q_t

  def flow_log_prob(self, t):
    """(z `[B, D]`, log|det dz/dt| `[B]`, log q(t) `[B]`) under the t-flow."""
    z, log_det = self.t_flow.to_latent(t)
    log_q = _log_normal(z, jnp.zeros_like(z), jnp.zeros_like(z)) + log_det
    return z, log_det, log_q

  def flow_sample(self, key, n, temperature=1.0):
    """t ~ q(t) at a base temperature: `[n, *event_shape]`."""
    return self.t_flow.sample(key, n, temperature)

  def to_latent(self, t):
    return self.t_flow.to_latent(t)[0]

  def to_data(self, z):
    return self.t_flow.to_data(z)[0]

  def encoder_terms(self, key, t, e):
    """Terms of eq G.2 at (t, e) ~ P and c^i ~ q(c^i | e^i, t).

    Args:
      key: PRNG key.
      t: `[B, *event_shape]` dequantised observations.
      e: `[B, C]` knowledge existence in {0, 1}.

    Returns:
      (log q(t), log p(k^i | t), log p_dec(t, k^i)), each `[B, C]`.
    """
    z, log_det, log_q_t = self.flow_log_prob(t)
    log_k, log_dec = [], []
    for i, name in enumerate(self.knowledge):
      k = self.types[knowledge_key(name)]
      e_i = e[:, i]
      c, log_q_c = k.sample_code_posterior(jax.random.fold_in(key, i), t, e_i)
      mu, log_sigma = k.latent_base(c, e_i)
      log_k.append(k.log_e_given_t(t, e_i) + log_q_c)
      log_dec.append(
          k.log_code_prior(c)
          + k.log_e_given_c(c, e_i)
          + _log_normal(z, mu, log_sigma)
          + log_det
      )
    stack = lambda terms: jnp.stack(terms, axis=1)
    return (
        jnp.broadcast_to(log_q_t[:, None], (t.shape[0], len(self.knowledge))),
        stack(log_k),
        stack(log_dec),
    )

  def decoder_terms(self, key, e):
    """Terms of eq G.2 at e ~ P, c^i ~ p(c^i), t^i ~ p(t | e^i, c^i).

    Each knowledge type draws its own t^i (eq G.2 lets every type use its own
    decoder sample); gradients flow through c^i, z^i and f_t.

    Args:
      key: PRNG key.
      e: `[B, C]` knowledge existence in {0, 1}.

    Returns:
      (log q(t^i), log p(k^i | t^i), log p_dec(t^i, k^i)), each `[B, C]`.
    """
    n = e.shape[0]
    log_q, log_k, log_dec = [], [], []
    for i, name in enumerate(self.knowledge):
      k = self.types[knowledge_key(name)]
      e_i = e[:, i]
      key_c, key_z, key_q = jax.random.split(jax.random.fold_in(key, i), 3)
      c, log_p_c = k.sample_code_prior(key_c, n)
      mu, log_sigma = k.latent_base(c, e_i)
      z = mu + jnp.exp(log_sigma) * jax.random.normal(key_z, mu.shape)
      t, log_det_dec = self.t_flow.to_data(z)  # log|det dt/dz|
      log_q.append(_log_normal(z, jnp.zeros_like(z), jnp.zeros_like(z))
                   - log_det_dec)
      log_k.append(
          k.log_e_given_t(t, e_i) + k.log_code_posterior(c, t, e_i)
      )
      log_dec.append(
          log_p_c
          + k.log_e_given_c(c, e_i)
          + _log_normal(z, mu, log_sigma)
          - log_det_dec
      )
    stack = lambda terms: jnp.stack(terms, axis=1)
    return stack(log_q), stack(log_k), stack(log_dec)

  def conditional_log_prob(self, key, t, index):
    """log p(t | e^i = 1, c^i), c^i ~ q(c^i | e^i = 1, t) (App. G.2.3): `[B]`.

    The thesis's evaluation of a conditional; see `conditional_log_prob_is`
    for a likelihood of t alone.
    """
    k = self.type_of(index)
    e = jnp.ones((t.shape[0],), t.dtype)
    z, log_det, _ = self.flow_log_prob(t)
    c, _ = k.sample_code_posterior(key, t, e)
    mu, log_sigma = k.latent_base(c, e)
    return _log_normal(z, mu, log_sigma) + log_det

  def log_marginal_existence(self, key, index, num_samples):
    """log p(e^i = 1) = log E_{c ~ p(c^i)} p(e^i = 1 | c), by Monte Carlo."""
    k = self.type_of(index)
    c, _ = k.sample_code_prior(key, num_samples)
    log_e = k.log_e_given_c(c, jnp.ones((num_samples,), c.dtype))
    return jax.nn.logsumexp(log_e) - jnp.log(num_samples)

  def conditional_log_prob_is(self, key, t, index, *, num_samples,
                              log_p_existence):
    """Importance-sampled log p(t | e^i = 1) of the decoder, `[B]`.

    p(t | e = 1) = int p(t | e = 1, c) p(e = 1 | c) p(c) dc / p(e = 1)
    (eqs 8.6-8.7), estimated with S draws of the proposal q(c | e = 1, t):

      log p(t | e = 1) ~ logmeanexp_s [log p(t | e = 1, c_s)
          + log p(e = 1 | c_s) + log p(c_s) - log q(c_s | e = 1, t)]
          - log p(e = 1)

    Unlike `conditional_log_prob` (the thesis's one-sample evaluation, which
    scores t under a code inferred from t itself) this is a likelihood of t
    alone: a stochastic lower bound whose gap shrinks as S grows.

    Args:
      key: PRNG key.
      t: `[B, *event_shape]` observations.
      index: knowledge type index.
      num_samples: S.
      log_p_existence: log p(e^i = 1) (`log_marginal_existence`).

    Returns:
      `[B]` estimates.
    """
    k = self.type_of(index)
    b = t.shape[0]
    z, log_det, _ = self.flow_log_prob(t)
    tiled = jnp.tile(t, (num_samples,) + (1,) * (t.ndim - 1))  # [S B, ...]
    e = jnp.ones((num_samples * b,), t.dtype)
    c, log_q_c = k.sample_code_posterior(key, tiled, e)
    mu, log_sigma = k.latent_base(c, e)
    log_w = (
        _log_normal(jnp.tile(z, (num_samples, 1)), mu, log_sigma)
        + k.log_e_given_c(c, e)
        + k.log_code_prior(c)
        - log_q_c
    ).reshape(num_samples, b)
    return (
        jax.nn.logsumexp(log_w, axis=0)
        - jnp.log(num_samples)
        + log_det
        - log_p_existence
    )

  def conditional_sample(self, key, n, index, *, gibbs_steps=0,
                         temperature=1.0):
    """t ~ p(t | e^i = 1) by block Gibbs sampling (App. G.2.2).

    Starts from c ~ p(c^i) and t ~ p(t | e^i = 1, c); each of `gibbs_steps`
    sweeps draws c ~ q(c | e^i = 1, t) then t ~ p(t | e^i = 1, c), inside one
    compiled loop. `temperature` scales the Gaussian noise in z.

    Returns:
      `[n, *event_shape]` samples.
    """
    k = self.type_of(index)
    e = jnp.ones((n,), jnp.float32)

    def draw_t(key, c):
      mu, log_sigma = k.latent_base(c, e)
      z = mu + temperature * jnp.exp(log_sigma) * jax.random.normal(
          key, mu.shape
      )
      return self.t_flow.to_data(z)[0]

    key_c, key_t, key_loop = jax.random.split(key, 3)
    c, _ = k.sample_code_prior(key_c, n)
    t = draw_t(key_t, c)

    def sweep(step, t):
      key_c, key_t = jax.random.split(jax.random.fold_in(key_loop, step))
      c, _ = k.sample_code_posterior(key_c, t, e)
      return draw_t(key_t, c)

    return jax.lax.fori_loop(0, gibbs_steps, sweep, t)


def add_knowledge(model, params, names, key, t):
  """Adds knowledge types to a TzK model online, keeping existing parameters.

  The new types are initialised on the batch `t` (data-dependent ActNorm);
  the t-flow and the types already present keep their values.

  Args:
    model: a `TzK` module.
    params: its variables (`{"params": ...}`).
    names: knowledge type names to add (ones already present are skipped).
    key: PRNG key for the new parameters.
    t: `[B, *event_shape]` example observations.

  Returns:
    (the extended `TzK` module, its variables).
  """
  new = [n for n in names if n not in model.knowledge]
  extended = model.clone(knowledge=tuple(model.knowledge) + tuple(new))
  if not new:
    return extended, params
  fresh = extended.init(key, t)
  merged = dict(fresh["params"])
  merged.update(params["params"])
  return extended, {**params, "params": merged}
