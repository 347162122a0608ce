"""Sampling schemes and objectives for `LatentVariableModel`-like models."""

import dataclasses
from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp

from mimjax import distributions
from mimjax import losses

LOSSES = ("vae", "amim", "mim", "vae_h", "mim_h", "ce", "smim", "ae")
_SYMMETRIC = ("mim", "mim_h", "ce")
# Losses whose encoder "sample" is the posterior mean (a deterministic AE).
_DETERMINISTIC = ("ae",)
# Folded into the loss key for model-internal noise (dropout), so the keys of
# the latent and decoder samples are the same as without it.
_DROPOUT_STREAM = 7
# `latent_anchor` value that makes P(z) the model's learned prior p(z).
MODEL_PRIOR = "model_prior"
DECODER_SAMPLES = ("sample", "mean")


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
  z = q.mean() if use_mean else q.sample(seed=key)
  log_p_x_given_z = m.decode(z).log_prob(x)
  log_p_z = prior.log_prob(z)
  log_q_z_given_x = q.log_prob(z)
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


def _decoder_half(m, anchor, batch_size, key, prior, decoder_sample="sample"):
  """`decoder_terms` on a bound module `m`; `anchor` None samples p(z)."""
  k_z, k_x, k_is = jax.random.split(key, 3)
  if anchor is None:  # the model prior, with pathwise gradients into it
    z = prior.sample(seed=k_z, sample_shape=(batch_size,))
  else:
    z = jax.lax.stop_gradient(
        anchor.sample(seed=k_z, sample_shape=(batch_size,))
    )
  p_x = m.decode(z)
  reparameterized = distributions.is_reparameterized(p_x)
  if decoder_sample == "mean" and not reparameterized:
    x = jax.lax.stop_gradient(p_x.mean())
  else:
    x = p_x.sample(seed=k_x)
  if not reparameterized:  # discrete (distrax gives int samples): a constant
    x = jax.lax.stop_gradient(x.astype(jnp.float32))
  log_p_x_given_z = p_x.log_prob(x)
  q = m.encode(x)

  def importance_terms():  # a fresh re-encoding z' ~ q(z|x) (Alg. 3 line 5)
    z_is = q.sample(seed=k_is)
    return (
        m.decode(z_is).log_prob(x),
        prior.log_prob(z_is),
        q.log_prob(z_is),
    )

  terms = LatentTerms(
      log_p_x_given_z=log_p_x_given_z,
      log_p_z=prior.log_prob(z),
      log_q_z_given_x=q.log_prob(z),
      log_q_x=_log_q_x(m.data_prior(), x, importance_terms),
      log_prob_x_sample=(
          jnp.zeros_like(log_p_x_given_z)
          if reparameterized
          else log_p_x_given_z
      ),
  )
  return terms, x, z


def decoder_terms(
    model, params, latent_anchor, batch_size, key, decoder_sample="sample"
):
  """Terms on decoder samples z ~ P(z), x ~ p(x|z) (Alg. 1, 3).

  Continuous x is reparameterised, so gradients flow through x into the
  decoder (Sec. 3.6.3). Discrete x (e.g. Bernoulli) is a stop-gradient sample
  whose log-probability is returned for the REINFORCE term of eq 3.26.

  Args:
    model: a `LatentVariableModel`-like Flax module.
    params: its variables.
    latent_anchor: P(z), any object with `sample(seed=, sample_shape=)`
      (a fixed anchor: no gradient flows into it), or `MODEL_PRIOR` to sample
      the model's own p(z) with pathwise gradients (the image models' choice,
      reference digest Sec. 1.2).
    batch_size: number of decoder samples.
    key: PRNG key.
    decoder_sample: for discrete x, "sample" draws x ~ p(x|z) (eq 3.26) and
      "mean" uses the detached mean E[x|z] instead (the authors' image code,
      reference digest Sec. 1.2), still with the REINFORCE term.

  Returns:
    (`LatentTerms`, x `[B, *x_shape]`, z `[B, d]`).
  """
  _check_decoder_sample(decoder_sample)
  anchor = None if _is_model_prior(latent_anchor) else latent_anchor
  return model.apply(
      params,
      method=lambda m: _decoder_half(
          m, anchor, batch_size, key, m.latent_prior(), decoder_sample
      ),
  )


def _check_decoder_sample(decoder_sample):
  if decoder_sample not in DECODER_SAMPLES:
    raise ValueError(
        f"unknown decoder_sample {decoder_sample!r}; use one of "
        f"{DECODER_SAMPLES}"
    )


def _is_model_prior(latent_anchor):
  return isinstance(latent_anchor, str) and latent_anchor == MODEL_PRIOR


