r"""Where the noise of MIM's decoder half comes from: each term's spread.

Draws `--latents` latents z ~ p(z) of `--config`'s model at init and
`--draws` decoder samples x ~ p(x|z) per latent, and prints one JSON line
per term of the decoder-half loss (log p(x|z), log p(z), log q(z|x), the
Jensen estimate of log q(x) at a fresh z' ~ q(z|x), and the loss f): its
mean, the mean over latents of its std across the draws of one latent
(what an RLOO baseline leaves in the score term's weight) and the std of
its per-latent means.

  python -m benchmarks.decoder_loss_spread --config=configs/mnist_hvae_s.py \
      --config.data.dir=../shared/data
"""

import json

from absl import app
from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from experiments import cli
from experiments import common
from experiments import image_mim
from mimjax import data
from mimjax import objectives

flags.adopt_module_key_flags(cli)
_LATENTS = flags.DEFINE_integer("latents", 16, "Latents z ~ p(z).")
_DRAWS = flags.DEFINE_integer("draws", 64, "Samples x ~ p(x|z) per latent.")
_TERMS = ("log_p_x_given_z", "log_p_z", "log_q_z_given_x", "log_q_x")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  config = common.CONFIG.value
  source = data.make_image_source(
      **config.data, batch_size=config.train.batch_size
  )
  model = image_mim.build_model(config, source)
  params = model.init(
      jax.random.key(config.seed), jnp.asarray(source.validation["x"][:2])
  )
  terms = jax.jit(
      lambda key: objectives.decoder_terms(
          model, params, objectives.MODEL_PRIOR, _LATENTS.value, key,
          decoder_samples=_DRAWS.value,
      )[0]
  )(jax.random.key(1))
  values = {t: np.asarray(getattr(terms, t)) for t in _TERMS}
  values["loss"] = -0.5 * sum(values.values())  # MIM at beta = 1
  for name, v in values.items():
    v = v.reshape(_DRAWS.value, _LATENTS.value)  # rows k * B + b
    print(json.dumps(dict(
        term=name,
        mean=round(float(v.mean()), 2),
        within_latent_std=round(float(v.std(0).mean()), 2),
        between_latent_std=round(float(v.mean(0).std()), 2),
        latents=_LATENTS.value,
        draws=_DRAWS.value,
    )))


if __name__ == "__main__":
  app.run(main)
