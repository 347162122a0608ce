"""`training.train`: resume, early stopping, and errors on bad input.

The models are tiny Flax modules with hand-written losses, so the compiled
epoch program is cheap; the engine treats them like any MIM/VAE objective
(`loss_fn(params, batch, key, beta) -> (scalar, aux)`).
"""

import json
import os
import shutil
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections as mc
import numpy as np
import pytest

import mimjax
from mimjax import data
from mimjax import files
from mimjax import training


class _NoisyLinear(nn.Module):
  """x -> W x + c: a one-layer denoising auto-encoder."""

  @nn.compact
  def __call__(self, x):
    return nn.Dense(x.shape[-1])(x)


def _denoising_loss(params, batch, key, beta=1.0):
  """Uses the data order, the PRNG key and beta, like the real objectives."""
  x = batch["x"]
  noisy = x + 0.3 * jax.random.normal(key, x.shape)
  recon = _NoisyLinear().apply(params, noisy)
  loss = (0.5 + 0.5 * beta) * jnp.mean(jnp.sum((recon - x) ** 2, -1))
  return loss, {"loss": loss, "beta": jnp.asarray(beta, jnp.float32)}


class _Location(nn.Module):
  """A single learned location w (shape `[d]`)."""

  @nn.compact
  def __call__(self, x):
    return self.param("w", nn.initializers.normal(1.0), x.shape[-1:])


def _squared_distance_loss(params, batch, key, beta=1.0):
  """mean ||x - w||^2: gradient descent moves w towards the batch mean."""
  del key
  w = params["params"]["w"]
  loss = jnp.mean(jnp.sum((batch["x"] - w) ** 2, -1))
  return loss, {"loss": loss, "beta": jnp.asarray(beta, jnp.float32)}


def _config(**train_overrides):
  train = dict(
      batch_size=8, max_epochs=4, beta_warmup_epochs=3, patience=10,
      checkpoint_every=1, log_every=1, eval_batch_size=16,
  )
  train.update(train_overrides)
  return mc.ConfigDict(
      dict(
          seed=0,
          num_seeds=2,
          train=train,
          optim=dict(
              name="adam", learning_rate=0.05, schedule="noam",
              warmup_epochs=2,
          ),
      )
  )


def _train(*, config, **kwargs):
  """`training.train` with the settings, optimiser and seeds of a test
  config (`train`, `optim`, `seed`, `num_seeds`)."""
  return training.train(
      settings=training.TrainSettings(**config.train),
      optimizer=training.make_optimizer(
          **config.optim, steps_per_epoch=kwargs["source"].steps_per_epoch
      ),
      seed=config.seed, num_seeds=config.num_seeds, **kwargs,
  )


def _gmm_source(batch_size=8):
  return data.GMMSource(
      means=data.gmm_means(2), std=0.25, batch_size=batch_size,
      samples_per_epoch=32, num_eval=32, seed=0,
  )


def _read_metrics(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f if line.strip()]


def _files(directory):
  """{relative path: bytes} of every file below `directory`."""
  out = {}
  for root, _, names in os.walk(directory):
    for name in names:
      path = os.path.join(root, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, directory)] = f.read()
  return out


def _assert_trees_equal(a, b):
  leaves_a, tree_a = jax.tree.flatten(jax.device_get(a))
  leaves_b, tree_b = jax.tree.flatten(jax.device_get(b))
  assert tree_a == tree_b
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _run(workdir, max_epochs, loss_fn=_denoising_loss):
  return _train(
      model=_NoisyLinear(), loss_fn=loss_fn, source=_gmm_source(),
      config=_config(max_epochs=max_epochs), workdir=workdir,
      mesh=training.make_mesh(1),
  )


@pytest.fixture(scope="module")
def two_epoch_run(tmp_path_factory):
  """A finished 2-epoch run: (workdir, final state); copy before changing."""
  workdir = str(tmp_path_factory.mktemp("two_epochs") / "run")
  return workdir, jax.device_get(_run(workdir, 2))


def _copy_run(two_epoch_run, workdir):
  shutil.copytree(two_epoch_run[0], workdir)
  return workdir


# ----------------------------------------------------------------- resume


