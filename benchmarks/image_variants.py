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
  """The config fields of an estimator spelled "name[:K][:wM][:m]".

  K is decoder_samples, M decoder_weight_samples and "m" sets
  decoder_matched_baseline: "rloo:4" -> rloo, K = 4; "rloo:2:w4" -> rloo,
  K = 2, M = 4; "rloo:2:m" -> rloo, K = 2, matched baseline; "mean".

  Returns:
    Dict with keys decoder_estimator, decoder_samples,
    decoder_weight_samples and decoder_matched_baseline.
  """
  name, *rest = spelling.split(":")
  fields = dict(decoder_estimator=name, decoder_samples=1,
                decoder_weight_samples=1, decoder_matched_baseline=False)
  for part in rest:
    if part == "m":
      fields["decoder_matched_baseline"] = True
    elif part.startswith("w"):
      fields["decoder_weight_samples"] = int(part[1:])
    else:
      fields["decoder_samples"] = int(part)
  return fields


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
