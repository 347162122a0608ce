"""Sampling schemes and objectives for `LatentVariableModel`-like models."""

import dataclasses
from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp

from mimjax import distributions
from mimjax import losses

# Folded into the loss key for model-internal noise (dropout), so the keys of
# the latent and decoder samples are the same as without it.
_DROPOUT_STREAM = 7
# `latent_anchor` values that make P(z) the model's learned prior p(z):
# samples with pathwise gradients into p(z) (the authors' image code), or
# detached samples (gradients reach p(z) only through log p(z)).
MODEL_PRIOR = "model_prior"
MODEL_PRIOR_STOP_GRADIENT = "model_prior_stop_gradient"
_MODEL_PRIORS = (MODEL_PRIOR, MODEL_PRIOR_STOP_GRADIENT)
# Gradient estimators of the decoder half for discrete x (`make_loss_fn`).
DECODER_ESTIMATORS = ("reinforce", "batch_mean", "rloo", "mean")


@flax.struct.dataclass
class LatentTerms:
  """Log-densities at one batch of samples (every field `[B]`).

  `log_q_x` is log q(x) for a parametric q(x), else the Jensen estimate of
  the decoder marginal at the importance sample z' (eq 3.25).
  """

  log_p_x_given_z: jax.Array
  log_p_z: jax.Array
  log_q_z_given_x: jax.Array
  log_q_x: jax.Array
  # log-probability of the sampled x under the sampling decoder, for
  # REINFORCE (zeros on encoder samples, where x is data).
  log_prob_x_sample: jax.Array

  @property
  def log_p_joint(self):
    return self.log_p_x_given_z + self.log_p_z

  @property
  def log_q_joint(self):
    return self.log_q_z_given_x + self.log_q_x


def _log_q_x(data_prior, x, importance_terms):
  """log q(x): the parametric q(x), or the Jensen bound of eq 3.25.

  Args:
    data_prior: the model's parametric q(x), or None (decoder marginal).
    x: `[B, *x_shape]` inputs.
    importance_terms: `() -> (log p(x|z'), log p(z'), log q(z'|x))` at the
      importance sample z'; called only for the decoder marginal.

  Returns:
    `[B]` log q(x) or its single-sample bound.
  """
  if data_prior is not None:
    return data_prior.log_prob(x)
  return losses.jensen_log_marginal(*importance_terms())


@flax.struct.dataclass
class PosteriorMoments:
  """Mean and standard deviation of q(z|x), each `[B, d]`."""

  mean: jax.Array
  stddev: jax.Array


def _encoder_half(m, x, key, prior, use_mean=False):
  """`encoder_terms` on a bound module `m` with p(z) already built.

  Returns (`LatentTerms`, z, q(z|x)); `use_mean` takes z = E[z|x].
  """
  q = m.encode(x)
  if use_mean:
    z = q.mean()
    log_q_z_given_x = q.log_prob(z)
  else:
    z, log_q_z_given_x = distributions.sample_with_log_prob(q, seed=key)
  log_p_x_given_z = m.decode(z).log_prob(x)
  log_p_z = prior.log_prob(z)
  terms = LatentTerms(
      log_p_x_given_z=log_p_x_given_z,
      log_p_z=log_p_z,
      log_q_z_given_x=log_q_z_given_x,
      log_q_x=_log_q_x(
          m.data_prior(),
          x,
          lambda: (log_p_x_given_z, log_p_z, log_q_z_given_x),
      ),
      log_prob_x_sample=jnp.zeros_like(log_p_x_given_z),
  )
  return terms, z, q


def encoder_terms(model, params, x, key):
  """Terms on encoder samples x ~ P(x) (data), z ~ q(z|x) (reparameterised).

  With the decoder marginal, the importance sample is z itself (Alg. 3
  line 3), so log q(z|x) cancels exactly inside `losses.mim`.

  Args:
    model: a `LatentVariableModel`-like Flax module.
    params: its variables.
    x: `[B, *x_shape]` data batch.
    key: PRNG key.

  Returns:
    (`LatentTerms`, z `[B, d]`, `PosteriorMoments` of q(z|x)).
  """

  def bound(m):
    terms, z, q = _encoder_half(m, x, key, m.latent_prior())
    return terms, z, PosteriorMoments(q.mean(), q.stddev())

  return model.apply(params, method=bound)