def _per_example(loss, terms, beta):
  """Dispatches a loss name to `mimjax.losses` on one half's terms."""
  t = terms
  if loss == "vae":
    return losses.neg_elbo(
        t.log_p_x_given_z, t.log_q_z_given_x, t.log_p_z, beta=beta
    )
  if loss in ("mim", "amim"):
    return losses.mim(
        t.log_p_x_given_z, t.log_p_z, t.log_q_z_given_x, t.log_q_x, beta=beta
    )
  if loss == "vae_h":
    return losses.vae_plus_entropy(
        t.log_p_x_given_z, t.log_q_z_given_x, t.log_p_z, t.log_q_x, beta=beta
    )
  if loss == "mim_h":
    return losses.mim_minus_entropy(
        t.log_p_x_given_z, t.log_p_z, t.log_q_z_given_x, t.log_q_x, beta=beta
    )
  if loss == "ce":
    return losses.cross_entropy(t.log_p_joint, t.log_q_joint)
  if loss == "smim":
    return losses.sentence_mim(t.log_p_x_given_z, t.log_q_z_given_x, t.log_p_z)
  if loss == "ae":
    return -t.log_p_x_given_z
  raise ValueError(f"unknown loss {loss!r}; use one of {LOSSES}")


def _summaries(prefix, terms, per_example):
  out = {f"{prefix}/loss": jnp.mean(per_example)}
  for field in dataclasses.fields(terms):
    if field.name != "log_prob_x_sample":
      out[f"{prefix}/{field.name}"] = jnp.mean(getattr(terms, field.name))
  out[f"{prefix}/r_mim"] = jnp.mean(
      losses.consistency_regularizer(terms.log_p_joint, terms.log_q_joint)
  )
  return out


def make_loss_fn(
    model, *, loss, latent_anchor=None, decoder_sample="sample"
) -> Callable[..., tuple[jax.Array, dict[str, Any]]]:
  """Builds `loss_fn(params, batch, key, beta=1.0) -> (scalar, aux)`.

  Sampling schemes:
    * "vae", "amim", "vae_h", "smim": encoder samples only,
      M_S^q = P(x) q(z|x); "smim" is the sentenceMIM loss of Alg. 4 with the
      model's p(z) taken as the anchor P(z);
    * "ae": z = E[z|x], loss -log p(x|z) (the deterministic auto-encoder
      baseline of ch. 7);
    * "mim", "mim_h", "ce": the mixture M_S: the batch's B data points with
      z ~ q(z|x), plus B decoder samples z ~ P(z), x ~ p(x|z); the loss is
      1/2 (mean over encoder half + mean over decoder half) (Alg. 1, 3).

  Reductions are plain means over the (global) batch, so the value is the
  same whether the batch lives on one device or is sharded over many.

  Args:
    model: a `LatentVariableModel`-like Flax module.
    loss: one of `LOSSES`.
    latent_anchor: P(z) for decoder samples (needed by symmetric losses):
      a fixed distribution, or `MODEL_PRIOR` for the model's learned p(z).
    decoder_sample: discrete decoder samples, "sample" or "mean" (see
      `decoder_terms`).

  Returns:
    The loss function. `batch` is a dict with "x" `[B, *x_shape]`; `aux`
    holds the mean of every log-density term, each half's loss and R_MIM
    (eq 3.16, a diagnostic), and beta. For a model in train mode with
    BatchNorm (`model.train` and "batch_stats" in the variables) `aux` also
    holds "collections": the updated `{"batch_stats": ...}`.
  """
  if loss not in LOSSES:
    raise ValueError(f"unknown loss {loss!r}; use one of {LOSSES}")
  symmetric = loss in _SYMMETRIC
  if symmetric and latent_anchor is None:
    raise ValueError(f"loss {loss!r} samples P(z): pass latent_anchor")

  if isinstance(latent_anchor, str) and not _is_model_prior(latent_anchor):
    raise ValueError(
        f"unknown latent_anchor {latent_anchor!r}; pass a distribution or "
        f"{MODEL_PRIOR!r}"
    )
  _check_decoder_sample(decoder_sample)
  anchor = None if _is_model_prior(latent_anchor) else latent_anchor

  def bound_loss(m, x, key, beta):
    # One apply: p(z) (e.g. a VampPrior's K encoder passes) is built once and
    # shared by both halves.
    prior = m.latent_prior()
    k_enc, k_dec = jax.random.split(key)
    enc, _, _ = _encoder_half(
        m, x, k_enc, prior, use_mean=loss in _DETERMINISTIC
    )
    enc_loss = _per_example(loss, enc, beta)
    aux = _summaries("enc", enc, enc_loss)
    aux["beta"] = jnp.asarray(beta, jnp.float32)
    total = jnp.mean(enc_loss)
    if symmetric:
      dec, _, _ = _decoder_half(
          m, anchor, x.shape[0], k_dec, prior, decoder_sample
      )
      dec_loss = losses.score_function_surrogate(
          _per_example(loss, dec, beta), dec.log_prob_x_sample
      )
      aux.update(_summaries("dec", dec, dec_loss))
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
