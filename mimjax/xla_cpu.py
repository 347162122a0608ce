"""XLA:CPU's multi-threaded convolutions, chosen before JAX starts.

jaxlib 0.10's XLA:CPU runs each convolution through YNNPACK on one thread;
with YNNPACK's convolution fusion turned off it runs them in Eigen on every
core of its thread pool. On the 2-core development VM that made the convHVAE
(VampPrior) IS-NLL 2.2x faster and its training step 1.1-1.2x (BUILD_NOTES,
"Session 24"). The choice is an `XLA_FLAGS` entry, read once when JAX creates
its CPU backend, so it must be made before the first computation. Other
jaxlib versions keep XLA's default: XLA aborts on a flag it does not know.
This module imports no JAX, so entrypoints can call it before `--help`.
"""

import importlib.metadata
import os

EIGEN_CONVOLUTIONS = (
    "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"
)
# jaxlib (major, minor) releases whose XLA:CPU is known to take the flag.
TESTED_JAXLIB = ((0, 10),)


def use_multithreaded_convolutions(environ=None, jaxlib_version=None):
  """Adds `EIGEN_CONVOLUTIONS` to `XLA_FLAGS` unless the user already chose
  YNNPACK's fusions there or jaxlib is not a tested release.

  Call it before JAX's first computation (the entrypoints do, on import);
  later, JAX's backend exists and the flag changes nothing.

  Args:
    environ: the environment to edit (default `os.environ`).
    jaxlib_version: version string (default the installed jaxlib's).

  Returns:
    True if the flag was added.
  """
  environ = os.environ if environ is None else environ
  version = jaxlib_version or importlib.metadata.version("jaxlib")
  flags = environ.get("XLA_FLAGS", "")
  major_minor = tuple(int(part) for part in version.split(".")[:2])
  if "ynn_fusion_type" in flags or major_minor not in TESTED_JAXLIB:
    return False
  environ["XLA_FLAGS"] = f"{flags} {EIGEN_CONVOLUTIONS}".strip()
  return True