def _decoder_half(m, anchor, batch_size, key, prior, estimator, num_samples,
                  weight_samples=1, matched_baseline=False):
  """`decoder_terms` on a bound module `m`; `anchor` a distribution or one
  of `_MODEL_PRIORS` (samples of p(z), pathwise or detached).

  Returns ((`LatentTerms` `[K * B]`, x `[K * B, ...]`, z `[B, d]`),
  reparameterized, weight_log_q_x, cross_log_q_x): rows are sample-major
  (row k * B + b is sample k of latent b); `reparameterized` is False for
  discrete x. The last two, without gradient, serve the REINFORCE weight
  and baseline (`make_loss_fn`): `weight_log_q_x` is None, or with
  `weight_samples` M > 1 the `[K * B]` mean of M Jensen brackets of log q(x)
  (the one in the terms and M - 1 more); `cross_log_q_x` is None, or with
  `matched_baseline` `[K, K * B]`: entry `[k, j * B + b]` is the bracket of
  row j * B + b at the importance noise of row k * B + b.
  """
  k_z, k_x, k_is = jax.random.split(key, 3)
  if isinstance(anchor, str) and anchor == MODEL_PRIOR:  # pathwise p(z)
    z, log_p_z = distributions.sample_with_log_prob(
        prior, seed=k_z, sample_shape=(batch_size,)
    )
  else:  # detached samples of p(z) or of a fixed anchor
    source = prior if isinstance(anchor, str) else anchor
    z = jax.lax.stop_gradient(
        source.sample(seed=k_z, sample_shape=(batch_size,))
    )
    log_p_z = prior.log_prob(z)
  p_x = m.decode(z)
  reparameterized = distributions.is_reparameterized(p_x)
  if estimator == "mean" and not reparameterized:
    x = jax.lax.stop_gradient(p_x.mean())[None]
  else:
    x = p_x.sample(seed=k_x, sample_shape=(num_samples,))
  if not reparameterized:  # discrete (distrax gives int samples): a constant
    x = jax.lax.stop_gradient(x.astype(jnp.float32))
  log_p_x_given_z = p_x.log_prob(x).reshape(-1)  # [K, B] -> [K * B]
  if (weight_samples > 1 or matched_baseline) and (
      reparameterized or m.data_prior() is not None
  ):
    raise ValueError(
        "decoder_weight_samples > 1 and decoder_matched_baseline act on the "
        "Jensen estimate of the decoder marginal log q(x) in the REINFORCE "
        "term: they need a discrete decoder and q(x) = the decoder marginal; "
        "use decoder_weight_samples=1, decoder_matched_baseline=False"
    )

  def bracket(q, x_rows, k):  # a fresh re-encoding z' ~ q(z|x) (Alg. 3)
    z_is, log_q_is = distributions.sample_with_log_prob(q, seed=k)
    return m.decode(z_is).log_prob(x_rows), prior.log_prob(z_is), log_q_is

  weight_log_q_x = cross_log_q_x = None
  if matched_baseline:  # one importance key per sample slice k
    slice_keys = jax.random.split(k_is, num_samples)

    def slice_terms(x_j, j):
      """Slice j: log q(z|x_j), its own bracket, brackets at every key."""
      q = m.encode(x_j)
      own = losses.jensen_log_marginal(*bracket(q, x_j, slice_keys[j]))
      others = slice_keys[(j + jnp.arange(1, num_samples)) % num_samples]
      cross = jax.lax.stop_gradient(jax.vmap(
          lambda k: losses.jensen_log_marginal(*bracket(q, x_j, k))
      )(others))  # keys j + 1, ..., j + K - 1 (mod K)
      at_keys = jnp.roll(
          jnp.concatenate([jax.lax.stop_gradient(own)[None], cross]), j,
          axis=0,
      )  # [K keys, B]
      return q.log_prob(z), own, at_keys

    log_q_z_given_x, log_q_x, at_keys = jax.vmap(slice_terms)(
        x, jnp.arange(num_samples)
    )  # [K, B], [K, B], [K samples, K keys, B]
    log_q_z_given_x, log_q_x = log_q_z_given_x.reshape(-1), log_q_x.reshape(-1)
    cross_log_q_x = jnp.swapaxes(at_keys, 0, 1).reshape(num_samples, -1)
  x = x.reshape(-1, *x.shape[2:])  # [K, B, ...] -> [K * B, ...]
  if not matched_baseline:
    q = m.encode(x)
    log_q_z_given_x = q.log_prob(jnp.tile(z, (num_samples, 1)))
    log_q_x = _log_q_x(
        m.data_prior(), x, lambda: bracket(q, x, k_is)
    )
    if weight_samples > 1:
      extra_keys = jax.random.split(
          jax.random.fold_in(k_is, 1), weight_samples - 1
      )
      brackets = jax.vmap(
          lambda k: losses.jensen_log_marginal(*bracket(q, x, k))
      )(extra_keys)
      weight_log_q_x = jax.lax.stop_gradient(
          (log_q_x + jnp.sum(brackets, axis=0)) / weight_samples
      )
  terms = LatentTerms(
      log_p_x_given_z=log_p_x_given_z,
      log_p_z=jnp.tile(log_p_z, num_samples),
      log_q_z_given_x=log_q_z_given_x,
      log_q_x=log_q_x,
      log_prob_x_sample=(
          jnp.zeros_like(log_p_x_given_z)
          if reparameterized
          else log_p_x_given_z
      ),
  )
  return (terms, x, z), reparameterized, weight_log_q_x, cross_log_q_x


