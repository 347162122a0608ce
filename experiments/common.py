"""What every experiment entrypoint shares: flags, logging, devices, and the
train-one-model / write-results scaffolding of a run."""

import json
import logging as std_logging
import os
import time

from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

from experiments import cli
import mimjax
from mimjax import distributions
from mimjax import files
from mimjax import evaluation
from mimjax import objectives
from mimjax import plotting
from mimjax import training

# The shared flags and the command-line scaffolding live in `cli` (light, so
# that --help answers before the heavy imports); re-exported here.
WORKDIR = cli.WORKDIR
DISTRIBUTED = cli.DISTRIBUTED
OVERWRITE = cli.OVERWRITE
CONFIG = cli.CONFIG
run_main = cli.run_main


# `config.latent_anchor.kind` values that sample the model's learned p(z)
# (objectives.make_loss_fn): pathwise (the authors' image code) or detached.
LEARNED_ANCHORS = {
    "learned": objectives.MODEL_PRIOR,
    "learned_stop_gradient": objectives.MODEL_PRIOR_STOP_GRADIENT,
}


def check_loss(name, where="config.loss"):
  """One line for a loss name that is not in `objectives.LOSSES`."""
  if name not in objectives.LOSSES:
    raise mimjax.InputError(
        f"unknown loss {name!r} in {where}; use one of: "
        f"{objectives.loss_names()}"
    )


def latent_anchor(kind, latent_dim):
  """P(z) for MIM's decoder half: "standard_normal" (fixed N(0, I), the
  thesis's anchor) or a key of `LEARNED_ANCHORS`."""
  if kind == "standard_normal":
    return distributions.standard_normal(latent_dim)
  if kind in LEARNED_ANCHORS:
    return LEARNED_ANCHORS[kind]
  raise mimjax.InputError(
      f"unknown config.latent_anchor.kind {kind!r}; use 'standard_normal' "
      f"or one of {tuple(LEARNED_ANCHORS)}"
  )


class _DropOrbaxInfo(std_logging.Filter):
  """Orbax logs every save at INFO; keep its warnings and errors only."""

  def filter(self, record):
    return record.levelno >= std_logging.WARNING or "orbax" not in (
        record.pathname or ""
    )


def initialize_distributed():
  """`jax.distributed.initialize` as the multi-process flags ask (see
  `cli.DISTRIBUTED`): each of coordinator address, process count and id
  from its flag, else from `JAX_COORDINATOR_ADDRESS` / `JAX_NUM_PROCESSES`
  / `JAX_PROCESS_ID`, else auto-detected (SLURM, Cloud TPU). CPU
  collectives across processes use gloo."""
  args = {}
  for name, flag, cast in (("coordinator_address", cli.COORDINATOR_ADDRESS,
                            str),
                           ("num_processes", cli.NUM_PROCESSES, int),
                           ("process_id", cli.PROCESS_ID, int)):
    value = flag.value
    if value is None and os.environ.get(f"JAX_{name.upper()}"):
      value = cast(os.environ[f"JAX_{name.upper()}"])
    if value is not None:
      args[name] = value
  if not (DISTRIBUTED.value or "coordinator_address" in args):
    return
  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  jax.distributed.initialize(**args)


def setup(default_workdir=None):
  """Initialises JAX (multi-host if asked), logging; returns the workdir.

  Args:
    default_workdir: workdir when --workdir is not given; None derives
      ./workdirs/<config file name>[_<config arg>] from --config.
  """
  initialize_distributed()
  if cli.TIME_BUDGET.value is not None:
    training.set_deadline(time.time() + 60.0 * cli.TIME_BUDGET.value)
  std_logging.getLogger("absl").addFilter(_DropOrbaxInfo())
  logging.get_absl_handler().addFilter(_DropOrbaxInfo())
  logging.info(
      "JAX %s, process %d/%d, %d devices: %s",
      jax.__version__,
      jax.process_index(),
      jax.process_count(),
      jax.device_count(),
      jax.devices(),
  )
  workdir = WORKDIR.value
  if default_workdir is not None:  # a table: runs its own configs
    workdir = workdir or default_workdir
  elif CONFIG.value is None:
    raise mimjax.InputError(
        "--config is required, e.g. --config=configs/toy_gmm2d.py:quick "
        "(the files in configs/ list their arguments in their docstrings)"
    )
  elif workdir is None:
    filename = config_flags.get_config_filename(flags.FLAGS[CONFIG.name])
    name, arg = filename.partition(":")[::2]
    name = os.path.splitext(os.path.basename(name))[0]
    workdir = os.path.join("workdirs", name + (f"_{arg}" if arg else ""))
  os.makedirs(workdir, exist_ok=True)
  logging.info("Workdir: %s", os.path.abspath(workdir))
  return workdir


