r"""Runs the PTB sentence configs of Table 7.2; writes them beside the thesis's.

For every model (smim, svae, ae) x latent size, trains and evaluates
`configs/ptb_<model>.py:<arg>,z<dim>` with `experiments.sentence_mim` in
`<workdir>/ptb_<model>_<arg>_z<dim>` (finished runs are read back, killed
ones resume) and writes `table.md`: MELBO PPL / NLL and BLEU-1 next to the
thesis's Table 7.2 and the authors' code's README numbers (reference digest
Sec. 5.2), plus ELBO, IS-NLL, KL and active units, and per latent size the
models' validation curves side by side (`plots/val_bleu1_z<dim>.png`: BLEU-1
from z ~ q(z|x) and from the mean, the AE-against-sMIM comparison of Table
7.7; `plots/val_melbo_ppl_z<dim>.png`).

  python -m experiments.sentence_table --arg=small --latent_dims=128,512 \
      --data_dir=/folder/with/ptb.train.txt.gz --workdir=workdirs/ptb_small
"""

import importlib
import json
import os

from absl import flags

from experiments import cli
from experiments import table_flags

_MODELS = flags.DEFINE_list(
    "models", ["smim", "svae"], "PTB configs to run: smim, svae and/or ae."
)
_LATENTS = flags.DEFINE_list("latent_dims", ["128", "512"], "Latent sizes.")
flags.adopt_module_key_flags(table_flags)
flags.declare_key_flag("workdir")
flags.declare_key_flag("distributed")
cli.exit_on_help(__name__)  # needs only the flags: answered before jax

# pylint: disable=wrong-import-position,wrong-import-order
from absl import app
from absl import logging

from experiments import common
from experiments import sentence_mim
from mimjax import files
from mimjax import plotting
# pylint: enable=wrong-import-position,wrong-import-order

# PTB, thesis Table 7.2 (MELBO PPL, NLL, BLEU-1; the AE's BLEU-1 from Table
# 7.7) and the authors' code's README (reference digest Sec. 5.2: PPL,
# BLEU-1).
THESIS = {
    ("ae", 16): (None, None, 0.348), ("ae", 128): (None, None, 0.589),
    ("ae", 512): (None, None, 0.637),
    ("svae", 16): (148.18, 113.46, 0.124), ("svae", 128): (158.31, 114.96, 0.118),
    ("svae", 512): (171.37, 116.76, 0.116), ("smim", 16): (76.3, 98.35, 0.35),
    ("smim", 128): (27.93, 75.58, 0.61), ("smim", 512): (19.53, 67.46, 0.679),
}
REFERENCE = {
    ("ae", 16): (None, 0.2916), ("ae", 128): (None, 0.5321),
    ("ae", 512): (None, 0.5745), ("svae", 16): (113.14, 0.0882),
    ("svae", 128): (117.2, 0.0803), ("svae", 512): (121.7, 0.0809),
    ("smim", 16): (75.29, 0.2975), ("smim", 128): (28.58, 0.5542),
    ("smim", 512): (19.02, 0.6226),
}
_COLUMNS = ("elbo_ppl", "is_ppl", "recon_nll", "kl", "active_units",
            "posterior_std", "latent_entropy", "train_time_s")


def _fmt(v):
  if v is None:
    return "-"
  if isinstance(v, int):
    return str(v)
  return f"{v:.3g}" if abs(v) < 10 else (f"{v:.1f}" if abs(v) < 1e6 else
                                         f"{v:.1e}")


