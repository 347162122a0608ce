"""Shared by the image benchmarks that train one config in several variants.

Flag-free (so benchmarks can import it together): the spelling of decoder
estimators on the command line, and the loop that trains each variant in
its own workdir and writes one summary table and one validation-curve plot.
"""

import os

from experiments import image_mim
from mimjax import files
from mimjax import plotting
from mimjax import training


def parse_estimator(spelling):
  """(decoder_estimator, decoder_samples, decoder_weight_samples).

  "name[:K][:wM]": "rloo:4" -> ("rloo", 4, 1); "rloo:2:w4" -> ("rloo", 2,
  4); "batch_mean:1:w8" -> ("batch_mean", 1, 8); "mean" -> ("mean", 1, 1).
  """
  name, *rest = spelling.split(":")
  samples, weight_samples = 1, 1
  for part in rest:
    if part.startswith("w"):
      weight_samples = int(part[1:])
    else:
      samples = int(part)
  return name, samples, weight_samples


def _cell(value):
  return "-" if value is None else f"{value:.3f}"


def run_variants(configs, root, *, columns, header):
  """Trains `configs` (name -> image config) and tabulates their results.

  Each variant lives in `<root>/<name>` (finished runs are read back,
  killed ones resume). Writes `<root>/summary.md` (`header`, then one row
  per variant with `columns` of its results.json), `<root>/summary.json`
  (name -> results) and `<root>/val_loss.png` (validation-loss curves).

  Returns:
    Dict name -> results.
  """
  lines = ["| run | " + " | ".join(columns) + " |",
           "|" + " --- |" * (len(columns) + 1)]
  results, curves = {}, {}
  for name, config in configs.items():
    workdir = os.path.join(root, name)
    os.makedirs(workdir, exist_ok=True)
    results[name] = image_mim.run(config, workdir)
    lines.append(f"| {name} | " + " | ".join(
        _cell(results[name].get(c)) for c in columns) + " |")
    curves[name] = [(r["epoch"], r["val/loss"])
                    for r in training.read_metrics(workdir) if "val/loss" in r]
  files.write_text(os.path.join(root, "summary.md"),
                   header + "\n\n" + "\n".join(lines) + "\n")
  files.write_json(os.path.join(root, "summary.json"), results)
  plotting.training_curves(curves, os.path.join(root, "val_loss.png"))
  print("\n".join(lines))
  return results
