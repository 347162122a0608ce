"""Smoke tests of the flow / TzK entrypoint on a small synthetic MNIST file.

One quick two_phase run (module fixture) is shared by most tests; in-process
JAX caches make the later flow runs (resume, 1 device) cheap.
"""

import copy
import json
import logging
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mimjax
from configs import tzk_common
from configs import tzk_mnist
from experiments import common
from experiments import tzk
from mimjax import data
from mimjax import models
from mimjax import training

# End-to-end runs: the slow tier (`pytest -m "not slow"` skips them).
pytestmark = pytest.mark.slow

_PLOTS = ("samples_flow.png", "interpolation.png", "test_data.png",
          "val_loss.png")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  folder = tmp_path_factory.mktemp("data")
  rng = np.random.RandomState(0)

  def images(n):
    # Every digit n / 10 times (so several 3s and 5s in any prefix); one
    # horizontal bar per digit so the classes differ.
    labels = rng.permutation(np.arange(n) % 10)
    x = np.zeros((n, 28, 28), np.uint8)
    for i, y in enumerate(labels):
      x[i, 2 * y : 2 * y + 8, 4:24] = 255
    return x, labels.astype(np.int64)

  x_train, y_train = images(300)
  x_test, y_test = images(50)
  np.savez(folder / "mnist.npz", x_train=x_train, y_train=y_train,
           x_test=x_test, y_test=y_test)
  return str(folder)


def _config(data_dir, arg="two_phase", **train):
  """`:quick` with one flow step per level and 1-level code flows."""
  config = tzk_mnist.get_config(f"quick,{arg}")
  config.data.dir = data_dir
  config.model.flow.steps = 1
  config.model.knowledge.update(code_levels=1, code_flow_steps=1)
  config.eval.gibbs_steps = 1
  config.train.update(train)
  return config


@pytest.fixture(scope="module")
def two_phase(tmp_path_factory, data_dir):
  """(config, workdir, results) of one quick two_phase run."""
  workdir = tmp_path_factory.mktemp("two_phase")
  config = _config(data_dir)
  return config, workdir, tzk.run(config, str(workdir))


def _val_losses(workdir):
  lines = (workdir / "metrics.jsonl").read_text().splitlines()
  return [json.loads(line)["val/loss"] for line in lines]


def _restore_params(config, workdir, knowledge):
  """Early-stopped variables in `workdir`'s checkpoint (knowledge types too).

  `tzk.load_flow_params` restores t-flow-only checkpoints; this builds the
  template of a model with `knowledge` without running its (slow) init.
  """
  model = tzk.build_model(config, knowledge)
  results = json.loads((workdir / "results.json").read_text())
  optimizer = common.optimizer(config, results["budget"]["steps_per_epoch"])
  abstract = jax.eval_shape(
      lambda: training.init_state(
          model, optimizer, jnp.zeros((1, *model.event_shape)),
          seed=config.seed, num_seeds=1,
      )
  )
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  template = jax.tree.map(
      lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=device),
      abstract,
  )
  checkpointer = training.Checkpointer(str(workdir / "checkpoints"))
  try:
    state = checkpointer.restore_latest(template)
  finally:
    checkpointer.close()
  return jax.tree.map(lambda a: np.asarray(a[0]),
                      training.selected_params(state))


def _assert_trees_equal(a, b):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_two_phase_writes_results_and_plots(two_phase):
  _, workdir, results = two_phase
  top = json.loads((workdir / "results.json").read_text())
  assert set(top) == {"flow", "conditional"} and top == results
  for phase, knowledge in (("flow", []), ("conditional", ["mnist:3"])):
    r = json.loads((workdir / phase / "results.json").read_text())
    assert r == top[phase], phase
    for key in ("test_bpd", "test_bpd_se", "wall_time_s"):
      assert np.isfinite(r[key]), (phase, key)
    # Untrained-ish flows on 8-bit images: a few bits/dim, not 0 or 1e6.
    assert 1.0 < r["test_bpd"] < 20.0, phase
    assert r["num_test"] == 40
    assert r["budget"]["epochs"] == 2 and r["budget"]["steps"] == 8
    assert r["config"]["workflow"] == "two_phase"
    assert r["knowledge_types"] == knowledge
    assert sorted(r["knowledge"]) == knowledge
    for name, k in r["knowledge"].items():
      assert k["num_test"] >= 3, name
      for key in ("prior_bpd", "thesis_bpd", "is_bpd"):
        assert np.isfinite(k[key]) and 1.0 < k[key] < 20.0, (name, key)
    pngs = _PLOTS + (("samples_mnist_3.png",) if knowledge else ())
    for png in pngs:
      assert (workdir / phase / "plots" / png).stat().st_size > 1000, png
  assert not (workdir / "flow" / "plots" / "samples_mnist_3.png").exists()
  assert top["flow"]["train_flow"] and not top["conditional"]["train_flow"]
  # The conditional phase freezes the t-flow: q(t) on the same test images
  # with the same evaluation key is bit-identical.
  assert top["conditional"]["test_bpd"] == top["flow"]["test_bpd"]
  assert top["conditional"]["test_bpd_se"] == top["flow"]["test_bpd_se"]