def decoder_terms(
    model,
    params,
    latent_anchor,
    batch_size,
    key,
    decoder_estimator="reinforce",
    decoder_samples=1,
):
  """Terms on decoder samples z ~ P(z), x ~ p(x|z) (Alg. 1, 3).

  Continuous x is reparameterised, so gradients flow through x into the
  decoder (Sec. 3.6.3). Discrete x (e.g. Bernoulli) is a stop-gradient sample
  whose log-probability is returned for the REINFORCE term of eq 3.26.

  Args:
    model: a `LatentVariableModel`-like Flax module.
    params: its variables.
    latent_anchor: P(z), any object with `sample(seed=, sample_shape=)`
      (a fixed anchor: no gradient flows into it), `MODEL_PRIOR` to sample
      the model's own p(z) with pathwise gradients (the authors' image code,
      reference digest Sec. 1.2) or `MODEL_PRIOR_STOP_GRADIENT` for detached
      samples of p(z).
    batch_size: number of latent samples B.
    key: PRNG key.
    decoder_estimator: one of `DECODER_ESTIMATORS` (see `make_loss_fn`);
      here only "mean" differs: discrete x is the detached mean E[x|z] (the
      authors' image code, reference digest Sec. 1.2) instead of a sample.
    decoder_samples: K samples x ~ p(x|z) per latent (1 for "mean").

  Returns:
    (`LatentTerms` with `[K * B]` fields, x `[K * B, *x_shape]`, z `[B, d]`);
    row k * B + b holds sample k of latent b.
  """
  _check_decoder_estimator(decoder_estimator, decoder_samples)
  _check_anchor(latent_anchor)
  return model.apply(
      params,
      method=lambda m: _decoder_half(
          m, latent_anchor, batch_size, key, m.latent_prior(),
          decoder_estimator, decoder_samples,
      )[0],
  )


def _check_decoder_estimator(estimator, num_samples):
  if estimator not in DECODER_ESTIMATORS:
    raise ValueError(
        f"unknown decoder_estimator {estimator!r}; use one of "
        f"{DECODER_ESTIMATORS}"
    )
  if not isinstance(num_samples, int) or num_samples < 1:
    raise ValueError(
        f"decoder_samples must be a positive integer, got {num_samples!r}"
    )
  if estimator == "rloo" and num_samples < 2:
    raise ValueError(
        "decoder_estimator 'rloo' needs decoder_samples >= 2 (each sample's "
        f"baseline is the mean of the others), got {num_samples}"
    )
  if estimator == "mean" and num_samples != 1:
    raise ValueError(
        "decoder_estimator 'mean' is deterministic: use decoder_samples=1, "
        f"got {num_samples}"
    )


def _decoder_baseline(estimator, per_example, num_samples):
  """Control variate b of the decoder half's REINFORCE term (`[K * B]`)."""
  if estimator == "batch_mean":
    return losses.leave_one_out_baseline(per_example)
  if estimator == "rloo":
    by_sample = per_example.reshape(num_samples, -1)
    return losses.leave_one_out_baseline(by_sample).reshape(-1)
  return 0.0


def _check_anchor(latent_anchor):
  if isinstance(latent_anchor, str) and latent_anchor not in _MODEL_PRIORS:
    raise ValueError(
        f"unknown latent_anchor {latent_anchor!r}; pass a distribution or "
        f"one of {_MODEL_PRIORS}"
    )