def finished_results(workdir, config, *, overwrite=False, extendable=(),
                     ignore=()):
  """The results.json of a finished run of `config` in `workdir`, or None.

  Reads only (a finished run in a read-only folder reports its results). A
  torn results.json (a run killed while writing it, before atomic writes)
  is None: the run is evaluated again from its final checkpoint.

  Args:
    workdir: the run folder.
    config: the run's config.
    overwrite: ignore the finished run (None).
    extendable: config sections whose change means "run again" rather than
      an error (e.g. a sweep that gained points reuses the finished ones).
    ignore: fields that may differ (beyond `training.SAFE_FIELDS`).

  Raises:
    InputError: results.json was written by a run of a different config
      (see `training.config_diff`), unless `overwrite`.
  """
  path = os.path.join(workdir, "results.json")
  if overwrite or not os.path.exists(path):
    return None
  results = files.read_json(path)
  if results is None:
    logging.warning("%s is torn or unreadable; evaluating again.", path)
    return None
  if "config" not in results:
    return results
  safe = training.SAFE_FIELDS + tuple(ignore)
  diff = training.config_diff(results["config"], config, safe_fields=safe)
  if diff and all(f.split(".")[0] in extendable for f, _, _ in diff):
    return None
  training.check_same_config(
      workdir, results["config"], config, what="finished results",
      safe_fields=safe,
  )
  return results


def run_single_model(config, workdir, train_and_evaluate, *, overwrite=False):
  """`train_and_evaluate(config, workdir)` once per workdir; returns its
  results dict.

  A finished run of the same config is read back; one of a different
  config is an error unless `overwrite` (see `training.claim_workdir`).
  """
  finished = finished_results(workdir, config, overwrite=overwrite)
  if finished is not None:
    return finished
  with training.claim_workdir(workdir, config, overwrite=overwrite):
    return train_and_evaluate(config, workdir)


def finished_workflow(workdir, config, *, overwrite=False):
  """The results.json of a finished multi-phase run, or None.

  A workflow's summary results.json (e.g. TzK's two phases) holds no config
  of its own: it is checked against the config recorded in the workdir's
  run.json. Reads only, so a finished run in a read-only folder reports its
  results. None when `overwrite`, or either file is absent or torn.

  Raises:
    InputError: run.json records a different config.
  """
  if overwrite:
    return None
  results = files.read_json(os.path.join(workdir, "results.json"))
  record = files.read_json(os.path.join(workdir, training.RUN_FILE))
  if results is None or record is None:
    return None
  training.check_same_config(
      workdir, record["checked_config"], config, what="finished results"
  )
  return results


# `config.train` fields that an experiment reads itself, not `train` (TzK's
# conditional phase cap and data-dependent-init batch).
_EXPERIMENT_TRAIN_FIELDS = ("conditional_max_epochs", "init_batch")


def optimizer(config, steps_per_epoch):
  """`training.make_optimizer` of the config's `optim` section."""
  return training.make_optimizer(
      **config.optim, steps_per_epoch=steps_per_epoch
  )


def restore_parameters(config, model, source, rundir):
  """The parameters of the finished run of `config` in `rundir`, read-only.

  Returns:
    A `TrainState` shaped like the run's, holding the newest checkpoint's
    "params", "best_params" and "best_epoch" (`Checkpointer.
    restore_parameters`): a state to evaluate (`training.selected_params`),
    not to resume.

  Raises:
    mimjax.MissingInputError: `rundir/checkpoints` holds no checkpoint.
  """
  like = training.init_state(
      model, optimizer(config, source.steps_per_epoch),
      jax.numpy.zeros((8, *source.x_shape)), seed=config.seed,
      num_seeds=config.num_seeds,
  )
  checkpointer = training.Checkpointer(os.path.join(rundir, "checkpoints"))
  restored = checkpointer.restore_parameters(like)
  checkpointer.close()
  if restored is None:
    raise mimjax.MissingInputError(f"{rundir}/checkpoints holds no checkpoint")
  return like.replace(**restored)


