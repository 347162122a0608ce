"""The measurements behind the early-stopping rule (BUILD_NOTES, "Early
stopping"), on a finished toy sweep or image run.

For every run of the toy sweep in --workdir (or the one image run in
--workdir, with --chapter=image) and every seed, prints one JSON line:
  * from its validation curve (metrics.jsonl): the longest run of epochs
    between two successive new bests after the warm-up ("bump" length), the
    late slope (nats per epoch, linear fit over the last --late epochs),
    and the epoch each rule would stop at (replayed through
    `training.replay_stopping`): the authors' (patience 3) and the config's,
    with the validation loss there minus the curve's minimum;
  * at the run's final parameters: the validation loss's std over --keys
    validation-noise keys (the decoder half of MIM samples z ~ P(z) and
    x ~ p(x|z), so its value depends on the key), against the late
    improvement per epoch;
  * for a symmetric loss (MIM), the same for its encoder half alone
    (`make_loss_fn(..., encoder_half_only=True)`, the "amim" loss): the std
    over keys at the final parameters, and the late slope of the training
    curve of that half (`train/enc/loss`, an epoch's mean over the training
    set), as the candidate validation loss without decoder-sample noise.

  python -m benchmarks.early_stopping --config=configs/toy_gmm20d.py \
      --workdir=workdirs/toy_gmm20d
  python -m benchmarks.early_stopping --chapter=image \
      --config=configs/mnist_hvae_vp.py:,vae --config.data.dir=../shared/data \
      --workdir=workdirs/images_hvae/mnist_vp_vae_seed0
"""

import functools
import json
import os
import re

from absl import flags
import jax
import jax.numpy as jnp
import numpy as np

from experiments import cli
from experiments import common
from experiments import image_mim
from experiments import toy_mim
import mimjax
from mimjax import data
from mimjax import files
from mimjax import objectives
from mimjax import training

flags.adopt_module_key_flags(cli)
_KEYS = flags.DEFINE_integer("keys", 10, "Validation-noise keys per model.")
_LATE = flags.DEFINE_integer("late", 30, "Epochs of the late-slope fit.")
_CHAPTER = flags.DEFINE_enum(
    "chapter", "toy", ["toy", "image"],
    "toy: --workdir is a toy sweep (runs/<loss>_h<H>_z<D>/); image: "
    "--workdir is one experiments.image_mim run.",
)


def _longest_gap(curve, warmup):
  """Longest run of epochs between successive new minima after warm-up."""
  best, last, gap = np.inf, warmup, 0
  for e in range(warmup - 1, len(curve)):
    if curve[e] < best:
      best, gap, last = curve[e], max(gap, e + 1 - last), e + 1
  return max(gap, len(curve) - last)


# Fields --config may change against the recorded run: the sweep (a subset
# of its points), the validation loss (read from the record) and the
# stopping fields (the "config" rule replayed on the recorded curves).
_FREE_FIELDS = ("sweep", "validation", "train.patience", "train.min_delta",
                "train.min_epochs", "train.max_epochs")


def _recorded_validation(workdir, config):
  """`config.validation` of the run in `workdir` (its run.json), or "loss".

  Raises:
    InputError: `config` does not build the model that run trained (a
      workdir without a recorded config is not checked).
  """
  record = files.read_json(os.path.join(workdir, training.RUN_FILE)) or {}
  if "checked_config" in record:
    diff = training.config_diff(
        record["checked_config"], config,
        safe_fields=training.SAFE_FIELDS + _FREE_FIELDS,
    )
    if diff:
      raise mimjax.InputError(
          f"--config differs from the config that trained {workdir} ("
          f"{training.describe_config_diff(diff)}); pass that run's config "
          "and arguments."
      )
  return record.get("config", {}).get("validation", "loss")


def _late_slope(curve, late):
  """Slope (per epoch) of a linear fit to the last `late` values."""
  return float(np.polyfit(np.arange(late), curve[-late:], 1)[0])


def _toy_model(config, source, run_name):
  """(model, loss name, make_loss_fn(**options)) of the toy run named
  `<loss>_h<H>_z<D>`."""
  loss, hidden, latent_dim = re.fullmatch(
      r"(.+)_h(\d+)_z(\d+)", run_name
  ).groups()
  hidden, latent_dim = int(hidden), int(latent_dim)
  model = toy_mim.make_model(config, source.x_shape[0], hidden, latent_dim)
  loss = loss.split("_then_")[-1]
  make = functools.partial(
      objectives.make_loss_fn, model, loss=loss,
      latent_anchor=toy_mim.latent_anchor(config.latent_anchor, latent_dim),
  )
  return model, loss, make


