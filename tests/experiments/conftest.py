"""Fixtures shared by the experiment tests."""

import pytest


def _tiny_toy(config, max_epochs=2):
  """A toy config shrunk to a seconds-long run: 2 seeds, `max_epochs`
  epochs of 320 samples, 200 evaluation points, 8 IS-NLL samples, a
  checkpoint every epoch (so kill tests can stop inside one)."""
  config.num_seeds = 2
  config.train.max_epochs = max_epochs
  config.train.checkpoint_every = 1
  config.train.batch_size = 32
  config.train.eval_batch_size = 100
  config.data.samples_per_epoch = 320
  config.data.num_eval = 200
  config.eval.nll_samples = 8
  config.eval.nll_chunk = 4
  config.eval.nll_batch = 100
  return config


@pytest.fixture(scope="session")
def tiny_toy():
  """`tiny_toy(config, max_epochs=2)`: the config shrunk in place."""
  return _tiny_toy