def test_resume_matches_uninterrupted_run(tmp_path, two_epoch_run):
  dir_a = str(tmp_path / "a")
  state_a = _run(dir_a, 4)
  # Run B: 2 epochs (the shared fixture), then resumed to 4 in its folder.
  dir_b = _copy_run(two_epoch_run, str(tmp_path / "b"))
  first = two_epoch_run[1]
  assert int(first.epoch) == 2
  state_b = _run(dir_b, 4)

  assert int(state_a.epoch) == int(state_b.epoch) == 4
  # Every field: params, optimiser state (incl. step count), best params,
  # best_val/epoch and early-stopping counters, bit for bit.
  _assert_trees_equal(state_b, state_a)
  # Epochs 3-4 changed the parameters (the comparison is not vacuous).
  moved = jax.tree.map(
      lambda a, b: np.abs(np.asarray(a) - np.asarray(b)).max(),
      state_b.params, first.params,
  )
  assert max(jax.tree.leaves(moved)) > 1e-3

  metrics_a, metrics_b = _read_metrics(dir_a), _read_metrics(dir_b)
  assert [m["epoch"] for m in metrics_b] == [1, 2, 3, 4]
  assert metrics_b == metrics_a
  # The training time of a resumed run sums both pieces.
  assert training.training_seconds(two_epoch_run[0]) > 0
  dir_c = _copy_run(two_epoch_run, str(tmp_path / "c"))
  files.write_json(os.path.join(dir_c, training.TIME_FILE),
                   {"seconds": 1000.0})
  _run(dir_c, 4)
  assert 1000 < training.training_seconds(dir_c) < 1000 + 600


def test_epoch_eval_fn_is_logged_every_epoch_and_leaves_training_alone(
    tmp_path, two_epoch_run):
  seen = []

  def weight_norm(params):  # `[S, ...]` parameters -> `[S]`
    seen.append(jax.device_get(params))
    kernel = params["params"]["Dense_0"]["kernel"]
    return {"val/weight_norm": jnp.sqrt(jnp.sum(kernel**2, axis=(1, 2)))}

  workdir = str(tmp_path / "run")
  state = _train(
      model=_NoisyLinear(), loss_fn=_denoising_loss, source=_gmm_source(),
      config=_config(max_epochs=2), workdir=workdir,
      mesh=training.make_mesh(1), epoch_eval_fn=weight_norm,
  )
  _assert_trees_equal(state, two_epoch_run[1])
  records = _read_metrics(workdir)
  assert [len(seen), [r["epoch"] for r in records]] == [2, [1, 2]]
  # Called with the parameters at the end of each epoch.
  _assert_trees_equal(seen[1], state.params)
  kernel = np.asarray(state.params["params"]["Dense_0"]["kernel"])
  np.testing.assert_allclose(
      records[1]["val/weight_norm/per_seed"],
      np.sqrt(np.sum(kernel**2, axis=(1, 2))), rtol=1e-6,
  )


@pytest.mark.slow  # end to end: several training runs
def test_one_seed_run_equals_seed_zero_of_a_vmapped_run(tmp_path):
  # One seed runs the step on the squeezed state (no vmap); seed 0 of a
  # two-seed run goes through jax.vmap. Same keys, data and noise, so the
  # same training up to float rounding.
  def run(num_seeds, name):
    config = _config(max_epochs=3, beta_warmup_epochs=1)
    config.num_seeds = num_seeds
    return jax.device_get(_train(
        model=_NoisyLinear(), loss_fn=_denoising_loss, source=_gmm_source(),
        config=config, workdir=str(tmp_path / name),
        mesh=training.make_mesh(1),
    ))

  one, two = run(1, "one"), run(2, "two")
  # Every state leaf but the epoch counter has the seed axis first.
  seed_zero = jax.tree.map(
      lambda leaf: leaf[:1] if np.ndim(leaf) else leaf, two)
  for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(seed_zero)):
    np.testing.assert_allclose(np.asarray(a, np.float64),
                               np.asarray(b, np.float64), rtol=1e-5,
                               atol=1e-6)
  # Seed 1 differs (the comparison can tell seeds apart).
  assert not np.allclose(two.params["params"]["Dense_0"]["kernel"][0],
                         two.params["params"]["Dense_0"]["kernel"][1])


# -------------------------------------------------------- early stopping


