r"""Training throughput of the two-level HVAEs for each prior and objective.

Times the optimiser step the image experiments run (`training.train_step`:
value_and_grad of the objective + AdamNormGrad) on a fixed binary batch,
`--steps` of them in one jitted `lax.scan` as the epoch program runs them
(XLA:CPU compiles a scan body apart from the entry computation, and
convolutions there behaved differently: BUILD_NOTES, session 24): compile
time, then the best of `--repeats` timings, as images/second. Also reports
each objective's step time relative to the VAE's, and the FLOPs of one step
relative to the VAE's (XLA's cost analysis of the compiled step): the ratio
a step-time ratio cannot beat unless the VAE's kernels run less efficiently.
Usage:

  python -m benchmarks.image_step --priors=standard_normal,vamp \
      --losses=vae,amim,mim \
      [--network=mlp] [--decoder_matched_baseline=false] \
      [--latent_anchor=learned]

The MIM decoder-half flags default to the image configs' estimator (RLOO
with K = 2 samples per latent and the matched baseline; the matched
baseline only where the estimator is "rloo" without weight brackets, the
combinations it applies to, unless `--decoder_matched_baseline` says
otherwise).

MIM's decoder half samples `--latent_anchor` (the configs' default
`standard_normal`, or the authors' learned p(z)).
"""

import time

from absl import app
from absl import flags
import jax
import jax.numpy as jnp

from mimjax import distributions
from mimjax import models
from mimjax import objectives
from mimjax import training
from configs import image_common
from experiments import common

# The image configs' MIM decoder-half estimator: the flags' defaults, so the
# benchmark times what `experiments.image_mim` trains.
_DEFAULTS = image_common.base("mnist", "standard_normal")

_PRIORS = flags.DEFINE_list(
    "priors", ["standard_normal", "vamp"], "p(z2) kinds."
)
_LOSSES = flags.DEFINE_list("losses", ["vae", "amim", "mim"], "Objectives.")
_BATCH = flags.DEFINE_integer("batch_size", 100, "Images per step.")
_K = flags.DEFINE_integer("num_pseudo_inputs", 500, "VampPrior K.")
_STEPS = flags.DEFINE_integer("steps", 5, "Steps per timing.")
_REPEATS = flags.DEFINE_integer("repeats", 2, "Timings (best is kept).")
_NETWORK = flags.DEFINE_enum(
    "network", "conv", ["conv", "mlp"], "convHVAE or the dense HVAE (L = 2)."
)
_ESTIMATOR = flags.DEFINE_enum(
    "decoder_estimator", _DEFAULTS.decoder_estimator,
    objectives.DECODER_ESTIMATORS,
    "MIM decoder-half estimator (default: the image configs').",
)
_DECODER_SAMPLES = flags.DEFINE_integer(
    "decoder_samples", _DEFAULTS.decoder_samples,
    "MIM decoder samples per latent (default: the image configs').",
)
_WEIGHT_SAMPLES = flags.DEFINE_integer(
    "decoder_weight_samples", _DEFAULTS.decoder_weight_samples,
    "Brackets of log q(x) averaged into MIM's REINFORCE weight (default: "
    "the image configs').",
)
_MATCHED = flags.DEFINE_bool(
    "decoder_matched_baseline", None,
    "MIM's RLOO baseline at each sample's own importance noise (default: "
    "the image configs' where it applies, i.e. with decoder_estimator=rloo "
    "and decoder_weight_samples=1).",
)
_ANCHOR = flags.DEFINE_enum(
    "latent_anchor", _DEFAULTS.latent_anchor.kind,
    ["standard_normal", *common.LEARNED_ANCHORS],
    "P(z) of MIM's decoder half (config.latent_anchor.kind).",
)


def step_flops(step, *args):
  """FLOPs of one compiled `step(*args)` (XLA's cost analysis)."""
  cost = jax.jit(step).lower(*args).compile().cost_analysis()
  return (cost[0] if isinstance(cost, list) else cost)["flops"]


def matched_baseline():
  """`--decoder_matched_baseline`, or the configs' default where it applies
  (RLOO without weight brackets)."""
  if _MATCHED.value is not None:
    return _MATCHED.value
  return (_DEFAULTS.decoder_matched_baseline
          and _ESTIMATOR.value == "rloo" and _WEIGHT_SAMPLES.value == 1)


