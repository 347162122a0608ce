r"""sentenceMIM (1024) on Yahoo Answers (thesis Table 7.4), a template.

  python -m experiments.sentence_mim --config=configs/yahoo_smim.py \
      --config.data.dir=/folder/with/yahoo.train.txt

The thesis's larger-set recipe: H = 1024, E = 512, SGD lr 5 with clipping
0.25, plateau decay after 1 epoch. Yelp15 / WT103: --config.data.name=yelp
or wt103 with their files; latent 32 / 512 / 1024 via ",z<dim>".
"""

from configs import sentence_common


def get_config(arg=""):
  return sentence_common.base(
      "yahoo", loss="smim", latent_dim=1024, large=True, arg=arg
  )
