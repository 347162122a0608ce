"""mimjax: the Mutual Information Machine in JAX.

Subpackages and the ones each may import (`LAYERS`; `tests/test_layering.py`
enforces it, and that only public names cross a package boundary): the core
chain losses <- distributions <- models <- objectives <- training, with the
side packages data, metrics, evaluation and plotting. Every subpackage may
use the top-level modules of `SHARED`. `mimjax.losses` depends on jax
alone, so other codebases can import it without flax, optax or orbax.

`InputError` (and its `MissingInputError`) is what every layer raises for a
user's bad input, `CheckpointError` a checkpoint that cannot be restored;
entrypoints print either as one line. `mimjax.xla_cpu` (no JAX import)
chooses XLA:CPU's multi-threaded convolutions before JAX starts.
"""

from mimjax._errors import CheckpointError
from mimjax._errors import InputError
from mimjax._errors import MissingInputError
from mimjax._errors import TimeBudgetReached

__version__ = "0.1.0"
LAYERS = {
    "losses": (),
    "distributions": (),
    "metrics": (),
    "data": (),
    "models": ("distributions", "data"),
    "objectives": ("losses", "distributions", "metrics", "data"),
    "training": ("losses",),
    "evaluation": ("losses", "metrics", "data", "models", "objectives"),
    "plotting": (),
}
SHARED = ("_errors", "_checks", "_progress", "files")
__all__ = ("CheckpointError", "InputError", "MissingInputError", "LAYERS",
           "SHARED", "TimeBudgetReached")