def _reference_early_stopping(val, *, warmup, patience):
  """Independent re-statement of the rule, from per-epoch `val[e, s]`.

  Epoch e (1-based) is eligible when e >= warmup (beta = 1); an eligible
  epoch with a strictly lower validation loss sets the best, any other
  eligible epoch counts as bad; a seed stops after `patience` bad epochs in
  a row and is frozen from then on.

  Returns:
    best_epoch `[S]`, best_val `[S]`, stop_epoch `[S]` (0: never stopped).
  """
  num_epochs, num_seeds = val.shape
  best_epoch = np.zeros(num_seeds, int)
  best_val = np.full(num_seeds, np.inf)
  stop_epoch = np.zeros(num_seeds, int)
  for s in range(num_seeds):
    bad = 0
    for e in range(1, num_epochs + 1):
      if stop_epoch[s] or e < warmup:
        continue
      if val[e - 1, s] < best_val[s]:
        best_val[s], best_epoch[s], bad = val[e - 1, s], e, 0
      else:
        bad += 1
      if bad >= patience:
        stop_epoch[s] = e
  return best_epoch, best_val, stop_epoch


def _overshoot_source():
  """Training data at 3, validation data at 1 (1-D).

  Gradient descent moves w from its start towards 3, so the validation loss
  (w - 1)^2 first falls, then rises once w passes 1: every seed eventually
  stops, at an epoch set by where it started.
  """
  ones = np.ones((32, 1), np.float32)
  labels = np.zeros(32, np.int32)
  return data.ArraySource(
      x_train=3.0 * ones, y_train=labels, x_val=ones, y_val=labels,
      x_test=ones, y_test=labels, batch_size=8,
  )


# Seed 0 starts at w = 0.9: its validation loss rises from epoch 1 on, so if
# warm-up epochs (1, 2) counted it would stop at epoch 3 with best epoch 1;
# instead its best is epoch 3 (the first eligible one) and it stops at epoch
# 5. The other seeds first improve, then overshoot 1, at different epochs.
_STARTS = np.array([[0.9], [-2.0], [-0.6]], np.float32)
_WARMUP, _PATIENCE = 3, 2


def _sgd_config(num_seeds, max_epochs):
  config = _config(
      max_epochs=max_epochs, beta_warmup_epochs=_WARMUP, patience=_PATIENCE
  )
  config.num_seeds = num_seeds
  config.optim = mc.ConfigDict(
      dict(name="sgd", learning_rate=0.02, schedule="constant",
           warmup_epochs=0)
  )
  return config


def test_early_stopping_freezes_stopped_seeds():
  source = _overshoot_source()
  config = _sgd_config(num_seeds=3, max_epochs=14)
  optimizer = training.make_optimizer(
      **config.optim, steps_per_epoch=source.steps_per_epoch
  )
  mesh = training.make_mesh(1)
  state = training.init_state(
      _Location(), optimizer, jnp.zeros((8, 1)), seed=0, num_seeds=3,
      init_params={"params": {"w": jnp.asarray(_STARTS)}},
  )
  epoch_fn = training.make_epoch_fn(
      loss_fn=_squared_distance_loss, optimizer=optimizer, source=source,
      mesh=mesh, seed=0, num_seeds=3, beta_warmup_epochs=_WARMUP,
      stopping_rule=training.StoppingRule(patience=_PATIENCE),
  )
  validation_x = training.put_global(
      source.x_val.reshape(2, 16, 1), training.data_sharding(mesh, 1)
  )

  ws, vals, stopped = [_STARTS[:, 0]], [], [np.zeros(3, bool)]
  for _ in range(config.train.max_epochs):
    state, metrics = epoch_fn(state, source.device_data, validation_x)
    ws.append(np.asarray(state.params["params"]["w"])[:, 0].copy())
    vals.append(np.asarray(metrics["val/loss"]).copy())
    stopped.append(np.asarray(state.stopped).copy())
  ws, vals, stopped = np.array(ws), np.array(vals), np.array(stopped)

  # The validation loss is (w - 1)^2 at the epoch's final w.
  np.testing.assert_allclose(vals, (ws[1:] - 1.0) ** 2, rtol=1e-5)
  best_epoch, best_val, stop_epoch = _reference_early_stopping(
      vals, warmup=_WARMUP, patience=_PATIENCE
  )
  np.testing.assert_array_equal(state.best_epoch, best_epoch)
  np.testing.assert_array_equal(state.best_val, best_val.astype(np.float32))
  assert best_epoch[0] == 3 and stop_epoch[0] == 5
  assert np.all(stop_epoch > 0) and len(set(stop_epoch)) == 3
  for s in range(3):
    e_stop = stop_epoch[s]
    np.testing.assert_array_equal(stopped[:, s], np.arange(15) >= e_stop)
    # Active seeds move every epoch; stopped ones never again.
    assert np.all(np.diff(ws[: e_stop + 1, s]) != 0)
    np.testing.assert_array_equal(ws[e_stop:, s], ws[e_stop, s])
    # best_params are the parameters at the best epoch.
    np.testing.assert_array_equal(
        state.best_params["params"]["w"][s, 0], ws[best_epoch[s], s]
    )
  assert int(state.epoch) == 14


