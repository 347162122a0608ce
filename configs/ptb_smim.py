r"""sentenceMIM (512), PTB: thesis Table 7.2 PPL <= 19.53, BLEU 0.679.

  python -m experiments.sentence_mim --config=configs/ptb_smim.py[:small|quick][,z<dim>] \
      --config.data.dir=/folder/with/ptb.train.txt.gz

Arguments: see configs/sentence_common.py.
"""

from configs import sentence_common


def get_config(arg=""):
  return sentence_common.base("ptb", loss="smim", latent_dim=512, arg=arg)
