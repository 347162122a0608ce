r"""Signal-to-noise ratio of MIM's gradient, per estimator and parameter group.

On one fixed batch of `--batch` binarised validation images (the
estimator is chosen from this, so never test images), draws `--keys`
gradients of the symmetric MIM loss (beta = 1) for each decoder-half
estimator of `objectives.make_loss_fn` and prints one JSON line per
(model, estimator, parameter group):

  snr                  ||mu|| / sqrt(E ||g - mu||^2): the size of the mean
                       gradient over the RMS error of one estimate g, with
                       ||mu||^2 estimated without bias as ||g_bar||^2 -
                       tr(Cov) / keys (0 if negative);
  snr_reference_signal the same, with ||mu||^2 taken from the reference's
                       `--reference_keys` draws: an unbiased estimator's
                       mean is the true gradient, which its own `--keys`
                       draws may resolve far worse (null for "mean", which
                       is biased);
  cosine_to_reference  mean cosine of one estimate to the reference
                       gradient: the mean of `--reference_keys` estimates of
                       the low-variance unbiased `--reference` estimator.
                       A biased estimator shows up here.

Groups: "encoder" (q(z2|x), q(z1|x, z2)), "decoder" (p(x|z1, z2)) and
"prior" (p(z1|z2) and the VampPrior's pseudo-inputs). Parameters are the
initial ones of `--config`, or with `--workdir` those of a trained run of
`experiments.image_mim` in that folder (stage "trained"; the folder must
hold its finished checkpoints). Estimators are named as in the config,
`rloo:K` meaning decoder_estimator="rloo" with decoder_samples=K and
`rloo:K:wM` also decoder_weight_samples=M, and a suffix `:m`
decoder_matched_baseline=True.

  python -m benchmarks.gradient_snr --config=configs/mnist_hvae_s.py \
      --config.data.dir=../shared/data >> results/images_hvae/gradient_snr.jsonl
"""

import json

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import image_variants
from experiments import cli
from experiments import common
from experiments import image_mim
from mimjax import data
from mimjax import objectives

flags.adopt_module_key_flags(cli)
_ESTIMATORS = flags.DEFINE_list(
    "estimators", ["reinforce", "batch_mean", "rloo:2", "rloo:4", "mean"],
    "Decoder-half estimators: reinforce, batch_mean, rloo:K, mean; a "
    "suffix :wM averages M brackets of log q(x) into the REINFORCE weight, "
    "a suffix :m evaluates RLOO's baseline at each sample's own importance "
    "noise.",
)
_REFERENCE = flags.DEFINE_string(
    "reference", "rloo:8", "Estimator of the reference gradient."
)
_KEYS = flags.DEFINE_integer("keys", 256, "Gradient estimates per estimator.")
_REFERENCE_KEYS = flags.DEFINE_integer(
    "reference_keys", 4096, "Estimates averaged into the reference gradient."
)
_BATCH = flags.DEFINE_integer(
    "batch", 32, "Fixed validation images per estimate."
)
_GROUPS = {
    "encoder": ("posterior_top", "posterior_bottom_features",
                "posterior_bottom"),
    "decoder": ("decoder",),
    "prior": ("prior_bottom", "prior_top"),
}
_MODEL_NAMES = {"conv_hvae": "convhvae", "hvae": "hvae"}


def _group_vectors(grads):
  """`{group: [P_g]}` flattened gradients of each parameter group."""
  params = grads["params"]
  return {
      group: jnp.concatenate([
          jnp.ravel(leaf)
          for name in names if name in params
          for leaf in jax.tree.leaves(params[name])
      ])
      for group, names in _GROUPS.items()
  }


def gradient_statistics(model, params, x, estimator, num_keys, seed,
                        reference=None, chunk=16,
                        latent_anchor=objectives.MODEL_PRIOR):
  """Streaming statistics of `num_keys` MIM gradients on the batch x.

  Returns `{group: dict(mean=[P_g], sq_norm=E||g||^2, cosine=E cos(g, ref))}`
  (cosine only with `reference`, a `{group: [P_g]}` dict), without holding
  all gradients in memory.
  """
  loss_fn = objectives.make_loss_fn(
      model, loss="mim", latent_anchor=latent_anchor,
      **image_variants.parse_estimator(estimator),
  )

  def one(params, x, reference, key):
    g = _group_vectors(
        jax.grad(lambda p: loss_fn(p, {"x": x}, key, 1.0)[0])(params)
    )
    out = {k: dict(sum=v, sq_norm=v @ v) for k, v in g.items()}
    if reference is not None:
      for k, v in g.items():
        out[k]["cosine"] = (v @ reference[k]) / (
            jnp.linalg.norm(v) * jnp.linalg.norm(reference[k]) + 1e-30
        )
    return out

  # The parameters, the batch and the reference are arguments, not
  # captured constants: XLA would otherwise constant-fold the encoder's
  # convolutions of the fixed batch at compile time.
  @jax.jit
  def chunk_sums(params, x, reference, keys):
    stats = jax.lax.map(lambda k: one(params, x, reference, k), keys)
    return jax.tree.map(lambda a: jnp.sum(a, axis=0), stats)

  keys = jax.random.split(jax.random.key(seed), num_keys)
  if num_keys % chunk:
    raise ValueError(f"--keys and --reference_keys must be multiples of {chunk}")
  total = None
  for start in range(0, num_keys, chunk):
    sums = jax.device_get(
        chunk_sums(params, x, reference, keys[start:start + chunk])
    )
    total = sums if total is None else jax.tree.map(np.add, total, sums)
  return {
      group: dict(
          mean=np.asarray(v["sum"], np.float64) / num_keys,
          sq_norm=float(v["sq_norm"]) / num_keys,
          **({"cosine": float(v["cosine"]) / num_keys} if "cosine" in v else {}),
      )
      for group, v in total.items()
  }