def test_finished_run_is_read_back_without_training(two_phase, monkeypatch):
  config, workdir, results = two_phase

  def no_training(**kwargs):
    raise AssertionError("a finished run was retrained")

  monkeypatch.setattr(training, "train", no_training)
  start = time.perf_counter()
  again = tzk.run(config, str(workdir))
  assert time.perf_counter() - start < 15.0
  assert again == results
  # A finished phase of its own is read back too.
  flow = _config(config.data.dir, "flow")
  assert tzk.run(flow, str(workdir / "flow")) == results["flow"]


def test_finished_run_reports_from_a_read_only_folder(two_phase, read_only):
  config, workdir, results = two_phase
  assert tzk.run(config, str(workdir)) == results


def test_finished_run_of_another_config_is_an_error(two_phase):
  config, workdir, _ = two_phase
  changed = copy.deepcopy(config)
  changed.train.conditional_max_epochs += 1
  with pytest.raises(mimjax.InputError, match="conditional_max_epochs"):
    tzk.run(changed, str(workdir))


def test_killed_flow_run_resumes_to_the_same_results(tmp_path, two_phase,
                                                    caplog):
  config, workdir, results = two_phase
  straight_dir = workdir / "flow"  # the uninterrupted 2-epoch flow phase
  resumed_dir = tmp_path / "resumed"
  tzk.run(_config(config.data.dir, "flow", max_epochs=1), str(resumed_dir))
  # "Killed" after epoch 1: its checkpoint stays, its results.json goes.
  (resumed_dir / "results.json").unlink()
  with caplog.at_level(logging.INFO, logger="absl"):
    resumed = tzk.run(_config(config.data.dir, "flow", max_epochs=2),
                      str(resumed_dir))
  assert f"Resumed {resumed_dir} at epoch 1." in caplog.text
  straight = results["flow"]
  assert resumed["budget"] == straight["budget"]
  for key in ("test_bpd", "test_bpd_se", "best_epoch"):
    assert resumed[key] == straight[key], key
  assert _val_losses(resumed_dir) == _val_losses(straight_dir)
  _assert_trees_equal(tzk.load_flow_params(config, str(resumed_dir)),
                      tzk.load_flow_params(config, str(straight_dir)))


def test_flow_epoch_same_on_one_and_four_devices(tmp_path, two_phase,
                                                 monkeypatch):
  config, workdir, _ = two_phase
  assert jax.device_count() == 4  # tests/conftest.py; the fixture used 4.
  make_mesh, sizes = training.make_mesh, []

  def one_device_mesh(*args, **kwargs):
    mesh = make_mesh(1)
    sizes.append(mesh.devices.size)
    return mesh

  monkeypatch.setattr(training, "make_mesh", one_device_mesh)
  one = tzk.run(_config(config.data.dir, "flow", max_epochs=1),
                str(tmp_path))
  assert sizes == [1]
  (val_one,) = _val_losses(tmp_path)
  val_four = _val_losses(workdir / "flow")[0]
  np.testing.assert_allclose(val_one, val_four, rtol=1e-5)
  assert np.isfinite(one["test_bpd"])


def test_end_to_end_stratified_trains_the_t_flow(tmp_path, data_dir):
  config = _config(data_dir, "end_to_end,stratified", max_epochs=1)
  results = tzk.run(config, str(tmp_path))
  assert results["config"]["sampling"] == "stratified"
  assert results["train_flow"] and results["knowledge_types"] == ["mnist:3"]
  assert results["budget"]["epochs"] == 1
  assert np.isfinite(results["test_bpd"])
  assert np.isfinite(results["knowledge"]["mnist:3"]["is_bpd"])
  for png in _PLOTS + ("samples_mnist_3.png",):
    assert (tmp_path / "plots" / png).stat().st_size > 1000, png
  trained = _restore_params(config, tmp_path, ("mnist:3",))["params"]
  assert set(trained) == {"t_flow", "types_mnist_3"}
  # The initial t-flow (t_flow's init key and ActNorm batch do not depend on
  # the knowledge types) moved in training, unlike the conditional phase's.
  flow_config = _config(data_dir, "flow")
  source = data.make_flow_source(**flow_config.data, batch_size=20)
  initial = tzk._initial_params(  # pylint: disable=protected-access
      flow_config, tzk.build_model(flow_config, ()), source, None
  )["params"]["t_flow"]
  change = [
      float(np.max(np.abs(np.asarray(a)[0] - b)))
      for a, b in zip(jax.tree.leaves(initial),
                      jax.tree.leaves(trained["t_flow"]))
  ]
  assert all(np.all(np.isfinite(a)) for a in jax.tree.leaves(trained))
  assert max(change) > 1e-4


