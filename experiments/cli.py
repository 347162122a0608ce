"""The command line of every entrypoint: shared flags, flag parsing with
one-line errors, and --help answered before the heavy imports.

Light on purpose (absl, ml_collections and `mimjax`'s error types only): an
entrypoint imports this first, defines its own flags, calls
`exit_on_help()` and only then imports jax and the rest, so `--help` costs
no jax, flax or scikit-learn import.
"""

import re
import sys
import traceback

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

import mimjax

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
    "Multi-process run: call jax.distributed.initialize() first. On SLURM "
    "and Cloud TPU pods the cluster environment supplies the coordinator "
    "and process ids; elsewhere give --coordinator_address, "
    "--num_processes and --process_id (or JAX_COORDINATOR_ADDRESS, "
    "JAX_NUM_PROCESSES, JAX_PROCESS_ID).",
)
TIME_BUDGET = flags.DEFINE_float(
    "time_budget", None,
    "Minutes this job may run. Before an epoch that would end after that, "
    "the run saves its checkpoint and exits with status 3 (run the same "
    "command to resume; the results are those of an uninterrupted run). "
    "For cluster jobs with a wall-time limit.",
)
COORDINATOR_ADDRESS = flags.DEFINE_string(
    "coordinator_address", None,
    "host:port of process 0's coordinator (implies --distributed).",
)
NUM_PROCESSES = flags.DEFINE_integer(
    "num_processes", None, "Processes in the run (with --distributed)."
)
PROCESS_ID = flags.DEFINE_integer(
    "process_id", None, "This process's index, 0..num_processes-1."
)

OVERWRITE = flags.DEFINE_bool(
    "overwrite",
    False,
    "Start afresh in a workdir that holds a run of a different config: its "
    "files are moved to <workdir>.replaced-<time> (nothing is deleted). "
    "Without it, such a run stops with the differing fields named.",
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


# Exit status of a run stopped by --time_budget (not finished, resumable).
TIME_BUDGET_EXIT = 3
_HELP = ("--help", "-h", "--helpshort", "--helpfull", "--helpxml", "-?")


def _fail(message):
  """Prints `error: <message>` as one line to stderr and exits 1."""
  print("error: " + " ".join(str(message).split()), file=sys.stderr)
  sys.exit(1)


def _config_flag(argv, field):
  """The `--config.<...>` argument of `argv` that names `field`."""
  for arg in argv:
    path = arg.split("=", 1)[0]
    if path.startswith("--config.") and field in path.split("."):
      return arg
  return "--config"


def _check_config_loaded():
  """ml_collections defers a config file's load error to its first use;
  report it now, as one line naming the file."""
  flag = flags.FLAGS[CONFIG.name]
  if not flag.present:
    return
  try:
    flag.value.keys()
  except OSError as e:
    cause = [line.strip() for line in str(e).splitlines() if line.strip()]
    _fail(
        f"--config={config_flags.get_config_filename(flag)}: cannot load "
        f"the config file ({cause[-1]}); the config files are in configs/ "
        "(run from the repository root)"
    )


def _parse_flags(argv):
  """absl's flag parsing, with one-line errors and exit 0 on --help.

  A config override naming an unknown field, an unloadable config file or
  a bad config argument becomes one line naming the flag (with "did you
  mean" for a typo) instead of a traceback.
  """
  try:
    argv = flags.FLAGS(argv)
    _check_config_loaded()
    return argv
  except SystemExit:
    if any(a.split("=")[0] in _HELP for a in argv[1:]):
      sys.exit(0)  # absl exits 1 after printing the help
    raise
  except (AttributeError, KeyError) as e:  # --config.<unknown field>
    text = str(e).replace("\\n", "\n").replace("\\'", "'")
    field = re.search(r"'([A-Za-z0-9_]+)'", text)
    field = field.group(1) if field else text
    guess = re.search(r'Did you mean "([^"]+)"', text)
    _fail(
        f"{_config_flag(argv, field)}: the config has no field {field!r}"
        + (f" (did you mean {guess.group(1)!r}?)" if guess else "")
        + "; the config file lists its fields"
    )
  except (flags.Error, OSError, ValueError) as e:
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    flag = next((line for line in lines if line.startswith("flag --")), "")
    cause = lines[-1] if lines else ""
    if flag:
      cause = cause.removeprefix(flag.split(": ")[0] + ": ")
    cause = re.sub(r"^[A-Za-z]*(Error|Exception): ", "", cause)
    name = flag.removeprefix("flag ").split(": ")[0]
    _fail(f"{name}: {cause}" if name else cause)


def run_main(main):
  """`app.run(main)` for the entrypoints, with one-line user errors.

  A user's mistake (`mimjax.InputError`, `mimjax.CheckpointError`,
  `FloatingPointError`), in the flags or during the run, prints one line
  `error: ...` and exits 1; `--verbosity=1` shows the traceback too. A run
  stopped by `--time_budget` prints one line `stopped: ...` and exits 3.
  """

  # Errors that are the user's to fix, printed as one line: bad input, an
  # unreadable checkpoint, a loss that turned non-finite.
  user_errors = (mimjax.InputError, mimjax.CheckpointError,
                 FloatingPointError)

  def wrapped(argv):
    try:
      return main(argv)
    except mimjax.TimeBudgetReached as e:
      print("stopped: " + " ".join(str(e).split()), file=sys.stderr)
      sys.exit(TIME_BUDGET_EXIT)
    except user_errors as e:
      if logging.get_verbosity() >= logging.DEBUG:
        traceback.print_exc()
      _fail(e)

  app.run(wrapped, flags_parser=_parse_flags)


def exit_on_help(module_name, argv=None):
  """Prints the usage and exits 0 if module `module_name` is `__main__`
  and `argv` (default `sys.argv`) asks for help; returns otherwise.

  An entrypoint calls it with its `__name__` after defining its own flags
  and before its heavy imports: the help lists the flags defined so far.
  Imported by another module (a benchmark, a test), it does nothing.
  """
  argv = sys.argv if argv is None else argv
  if module_name != "__main__":
    return
  if any(a.split("=")[0] in _HELP for a in argv[1:]):
    app.define_help_flags()
    _parse_flags(argv)  # prints the usage; exits 0
