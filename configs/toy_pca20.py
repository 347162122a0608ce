"""PCA-20 of an image dataset (MNIST here), latent 2..20 (Fig. 4.2).

  python -m experiments.toy_mim --config=configs/toy_pca20.py \
      --config.data.dir=/path/to/folder/with/mnist.npz

The thesis used Fashion-MNIST (set --config.data.dataset=fashion_mnist with
fashion_mnist.npz or its IDX files in data.dir). PCA is fitted on the 50k
training split only; the last 10k training images are the validation split.
Expected: MIM has higher MI and k-NN accuracy, VAE the better NLL.
Validation uses the training loss; `--config.validation=encoder_half` (MIM's
encoder half alone, less noisy but rising while MIM's loss falls) is shown
beside it in BUILD_NOTES, "Fig. 4.2 to early stopping".

Arguments: "small" (5 seeds, latent 2, 6, 10, 14, 20), "quick".
"""

from configs import toy_common


def get_config(arg=""):
  config = toy_common.base()
  config.data.name = "pca"
  config.data.dir = "../shared/data"
  return toy_common.latent_sweep(config, arg)
