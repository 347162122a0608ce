r"""Image experiments: convHVAE / PixelHVAE with MIM / A-MIM / VAE (Sec. 4.3-4.4).

Trains one model (`config.model.kind`: convHVAE, PixelHVAE or the all-dense
HVAE; `config.loss`; symmetric MIM not for the PixelHVAE, as in the thesis) on binarised MNIST, Fashion-MNIST or
Omniglot, evaluates the early-stopped model on the test set and writes to the
workdir:
  results.json   nll_is, elbo, knn{1,3,5,10}_acc, nmi, recon_err, ... plus
                 the resolved config, the budget used and the wall time
  plots/         test data, reconstructions, samples (Fig. 4.3, 4.4,
                 C.1-C.6), t-SNE of test codes by class (Fig. 4.5-4.8),
                 validation-loss curve
  checkpoints/, metrics.jsonl, TensorBoard events

  python -m experiments.image_mim --config=configs/mnist_vp.py \
      --config.data.dir=/path/to/folder/with/mnist.npz

A killed run resumes from its last checkpoint when started again with the
same workdir; a finished run is only re-evaluated if results.json is absent.
Either is an error if the config differs in a field that changes the
result (`--overwrite` starts afresh); `run.json` records the provenance.
"""

import copy
import os
import time

from absl import flags

from experiments import cli

flags.adopt_module_key_flags(cli)
cli.exit_on_help(__name__)  # needs only the flags: answered before jax

# pylint: disable=wrong-import-position,wrong-import-order
from absl import app
from absl import logging
import jax
import jax.numpy as jnp
import numpy as np
from sklearn import manifold

from experiments import common
import mimjax
from mimjax import data
from mimjax import distributions
from mimjax import evaluation
from mimjax import models
from mimjax import objectives
from mimjax import plotting
from mimjax import training
# pylint: enable=wrong-import-position,wrong-import-order

_KINDS = {"conv_hvae": "conv", "pixel_hvae": "pixelcnn", "hvae": "mlp"}


def build_model(config, source):
  """The model of `config.model` in train mode; VampPrior inputs from
  `source`. Evaluate with `model.clone(train=False)`."""
  cfg = config.model
  if cfg.kind not in _KINDS:
    raise mimjax.InputError(f"unknown model.kind {cfg.kind!r}; use {tuple(_KINDS)}")
  if cfg.kind == "pixel_hvae" and config.loss == "mim":
    raise mimjax.InputError(
        "symmetric MIM needs decoder samples at every step, i.e. 784 "
        "sequential PixelCNN passes; use loss 'amim' or 'vae' for "
        "pixel_hvae (as the thesis does)"
    )
  if cfg.prior == "standard":
    raise mimjax.InputError(
        "model.prior 'standard' is now 'standard_normal' (the name every "
        "chapter uses)"
    )
  if cfg.prior not in ("vamp", "standard_normal"):
    raise mimjax.InputError(
        f"unknown model.prior {cfg.prior!r}; use 'vamp' or 'standard_normal'"
    )
  k = cfg.num_pseudo_inputs if cfg.prior == "vamp" else 0
  init = None
  if k and cfg.pseudo_input_init == "data":
    init = distributions.data_initializer(source.pseudo_input_examples(k))
  elif k and cfg.pseudo_input_init != "random":
    raise mimjax.InputError(
        f"unknown model.pseudo_input_init {cfg.pseudo_input_init!r}; use "
        "'data' or 'random'"
    )
  return models.HierarchicalVAE(
      latent_dims=tuple(cfg.latent_dims),
      vamp_pseudo_inputs=k,
      pseudo_input_init=init,
      image_shape=source.x_shape,
      network=_KINDS[cfg.kind],
      min_logvar=cfg.min_logvar,
  )


def make_loss_fn(config, model, **options):
  """The config's objective for `model`; `options` go to
  `objectives.make_loss_fn` (e.g. `encoder_half_only`)."""
  common.check_loss(config.loss)
  return objectives.make_loss_fn(
      model,
      loss=config.loss,
      latent_anchor=common.latent_anchor(
          config.latent_anchor.kind, sum(config.model.latent_dims)
      ),
      decoder_estimator=config.decoder_estimator,
      decoder_samples=config.decoder_samples,
      decoder_weight_samples=config.decoder_weight_samples,
      decoder_matched_baseline=config.decoder_matched_baseline,
      **options,
  )


def evaluation_split(config, source):
  """The split `config.eval.split` names: "test", or "validation" (for
  choosing settings without looking at the test set)."""
  split = config.eval.split
  if split == "test":
    return source.test
  if split == "validation":
    return source.validation
  raise mimjax.InputError(
      f"unknown config.eval.split {split!r}; use 'test' or 'validation'"
  )