def _validation_noise(config, source, model, loss_fn, rundir):
  """`[S, keys]` validation losses of the final parameters."""
  params = common.restore_parameters(config, model, source, rundir).params
  n = config.train.eval_batch_size
  x = np.asarray(source.validation["x"], np.float32)
  chunks = jnp.asarray(x[: len(x) // n * n].reshape(-1, n, *x.shape[1:]))

  val_loss = jax.jit(lambda params, key: training.validation_loss(
      params, {"x": chunks}, key, loss_fn=loss_fn))
  per_seed = jax.vmap(val_loss, in_axes=(0, None))
  return np.stack([
      np.asarray(per_seed(params, jax.random.key(1000 + k)))
      for k in range(_KEYS.value)
  ], axis=1)


def _runs(workdir, config, source):
  """(name, folder, model, loss name, make_loss_fn(**options)) of every
  run in `workdir`."""
  if _CHAPTER.value == "image":
    # Validated in eval mode (dropout off, BatchNorm averages), as the run.
    model = image_mim.build_model(config, source).clone(train=False)
    make = lambda **options: image_mim.make_loss_fn(config, model, **options)
    yield (os.path.basename(os.path.normpath(workdir)), workdir, model,
           config.loss, make)
    return
  for name in sorted(os.listdir(os.path.join(workdir, "runs"))):
    yield (name, os.path.join(workdir, "runs", name),
           *_toy_model(config, source, name))


def main(argv):
  del argv
  workdir = common.setup()
  config = common.CONFIG.value
  # The validation loss the run used (its curve in metrics.jsonl), as its
  # recorded config says.
  encoder_half = _recorded_validation(workdir, config) == "encoder_half"
  make_source = (data.make_image_source if _CHAPTER.value == "image"
                 else data.make_source)
  source = make_source(**config.data, batch_size=config.train.batch_size)
  tc = config.train
  rules = {
      "authors": training.StoppingRule(patience=3),
      "config": training.StoppingRule(
          patience=tc.patience, min_delta=tc.get("min_delta", 0.0),
          min_epochs=tc.get("min_epochs", 0),
      ),
  }
  warmup = tc.beta_warmup_epochs
  for run_name, rundir, model, loss, make_loss_fn in _runs(
      workdir, config, source
  ):
    records = training.read_metrics(rundir)
    curves = np.array([  # [E, S]; a one-seed run logs the scalar only
        r.get("val/loss/per_seed", [r["val/loss"]]) for r in records
    ])
    stops = {
        k: np.asarray(
            training.replay_stopping(r, curves, warmup_epochs=warmup)[
                "stop_epoch"
            ]
        )
        for k, r in rules.items()
    }
    noise = _validation_noise(
        config, source, model, make_loss_fn(encoder_half_only=encoder_half),
        rundir,
    )
    symmetric = objectives.LOSSES[loss].symmetric
    if symmetric:
      enc_noise = _validation_noise(
          config, source, model, make_loss_fn(encoder_half_only=True), rundir
      )
      enc_curves = np.array([
          r.get("train/enc/loss/per_seed", [r.get("train/enc/loss")])
          for r in records
      ])
    late = min(_LATE.value, len(curves))
    for s in range(curves.shape[1]):
      curve = curves[:, s]
      line = dict(
          run=run_name, seed=s, epochs=len(curve),
          final_val=float(curve[-1]), min_val=float(curve.min()),
          longest_gap=_longest_gap(curve, warmup),
          late_slope=_late_slope(curve, late),
          val_noise_std=float(noise[s].std(ddof=1)),
      )
      for name, stop in stops.items():
        at = stop[s] or len(curve)
        line[f"stop_{name}"] = int(stop[s])
        line[f"excess_{name}"] = float(curve[at - 1] - curve.min())
      if symmetric:
        line["enc_half_noise_std"] = float(enc_noise[s].std(ddof=1))
        line["enc_half_train_late_slope"] = _late_slope(enc_curves[:, s], late)
      print(json.dumps(line))


if __name__ == "__main__":
  common.run_main(main)
