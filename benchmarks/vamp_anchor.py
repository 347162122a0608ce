r"""VampPrior MIM: the sampling anchor P(z), beta warm-up and the std floor.

Trains `--config` (an image config) in each variant of `--variants` at the
same budget (`--epochs`, or the config's own with `--epochs=0`) and seed,
and evaluates every run on the *validation* split
(`config.eval.split = "validation"`), so that the choice it informs never
looks at the test set. A variant is `+`-joined parts:

  vae | learned | standard_normal | learned_stop_gradient
                     the objective (VAE) or MIM with that
                     `config.latent_anchor.kind`;
  warmup             beta = min(1, epoch / --warmup_epochs), or with
                     --warmup_steps > 0 min(1, step / --warmup_steps) (for a
                     one-epoch schedule such as `:small`); else beta = 1;
  floor<k>           `config.model.min_logvar = -k` (std >= exp(-k / 2)).

Writes `<workdir>/summary.md` (IS-NLL, ELBO, 5-NN on sampled codes and on
posterior means, NMI, recon, active and informative units, noise share,
posterior std), `summary.json` and `val_loss.png`.

  python -m benchmarks.vamp_anchor --config=configs/mnist_hvae_vp.py \
      --config.data.dir=../shared/data --workdir=workdirs/vamp_anchor_hvae
  python -m benchmarks.vamp_anchor --config=configs/mnist_vp.py:small \
      --config.data.dir=../shared/data --epochs=0 --warmup_steps=50 \
      --nll_examples=200 --workdir=workdirs/vamp_anchor_conv
"""

import copy

from absl import app
from absl import flags

from benchmarks import image_variants
from experiments import cli
from experiments import common

flags.adopt_module_key_flags(cli)
_VARIANTS = flags.DEFINE_list(
    "variants",
    ["vae", "learned", "standard_normal", "learned_stop_gradient",
     "learned+warmup", "standard_normal+warmup", "learned+floor4",
     "standard_normal+floor4"],
    "Variants to train: +-joined parts (see the module docstring).",
)
_EPOCHS = flags.DEFINE_integer(
    "epochs", 5, "Training epochs per run (0: the config's schedule)."
)
_WARMUP_EPOCHS = flags.DEFINE_integer(
    "warmup_epochs", 3, "Beta warm-up length of the `warmup` variants."
)
_WARMUP_STEPS = flags.DEFINE_integer(
    "warmup_steps", 0,
    "If > 0, the `warmup` variants warm beta up over this many steps instead "
    "of --warmup_epochs epochs.",
)
_NLL_SAMPLES = flags.DEFINE_integer("nll_samples", 100, "IS-NLL samples S.")
_NLL_EXAMPLES = flags.DEFINE_integer(
    "nll_examples", 500, "Validation images in the IS-NLL."
)
_COLUMNS = ("nll_is", "elbo", "knn5_acc", "knn5_acc_mean", "nmi",
            "recon_err", "active_units", "informative_units", "noise_share",
            "posterior_std", "train_time_s")
_ANCHORS = ("standard_normal",) + tuple(common.LEARNED_ANCHORS)


def variant_config(base, variant):
  """`base` changed as `variant` says (see the module docstring)."""
  config = copy.deepcopy(base)
  head, *mods = variant.split("+")
  if head == "vae":
    config.loss = "vae"
  elif head in _ANCHORS:
    config.loss = "mim"
    config.latent_anchor.kind = head
  else:
    raise ValueError(f"variant {variant!r}: start with 'vae' or {_ANCHORS}")
  if _EPOCHS.value:
    config.train.update(max_epochs=_EPOCHS.value, patience=_EPOCHS.value)
  config.train.beta_warmup_epochs = 1
  for mod in mods:
    if mod == "warmup" and _WARMUP_STEPS.value:
      with config.train.unlocked():
        config.train.beta_warmup_steps = _WARMUP_STEPS.value
    elif mod == "warmup":
      config.train.beta_warmup_epochs = _WARMUP_EPOCHS.value
    elif mod.startswith("floor") and mod[5:].isdigit():
      config.model.min_logvar = -float(mod[5:])
    else:
      raise ValueError(f"variant {variant!r}: unknown part {mod!r}")
  config.eval.update(split="validation", nll_samples=_NLL_SAMPLES.value,
                     num_nll_examples=_NLL_EXAMPLES.value)
  return config


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  root = common.setup()
  base = common.CONFIG.value
  budget = (f"{_EPOCHS.value} epochs" if _EPOCHS.value
            else "the config's schedule")
  image_variants.run_variants(
      {v: variant_config(base, v) for v in _VARIANTS.value}, root,
      columns=_COLUMNS,
      header=(f"{base.data.name} {base.model.kind} {base.model.prior}, "
              f"{budget}, one seed per row; every metric on the validation "
              f"split (IS-NLL: S = {_NLL_SAMPLES.value}, "
              f"{_NLL_EXAMPLES.value} images)."),
  )


if __name__ == "__main__":
  app.run(main)