def noise_and_signal(stats, num_keys):
  """(tr Cov, ||mu||^2) of one estimate, unbiased, from N streamed draws.

  tr Cov = (E||g||^2 - ||g_bar||^2) N / (N - 1) and ||mu||^2 = ||g_bar||^2 -
  tr Cov / N (clipped at 0), from the streamed mean g_bar and E||g||^2.
  """
  mean_sq = float(stats["mean"] @ stats["mean"])
  noise = (stats["sq_norm"] - mean_sq) * num_keys / (num_keys - 1)
  return noise, max(0.0, mean_sq - noise / num_keys)


def snr(stats, num_keys, signal=None):
  """||mu|| / sqrt(tr Cov) from streamed mean and E||g||^2 of N estimates.

  `signal`: ||mu||^2 known from elsewhere (the reference's, for an unbiased
  estimator, whose mean is the same true gradient); else estimated from the
  same N draws, which for a very noisy estimator is itself mostly noise.
  """
  noise, own_signal = noise_and_signal(stats, num_keys)
  signal = own_signal if signal is None else signal
  return float(np.sqrt(signal / noise)) if noise > 0 else float("inf")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  config = common.CONFIG.value
  source = data.make_image_source(
      **config.data, batch_size=config.train.batch_size
  )
  model = image_mim.build_model(config, source)
  x = jnp.asarray(source.validation["x"][: _BATCH.value], jnp.float32)
  stage = "init"
  if common.WORKDIR.value:
    _, model, params, _ = common.train_single_model(
        config, common.WORKDIR.value, model=model,
        make_loss_fn=image_mim.make_loss_fn, source=source,
    )
    stage = "trained"
  else:
    params = model.init(jax.random.key(config.seed), x)
  anchor = common.latent_anchor(
      config.latent_anchor.kind, sum(config.model.latent_dims)
  )
  reference_stats = gradient_statistics(
      model, params, x, _REFERENCE.value, _REFERENCE_KEYS.value, seed=1,
      latent_anchor=anchor,
  )
  reference = {g: jnp.asarray(v["mean"], jnp.float32)
               for g, v in reference_stats.items()}
  reference_signal = {
      g: noise_and_signal(v, _REFERENCE_KEYS.value)[1]
      for g, v in reference_stats.items()
  }
  for estimator in _ESTIMATORS.value:
    fields = image_variants.parse_estimator(estimator)
    name = fields["decoder_estimator"]
    stats = gradient_statistics(
        model, params, x, estimator, _KEYS.value, seed=2, reference=reference,
        latent_anchor=anchor,
    )
    for group in _GROUPS:
      print(json.dumps(dict(
          model=_MODEL_NAMES.get(config.model.kind, config.model.kind),
          prior=config.model.prior,
          anchor=config.latent_anchor.kind,
          stage=stage,
          estimator=name,
          decoder_samples=fields["decoder_samples"],
          decoder_weight_samples=fields["decoder_weight_samples"],
          decoder_matched_baseline=fields["decoder_matched_baseline"],
          group=group,
          snr=round(snr(stats[group], _KEYS.value), 4),
          # Unbiased estimators share the true gradient as their mean: its
          # size from the reference's many low-noise draws, over this
          # estimator's own noise ("mean" is biased: not comparable).
          snr_reference_signal=(
              None if name == "mean" else round(snr(
                  stats[group], _KEYS.value, reference_signal[group]), 4)
          ),
          cosine_to_reference=round(stats[group]["cosine"], 4),
          keys=_KEYS.value,
          batch=_BATCH.value,
          reference=_REFERENCE.value,
          reference_keys=_REFERENCE_KEYS.value,
          # The reference's own SNR (of its mean: x sqrt(reference_keys)).
          reference_snr=round(
              snr(reference_stats[group], _REFERENCE_KEYS.value), 4
          ),
      )), flush=True)


if __name__ == "__main__":
  app.run(main)
