r"""sVAE (16), PTB: thesis Table 7.2 PPL <= 148.18, BLEU 0.124.

  python -m experiments.sentence_mim --config=configs/ptb_svae.py[:small|quick][,z<dim>] \
      --config.data.dir=/folder/with/ptb.train.txt.gz

Arguments: see configs/sentence_common.py.
"""

from configs import sentence_common


def get_config(arg=""):
  return sentence_common.base("ptb", loss="vae", latent_dim=16, arg=arg)