def test_train_early_stopping_consistent_with_metrics(tmp_path):
  workdir = str(tmp_path)
  source = _overshoot_source()
  config = _sgd_config(num_seeds=3, max_epochs=30)
  state = _train(
      model=_Location(), loss_fn=_squared_distance_loss, source=source,
      config=config, workdir=workdir, mesh=training.make_mesh(1),
      init_params={"params": {"w": jnp.asarray(_STARTS)}},
  )
  records = _read_metrics(workdir)
  epochs = [r["epoch"] for r in records]
  assert epochs == list(range(1, len(records) + 1))
  val = np.array([r["val/loss/per_seed"] for r in records])
  stopped = np.array([r["stopped/per_seed"] for r in records], bool)
  best_epoch, best_val, stop_epoch = _reference_early_stopping(
      val, warmup=_WARMUP, patience=_PATIENCE
  )
  assert np.all(stop_epoch > 0)
  # The loop ends as soon as every seed has stopped, well before 30.
  assert len(records) == stop_epoch.max() < 30
  assert int(state.epoch) == len(records)
  assert bool(np.all(state.stopped))
  np.testing.assert_array_equal(state.best_epoch, best_epoch)
  np.testing.assert_array_equal(
      np.asarray(state.best_val), best_val.astype(np.float32)
  )
  for s in range(3):
    np.testing.assert_array_equal(
        stopped[:, s], np.arange(1, len(records) + 1) >= stop_epoch[s]
    )
  # best_params reproduce best_val: (w_best - 1)^2.
  np.testing.assert_allclose(
      (np.asarray(state.best_params["params"]["w"])[:, 0] - 1.0) ** 2,
      state.best_val, rtol=1e-5,
  )
  # A finished run is not re-trained when called again: same state back.
  again = _train(
      model=_Location(), loss_fn=_squared_distance_loss, source=source,
      config=config, workdir=workdir, mesh=training.make_mesh(1),
  )
  _assert_trees_equal(again, state)
  assert len(_read_metrics(workdir)) == len(records)


# ------------------------------------------------------------- bad input


def test_batch_not_divisible_by_devices(tmp_path):
  config = _config(batch_size=10)
  with pytest.raises(ValueError, match="divisible"):
    _train(
        model=_NoisyLinear(), loss_fn=_denoising_loss,
        source=_gmm_source(batch_size=10), config=config,
        workdir=str(tmp_path), mesh=training.make_mesh(4),
    )
  assert not os.path.exists(tmp_path / "checkpoints")


def test_eval_batch_not_divisible_by_devices(tmp_path):
  config = _config(eval_batch_size=6)
  with pytest.raises(ValueError, match="eval batch size 6 is not divisible"):
    _train(
        model=_NoisyLinear(), loss_fn=_denoising_loss, source=_gmm_source(),
        config=config, workdir=str(tmp_path), mesh=training.make_mesh(4),
    )


