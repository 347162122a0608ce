r"""TzK on several datasets at once (Sec. 8.4.4 "multi-data", Figs 8.6, 8.9).

  python -m experiments.tzk --config=configs/tzk_multi.py[:small|quick] \
      --config.data.dir=/folder/with/all/the/files

The t-flow trains unsupervised on MNIST, Fashion-MNIST and CIFAR10 together
(RGB; gray images repeated into R, G, B); then, frozen, one knowledge type
per dataset is added as its label first appears (dataset identity, the
thesis's main supervision). The thesis's six datasets include Omniglot,
SVHN, ImageNet and CelebA, which mimjax does not load. Arguments: see
configs/tzk_common.py.
"""

from configs import tzk_common


def get_config(arg=""):
  return tzk_common.base(("mnist", "fashion_mnist", "cifar10"), ("auto",),
                         channels=3, arg=arg)
