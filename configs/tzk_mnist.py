r"""TzK on MNIST padded to 32x32 (Table 8.2: t-flow 1.11 -> conditional 1.02).

  python -m experiments.tzk --config=configs/tzk_mnist.py[:small|quick]

Trains the unconditional t-flow on MNIST, freezes it, then learns a
class-conditional knowledge type for the digit 3 ("mnist:3": e = 1 for 3s,
e = 0 for the other digits) and reports test bits/dim of the 3s under the
flow and under the conditional. Arguments: see configs/tzk_common.py; e.g.
`--config.data.knowledge="('auto',)" --config.data.per_class=True` learns one
type per digit.
"""

from configs import tzk_common


def get_config(arg=""):
  return tzk_common.base(("mnist",), ("mnist:3",), arg=arg)