def write_table(rows, path):
  """`table.md` of `rows`, ((model, latent_dim), results dict) pairs, with
  the thesis's and the reference code's numbers beside each row."""
  lines = [
      "| run | MELBO PPL | thesis | ref. code | MELBO NLL | thesis | BLEU-1 "
      "| thesis | ref. code | BLEU-1 (mean z) | "
      + " | ".join(_COLUMNS) + " | budget |",
      "|" + " --- |" * (11 + len(_COLUMNS)),
  ]
  for (model, dim), r in rows:
    thesis = THESIS.get((model, dim), (None,) * 3)
    ref = REFERENCE.get((model, dim), (None,) * 2)
    b = r["budget"]
    lines.append(
        f"| {model} ({dim}) | {_fmt(r['melbo_ppl'])} | {_fmt(thesis[0])} | "
        f"{_fmt(ref[0])} | {_fmt(r['melbo_nll'])} | {_fmt(thesis[1])} | "
        f"{_fmt(r['bleu1'])} | {_fmt(thesis[2])} | {_fmt(ref[1])} | "
        f"{_fmt(r['bleu1_mean'])} | "
        + " | ".join(_fmt(r.get(c)) for c in _COLUMNS)
        + f" | {b['steps']} steps ({b['train_sentences']} sentences) |"
    )
  lines += [
      "",
      f"N = {rows[0][1]['num_test']} test sentences, "
      f"{rows[0][1]['num_words']} words (<eos> excluded, as in Sec. 7.3); "
      f"MELBO per eq 6.17 with {rows[0][1]['config']['eval']['num_z']} z "
      "sample(s) per sentence. Thesis: 10-run means at the "
      "thesis budget.",
  ]
  files.write_text(path, "\n".join(lines) + "\n")


def plot_curves_side_by_side(runs, root):
  """One plot per latent size and metric, one line per model.

  Args:
    runs: ((model, latent_dim), workdir, loss) of finished runs (model: the
      table's name, e.g. "svae"; loss: its `config.loss`, e.g. "vae"),
      each with the `validation_curves.json` of
      `sentence_mim.write_validation_curves`.
    root: folder whose `plots/` receives `val_bleu1_z<dim>.png` (lines
      `<model> z~q` and `<model> mean z`; the AE's code is its mean alone)
      and `val_melbo_ppl_z<dim>.png` (no AE line: its MELBO is not a
      thesis quantity, and runs before session 22 drew it at z ~ q, from
      the std head the AE never trains).

  Returns:
    The paths written.
  """
  by_dim = {}
  for (model, dim), workdir, loss in runs:
    with open(os.path.join(workdir, "validation_curves.json")) as f:
      curves = json.load(f)
    epochs = curves["epoch"]
    lines = by_dim.setdefault(dim, {"bleu1": {}, "melbo_ppl": {}})
    deterministic = sentence_mim.is_deterministic(loss)
    for key, label in (("bleu1", "z~q"), ("bleu1_mean", "mean z")):
      if key in curves and not (deterministic and key == "bleu1"):
        lines["bleu1"][f"{model} {label}"] = list(zip(epochs, curves[key]))
    if "melbo_ppl" in curves and not deterministic:
      lines["melbo_ppl"][model] = list(zip(epochs, curves["melbo_ppl"]))
  paths = []
  for dim, lines in by_dim.items():
    for metric, curves in lines.items():
      if curves:
        paths.append(plotting.training_curves(
            curves, os.path.join(root, "plots", f"val_{metric}_z{dim}.png"),
            metric=f"validation {metric}",
        ))
  return paths


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  root = common.setup(default_workdir=os.path.join("workdirs", "ptb_table"))
  rows, workdirs = [], []
  for dim in map(int, _LATENTS.value):
    for model in _MODELS.value:
      name = "ptb_" + model
      arg = ",".join(filter(None, [table_flags.ARG.value, f"z{dim}"]))
      config = importlib.import_module(f"configs.{name}").get_config(arg)
      config.data.dir = table_flags.DATA_DIR.value
      workdir = os.path.join(root, f"{name}_{arg.replace(',', '_')}")
      os.makedirs(workdir, exist_ok=True)
      logging.info("Running %s:%s in %s", name, arg, workdir)
      rows.append(((model, dim), sentence_mim.run(
          config, workdir, overwrite=common.OVERWRITE.value
      )))
      workdirs.append(((model, dim), workdir, config.loss))
  path = os.path.join(root, "table.md")
  write_table(rows, path)
  files.write_json(os.path.join(root, "table.json"), [
      # "loss" holds the model's table name (kept for older table.json).
      dict(model=k[0], loss=k[0], latent_dim=k[1], **{
          c: r.get(c)
          for c in ("melbo_ppl", "melbo_nll", "bleu1", "bleu1_mean") + _COLUMNS
      }) for k, r in rows
  ])
  plot_curves_side_by_side(workdirs, root)
  logging.info("Wrote %s and the validation curves in %s", path,
               os.path.join(root, "plots"))


if __name__ == "__main__":
  common.run_main(main)
