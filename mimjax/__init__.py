"""mimjax: the Mutual Information Machine in JAX.

Subpackages, in import order (each imports only the ones before it):
losses <- distributions <- models <- objectives <- training.
`mimjax.losses` depends on jax alone, so other codebases can import it
without flax, optax or orbax.

`InputError` (and its `MissingInputError`) is what every layer raises for a
user's bad input; entrypoints print it as one line.
"""

from mimjax._errors import InputError
from mimjax._errors import MissingInputError

__version__ = "0.1.0"
__all__ = ("InputError", "MissingInputError")
