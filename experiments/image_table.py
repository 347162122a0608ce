r"""Runs a table's worth of image configs; writes them beside the thesis's.

For every dataset x prior x loss x seed, trains and evaluates
`configs/<dataset>_<prior>.py:<arg>,<loss>` (convHVAE) or, with
`--model=hvae`, `configs/<dataset>_hvae_<prior>.py` with
`experiments.image_mim` in `<workdir>/<dataset>_<prior>_<loss>_seed<k>`
(finished runs are read back, killed ones resume) and writes `table.md` with
test NLL (Tables 4.1 / 5.1) and 5-NN accuracy (Tables 4.2 / 5.2) next to the
thesis's convHVAE numbers (and, for the VAE rows of the dense HVAE, the
VampPrior paper's), plus every other metric of `results.json`.

  python -m experiments.image_table --arg=small --datasets=mnist \
      --data_dir=/folder/with/mnist.npz --workdir=workdirs/table_small
  python -m experiments.image_table --model=hvae --arg= --losses=vae,amim,mim \
      --data_dir=../shared/data --workdir=workdirs/images_hvae
  python -m experiments.image_table --model=hvae --arg= --losses=vae,amim,mim \
      --from_results --workdir=results/images_hvae   # table of committed runs
"""

import importlib
import os

from absl import flags

from experiments import cli
from experiments import table_flags

_DATASETS = flags.DEFINE_list(
    "datasets", ["mnist"], "Datasets: mnist, fashion_mnist, omniglot."
)
_PRIORS = flags.DEFINE_list("priors", ["s", "vp"], "Priors: s and/or vp.")
_LOSSES = flags.DEFINE_list("losses", ["mim", "vae"], "Objectives to run.")
_MODEL = flags.DEFINE_enum(
    "model", "conv_hvae", ["conv_hvae", "hvae"],
    "conv_hvae: configs/<dataset>_<prior>.py; hvae: the dense HVAE (L = 2) "
    "of configs/<dataset>_hvae_<prior>.py.",
)
_SEEDS = flags.DEFINE_list(
    "seeds", ["0"], "Values of config.seed; one run per seed and row."
)
_FROM_RESULTS = flags.DEFINE_bool(
    "from_results", False,
    "Train nothing: build the table from each row's "
    "<workdir>/<dataset>_<prior>_<loss>_seed<k>/results.json (e.g. the "
    "committed results/images_hvae); a row without one says 'not run'.",
)
flags.adopt_module_key_flags(table_flags)
flags.declare_key_flag("workdir")
flags.declare_key_flag("distributed")
cli.exit_on_help(__name__)  # needs only the flags: answered before jax

# pylint: disable=wrong-import-position,wrong-import-order
from absl import app
from absl import logging

from experiments import common
from experiments import image_mim
from mimjax import files
# pylint: enable=wrong-import-position,wrong-import-order

# convHVAE, 10-trial means (thesis Table 4.1 NLL, Table 4.2 5-NN accuracy;
# no-annealing values of Tables 5.1 / 5.2 in the second slot).
THESIS = {
    ("fashion_mnist", "s", "mim"): dict(nll=(272.14, 274.98), knn5=(0.83, 0.83)),
    ("fashion_mnist", "s", "vae"): dict(nll=(225.40, 225.72), knn5=(0.76, 0.75)),
    ("fashion_mnist", "vp", "mim"): dict(nll=(227.61, 229.2), knn5=(0.81, 0.8)),
    ("fashion_mnist", "vp", "vae"): dict(nll=(224.77, 225.17), knn5=(0.78, 0.8)),
    ("mnist", "s", "mim"): dict(nll=(126.85, 127.45), knn5=(0.97, 0.97)),
    ("mnist", "s", "vae"): dict(nll=(80.50, 80.58), knn5=(0.92, 0.91)),
    ("mnist", "vp", "mim"): dict(nll=(82.73, 85.62), knn5=(0.97, 0.96)),
    ("mnist", "vp", "vae"): dict(nll=(79.66, 80.42), knn5=(0.92, 0.96)),
    ("omniglot", "s", "mim"): dict(nll=(141.81, 143.75), knn5=(None, None)),
    ("omniglot", "s", "vae"): dict(nll=(97.94, 99.5), knn5=(None, None)),
    ("omniglot", "vp", "mim"): dict(nll=(104.10, 100.79), knn5=(None, None)),
    ("omniglot", "vp", "vae"): dict(nll=(97.52, 100.63), knn5=(None, None)),
}
# Tomczak & Welling, "VAE with a VampPrior" (AISTATS 2018), test NLL of
# HVAE (L = 2) on dynamically binarised MNIST. The paper's table could not be
# read offline; 83.19 (VampPrior) is quoted second-hand, the standard
# prior's value was not found (BUILD_NOTES, "Image chapter: dense HVAE").
VAMPPRIOR_PAPER = {
    ("mnist", "vp", "vae"): 83.19,
    ("mnist", "s", "vae"): None,
}
_COLUMNS = ("nll_is", "elbo", "knn1_acc", "knn5_acc", "nmi", "recon_err",
            "active_units", "train_time_s")


