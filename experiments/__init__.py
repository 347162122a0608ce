"""absl entrypoints, one per chapter (`python -m experiments.<name> --help`).

Importing the package chooses XLA:CPU's multi-threaded convolutions before
JAX starts (`xla_cpu.use_multithreaded_convolutions`); a
`--xla_cpu_experimental_ynn_fusion_type` in XLA_FLAGS overrides it.
"""

from mimjax import xla_cpu

xla_cpu.use_multithreaded_convolutions()
