"""PCA-20 of an image dataset (MNIST here), latent 2..20 (Fig. 4.2).

  python -m experiments.toy_mim --config=configs/toy_pca20.py \
      --config.data.dir=/path/to/folder/with/mnist.npz

The thesis used Fashion-MNIST (set --config.data.dataset=fashion_mnist with
fashion_mnist.npz or its IDX files in data.dir). PCA is fitted on the 50k
training split only; the last 10k training images are the validation split.
Expected: MIM has higher MI and k-NN accuracy, VAE the better NLL.
Early stopping and model selection use the encoder half of the loss
(`config.validation`).

Arguments: "small" (5 seeds, latent 2, 6, 10, 14, 20), "quick".
"""

from configs import toy_common


def get_config(arg=""):
  config = toy_common.base()
  config.data.name = "pca"
  config.data.dir = "../shared/data"
  # MIM's full validation loss on PCA-20 moves by 1.6-8000 nats from one
  # noise key to the next at a fixed model, its encoder half by 0.05-13
  # (BUILD_NOTES, "Early stopping"): select and stop on the encoder half.
  config.validation = "encoder_half"
  return toy_common.latent_sweep(config, arg)
