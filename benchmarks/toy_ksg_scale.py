"""How the KSG mutual information of a toy run depends on the codes' scale.

The KSG estimator (`metrics.ksg_mutual_information`, the thesis's and the
authors' MI of Fig. 4.1 / 4.2) takes the joint distance as the larger of
the max-norm distances in x and in z. Its value at finite N is therefore
not invariant to rescaling z, although I(x; z) is: when z's clusters lie
closer together than x's k-NN distances, the z-neighbourhoods of the joint
radius reach into other clusters. This re-evaluates the finished runs of an
`experiments.toy_mim` workdir (parameters restored read-only from their
last checkpoints; nothing is trained or written) on the whole test set,
with the posterior samples z the run's own evaluation drew (so the "z x 1"
column is the run's `mi_ksg`) multiplied by each `--scales` factor, and
with x and z both standardized per coordinate (unit variance, as
scikit-learn's KSG estimators scale their inputs), one line per run and
seed. `--config` (with the same overrides) and `--workdir` are the
training run's:

  python -m experiments.toy_mim --config=configs/toy_gmm20d.py:small \\
      --config.sweep.latent_dim="(6,)" --config.num_seeds=2 --workdir=W
  python -m benchmarks.toy_ksg_scale --config=configs/toy_gmm20d.py:small \\
      --config.sweep.latent_dim="(6,)" --config.num_seeds=2 --workdir=W
"""

import os

from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from experiments import cli
from experiments import common
from experiments import toy_mim
import mimjax
from mimjax import data
from mimjax import evaluation
from mimjax import metrics
from mimjax import training

# --config: the toy config the workdir was trained with; --workdir: a
# finished `experiments.toy_mim` workdir (both `experiments.cli` flags).
_SCALES = flags.DEFINE_list(
    "scales", ["0.3", "1", "3", "10"], "Factors applied to the codes z."
)


def _standardized(a):
  """Each column of `a [N, d]` divided by its standard deviation."""
  return a / np.std(a, axis=0, keepdims=True)


def _selected_params(config, source, rundir, model):
  """The `[S, ...]` evaluated parameters of the finished run in `rundir`."""
  if not os.path.isfile(os.path.join(rundir, "eval.json")):
    raise mimjax.MissingInputError(
        f"{rundir} holds no finished run (no eval.json): finish it with "
        "experiments.toy_mim and the same --config and --workdir first"
    )
  return training.selected_params(
      common.restore_parameters(config, model, source, rundir)
  )


def main(argv):
  del argv
  config = cli.CONFIG.value
  source = data.make_source(**config.data, batch_size=config.train.batch_size)
  x = np.asarray(source.test["x"], np.float32)
  scales = [float(s) for s in _SCALES.value]
  print(f"| run | seed | N | {' | '.join(f'MI at z x {s:g}' for s in scales)} "
        "| MI, x and z standardized |")
  print(f"| --- | --- | --- | {' | '.join('---' for _ in scales)} | --- |")
  per_run = {}
  for loss in config.sweep.losses:
    for hidden in config.sweep.hidden:
      for latent_dim in config.sweep.latent_dim:
        name = toy_mim.run_name(loss, hidden, latent_dim)
        model = toy_mim.make_model(config, x.shape[1], hidden, latent_dim)
        selected = _selected_params(
            config, source, os.path.join(cli.WORKDIR.value, "runs", name),
            model,
        )
        for seed in range(config.num_seeds):
          params = jax.tree.map(lambda a, s=seed: a[s], selected)
          # The test codes of the run's own evaluation: the first split of
          # its key in `evaluation.evaluate_latent_model`.
          key = toy_mim.evaluation_key(config, seed)
          z = np.asarray(evaluation.latent_summaries(
              model, params, jnp.asarray(x), jax.random.split(key, 3)[0]
          )["z"])
          mi = [metrics.ksg_mutual_information(x, s * z, k=config.eval.ksg_k)
                for s in scales]
          mi.append(metrics.ksg_mutual_information(
              _standardized(x), _standardized(z), k=config.eval.ksg_k
          ))
          print(f"| {name} | {seed} | {len(x)} | "
                f"{' | '.join(f'{v:.3f}' for v in mi)} |", flush=True)
          per_run.setdefault(name, []).append(mi)
  _print_summary(per_run, scales)


def _print_summary(per_run, scales):
  """Mean +- std over seeds of each run's row (`per_run[name]`: a list of
  per-seed value lists, columns as in the per-seed table)."""
  print(f"\n| run | seeds | {' | '.join(f'MI at z x {s:g}' for s in scales)}"
        " | MI, x and z standardized |")
  print(f"| --- | --- | {' | '.join('---' for _ in scales)} | --- |")
  for name, rows in per_run.items():
    rows = np.asarray(rows)
    cells = [f"{m:.3f} ± {s:.3f}"
             for m, s in zip(rows.mean(axis=0), rows.std(axis=0))]
    print(f"| {name} | {len(rows)} | {' | '.join(cells)} |")


if __name__ == "__main__":
  flags.mark_flags_as_required(["config", "workdir"])
  cli.run_main(main)