def test_add_knowledge_keeps_flow_and_existing_types(two_phase):
  config, workdir, _ = two_phase
  flow = tzk.load_flow_params(config, str(workdir / "flow"))
  conditional = _restore_params(config, workdir / "conditional", ("mnist:3",))
  # The conditional phase's t-flow is the flow phase's, bit for bit.
  _assert_trees_equal(conditional["params"]["t_flow"], flow["params"]["t_flow"])
  model = tzk.build_model(config, ("mnist:3",))
  t = jax.random.uniform(jax.random.key(5), (8, *model.event_shape)) - 0.5
  extended, params = models.add_knowledge(
      model, conditional, ("mnist:3", "mnist:5"), jax.random.key(6), t
  )
  assert extended.knowledge == ("mnist:3", "mnist:5")
  assert set(params["params"]) == {"t_flow", "types_mnist_3",
                                   "types_mnist_5"}
  for name in ("t_flow", "types_mnist_3"):
    _assert_trees_equal(params["params"][name], conditional["params"][name])
  # The new type got parameters of its own shape (a fresh type), and the
  # extended model scores with them.
  _assert_trees_equal(
      jax.tree.map(np.shape, params["params"]["types_mnist_5"]),
      jax.tree.map(np.shape, params["params"]["types_mnist_3"]),
  )
  log_p = extended.apply(params, jax.random.key(7), t, 1,
                         method=extended.conditional_log_prob)
  assert log_p.shape == (8,) and np.all(np.isfinite(log_p))


class _TrainingStarted(Exception):
  pass


@pytest.fixture
def no_training(monkeypatch):
  """Makes any start of training (init or the loop) raise _TrainingStarted."""

  def started(*args, **kwargs):
    raise _TrainingStarted("training started before the input was checked")

  monkeypatch.setattr(training, "train", started)
  monkeypatch.setattr(tzk, "_initial_params", started)


@pytest.mark.parametrize(
    "fields,error,message",
    [
        ({"workflow": "flows"}, ValueError, "unknown workflow 'flows'"),
        ({"sampling": "decoder"}, ValueError, "unknown sampling 'decoder'"),
        ({"workflow": "conditional"}, ValueError, "flow_workdir"),
        ({"workflow": "end_to_end", "data.knowledge": ("svhn",)}, ValueError,
         "unknown dataset 'svhn'"),
        ({"data.datasets": ("svhn",)}, ValueError, "unknown: 'svhn'"),
    ],
)
def test_bad_config_fails_before_training(tmp_path, data_dir, no_training,
                                          fields, error, message):
  config = _config(data_dir)
  config.update_from_flattened_dict(fields)
  with pytest.raises(error, match=message):
    tzk.run(config, str(tmp_path))
  assert not any(tmp_path.iterdir())


def test_conditional_needs_a_finished_flow_run(tmp_path, data_dir,
                                               no_training):
  config = _config(data_dir, "conditional")
  config.flow_workdir = str(tmp_path / "flow")
  (tmp_path / "flow" / "checkpoints").mkdir(parents=True)  # killed run
  with pytest.raises(FileNotFoundError, match="flow.results.json is missing"):
    tzk.run(config, str(tmp_path / "conditional"))


def test_missing_data_names_the_file_and_flag(tmp_path, no_training):
  config = _config(str(tmp_path))
  with pytest.raises(FileNotFoundError,
                     match="mnist.npz.*--config.data.dir="):
    tzk.run(config, str(tmp_path / "work"))


def test_config_argument_typo_is_an_error():
  with pytest.raises(ValueError, match="unknown config argument 'quik'"):
    tzk_common.base(("mnist",), ("mnist:3",), arg="quik")


def test_two_phase_checks_knowledge_before_the_flow_phase(tmp_path, data_dir,
                                                          no_training):
  config = _config(data_dir)
  config.data.knowledge = ("svhn",)
  with pytest.raises(ValueError, match="svhn"):
    tzk.run(config, str(tmp_path))


def test_knowledge_type_of_an_absent_class_is_rejected(tmp_path, data_dir,
                                                       no_training):
  config = _config(data_dir, "end_to_end")
  config.data.knowledge = ("mnist:11",)
  with pytest.raises(ValueError, match="mnist:11"):
    tzk.run(config, str(tmp_path))
