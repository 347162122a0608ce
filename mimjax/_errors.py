"""The error type for a user's bad input (files, fields, flags, workdirs).

Entrypoints print an `InputError` as one line, without a traceback (see
`experiments.common.run_main`): its message names the file, field or flag,
says what is wrong with it and what to do.
"""


class InputError(ValueError):
  """Bad input from the user: one line naming it, the problem and the fix."""


class MissingInputError(InputError, FileNotFoundError):
  """A file or folder the run needs does not exist."""


class CheckpointError(RuntimeError):
  """A checkpoint exists but cannot be read into the expected state (e.g.
  written by another model or mimjax version)."""


class TimeBudgetReached(Exception):
  """A run stopped cleanly at an epoch boundary because its time budget
  (`mimjax.training.set_deadline`) would run out during the next epoch;
  its checkpoint is saved and the same command resumes it."""