@dataclasses.dataclass(frozen=True)
class Objective:
  """A named loss of the registry `LOSSES`.

  Attributes:
    per_example: `per_example(terms, beta) -> [B]`, the loss of each sample
      of one half (`LatentTerms`), from `mimjax.losses`.
    symmetric: also draws the decoder half z ~ P(z), x ~ p(x|z) (the mixture
      M_S of Alg. 1, 3); else encoder samples only, M_S^q = P(x) q(z|x).
    deterministic: the encoder "sample" is the posterior mean E[z|x].
    summary: one line for error messages (`loss_names`).
  """

  per_example: Callable[[LatentTerms, Any], jax.Array]
  summary: str
  symmetric: bool = False
  deterministic: bool = False


def _mim(t, beta):
  return losses.mim(
      t.log_p_x_given_z, t.log_p_z, t.log_q_z_given_x, t.log_q_x, beta=beta
  )


# Every loss `make_loss_fn` knows, by the name configs use.
LOSSES = {
    "vae": Objective(
        lambda t, beta: losses.neg_elbo(
            t.log_p_x_given_z, t.log_q_z_given_x, t.log_p_z, beta=beta),
        "negative ELBO on encoder samples (VAE)"),
    "amim": Objective(
        _mim, "MIM loss on encoder samples only (A-MIM, Sec. 3.4)"),
    "mim": Objective(
        _mim, "MIM loss on the mixture of encoder and decoder samples",
        symmetric=True),
    "vae_h": Objective(
        lambda t, beta: losses.vae_plus_entropy(
            t.log_p_x_given_z, t.log_q_z_given_x, t.log_p_z, t.log_q_x,
            beta=beta),
        "VAE + H: negative ELBO plus the joint entropy (Sec. 5.3.2)"),
    "mim_h": Objective(
        lambda t, beta: losses.mim_minus_entropy(
            t.log_p_x_given_z, t.log_p_z, t.log_q_z_given_x, t.log_q_x,
            beta=beta),
        "MIM - H: MIM without its entropy term (Sec. 5.3.2)", symmetric=True),
    "ce": Objective(
        lambda t, beta: losses.cross_entropy(t.log_p_joint, t.log_q_joint),
        "symmetric cross-entropy L_CE on the mixture (App. B)",
        symmetric=True),
    "smim": Objective(
        lambda t, beta: losses.sentence_mim(
            t.log_p_x_given_z, t.log_q_z_given_x, t.log_p_z),
        "sentenceMIM on encoder samples (Alg. 4)"),
    "ae": Objective(
        lambda t, beta: -t.log_p_x_given_z,
        "deterministic auto-encoder -log p(x|E[z|x]) (ch. 7 baseline)",
        deterministic=True),
}


def loss_names():
  """`name: summary` lines of `LOSSES`, for messages."""
  return "; ".join(f"{k} ({v.summary})" for k, v in LOSSES.items())


def _summaries(prefix, terms, per_example, consistency=True):
  """Batch means of `terms` and the loss; R_MIM (eq 3.16) if `consistency`.

  R_MIM is skipped where it is identically 0: on encoder samples with the
  decoder marginal q(x), whose Jensen estimate makes q(x, z) = p(x, z).
  """
  out = {f"{prefix}/loss": jnp.mean(per_example)}
  for field in dataclasses.fields(terms):
    if field.name != "log_prob_x_sample":
      out[f"{prefix}/{field.name}"] = jnp.mean(getattr(terms, field.name))
  if consistency:
    out[f"{prefix}/r_mim"] = jnp.mean(
        losses.consistency_regularizer(terms.log_p_joint, terms.log_q_joint)
    )
  return out