def time_step(prior, loss):
  """Returns (compile seconds, images per second, FLOPs per step)."""
  key = jax.random.key(0)
  x = (jax.random.uniform(key, (_BATCH.value, 28, 28, 1)) < 0.13) * 1.0
  k = _K.value if prior == "vamp" else 0
  model = models.HierarchicalVAE(
      vamp_pseudo_inputs=k,
      # K pseudo-inputs from K images of the same kind (K may exceed B).
      pseudo_input_init=distributions.data_initializer(
          (jax.random.uniform(jax.random.fold_in(key, 1), (k, 28, 28, 1))
           < 0.13) * 1.0
      ) if k else None,
      network=_NETWORK.value,
  )
  loss_fn = objectives.make_loss_fn(
      model, loss=loss,
      latent_anchor=common.latent_anchor(_ANCHOR.value, sum(model.latent_dims)),
      decoder_estimator=_ESTIMATOR.value,
      decoder_samples=_DECODER_SAMPLES.value,
      decoder_weight_samples=_WEIGHT_SAMPLES.value,
      decoder_matched_baseline=matched_baseline(),
  )
  optimizer = training.make_optimizer(
      name="adam_norm_grad", learning_rate=5e-4, steps_per_epoch=1
  )

  def epoch(params, opt_state, x, key):
    """`--steps` engine train steps in one `lax.scan`, as the epoch runs."""

    def body(carry, step_key):
      params, opt_state = carry
      params, opt_state, aux = training.train_step(
          params, opt_state, {"x": x}, step_key, loss_fn=loss_fn,
          optimizer=optimizer, beta=1.0,
      )
      return (params, opt_state), aux["loss"]

    keys = jax.random.split(key, _STEPS.value)
    (params, opt_state), losses = jax.lax.scan(body, (params, opt_state), keys)
    return params, opt_state, losses

  params = model.init(key, x)
  opt_state = optimizer.init(params["params"])
  flops = step_flops(  # the batch an argument, as in the timed program
      lambda p, s, x, k: training.train_step(
          p, s, {"x": x}, k, loss_fn=loss_fn, optimizer=optimizer, beta=1.0
      ),
      params, opt_state, x, key,
  )
  start = time.perf_counter()
  compiled = jax.jit(epoch, donate_argnums=(0, 1)).lower(
      params, opt_state, x, key
  ).compile()
  compile_s = time.perf_counter() - start
  params, opt_state, losses = compiled(params, opt_state, x, key)
  losses.block_until_ready()
  best = float("inf")
  for r in range(_REPEATS.value):
    start = time.perf_counter()
    params, opt_state, losses = compiled(
        params, opt_state, x, jax.random.fold_in(key, r + 1)
    )
    losses.block_until_ready()
    best = min(best, (time.perf_counter() - start) / _STEPS.value)
  return compile_s, _BATCH.value / best, flops


def main(argv):
  del argv
  print(f"JAX {jax.__version__} on {jax.devices()[0].device_kind}, "
        f"network {_NETWORK.value}, batch {_BATCH.value}, K = {_K.value}, "
        f"MIM decoder: {_ESTIMATOR.value} x {_DECODER_SAMPLES.value} "
        f"(weight brackets {_WEIGHT_SAMPLES.value}, matched baseline "
        f"{matched_baseline()}), "
        f"anchor {_ANCHOR.value}")
  print("| prior | loss | compile s | images/s | step time / VAE step "
        "| GFLOP / step | FLOPs / VAE step |")
  print("| --- | --- | --- | --- | --- | --- | --- |")
  for prior in _PRIORS.value:
    vae_rate = vae_flops = None
    for loss in _LOSSES.value:
      compile_s, rate, flops = time_step(prior, loss)
      if loss == "vae":
        vae_rate, vae_flops = rate, flops
      ratio = f"{vae_rate / rate:.2f}" if vae_rate else "-"
      flop_ratio = f"{flops / vae_flops:.2f}" if vae_flops else "-"
      print(f"| {prior} | {loss} | {compile_s:.1f} | {rate:.1f} | {ratio} "
            f"| {flops / 1e9:.2f} | {flop_ratio} |", flush=True)


if __name__ == "__main__":
  jnp.zeros(())  # initialise the backend before timing
  app.run(main)
