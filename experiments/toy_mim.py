r"""Low-dimensional MIM / VAE experiments (thesis ch. 4.2, 5.3, App. B).

Trains every (loss, hidden, latent_dim) of `config.sweep` (a loss "a>b"
trains with a, then continues from a's best models with b: App. B.3) for
`config.num_seeds` seeds (vmapped in one program), evaluates the early-stopped
models on a held-out test set, and writes to the workdir:
  results.json   resolved config and one entry per (run, seed) with metrics
  summary.md     mean +- std table
  plots/*.png    figures of the thesis chapter
  runs/<run>/    checkpoints, metrics.jsonl, TensorBoard events, eval.json

  python -m experiments.toy_mim --config=configs/toy_gmm2d.py[:quick]

A killed run resumes from its checkpoints when started again with the same
workdir; finished runs are not retrained.
"""

import concurrent.futures
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
import numpy as np

from experiments import common
import mimjax
from mimjax import data
from mimjax import distributions
from mimjax import evaluation
from mimjax import files
from mimjax import models
from mimjax import objectives
from mimjax import plotting
from mimjax import training
# pylint: enable=wrong-import-position,wrong-import-order

_SUMMARY_METRICS = (
    "mi_ksg", "nll", "neg_elbo", "recon_err", "recon_err_mean", "knn5_acc",
    "posterior_std", "consistency_gap", "stop_epoch",
)


def latent_anchor(config, latent_dim):
  """The sampling anchor P(z) of `config.latent_anchor`."""
  if config.kind == "standard_normal":
    return distributions.standard_normal(latent_dim)
  if config.kind == "gmm":
    means = np.asarray(config.means, np.float32)
    if means.shape[1:] != (latent_dim,):
      raise mimjax.InputError(
          f"latent_anchor.means {means.shape} do not match latent_dim "
          f"{latent_dim}"
      )
    return distributions.gaussian_mixture(
        np.zeros(len(means), np.float32), means, np.full_like(means, config.std)
    )
  raise mimjax.InputError(
      f"unknown latent_anchor.kind {config.kind!r}; the toy chapter's "
      "anchors are fixed (thesis Sec. 5.3): use 'standard_normal' or 'gmm'"
  )


def make_model(config, x_dim, hidden, latent_dim):
  """The sweep point's `LatentVariableModel` (untrained)."""
  return models.mlp_model(
      x_dim=x_dim, latent_dim=latent_dim, hidden=hidden, **config.model
  )


# config.validation: the training loss itself, or (symmetric losses) its
# encoder half alone (`objectives.make_loss_fn(encoder_half_only=True)`).
_VALIDATION_LOSSES = ("loss", "encoder_half")


def evaluation_key(config, seed):
  """The key of seed `seed`'s test evaluation
  (`evaluation.evaluate_latent_model`)."""
  return jax.random.fold_in(jax.random.key(config.seed + 1), seed)


def run_name(loss, hidden, latent_dim):
  """The folder name of one sweep point under `<workdir>/runs/`."""
  return f"{loss.replace('>', '_then_')}_h{hidden}_z{latent_dim}"


def _train_stages(config, source, loss, model, anchor, rundir, mesh):
  """Trains `loss` ("a" or staged "a>b": b starts from a's best models),
  resuming each stage from its folder under `rundir`; returns the last
  stage's final `TrainState`."""
  init_params, state = None, None
  stages = loss.split(">")
  for i, stage in enumerate(stages):
    stage_dir = rundir if i == len(stages) - 1 else f"{rundir}/stage_{stage}"
    state = common.train(
        config,
        model=model,
        loss_fn=objectives.make_loss_fn(
            model, loss=stage, latent_anchor=anchor
        ),
        eval_loss_fn=objectives.make_loss_fn(
            model, loss=stage, latent_anchor=anchor,
            encoder_half_only=config.validation == "encoder_half",
        ),
        source=source,
        workdir=stage_dir,
        mesh=mesh,
        init_params=init_params,
        monitor_fn=evaluation.make_monitor_fn(model),
    )
    init_params = training.selected_params(state)
  return state


