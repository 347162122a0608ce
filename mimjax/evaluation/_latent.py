"""Test-set metrics of a `LatentVariableModel` (thesis Fig. 4.1, 5.2).

Conventions follow the thesis and the authors' code, with the NLL made an
actual likelihood estimate:
  * z features are posterior *samples* z ~ q(z|x) (KSG MI and k-NN);
  * recon_err is the mean Euclidean distance between x and one decoder sample
    x' ~ p(x|z), z ~ q(z|x) (Fig. 5.1's "reconstruction error", as the
    authors compute it); recon_err_mean uses the decoder mean instead;
  * consistency_gap is R_MIM between p(x|z) p(z) and q(z|x) q(x) on encoder
    samples, with the importance-sampled log q(x);
  * nll is -log q(x) for the decoder marginal q(x) = E_{p(z)} p(x|z) (or the
    parametric q(x)), by importance sampling with q(z|x) as the proposal and
    S samples; neg_elbo is the single-sample bound the authors plotted.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from mimjax import losses
from mimjax import metrics
from mimjax import objectives


def _reconstruction(m, z, x, key):
  """(sample, mean) of p(x|z); for an autoregressive decoder both come from
  the conditionals p(x_i | x_<i, z) given the true x (teacher forcing)."""
  p_x = m.decode(z)
  if hasattr(p_x, "conditional_probs"):
    mean = p_x.conditional_probs(x)
    return jax.random.bernoulli(key, mean).astype(mean.dtype), mean
  return p_x.sample(seed=key), p_x.mean()


@functools.partial(jax.jit, static_argnums=(0,))
def latent_summaries(model, params, x, key):
  """Posterior and reconstruction of a batch: one jitted pass.

  Args:
    model: `LatentVariableModel`-like Flax module.
    params: its variables (one seed).
    x: `[N, *x_shape]` inputs.
    key: PRNG key.

  Returns:
    Dict of `z` (sample) `[N, d]`, `z_mean`, `z_std` `[N, d]`, `x_recon`
    (a decoder sample) and `x_mean` (the decoder mean; teacher-forced
    conditionals for an autoregressive decoder) `[N, *x_shape]`, and
    `[N]` arrays `neg_elbo`, `log_p_joint` (log p(x|z) + log p(z)) and
    `log_q_z_given_x` at the sample z.
  """
  k_enc, k_rec = jax.random.split(key)
  terms, z, q = objectives.encoder_terms(model, params, x, k_enc)
  x_recon, x_mean = model.apply(
      params, z, x, k_rec, method=_reconstruction
  )
  return {
      "z": z,
      "z_mean": q.mean,
      "z_std": q.stddev,
      "x_recon": x_recon,
      "x_mean": x_mean,
      "neg_elbo": losses.neg_elbo(
          terms.log_p_x_given_z, terms.log_q_z_given_x, terms.log_p_z
      ),
      "log_p_joint": terms.log_p_joint,
      "log_q_z_given_x": terms.log_q_z_given_x,
  }


def make_monitor_fn(model):
  """The posterior-collapse monitor of `model` for `training.train`.

  Args:
    model: `LatentVariableModel`-like Flax module (`objectives.encoder_terms`
      applies).

  Returns:
    `monitor_fn(params, x, key)` -> `metrics.latent_health` of the codes of
    the batch `x` `[N, *x_shape]` against N samples of p(z) (jittable, one
    encoder pass).
  """

  def monitor_fn(params, x, key):
    k_enc, k_prior = jax.random.split(key)
    terms, _, q = objectives.encoder_terms(model, params, x, k_enc)
    prior_z = model.apply(
        params,
        method=lambda m: m.latent_prior().sample(
            seed=k_prior, sample_shape=(x.shape[0],)
        ),
    )
    return metrics.latent_health(
        q.mean, q.stddev, terms.log_q_z_given_x, terms.log_p_z, prior_z
    )

  return monitor_fn


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def importance_sampled_log_q_x(model, params, x, num_samples, chunk_size, key):
  """log q(x) `[N]` and its standard error `[N]`, by importance sampling.

  A parametric q(x) is evaluated exactly (zero error); the decoder marginal
  as log 1/S sum_s p(x|z_s) p(z_s) / q(z_s|x), z_s ~ q(z|x), with S =
  `num_samples` drawn `chunk_size` at a time (jitted; model, S and the chunk
  size are static).
  """
  data_prior = model.apply(params, method="data_prior")
  if data_prior is not None:
    return data_prior.log_prob(x), jnp.zeros(x.shape[:1])

  def log_weight(x, key):
    terms, _, _ = objectives.encoder_terms(model, params, x, key)
    return losses.jensen_log_marginal(
        terms.log_p_x_given_z, terms.log_p_z, terms.log_q_z_given_x
    )

  return metrics.importance_sampled_log_likelihood(
      log_weight, x, key, num_samples=num_samples, chunk_size=chunk_size
  )


def evaluate_latent_model(
    model,
    params,
    *,
    test,
    train,
    key,
    nll_samples=1000,
    nll_chunk=100,
    nll_batch=1000,
    knn_ks=(1, 3, 5, 10),
    ksg_k=5,
):
  """All low-dimensional metrics of one trained model.

  Args:
    model: `LatentVariableModel`-like Flax module.
    params: variables of one seed.
    test: dict with "x" `[N, d_x]` and "label" `[N]` (read only here).
    train: same for the training sample that fits the k-NN classifier.
    key: PRNG key.
    nll_samples: importance samples S per test point.
    nll_chunk: samples evaluated at once (S must be a multiple).
    nll_batch: test points per importance-sampling batch.
    knn_ks: k values for k-NN accuracy.
    ksg_k: neighbours of the KSG estimator.

  Returns:
    (metrics dict of Python floats, arrays dict for plots).
  """
  k_test, k_train, k_nll = jax.random.split(key, 3)
  x_test = jnp.asarray(test["x"], jnp.float32)
  out = jax.device_get(latent_summaries(model, params, x_test, k_test))
  z_train = jax.device_get(
      latent_summaries(model, params, jnp.asarray(train["x"]), k_train)["z"]
  )
  log_q_x, stderr = [], []
  for start in range(0, len(x_test), nll_batch):
    lq, se = importance_sampled_log_q_x(
        model,
        params,
        x_test[start : start + nll_batch],
        nll_samples,
        nll_chunk,
        jax.random.fold_in(k_nll, start),
    )
    log_q_x.append(np.asarray(lq))
    stderr.append(np.asarray(se))
  log_q_x, stderr = np.concatenate(log_q_x), np.concatenate(stderr)
  x_np = np.asarray(test["x"])
  knn = metrics.knn_accuracy(
      z_train, np.asarray(train["label"]), out["z"], np.asarray(test["label"]),
      ks=knn_ks,
  )
  results = {
      "mi_ksg": metrics.ksg_mutual_information(x_np, out["z"], k=ksg_k),
      "nll": float(-np.mean(log_q_x)),
      "nll_stderr": float(np.sqrt(np.mean(stderr**2) / len(stderr))),
      "neg_elbo": float(np.mean(out["neg_elbo"])),
      "recon_err": metrics.reconstruction_error(x_np, out["x_recon"]),
      "recon_err_mean": metrics.reconstruction_error(x_np, out["x_mean"]),
      "posterior_std": metrics.posterior_std(out["z_std"]),
      "active_units": metrics.active_units(out["z_mean"]),
      # R_MIM (eq 3.16) on encoder samples with the IS estimate of log q(x):
      # zero iff q(z|x) q(x) = p(x|z) p(z) there.
      "consistency_gap": metrics.consistency_gap(
          out["log_p_joint"], out["log_q_z_given_x"] + log_q_x
      ),
  }
  results.update({f"knn{k}_acc": float(v) for k, v in knn.items()})
  return results, out
