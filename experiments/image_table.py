r"""Runs a table's worth of image configs; writes them beside the thesis's.

For every dataset x prior x loss, trains and evaluates
`configs/<dataset>_<prior>.py:<arg>,<loss>` with `experiments.image_mim`
(finished runs are read back, killed ones resume) and writes `table.md` with
test NLL (Tables 4.1 / 5.1) and 5-NN accuracy (Tables 4.2 / 5.2) next to the
thesis's numbers, plus every other metric of `results.json`.

  python -m experiments.image_table --arg=small --datasets=mnist \
      --data_dir=/folder/with/mnist.npz --workdir=workdirs/table_small
"""

import importlib
import json
import os

from absl import app
from absl import flags
from absl import logging

from experiments import common
from experiments import image_mim
from experiments import table_flags

_DATASETS = flags.DEFINE_list(
    "datasets", ["mnist"], "Datasets: mnist, fashion_mnist, omniglot."
)
_PRIORS = flags.DEFINE_list("priors", ["s", "vp"], "Priors: s and/or vp.")
_LOSSES = flags.DEFINE_list("losses", ["mim", "vae"], "Objectives to run.")
flags.adopt_module_key_flags(table_flags)
flags.declare_key_flag("workdir")
flags.declare_key_flag("distributed")

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
_COLUMNS = ("nll_is", "elbo", "knn1_acc", "knn5_acc", "nmi", "recon_err",
            "active_units", "train_time_s")


def _fmt(v):
  return "-" if v is None else (f"{v:.3f}" if abs(v) < 10 else f"{v:.2f}")


def write_table(rows, path, *, no_warmup):
  slot = 1 if no_warmup else 0
  lines = [
      "| run | NLL (ours) | NLL (thesis) | 5-NN (ours) | 5-NN (thesis) | "
      + " | ".join(_COLUMNS[1:]) + " | budget |",
      "|" + " --- |" * (6 + len(_COLUMNS) - 1),
  ]
  for (dataset, prior, loss), r in rows:
    thesis = THESIS.get((dataset, prior, loss), dict(nll=(None,) * 2,
                                                     knn5=(None,) * 2))
    b = r["budget"]
    lines.append(
        f"| {dataset} {prior.upper()} {loss.upper()} | {_fmt(r['nll_is'])} "
        f"± {r['nll_is_stderr']:.2f} (S={r['nll_is_samples']}, "
        f"n={r['nll_is_examples']}) | {_fmt(thesis['nll'][slot])} | "
        f"{_fmt(r['knn5_acc'])} | {_fmt(thesis['knn5'][slot])} | "
        + " | ".join(_fmt(r[c]) for c in _COLUMNS[1:])
        + f" | {b['steps']} steps ({b['train_images']} images) |"
    )
  with open(path, "w") as f:
    f.write("convHVAE, one seed per row (thesis: mean of 10 trials, full "
            "budget).\n\n" + "\n".join(lines) + "\n")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  root = common.setup(
      os.path.join(
          "workdirs", "table_" + (table_flags.ARG.value.replace(",", "_") or "full")
      )
  )
  rows = []
  for dataset in _DATASETS.value:
    for prior in _PRIORS.value:
      module = importlib.import_module(f"configs.{dataset}_{prior}")
      for loss in _LOSSES.value:
        config = module.get_config(",".join(filter(None, [table_flags.ARG.value, loss])))
        config.data.dir = table_flags.DATA_DIR.value
        name = f"{dataset}_{prior}_{loss}"
        logging.info("=== %s", name)
        workdir = os.path.join(root, name)
        os.makedirs(workdir, exist_ok=True)
        rows.append(((dataset, prior, loss), image_mim.run(config, workdir)))
  no_warmup = "no_warmup" in table_flags.ARG.value.split(",")
  write_table(rows, os.path.join(root, "table.md"), no_warmup=no_warmup)
  with open(os.path.join(root, "table.json"), "w") as f:
    json.dump([dict(run="_".join(k), **r) for k, r in rows], f, indent=1,
              default=list)
  logging.info("Wrote %s", os.path.join(root, "table.md"))


if __name__ == "__main__":
  app.run(main)
