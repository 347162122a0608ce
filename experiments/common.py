"""Set-up shared by every experiment entrypoint (flags, logging, devices)."""

import logging as std_logging
import os

from absl import flags
from absl import logging
import jax
from ml_collections import config_flags

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