def _train_and_evaluate(config, source, loss, hidden, latent_dim, rundir, mesh):
  """Trains all seeds of one sweep point; returns per-seed metrics."""
  cached = os.path.join(rundir, "eval.json")
  result = files.read_json(cached)  # None when absent or torn
  if result is not None:
    return result
  model = make_model(config, source.x_shape[0], hidden, latent_dim)
  anchor = latent_anchor(config.latent_anchor, latent_dim)
  state = _train_stages(config, source, loss, model, anchor, rundir, mesh)
  test, train_sample = source.test, source.train_eval
  per_seed, arrays = [], None
  selected = training.selected_params(state)
  for i in range(config.num_seeds):
    params = jax.tree.map(lambda a, i=i: a[i], selected)
    key = evaluation_key(config, i)
    metrics, out = evaluation.evaluate_latent_model(
        model, params, test=test, train=train_sample, key=key, **config.eval
    )
    metrics.update(
        best_epoch=int(state.best_epoch[i]), **training.seed_outcome(state, i)
    )
    per_seed.append(metrics)
    if i == 0:
      arrays = _plot_arrays(model, params, source, test, out, anchor)
  result = {"per_seed": per_seed}
  if jax.process_index() == 0:
    with files.atomic_open(os.path.join(rundir, "seed0_arrays.npz"), "wb") as f:
      np.savez(f, **arrays)
    files.write_json(cached, result)
  return result


def _plot_arrays(model, params, source, test, out, anchor):
  """Seed-0 arrays for the figures (first 1000 test points)."""
  n = 1000
  arrays = {
      "x_test": np.asarray(test["x"][:n]),
      "x_recon": np.asarray(out["x_recon"][:n]),
      "z_mean": np.asarray(out["z_mean"][:n]),
      "z_std": np.asarray(out["z_std"][:n]),
  }
  if source.x_shape == (1,) and out["z"].shape[1] == 1:
    key = jax.random.key(0)
    x_grid = np.linspace(-4, 4, 400, dtype=np.float32)[:, None]
    q_x = model.apply(params, method="data_prior")
    p_z = model.apply(params, method="latent_prior")
    # z -> x -> z': decode anchor samples and re-encode them (Fig. B.1 b).
    z0 = anchor.sample(seed=key, sample_shape=(n,))
    x0 = model.apply(params, z0, method="decode").sample(seed=key)
    z_re = model.apply(params, x0, method="encode").sample(seed=key)
    arrays.update(
        grid=x_grid[:, 0],
        anchor_x=np.exp(source.log_density(x_grid)),
        model_x=np.exp(np.asarray(q_x.log_prob(x_grid))) if q_x else 0 * x_grid[:, 0],
        anchor_z=np.exp(np.asarray(anchor.log_prob(x_grid))),
        model_z=np.exp(np.asarray(p_z.log_prob(x_grid))),
        z_reencoded=np.asarray(z_re[:, 0]),
    )
  return arrays


def _write_summary(runs, path):
  groups = {}
  for run in runs:
    key = (run["loss"], run["hidden"], run["latent_dim"])
    groups.setdefault(key, []).append(run["metrics"])
  header = (
      "| loss | hidden | latent | " + " | ".join(_SUMMARY_METRICS)
      + " | collapse alarms |"
  )
  lines = [header, "|" + " --- |" * (4 + len(_SUMMARY_METRICS))]
  for (loss, hidden, latent), ms in sorted(groups.items()):
    cells = []
    for name in _SUMMARY_METRICS:
      values = np.array([m[name] for m in ms])
      cells.append(f"{values.mean():.3f} ± {values.std():.3f}")
    alarms = sum(bool(m.get("collapse_alarm")) for m in ms)
    cells.append(f"{alarms}/{len(ms)}")
    lines.append(f"| {loss} | {hidden} | {latent} | " + " | ".join(cells) + " |")
  files.write_text(
      path, f"Mean ± std over {len(ms)} seeds per row.\n\n"
      + "\n".join(lines) + "\n"
  )