@pytest.mark.parametrize("name", ["x_train", "x_val", "x_test"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_array_source_rejects_non_finite(name, bad):
  arrays = dict(
      x_train=np.zeros((16, 2), np.float32),
      y_train=np.zeros(16, np.int32),
      x_val=np.zeros((8, 2), np.float32),
      y_val=np.zeros(8, np.int32),
      x_test=np.zeros((8, 2), np.float32),
      y_test=np.zeros(8, np.int32),
  )
  arrays[name][3, 1] = bad
  with pytest.raises(ValueError, match=f"{name} contains NaN"):
    data.ArraySource(batch_size=8, **arrays)


def _nan_from_full_beta(params, batch, key, beta=1.0):
  """A loss that turns NaN in training once beta reaches 1 (epoch 3).

  Validation chunks (16 examples, beta = 1) stay finite; only training
  batches (8 examples) are poisoned, so the failure is a training one.
  """
  loss, aux = _denoising_loss(params, batch, key, beta)
  if batch["x"].shape[0] == 8:
    loss = jnp.where(beta >= 1.0, jnp.nan, loss)
    aux = dict(aux, loss=loss)
  return loss, aux


def test_non_finite_loss_raises_and_keeps_last_good_checkpoint(
    tmp_path, two_epoch_run
):
  workdir = str(tmp_path)
  config = _config(max_epochs=6)  # beta = 1 from epoch 3
  source = _gmm_source()  # 4 steps per epoch
  with pytest.raises(FloatingPointError) as info:
    _run(workdir, 6, loss_fn=_nan_from_full_beta)
  message = str(info.value)
  assert "epoch 3, step 0 of the epoch (global step 8)" in message
  assert "(epoch 2) is kept" in message
  assert workdir in message

  assert [r["epoch"] for r in _read_metrics(workdir)] == [1, 2]
  optimizer = training.make_optimizer(
      **config.optim, steps_per_epoch=source.steps_per_epoch
  )
  like = training.init_state(
      _NoisyLinear(), optimizer, jnp.zeros((8, 2)), seed=0, num_seeds=2
  )
  checkpointer = training.Checkpointer(os.path.join(workdir, "checkpoints"))
  assert checkpointer.latest_epoch() == 2
  restored = checkpointer.restore_latest(like)
  checkpointer.close()
  assert int(restored.epoch) == 2
  for leaf in jax.tree.leaves((restored.params, restored.opt_state)):
    assert np.all(np.isfinite(np.asarray(leaf, np.float32)))
  # It is the state after 2 good epochs: the same as a clean 2-epoch run.
  _assert_trees_equal(restored, two_epoch_run[1])


def test_resume_after_crash_drops_unsaved_metric_lines(tmp_path):
  """Crash at epoch 4 with checkpoints every 2 epochs: epoch 3 was logged
  but not saved; the resumed run re-trains it and logs each epoch once."""
  workdir = str(tmp_path)
  config = _config(max_epochs=5, beta_warmup_epochs=4, checkpoint_every=2)
  run = lambda loss_fn: _train(
      model=_NoisyLinear(), loss_fn=loss_fn, source=_gmm_source(),
      config=config, workdir=workdir, mesh=training.make_mesh(1),
  )
  with pytest.raises(FloatingPointError, match="at epoch 4, step 0"):
    run(_nan_from_full_beta)
  crashed = _read_metrics(workdir)
  assert [r["epoch"] for r in crashed] == [1, 2, 3]
  checkpointer = training.Checkpointer(os.path.join(workdir, "checkpoints"))
  assert checkpointer.latest_epoch() == 2
  checkpointer.close()

  state = run(_denoising_loss)
  assert int(state.epoch) == 5
  resumed = _read_metrics(workdir)
  assert [r["epoch"] for r in resumed] == [1, 2, 3, 4, 5]
  # Epoch 3 was re-trained from the epoch-2 checkpoint with the same data
  # and noise (the loss is the same before beta reaches 1).
  assert resumed[:3] == crashed


@pytest.mark.parametrize("victim", ["_METADATA", "manifest.ocdbt", "*"])
def test_corrupt_checkpoint_raises_checkpoint_error(
    tmp_path, two_epoch_run, victim
):
  workdir = _copy_run(two_epoch_run, str(tmp_path / "run"))
  newest = os.path.join(workdir, "checkpoints", "2")
  assert os.path.isdir(newest)
  corrupted = 0
  for root, _, names in os.walk(newest):
    for name in names:
      path = os.path.join(root, name)
      size = os.path.getsize(path)
      if victim == "*":  # truncate every file of the checkpoint to half
        os.truncate(path, size // 2)
        corrupted += 1
      elif name == victim:  # overwrite with garbage, same size
        with open(path, "r+b") as f:
          f.write(b"\xff" * size)
        corrupted += 1
  assert corrupted
  before = _files(workdir)

  with pytest.raises(mimjax.CheckpointError) as info:
    _run(workdir, 4)
  assert newest in str(info.value)
  assert "Nothing was deleted" in str(info.value)
  after = _files(workdir)
  # No file was deleted or changed (the metrics/tensorboard files are
  # untouched too: the error comes before the writer opens them).
  assert set(after) == set(before)
  assert after == before


def test_restore_parameters_ignores_the_optimiser_state(two_epoch_run):
  """The parameters of a finished run restore into a state built with
  another optimiser (a different optimiser-state tree), e.g. for
  measuring a run written before a change of the optimiser's layout."""
  workdir, final = two_epoch_run
  sgd = training.make_optimizer(name="sgd", learning_rate=0.1,
                                steps_per_epoch=1, clip_global_norm=1.0)
  like = training.init_state(
      _NoisyLinear(), sgd, jnp.zeros((8, 2)), seed=0, num_seeds=2
  )
  checkpointer = training.Checkpointer(os.path.join(workdir, "checkpoints"))
  with pytest.raises(mimjax.CheckpointError,
                     match="optimiser state of another layout"):
    checkpointer.restore_latest(like)
  restored = checkpointer.restore_parameters(like)
  checkpointer.close()
  for name in ("params", "best_params", "best_epoch"):
    _assert_trees_equal(restored[name], getattr(final, name))


def test_train_accepts_loss_without_beta_in_aux(tmp_path):
  def loss_fn(params, batch, key, beta=1.0):
    loss, _ = _denoising_loss(params, batch, key, beta)
    return loss, {"loss": loss}

  state = _train(
      model=_NoisyLinear(), loss_fn=loss_fn, source=_gmm_source(),
      config=_config(max_epochs=1), workdir=str(tmp_path),
      mesh=training.make_mesh(1),
  )
  assert int(state.epoch) == 1


def _nan_past_two(params, batch, key, beta=1.0):
  """The squared distance, NaN once w > 2.4 (in 6 epochs, only a seed
  started past it)."""
  loss, aux = _squared_distance_loss(params, batch, key, beta)
  loss = jnp.where(params["params"]["w"][0] > 2.4, jnp.nan, loss)
  return loss, dict(aux, loss=loss)


def test_one_non_finite_seed_stops_alone(tmp_path):
  """Seed 1 starts past 2.4 (NaN from its first step); seeds 0 and 2 train on,
  and the run does not raise."""
  config = _sgd_config(num_seeds=3, max_epochs=6)
  config.train.patience = 100
  starts = np.array([[0.9], [2.5], [-0.6]], np.float32)
  state = _train(
      model=_Location(), loss_fn=_nan_past_two, source=_overshoot_source(),
      config=config, workdir=str(tmp_path), mesh=training.make_mesh(1),
      init_params={"params": {"w": jnp.asarray(starts)}},
  )
  assert training.stop_reasons(state.stop_reason) == [
      "max_epochs", "non_finite", "max_epochs"
  ]
  np.testing.assert_array_equal(state.stop_epoch, [0, 1, 0])
  w = np.asarray(state.params["params"]["w"])
  # The failed seed keeps its starting parameters; the others moved.
  np.testing.assert_array_equal(w[1], starts[1])
  assert np.all(np.isfinite(w)) and not np.allclose(w[[0, 2]], starts[[0, 2]])
  assert int(state.epoch) == 6


# ------------------------------------------------------------- time budget


@pytest.mark.slow  # end to end: several training runs
def test_time_budget_stops_cleanly_and_resumes_to_the_same_run(tmp_path):
  """A deadline already past: every call runs one epoch, saves and raises
  TimeBudgetReached; called again until done, the run equals an
  uninterrupted one (state, metrics.jsonl)."""
  straight = str(tmp_path / "straight")
  expected = _run(straight, 4)
  pieces = str(tmp_path / "pieces")
  stops = 0
  try:
    training.set_deadline(time.time() - 1.0)
    while True:
      try:
        state = _run(pieces, 4)
        break
      except mimjax.TimeBudgetReached as e:
        stops += 1
        assert f"after epoch {stops} of 4" in str(e)
        assert "run the same command to resume" in str(e)
  finally:
    training.set_deadline(None)
  assert stops == 3  # epochs 1, 2, 3 each end a call; the 4th finishes
  _assert_trees_equal(state, expected)
  assert _read_metrics(pieces) == _read_metrics(straight)
