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

from mimjax import evaluation
from mimjax import plotting
from mimjax import training

WORKDIR = flags.DEFINE_string(
    "workdir",
    None,
    "Folder for checkpoints, metrics, results.json and plots. Defaults to "
    "./workdirs/<config file name>[_<config arg>]. An existing workdir is "
    "resumed from its last checkpoint.",
)
DISTRIBUTED = flags.DEFINE_bool(
    "distributed",
    False,
    "Call jax.distributed.initialize() first (multi-host runs; the cluster "
    "environment supplies the coordinator address and process ids).",
)


# --config=configs/<file>.py[:arg] plus --config.<field>=<value>; defined
# once here so that several entrypoints can be imported together.
CONFIG = config_flags.DEFINE_config_file(
    "config",
    None,
    "Path to a config file in configs/, optionally followed by ':<arg>' "
    "(e.g. ':quick'; see the config's docstring). Any field can be "
    "overridden with --config.<field>=<value>; unknown fields are an error.",
    lock_config=True,
)


class _DropOrbaxInfo(std_logging.Filter):
  """Orbax logs every save at INFO; keep its warnings and errors only."""

  def filter(self, record):
    return record.levelno >= std_logging.WARNING or "orbax" not in (
        record.pathname or ""
    )


def setup(default_workdir=None):
  """Initialises JAX (multi-host if asked), logging; returns the workdir.

  Args:
    default_workdir: workdir when --workdir is not given; None derives
      ./workdirs/<config file name>[_<config arg>] from --config.
  """
  if DISTRIBUTED.value:
    jax.distributed.initialize()
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
  if workdir is None and default_workdir:
    workdir = default_workdir
  elif workdir is None:
    filename = config_flags.get_config_filename(flags.FLAGS[CONFIG.name])
    name, arg = filename.partition(":")[::2]
    name = os.path.splitext(os.path.basename(name))[0]
    workdir = os.path.join("workdirs", name + (f"_{arg}" if arg else ""))
  os.makedirs(workdir, exist_ok=True)
  logging.info("Workdir: %s", os.path.abspath(workdir))
  return workdir


def finished_results(workdir):
  """The results.json of a finished run in `workdir`, or None."""
  path = os.path.join(workdir, "results.json")
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def train_single_model(config, workdir, *, model, make_loss_fn, source):
  """Trains `model` (train mode) on all devices; validates it in eval mode.

  Args:
    config: the experiment's ConfigDict (`num_seeds` = 1).
    workdir: run folder (checkpoints, metrics; resumed if present).
    model: Flax module with a `train` attribute.
    make_loss_fn: `(config, model) -> loss_fn`.
    source: device data source.

  Returns:
    (final `TrainState`, the eval-mode model, the early-stopped parameters
    of seed 0, training seconds). The posterior-collapse monitor
    (`evaluation.make_monitor_fn`) runs on the eval-mode model after every
    validation pass.
  """
  start = time.perf_counter()
  mesh = training.make_mesh()
  training.check_divisible(config.train.batch_size, mesh)
  eval_model = model.clone(train=False)  # dropout off, BatchNorm averages
  state = training.train(
      model=model,
      loss_fn=make_loss_fn(config, model),
      eval_loss_fn=make_loss_fn(config, eval_model),
      source=source,
      config=config,
      workdir=workdir,
      mesh=mesh,
      monitor_fn=evaluation.make_monitor_fn(eval_model),
  )
  params = jax.tree.map(lambda a: a[0], training.selected_params(state))
  return state, eval_model, params, time.perf_counter() - start


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
      config=config.to_dict(),
  )


def write_results(workdir, results):
  """Writes results.json (process 0); returns what a re-run reads back."""
  results = json.loads(json.dumps(results, default=list))
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "results.json"), "w") as f:
      json.dump(results, f, indent=1)
  return results


def plot_validation_curve(config, workdir, label=None):
  """plots/val_loss.png from the run's metrics.jsonl (legend: `label`, by
  default the config's loss)."""
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f]
  plotting.training_curves(
      {label or config.loss: [(r["epoch"], r["val/loss"]) for r in records]},
      os.path.join(workdir, "plots", "val_loss.png"),
  )