def _fmt(v):
  return "-" if v is None else (f"{v:.3f}" if abs(v) < 10 else f"{v:.2f}")


def write_table(rows, path, *, no_warmup, model="conv_hvae"):
  """Writes `rows` of ((dataset, prior, loss, seed), results) as markdown."""
  slot = 1 if no_warmup else 0
  lines = [
      "| run | NLL (ours) | NLL (thesis) | NLL (VampPrior paper) | "
      "5-NN (ours) | 5-NN (thesis) | "
      + " | ".join(_COLUMNS[1:]) + " | budget |",
      "|" + " --- |" * (7 + len(_COLUMNS) - 1),
  ]
  for (dataset, prior, loss, seed), r in rows:
    if r is None:  # --from_results without a results.json
      lines.append(f"| {dataset} {prior.upper()} {loss.upper()} seed {seed} | "
                   "not run |" + " |" * (4 + len(_COLUMNS)))
      continue
    thesis = THESIS.get((dataset, prior, loss), dict(nll=(None,) * 2,
                                                     knn5=(None,) * 2))
    paper = VAMPPRIOR_PAPER.get((dataset, prior, loss)) if model == "hvae" else None
    b = r["budget"]
    lines.append(
        f"| {dataset} {prior.upper()} {loss.upper()} seed {seed} | "
        f"{_fmt(r['nll_is'])} ± {r['nll_is_stderr']:.2f} "
        f"(S={r['nll_is_samples']}, n={r['nll_is_examples']}) | "
        f"{_fmt(thesis['nll'][slot])} | {_fmt(paper)} | "
        f"{_fmt(r['knn5_acc'])} | {_fmt(thesis['knn5'][slot])} | "
        + " | ".join(_fmt(r[c]) for c in _COLUMNS[1:])
        + f" | {b['epochs']} epochs, {b['steps']} steps "
        f"({b['train_images']} images) |"
    )
  name = {"conv_hvae": "convHVAE", "hvae": "dense HVAE (L = 2)"}[model]
  files.write_text(
      path, f"{name}, one seed per row. Thesis: convHVAE, mean of 10 "
      "trials, full budget; VampPrior paper: its HVAE (L = 2), dynamic "
      "MNIST, a second-hand value not verified against the paper "
      "(BUILD_NOTES).\n\n" + "\n".join(lines) + "\n"
  )


def _read_results(run_dir):
  """The results.json of a finished run, or None (logged) if it has none."""
  path = os.path.join(run_dir, "results.json")
  if not os.path.exists(path):
    logging.warning("--from_results: no %s; its row says 'not run'", path)
    return None
  return files.read_json(path)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  root = common.setup(
      os.path.join(
          "workdirs", "table_" + (table_flags.ARG.value.replace(",", "_") or "full")
      )
  )
  rows = []
  infix = "_hvae" if _MODEL.value == "hvae" else ""
  for dataset in _DATASETS.value:
    for prior in _PRIORS.value:
      module = importlib.import_module(f"configs.{dataset}{infix}_{prior}")
      for loss in _LOSSES.value:
        for seed in _SEEDS.value:
          config = module.get_config(
              ",".join(filter(None, [table_flags.ARG.value, loss]))
          )
          config.data.dir = table_flags.DATA_DIR.value
          config.seed = int(seed)
          name = f"{dataset}_{prior}_{loss}_seed{seed}"
          logging.info("=== %s", name)
          workdir = os.path.join(root, name)
          if _FROM_RESULTS.value:
            rows.append(((dataset, prior, loss, seed),
                         _read_results(workdir)))
            continue
          os.makedirs(workdir, exist_ok=True)
          rows.append(
              ((dataset, prior, loss, seed), image_mim.run(
                  config, workdir, overwrite=common.OVERWRITE.value
              ))
          )
  no_warmup = "no_warmup" in table_flags.ARG.value.split(",")
  write_table(rows, os.path.join(root, "table.md"), no_warmup=no_warmup,
              model=_MODEL.value)
  files.write_json(os.path.join(root, "table.json"), [
      dict(run=f"{d}_{p}_{l}_seed{s}", **r) for (d, p, l, s), r in rows
      if r is not None
  ])
  logging.info("Wrote %s", os.path.join(root, "table.md"))


if __name__ == "__main__":
  common.run_main(main)