def _subset(split, n):
  return {k: v[:n] for k, v in split.items()} if n else split


def _prior_samples(model, params, n, key):
  """Images at z ~ p(z), `[n, H, W, C]`: the decoder's mean probabilities
  (convHVAE) or, for the PixelCNN, ancestral samples' final probabilities
  (784 sequential passes in one compiled loop)."""
  k_z, k_x = jax.random.split(key)

  @jax.jit
  def sample(params):
    z = model.apply(
        params,
        method=lambda m: m.latent_prior().sample(seed=k_z, sample_shape=(n,)),
    )
    if model.network != "pixelcnn":
      return model.apply(params, z, method=lambda m, z: m.decode(z).mean())
    d1 = model.latent_dims[0]
    logits = lambda x, z1, z2: model.apply(
        params, x, jnp.concatenate([z1, z2], -1), method="decoder_logits"
    )
    return models.pixelcnn_sample(
        logits, z[:, :d1], z[:, d1:], k_x, model.image_shape
    )[1]

  return np.asarray(sample(params))


def _make_plots(config, workdir, model, params, test, arrays):
  plots = os.path.join(workdir, "plots")
  n = config.eval.grid_images
  ncols = int(np.ceil(np.sqrt(n)))
  title = f"{config.data.name} {config.model.prior} {config.loss}"
  plotting.image_grid(
      test["x"][:n], os.path.join(plots, "test_data.png"), ncols=ncols,
      title=f"{config.data.name}: {config.eval.split} data",
  )
  plotting.image_grid(
      arrays["x_mean"][:n], os.path.join(plots, "reconstructions.png"),
      ncols=ncols, title=f"{title}: reconstructions (means)",
  )
  num_samples = n if config.model.kind != "pixel_hvae" else min(
      n, config.eval.pixel_samples
  )
  plotting.image_grid(
      _prior_samples(
          model, params, num_samples, jax.random.key(config.seed + 2)
      ),
      os.path.join(plots, "samples.png"), ncols=ncols,
      title=f"{title}: samples (means at z ~ p(z))",
  )
  m = min(config.eval.tsne_points, len(arrays["z"]))
  embedding = manifold.TSNE(
      2, init="pca", random_state=config.seed, perplexity=min(30, m // 4)
  ).fit_transform(arrays["z"][:m])
  plotting.latent_scatter(
      embedding, arrays["label"][:m], os.path.join(plots, "tsne_z.png"),
      title=f"{title}: t-SNE of z ~ q(z|x)",
  )
  common.plot_validation_curve(
      config, workdir, training.read_metrics(workdir))


def run(config, workdir, *, overwrite=False):
  """Trains and evaluates `config` in `workdir`; returns the results dict
  (a finished run is read back: `common.run_single_model`)."""
  return common.run_single_model(
      config, workdir, _train_and_evaluate, overwrite=overwrite
  )


def _train_and_evaluate(config, workdir):
  start = time.perf_counter()
  source = data.make_image_source(
      **config.data, batch_size=config.train.batch_size
  )
  test = evaluation_split(config, source)
  state, eval_model, params, train_time = common.train_single_model(
      config, workdir, model=build_model(config, source),
      make_loss_fn=make_loss_fn, source=source,
  )
  ec = config.eval
  metrics, arrays = evaluation.evaluate_image_model(
      eval_model,
      params,
      test=test,
      train=_subset(source.train_eval, ec.num_train_features),
      key=jax.random.key(config.seed + 1),
      nll_samples=ec.nll_samples,
      nll_chunk=ec.nll_chunk,
      nll_batch=ec.nll_batch,
      num_nll_examples=ec.num_nll_examples,
      knn_ks=tuple(ec.knn_ks),
      encode_chunk=min(500, len(test["x"])),
  )
  results = dict(
      metrics,
      **common.run_record(config, state, source, start=start,
                          train_time=train_time, unit="images"),
  )
  if jax.process_index() == 0:
    _make_plots(config, workdir, eval_model, params, test, arrays)
  return common.write_results(workdir, results)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  workdir = common.setup()
  results = run(copy.deepcopy(common.CONFIG.value), workdir,
                overwrite=common.OVERWRITE.value)
  logging.info(
      "Done in %.0f s: nll_is %.2f, elbo %.2f, knn5 %.3f, nmi %.3f; see %s",
      results["wall_time_s"], results["nll_is"], results["elbo"],
      results["knn5_acc"], results["nmi"],
      os.path.join(workdir, "results.json"),
  )


if __name__ == "__main__":
  common.run_main(main)