def train(config, **kwargs):
  """`training.train` with the settings, optimiser, seeds and collapse rule
  of `config` (`train`, `optim`, `seed`, `num_seeds` and, when `kwargs`
  has a `monitor_fn`, `monitor`).

  Args:
    config: the experiment's ConfigDict.
    **kwargs: the other arguments of `training.train` (`model`, `loss_fn`,
      `source`, `workdir`, `mesh`, ...).

  Returns:
    The final `TrainState`.
  """
  settings = training.TrainSettings(**{
      k: v for k, v in config.train.items()
      if k not in _EXPERIMENT_TRAIN_FIELDS
  })
  if kwargs.get("monitor_fn") is not None:
    kwargs["collapse_rule"] = training.CollapseRule(**config.monitor)
  return training.train(
      settings=settings,
      optimizer=optimizer(config, kwargs["source"].steps_per_epoch),
      seed=config.seed,
      num_seeds=config.num_seeds,
      **kwargs,
  )


def train_single_model(config, workdir, *, model, make_loss_fn, source,
                       make_epoch_eval_fn=None):
  """Trains `model` (train mode) on all devices; validates it in eval mode.

  Args:
    config: the experiment's ConfigDict (`num_seeds` = 1).
    workdir: run folder (checkpoints, metrics; resumed if present).
    model: Flax module with a `train` attribute.
    make_loss_fn: `(config, model) -> loss_fn`.
    source: device data source.
    make_epoch_eval_fn: optional `eval_model -> epoch_eval_fn` (see
      `training.train`): per-epoch validation metrics of the eval-mode
      model.

  Returns:
    (final `TrainState`, the eval-mode model, the early-stopped parameters
    of seed 0, training seconds over every piece of a resumed run
    (`training.training_seconds`)). The posterior-collapse monitor
    (`evaluation.make_monitor_fn`) runs on the eval-mode model after every
    validation pass.
  """
  mesh = training.make_mesh()
  training.check_divisible(config.train.batch_size, mesh)
  eval_model = model.clone(train=False)  # dropout off, BatchNorm averages
  state = train(
      config,
      model=model,
      loss_fn=make_loss_fn(config, model),
      eval_loss_fn=make_loss_fn(config, eval_model),
      source=source,
      workdir=workdir,
      mesh=mesh,
      monitor_fn=evaluation.make_monitor_fn(eval_model),
      epoch_eval_fn=(
          make_epoch_eval_fn(eval_model) if make_epoch_eval_fn else None
      ),
  )
  params = jax.tree.map(lambda a: a[0], training.selected_params(state))
  return state, eval_model, params, training.training_seconds(workdir)


def provenance(config):
  """What produced a run's results (`training.run_record` less the config,
  which results.json holds at its top level)."""
  record = training.run_record(config)
  del record["config"]
  return record


def run_record(config, state, source, *, start, train_time, unit, **budget):
  """The bookkeeping half of results.json: budget, times, devices, config.

  Args:
    config: the run's ConfigDict.
    state: its final `TrainState`.
    source: its data source (steps per epoch).
    start: `time.perf_counter()` at the start of the run.
    train_time: training seconds.
    unit: what a training example is ("images", "sentences").
    **budget: extra budget entries.
  """
  steps = int(state.epoch) * source.steps_per_epoch
  return dict(
      best_epoch=int(state.best_epoch[0]),
      # When and why training ended, and the collapse alarm at that point.
      **training.seed_outcome(state, 0),
      budget=dict(
          epochs=int(state.epoch),
          steps=steps,
          steps_per_epoch=source.steps_per_epoch,
          **{f"train_{unit}": steps * config.train.batch_size},
          **budget,
      ),
      train_time_s=train_time,
      wall_time_s=time.perf_counter() - start,
      devices=[str(d) for d in jax.devices()],
      provenance=provenance(config),
      config=config.to_dict(),
  )


def write_results(workdir, results):
  """Writes results.json atomically (process 0); returns what a re-run
  reads back."""
  results = json.loads(json.dumps(results, default=list))
  if jax.process_index() == 0:
    files.write_json(os.path.join(workdir, "results.json"), results)
  return results


def plot_validation_curve(config, workdir, records, label=None):
  """plots/val_loss.png from the run's `training.read_metrics` records
  (legend: `label`, by default the config's loss)."""
  plotting.training_curves(
      {label or config.loss: [(r["epoch"], r["val/loss"]) for r in records]},
      os.path.join(workdir, "plots", "val_loss.png"),
  )