def _make_plots(config, workdir, source, points, runs):
  plots = os.path.join(workdir, "plots")
  kinds = config.plots.kinds
  if "sweep" in kinds:
    plotting.metric_sweep(
        runs,
        x_key=config.plots.sweep_x,
        metrics=["mi_ksg", "nll", "recon_err", "knn5_acc"],
        path=os.path.join(plots, f"metrics_vs_{config.plots.sweep_x}.png"),
    )
  if "curves" in kinds:
    curves = {}
    for name in points:
      records = training.read_metrics(os.path.join(workdir, "runs", name))
      curves[name] = [(r["epoch"], r["val/loss"]) for r in records]
    plotting.training_curves(curves, os.path.join(plots, "val_loss.png"))
  arrays = {
      name: dict(np.load(os.path.join(workdir, "runs", name, "seed0_arrays.npz")))
      for name in points
  }
  if "fig51" in kinds and source.x_shape == (2,):
    panels = [
        dict(title=name, **{k: a[k] for k in ("x_test", "x_recon", "z_mean", "z_std")})
        for name, a in arrays.items()
        if a["z_mean"].shape[1] == 2
    ]
    plotting.reconstructions_and_posteriors(
        panels, source.log_density, os.path.join(plots, "fig51_posteriors.png")
    )
  if "densities_1d" in kinds:
    panels = [
        dict(
            title=name,
            x_grid=a["grid"], anchor_x=a["anchor_x"], model_x=a["model_x"],
            x_samples=a["x_recon"][:, 0],
            z_grid=a["grid"], anchor_z=a["anchor_z"], model_z=a["model_z"],
            z_samples=a["z_reencoded"],
        )
        for name, a in arrays.items()
        if "grid" in a
    ]
    plotting.densities_1d(panels, os.path.join(plots, "densities_1d.png"))


def run(config, workdir, *, overwrite=False):
  """Runs the whole sweep of `config` in `workdir`; returns results.

  A finished sweep of the same config is read back, and finished sweep
  points are reused by a longer sweep; any other config change is an error
  unless `overwrite` (see `training.claim_workdir`).
  """
  finished = common.finished_results(
      workdir, config, overwrite=overwrite, extendable=("sweep",)
  )
  if finished is not None:
    return finished
  fixed = config.to_dict()
  del fixed["sweep"]  # each point's own result depends on the rest only
  with training.claim_workdir(
      workdir, config, overwrite=overwrite, check_config=fixed
  ):
    return _run_sweep(config, workdir)


def _map_points(fn, *args_lists, workers=1):
  """[fn(*args) ...] over the sweep points, `workers` at a time.

  The points are independent, deterministic programs, so running two at
  once on separate threads (JAX releases the GIL while a program runs)
  gives the same results and fills the cores one small toy program leaves
  idle. Multi-process runs keep one at a time: their collectives must be
  issued in the same order by every process.
  """
  if workers <= 1 or jax.process_count() > 1:
    return [fn(*args) for args in zip(*args_lists)]
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    return list(pool.map(fn, *args_lists))


def _run_sweep(config, workdir):
  stages = {stage for loss in config.sweep.losses for stage in loss.split(">")}
  for stage in sorted(stages):
    common.check_loss(stage, where="config.sweep.losses")
  if config.validation not in _VALIDATION_LOSSES:
    raise mimjax.InputError(
        f"unknown config.validation {config.validation!r}; use one of "
        f"{_VALIDATION_LOSSES}"
    )
  start = time.perf_counter()
  mesh = training.make_mesh()
  training.check_divisible(config.train.batch_size, mesh)
  source = data.make_source(**config.data, batch_size=config.train.batch_size)
  grid = [
      (loss, hidden, latent_dim)
      for loss in config.sweep.losses
      for hidden in config.sweep.hidden
      for latent_dim in config.sweep.latent_dim
  ]
  points = [run_name(*point) for point in grid]

  def train_point(point, name):
    logging.info("=== %s (%d seeds)", name, config.num_seeds)
    return _train_and_evaluate(
        config, source, *point, os.path.join(workdir, "runs", name), mesh
    )

  point_results = _map_points(
      train_point, grid, points, workers=config.sweep_workers
  )
  runs = [
      dict(loss=loss, hidden=hidden, latent_dim=latent_dim, seed=i,
           metrics=metrics)
      for (loss, hidden, latent_dim), result in zip(grid, point_results)
      for i, metrics in enumerate(result["per_seed"])
  ]
  results = {
      "config": config.to_dict(),
      "runs": runs,
      "wall_time_s": time.perf_counter() - start,
      "devices": [str(d) for d in jax.devices()],
      "provenance": common.provenance(config),
  }
  if jax.process_index() == 0:
    _write_summary(runs, os.path.join(workdir, "summary.md"))
    _make_plots(config, workdir, source, points, runs)
  # Last: a results.json marks the run finished.
  return common.write_results(workdir, results)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  workdir = common.setup()
  config = copy.deepcopy(common.CONFIG.value)
  results = run(config, workdir, overwrite=common.OVERWRITE.value)
  logging.info("Done in %.0f s; see %s", results["wall_time_s"],
               os.path.join(workdir, "summary.md"))


if __name__ == "__main__":
  common.run_main(main)
