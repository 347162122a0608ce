"""Test-set metrics of an image model (thesis Tables 4.1, 4.2, 5.1, 5.2).

Conventions (reference digest Sec. 4.2):
  * nll_is: -log p(x) by importance sampling with the model's own encoder as
    proposal and the VAE weights p(x|z) p(z) / q(z|x), for every objective;
  * elbo: the single-sample ELBO (reported positive-is-better, in nats);
  * knn{k}_acc: k-NN accuracy of *sampled* codes z ~ q(z|x) (flat [z1, z2]),
    fitted on training codes; knn{k}_acc_mean the same on posterior means
    E[z|x] (noise-free codes: a shrunk latent scores low on the first, not
    on the second);
  * nmi: k-means (k = number of classes) NMI of the test codes;
  * recon_err: mean Euclidean distance between an image and the decoder's
    mean (probabilities) at z ~ q(z|x).
Everything runs in fixed-size chunks (one compilation per function).
"""

import functools

import jax
import numpy as np

from mimjax import _progress
from mimjax import metrics
from mimjax import objectives
from mimjax.evaluation import _latent


def _chunked(fn, x, chunk):
  """Applies `fn(x_chunk) -> dict of [chunk, ...]` over `x` in full chunks."""
  n = (len(x) // chunk) * chunk
  if n == 0:
    raise ValueError(f"{len(x)} examples < evaluation chunk {chunk}")
  parts = [fn(x[i : i + chunk]) for i in range(0, n, chunk)]
  return {
      k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]
  }


@functools.partial(jax.jit, static_argnums=(0,))
def _codes(model, params, x, key):
  """The `z` and `z_mean` of `latent_summaries` alone (no decoder)."""
  k_enc, _ = jax.random.split(key)
  _, z, q = objectives.encoder_terms(model, params, x, k_enc)
  return {"z": z, "z_mean": q.mean}


def encode_dataset(model, params, x, key, *, chunk=500, codes_only=False):
  """`latent_summaries` over a dataset in chunks (drop-last).

  Args:
    model: Flax model.
    params: its variables.
    x: `[N, ...]` inputs.
    key: PRNG key; chunk i uses `fold_in(key, i)`.
    chunk: examples per call.
    codes_only: return only the sampled codes `z` and the means `z_mean`
      (same values), skipping the decoder.

  Returns:
    Dict of numpy arrays, as `evaluation.latent_summaries`, for the first
    `len(x) // chunk * chunk` examples.
  """
  counter = iter(range(len(x)))
  summarise = _codes if codes_only else _latent.latent_summaries

  def run(xc):
    return jax.device_get(
        summarise(
            model, params, np.asarray(xc, np.float32),
            jax.random.fold_in(key, next(counter)),
        )
    )

  return _chunked(run, x, chunk)


def evaluate_image_model(
    model,
    params,
    *,
    test,
    train,
    key,
    nll_samples=5000,
    nll_chunk=100,
    nll_batch=10,
    num_nll_examples=None,
    knn_ks=(1, 3, 5, 10),
    encode_chunk=500,
):
  """All image metrics of one trained model.

  Args:
    model: `HierarchicalVAE`-like Flax module.
    params: its variables (one seed).
    test: dict with "x" `[N, H, W, C]` binary images and "label" `[N]`.
    train: same for the training images that fit the k-NN classifier.
    key: PRNG key.
    nll_samples: importance samples S per test image (5000 in the thesis).
    nll_chunk: samples evaluated at once (divides S).
    nll_batch: test images per importance-sampling call.
    num_nll_examples: test images used for nll_is (default: all).
    knn_ks: k values for k-NN accuracy.
    encode_chunk: images per encoder call.

  Returns:
    (metrics dict of Python floats, arrays dict with test `z`, `label`,
    `x_mean` reconstructions).
  """
  k_test, k_train, k_nll = jax.random.split(key, 3)
  out = encode_dataset(model, params, test["x"], k_test, chunk=encode_chunk)
  n = len(out["z"])
  labels = np.asarray(test["label"])[:n]
  codes_train = encode_dataset(
      model, params, train["x"], k_train, chunk=encode_chunk, codes_only=True
  )
  y_train = np.asarray(train["label"])[: len(codes_train["z"])]
  x_test = np.asarray(test["x"], np.float32)[:n]
  m = num_nll_examples or n
  m = (min(m, n) // nll_batch) * nll_batch
  log_px, stderr = [], []
  progress = _progress.Progress(
      f"IS-NLL (S = {nll_samples})", m, unit="images"
  )
  for start in range(0, m, nll_batch):
    lp, se = _latent.importance_sampled_log_q_x(
        model, params, x_test[start : start + nll_batch], nll_samples,
        nll_chunk, jax.random.fold_in(k_nll, start),
    )
    log_px.append(np.asarray(lp))
    stderr.append(np.asarray(se))
    progress.update(start + nll_batch)
  log_px, stderr = np.concatenate(log_px), np.concatenate(stderr)
  flat = lambda a: a.reshape(len(a), -1)
  knn = metrics.knn_accuracy(
      codes_train["z"], y_train, out["z"], labels, ks=knn_ks
  )
  knn_mean = metrics.knn_accuracy(
      codes_train["z_mean"], y_train, out["z_mean"], labels, ks=knn_ks
  )
  scale = metrics.scale_per_dimension(out["z_mean"], out["z_std"])
  results = {
      "nll_is": float(-np.mean(log_px)),
      # Standard error of the test-set mean: the spread of the per-image
      # estimates holds both the test-set sampling and the Monte Carlo error.
      "nll_is_stderr": float(np.std(log_px, ddof=1) / np.sqrt(len(log_px))),
      # The Monte Carlo part alone (importance sampling of each log p(x)).
      "nll_is_mc_stderr": float(np.sqrt(np.sum(stderr**2)) / len(stderr)),
      "nll_is_examples": int(m),
      "nll_is_samples": int(nll_samples),
      "elbo": float(-np.mean(out["neg_elbo"])),
      "nmi": metrics.clustering_nmi(out["z"], labels),
      "recon_err": metrics.reconstruction_error(
          flat(x_test), flat(out["x_mean"])
      ),
      "posterior_std": metrics.posterior_std(out["z_std"]),
      "active_units": metrics.active_units(out["z_mean"]),
      # The scale diagnostic: mean and pooled noise share, units whose
      # means spread more than their posterior noise, and both per
      # dimension (`metrics.latent_health`).
      "noise_share": float(np.mean(scale["noise_share"])),
      "pooled_noise_share": float(metrics.pooled_noise_share(scale)),
      "informative_units": int(np.sum(scale["noise_share"] < 0.5)),
      "scale_per_dim": {
          k: np.asarray(scale[k]).round(5).tolist()
          for k in ("mean_spread", "posterior_std")
      },
  }
  results.update({f"knn{k}_acc": float(v) for k, v in knn.items()})
  results.update({f"knn{k}_acc_mean": float(v) for k, v in knn_mean.items()})
  return results, {"z": out["z"], "label": labels, "x_mean": out["x_mean"]}
