r"""MIM's decoder-half gradient estimators at a fixed training budget.

Trains `--config` (an image config; MIM) once per estimator of
`--estimators` (`rloo:K` = decoder_estimator "rloo" with K decoder samples,
`rloo:K:wM` with M brackets of log q(x) in the REINFORCE weight)
plus, with `--vae`, the VAE, all from the same seed and data order, for
`--epochs` epochs at beta = 1, each in `<workdir>/<name>` (finished runs are
read back, killed ones resume; a workdir of the earlier test-split version
needs a new --workdir). Every metric is computed on the *validation*
split (`config.eval.split = "validation"`): the default estimator is chosen
from these numbers, so the test set never takes part. Then writes to
`--workdir`:

  summary.md     validation metrics per estimator (IS-NLL with
                 --nll_samples on --nll_examples validation images, ELBO,
                 5-NN, recon, active units, posterior std, training
                 seconds);
  val_loss.png   validation-loss curves. The unbiased estimators share one
                 objective, so their curves compare; "mean" evaluates the
                 loss at mean images, a different quantity.

  python -m benchmarks.decoder_estimators --config=configs/mnist_hvae_s.py \
      --config.data.dir=../shared/data --workdir=workdirs/estimators
"""

import copy

from absl import app
from absl import flags

from benchmarks import image_variants
from experiments import cli
from experiments import common

flags.adopt_module_key_flags(cli)
_ESTIMATORS = flags.DEFINE_list(
    "estimators", ["reinforce", "batch_mean", "rloo:2", "mean"],
    "Decoder-half estimators: reinforce, batch_mean, rloo:K, mean; a "
    "suffix :wM averages M brackets of log q(x) into the REINFORCE weight.",
)
_VAE = flags.DEFINE_bool("vae", True, "Also train the VAE (a yardstick).")
_EPOCHS = flags.DEFINE_integer("epochs", 4, "Training epochs per run.")
_NLL_SAMPLES = flags.DEFINE_integer("nll_samples", 100, "IS-NLL samples S.")
_NLL_EXAMPLES = flags.DEFINE_integer(
    "nll_examples", 1000, "Validation images of the IS-NLL."
)
_TRAIN_FEATURES = flags.DEFINE_integer(
    "train_features", 10000, "Training codes that fit the k-NN classifier."
)
_COLUMNS = ("nll_is", "elbo", "knn5_acc", "recon_err", "active_units",
            "posterior_std", "train_time_s")


def _run_config(base, estimator):
  config = copy.deepcopy(base)
  config.train.update(max_epochs=_EPOCHS.value, beta_warmup_epochs=1,
                      patience=_EPOCHS.value)
  config.eval.update(split="validation", nll_samples=_NLL_SAMPLES.value,
                     num_nll_examples=_NLL_EXAMPLES.value,
                     num_train_features=_TRAIN_FEATURES.value)
  if estimator == "vae":
    config.loss = "vae"
  else:
    config.loss = "mim"
    config.update(image_variants.parse_estimator(estimator))
  return config


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  root = common.setup()
  runs = ["vae"] * _VAE.value + list(_ESTIMATORS.value)
  image_variants.run_variants(
      {r.replace(":", ""): _run_config(common.CONFIG.value, r) for r in runs},
      root, columns=_COLUMNS,
      header=(f"{_EPOCHS.value} epochs at beta = 1, one seed per row; every "
              "metric on the validation split."),
  )


if __name__ == "__main__":
  app.run(main)
