"""mimjax: the Mutual Information Machine in JAX.

Subpackages, in import order (each imports only the ones before it):
losses <- distributions <- models <- objectives <- training.
`mimjax.losses` depends on jax alone, so other codebases can import it
without flax, optax or orbax.
"""

__version__ = "0.1.0"