def make_loss_fn(
    model,
    *,
    loss,
    latent_anchor=None,
    decoder_estimator="reinforce",
    decoder_samples=1,
    decoder_weight_samples=1,
    decoder_matched_baseline=False,
    encoder_half_only=False,
) -> Callable[..., tuple[jax.Array, dict[str, Any]]]:
  """Builds `loss_fn(params, batch, key, beta=1.0) -> (scalar, aux)`.

  Sampling schemes (`LOSSES[loss].symmetric` / `.deterministic`):
    * "vae", "amim", "vae_h", "smim": encoder samples only,
      M_S^q = P(x) q(z|x); "smim" is the sentenceMIM loss of Alg. 4 with the
      model's p(z) taken as the anchor P(z);
    * "ae": z = E[z|x], loss -log p(x|z) (the deterministic auto-encoder
      baseline of ch. 7);
    * "mim", "mim_h", "ce": the mixture M_S: the batch's B data points with
      z ~ q(z|x), plus B decoder samples z ~ P(z), x ~ p(x|z) (B / K latents
      z with K = `decoder_samples` draws x each); the loss is 1/2 (mean over
      encoder half + mean over decoder half) (Alg. 1, 3).

  Reductions are plain means over the (global) batch, so the value is the
  same whether the batch lives on one device or is sharded over many.

  Args:
    model: a `LatentVariableModel`-like Flax module.
    loss: a key of `LOSSES`.
    latent_anchor: P(z) for decoder samples (needed by symmetric losses):
      a fixed distribution (the thesis: anchors are "fixed and not
      learned", Sec. 3.2), or the model's learned p(z) as `MODEL_PRIOR`
      (pathwise samples, the authors' image code) or
      `MODEL_PRIOR_STOP_GRADIENT` (detached samples); see `decoder_terms`.
    decoder_estimator: gradient estimator of the decoder half for discrete
      x (eq 3.26: grad f(x) + (f(x) - b) grad log p(x|z), x ~ p(x|z)), one
      of `DECODER_ESTIMATORS`:
        "reinforce"   b = 0 (unbiased, high variance);
        "batch_mean"  b = mean loss of the other decoder samples in the
                      batch (`losses.leave_one_out_baseline`; unbiased);
        "rloo"        K = `decoder_samples` >= 2 samples x per latent z, b =
                      mean loss of the other K - 1 samples of the same z
                      (unbiased; Kool et al. 2019);
        "mean"        the authors' image code: x = the detached mean
                      probabilities E[x|z], b = 0. Biased: x is not a binary
                      sample, so this is not the gradient of the objective.
      Continuous x is reparameterised and ignores it.
    decoder_samples: samples x ~ p(x|z) per decoder latent z (K, dividing
      the batch size B); the decoder half draws B / K latents, so it holds
      B samples whatever K (the balanced mixture of Alg. 1) and costs the
      same.
    decoder_weight_samples: M importance samples z' ~ q(z|x) whose Jensen
      brackets (eq 3.25) are averaged into log q(x) inside the REINFORCE
      weight f(x) of the decoder half (and its baseline), forward only.
      The loss and its pathwise gradient keep the single bracket of Alg. 3.
      The average has the same mean given x, so the gradient stays
      unbiased; for discrete x with the decoder marginal it removes most of
      the weight's spread among the samples of one latent, which at init is
      mostly the one importance sample's noise (BUILD_NOTES, "Decoder-half
      gradient estimators"). Costs M - 1 forward passes of q(z1|x, z2),
      p(z) and the decoder on the decoder samples.
    decoder_matched_baseline: with "rloo", sample k's baseline is the mean
      loss of the other K - 1 samples of its latent evaluated with sample
      k's own importance noise e_k (z' = mu(x_j) + sigma(x_j) e_k in their
      Jensen brackets; `losses.matched_noise_baseline`). Still independent
      of x_k, so unbiased; the weight and the pathwise gradient are
      unchanged, but the part of the bracket's noise that is common to all
      x (log q(z'|x)'s -|e|^2 / 2 exactly, log p(z') and log p(x|z') nearly
      while q(z|x) depends little on x, as at init) cancels in f - b. Costs
      K - 1 forward brackets per decoder sample; excludes
      `decoder_weight_samples` > 1.
    encoder_half_only: a symmetric loss's encoder half alone, mean over the
      B data points (for "mim" the "amim" loss). A validation loss without
      the decoder half's sampling noise: z ~ P(z), x ~ p(x|z) and one-sample
      log-densities of off-data x make the full MIM loss at a fixed model
      vary by nats from key to key (BUILD_NOTES, "Early stopping").

  Returns:
    The loss function. `batch` is a dict with "x" `[B, *x_shape]`; `aux`
    holds the mean of every log-density term, each half's loss, R_MIM
    (eq 3.16, a diagnostic; not on the encoder half with the decoder
    marginal, where it is 0 by construction), beta and, for discrete
    decoder samples, "dec/score_scale" = mean |f(x) - b|, the size of the
    REINFORCE weights. For a model in train mode with
    BatchNorm (`model.train` and "batch_stats" in the variables) `aux` also
    holds "collections": the updated `{"batch_stats": ...}`.
  """
  if loss not in LOSSES:
    raise ValueError(f"unknown loss {loss!r}; use one of {tuple(LOSSES)}")
  objective = LOSSES[loss]
  symmetric = objective.symmetric and not encoder_half_only
  if symmetric and latent_anchor is None:
    raise ValueError(f"loss {loss!r} samples P(z): pass latent_anchor")
  _check_anchor(latent_anchor)
  _check_decoder_estimator(decoder_estimator, decoder_samples)
  if not isinstance(decoder_weight_samples, int) or decoder_weight_samples < 1:
    raise ValueError(
        "decoder_weight_samples must be a positive integer, got "
        f"{decoder_weight_samples!r}"
    )
  if decoder_weight_samples > 1 and decoder_estimator == "mean":
    raise ValueError(
        "decoder_estimator 'mean' has no REINFORCE weight to average: use "
        "decoder_weight_samples=1"
    )
  if decoder_matched_baseline and (
      decoder_estimator != "rloo" or decoder_weight_samples > 1
  ):
    raise ValueError(
        "decoder_matched_baseline replaces the baseline of "
        "decoder_estimator='rloo' and excludes decoder_weight_samples > 1; "
        f"got decoder_estimator={decoder_estimator!r}, "
        f"decoder_weight_samples={decoder_weight_samples}"
    )

  def bound_loss(m, x, key, beta):
    # One apply: p(z) (e.g. a VampPrior's K encoder passes) is built once and
    # shared by both halves.
    prior = m.latent_prior()
    k_enc, k_dec = jax.random.split(key)
    enc, _, _ = _encoder_half(
        m, x, k_enc, prior, use_mean=objective.deterministic
    )
    enc_loss = objective.per_example(enc, beta)
    aux = _summaries(
        "enc", enc, enc_loss, consistency=m.data_prior() is not None
    )
    aux["beta"] = jnp.asarray(beta, jnp.float32)
    total = jnp.mean(enc_loss)
    if symmetric:
      if x.shape[0] % decoder_samples:
        raise ValueError(
            f"batch size {x.shape[0]} is not a multiple of decoder_samples="
            f"{decoder_samples}"
        )
      decoder_half = _decoder_half(
          m, latent_anchor, x.shape[0] // decoder_samples, k_dec, prior,
          decoder_estimator, decoder_samples, decoder_weight_samples,
          decoder_matched_baseline,
      )
      (dec, _, _), reparameterized, weight_log_q_x, cross_log_q_x = (
          decoder_half
      )
      dec_per_example = objective.per_example(dec, beta)
      with_log_q_x = lambda log_q_x: objective.per_example(
          dec.replace(log_q_x=log_q_x), beta
      )
      weight = (
          dec_per_example if weight_log_q_x is None
          else with_log_q_x(weight_log_q_x)
      )
      if cross_log_q_x is not None:
        cross = jax.vmap(with_log_q_x)(cross_log_q_x)  # [K noise, K * B]
        baseline = losses.matched_noise_baseline(
            cross.reshape(decoder_samples, decoder_samples, -1)
        ).reshape(-1)
      else:
        baseline = _decoder_baseline(
            decoder_estimator, weight, decoder_samples
        )
      dec_loss = losses.score_function_surrogate(
          dec_per_example, dec.log_prob_x_sample, baseline=baseline,
          weight=weight,
      )
      aux.update(_summaries("dec", dec, dec_loss))
      if not reparameterized:
        aux["dec/score_scale"] = jnp.mean(jnp.abs(weight - baseline))
      total = 0.5 * (total + jnp.mean(dec_loss))
    aux["loss"] = total
    return total, aux

  def loss_fn(params, batch, key, beta=1.0):
    rngs = {"dropout": jax.random.fold_in(key, _DROPOUT_STREAM)}
    if "batch_stats" in params and getattr(model, "train", False):
      # Train-mode BatchNorm: hand the updated running statistics to the
      # training engine through aux (it replaces them after the step).
      (total, aux), collections = model.apply(
          params, batch["x"], key, beta, method=bound_loss,
          mutable=["batch_stats"], rngs=rngs,
      )
      return total, dict(aux, collections=collections)
    return model.apply(
        params, batch["x"], key, beta, method=bound_loss, rngs=rngs
    )

  return loss_fn
