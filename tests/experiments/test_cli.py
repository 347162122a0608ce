"""`--help` of every entrypoint: exit 0, every flag listed, and no jax,
flax or scikit-learn import (the help is answered before them)."""

import os
import subprocess
import sys

import pytest

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
_PROBE = """
import runpy, sys
sys.argv = ["{module}", "--help"]
try:
  runpy.run_module("{module}", run_name="__main__")
except SystemExit as e:
  code = e.code
heavy = sorted(m for m in ("jax", "flax", "sklearn", "matplotlib")
               if m in sys.modules)
print("exit", code, "heavy", ",".join(heavy) or "none", file=sys.stderr)
"""


@pytest.mark.parametrize(
    "module,own_flag",
    [
        ("experiments.toy_mim", "--config"),
        ("experiments.image_mim", "--config"),
        ("experiments.sentence_mim", "--config"),
        ("experiments.tzk", "--config"),
        ("experiments.image_table", "--seeds"),
        ("experiments.sentence_table", "--latent_dims"),
    ],
)
def test_help_exits_zero_before_the_heavy_imports(module, own_flag):
  proc = subprocess.run(
      [sys.executable, "-c", _PROBE.format(module=module)],
      cwd=_REPO, capture_output=True, text=True, timeout=120,
  )
  assert proc.stderr.strip().splitlines()[-1] == "exit 0 heavy none", (
      proc.stderr
  )
  for flag in (own_flag, "--workdir", "--[no]distributed"):
    assert flag in proc.stdout, (flag, proc.stdout)


_SETUP_PROBE = """
import sys
from absl import flags
from experiments import common
flags.FLAGS(["probe"] + sys.argv[1:])
print("workdir", common.setup(default_workdir={default!r}))
"""


@pytest.mark.slow  # runs entrypoints
@pytest.mark.parametrize(
    "args,default,expected",
    [
        (["--workdir={tmp}/given"], "{tmp}/table", "{tmp}/given"),
        ([], "{tmp}/table", "{tmp}/table"),
        (["--workdir={tmp}/given"], None, "error"),
    ],
)
def test_setup_workdir_of_tables_and_single_runs(tmp_path, args, default,
                                                 expected):
  """A table (its own default workdir) takes --workdir without --config; a
  single run without --config gets the one-line error."""
  fill = lambda s: s.format(tmp=tmp_path)
  default = None if default is None else fill(default)
  proc = subprocess.run(
      [sys.executable, "-c", _SETUP_PROBE.format(default=default)]
      + [fill(a) for a in args],
      cwd=_REPO, capture_output=True, text=True, timeout=120,
  )
  if expected.startswith("error"):
    assert proc.returncode != 0 and "--config is required" in proc.stderr, (
        proc.stderr)
  else:
    assert proc.stdout.strip().splitlines()[-1] == "workdir " + fill(expected), (
        proc.stdout, proc.stderr)
