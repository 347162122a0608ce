r"""deterministic AE (512), PTB: thesis Table 7.7 / reference BLEU 0.5745.

  python -m experiments.sentence_mim --config=configs/ptb_ae.py[:small|quick][,z<dim>] \
      --config.data.dir=/folder/with/ptb.train.txt.gz

Arguments: see configs/sentence_common.py.
"""

from configs import sentence_common


def get_config(arg=""):
  return sentence_common.base("ptb", loss="ae", latent_dim=512, arg=arg)
