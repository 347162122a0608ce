"""Test setup: 4 simulated CPU devices for the data-parallel tests.

The flag must be set before JAX creates its CPU backend, i.e. before any test
module touches a device; conftest.py is imported first.
"""

import jax

jax.config.update("jax_num_cpu_devices", 4)
jax.config.update("jax_platforms", "cpu")

