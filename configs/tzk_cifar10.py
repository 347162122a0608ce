r"""TzK on CIFAR10 (Table 8.2: t-flow 3.54 -> dataset conditional 2.99).

  python -m experiments.tzk --config=configs/tzk_cifar10.py[:small|quick] \
      --config.data.dir=/folder/with/cifar10.npz-or-cifar-10-batches-py

A template for a GPU: the t-flow trains on CIFAR10 alone, then, frozen, a
conditional for CIFAR10 against MNIST negatives (the "one bit of
supervision" experiment of Sec. 8.4.4), with MNIST repeated into RGB.
Arguments: see configs/tzk_common.py.
"""

from configs import tzk_common


def get_config(arg=""):
  config = tzk_common.base(("cifar10", "mnist"), ("cifar10", "mnist"),
                           channels=3, arg=arg)
  # The flow phase sees CIFAR10 only (Fig. 8.8).
  config.flow_train_filter = "cifar10"
  return config
