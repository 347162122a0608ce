"""Op counts of the compiled CPU program of a model's gradient, to compare
two commits (e.g. before and after an engine change) without timing.

Prints one JSON line per model: the compiled XLA:CPU program's
instructions counted by opcode and shape, the loss and the L1 norm of the
gradient (bit-identical values and equal counts mean the same program).

  python -m benchmarks.compiled_ops > after.jsonl   # in a worktree of each
  diff before.jsonl after.jsonl                     # commit, then compare
"""

import collections
import json
import re

from absl import app
import jax
import jax.numpy as jnp

from mimjax import distributions
from mimjax import models
from mimjax import objectives

_INSTRUCTION = re.compile(r"\s*(?:ROOT )?%?[\w.\-]+ = (\S+) ([\w\-]+)\(")


def _conv_hvae_mim():
  """value-and-gradient of the convHVAE (S) MIM loss, RLOO K = 2, batch 20."""
  model = models.HierarchicalVAE(vamp_pseudo_inputs=0)
  x = (jax.random.uniform(jax.random.key(0), (20, 28, 28, 1)) < 0.2) * 1.0
  loss_fn = objectives.make_loss_fn(
      model, loss="mim", latent_anchor=distributions.standard_normal(80),
      decoder_estimator="rloo", decoder_samples=2,
  )
  params = model.init(jax.random.key(1), x)
  grad = jax.value_and_grad(lambda p, b, k: loss_fn(p, b, k)[0])
  return grad, (params, {"x": x}, jax.random.key(2))


def _glow():
  """value-and-gradient of a Glow's NLL (2 levels x 4 steps, batch 16)."""
  model = models.Glow(event_shape=(28, 28, 1), levels=2, steps=4, hidden=64,
                      permutation="conv1x1")
  x = jax.random.normal(jax.random.key(0), (16, 28, 28, 1))
  params = model.init(jax.random.key(1), x)
  grad = jax.value_and_grad(
      lambda p, x: -jnp.mean(model.apply(p, x, method="log_prob"))
  )
  return grad, (params, x)


def main(argv):
  del argv
  for name, build in (("conv_hvae_mim", _conv_hvae_mim), ("glow", _glow)):
    fn, args = build()
    compiled = jax.jit(fn).lower(*args).compile()
    counts = collections.Counter(
        f"{m.group(2)} {m.group(1)}"
        for m in map(_INSTRUCTION.match, compiled.as_text().splitlines()) if m
    )
    value, grads = compiled(*args)
    print(json.dumps(dict(
        model=name, value=float(value),
        grad_l1=float(sum(jnp.sum(jnp.abs(g)) for g in jax.tree.leaves(grads))),
        ops=dict(sorted(counts.items())),
    )))


if __name__ == "__main__":
  app.run(main)
