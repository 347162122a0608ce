r"""Flow experiments: the Glow t-flow and TzK conditional models (thesis ch. 8).

Workflows (`config.workflow`, Sec. 8.4):
  flow        the unconditional t-flow (C = 0) on the mixed datasets;
  conditional freeze the t-flow of a finished flow run (`config.flow_workdir`)
              and learn a knowledge type for every label in `config.data.
              knowledge` (Sec. 8.4.4, "specialising a t-flow");
  two_phase   both in one command, in <workdir>/flow and
              <workdir>/conditional (the default);
  end_to_end  the t-flow and the knowledge types trained together.
Knowledge types are added online: a frozen flow (or an earlier conditional
run) keeps its parameters and each new type gets fresh ones
(`models.add_knowledge`).

Each phase folder gets:
  results.json  test bits/dim of the t-flow q(t); per knowledge type, on its
                own test images, the t-flow's bits/dim beside the conditional's
                (the thesis's one-sample App. G.2.3 value and an importance-
                sampled likelihood), plus the config, budget and wall time
  plots/        test data, samples of q(t), Gibbs samples of every
                conditional (App. G.2.2), z-interpolation between test images
                (Figs 8.5-8.7), validation-loss curve (in bits/dim)
  checkpoints/, metrics.jsonl, TensorBoard events

  python -m experiments.tzk --config=configs/tzk_mnist.py:small \
      --config.data.dir=/path/to/folder/with/mnist.npz

A killed run resumes from its last checkpoint when started again with the
same workdir; a finished phase is not re-run.
"""

import copy
import os
import time

from absl import flags

from experiments import cli

flags.adopt_module_key_flags(cli)
cli.exit_on_help(__name__)  # needs only the flags: answered before jax

# pylint: disable=wrong-import-position,wrong-import-order
from absl import app
from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from configs import tzk_common
from experiments import common
import mimjax
from mimjax import data
from mimjax import evaluation
from mimjax import files
from mimjax import models
from mimjax import objectives
from mimjax import plotting
from mimjax import training
# pylint: enable=wrong-import-position,wrong-import-order



def build_model(config, knowledge):
  """The `TzK` of `config.model` with the given knowledge type names."""
  shape = (32, 32, config.data.channels)
  return models.TzK(
      event_shape=shape,
      knowledge=tuple(knowledge),
      flow=dict(config.model.flow),
      knowledge_config=dict(config.model.knowledge),
  )


def _initial_params(config, model, source, flow_params):
  """`[1, ...]` starting variables, ActNorm initialised on training images.

  With `flow_params` (a trained t-flow, possibly with knowledge types) those
  are kept and only the missing knowledge types are initialised.
  """
  key = jax.random.fold_in(jax.random.key(config.seed), 11)
  x = source.train_eval["x"][: config.train.init_batch]
  t = data.uniform_dequantize(key, jnp.asarray(x))
  if flow_params is None:
    params = model.init(key, t)
  else:
    _, params = models.add_knowledge(
        model.clone(knowledge=()), flow_params, model.knowledge, key, t
    )
  return jax.tree.map(lambda a: jnp.asarray(a)[None], params)


def load_flow_params(config, flow_workdir):
  """The early-stopped t-flow variables of a finished flow run."""
  if not flow_workdir:
    raise mimjax.InputError(
        "workflow 'conditional' needs --config.flow_workdir=<workdir of a "
        "finished 'flow' run> (or use workflow 'two_phase')"
    )
  finished = files.read_json(os.path.join(flow_workdir, "results.json"))
  if finished is None:
    raise mimjax.MissingInputError(
        f"no finished flow run in {flow_workdir} "
        f"({os.path.join(flow_workdir, 'results.json')} is missing): train "
        "it first with the same config and ':flow', "
        f"--workdir={flow_workdir}"
    )
  model = build_model(config, ())
  optimizer = common.optimizer(
      config, finished["budget"]["steps_per_epoch"]
  )
  template = training.init_state(
      model, optimizer, jnp.zeros((1, *model.event_shape)), seed=config.seed,
      num_seeds=1,
  )
  checkpointer = training.Checkpointer(
      os.path.join(flow_workdir, "checkpoints")
  )
  try:
    # Parameters only: a finished run's optimiser state is not needed.
    restored = checkpointer.restore_parameters(template)
  finally:
    checkpointer.close()
  if restored is None:
    raise mimjax.MissingInputError(
        f"{flow_workdir}/checkpoints holds no checkpoint"
    )
  state = template.replace(**restored)
  return jax.tree.map(lambda a: a[0], training.selected_params(state))


def _to_images(t):
  """Dequantised t in [-1/2, 1/2) -> images in [0, 1]."""
  return np.clip(np.asarray(t) + 0.5, 0.0, 1.0)


def _interpolation(model, params, corners, steps):
  """Bilinear interpolation in z between 4 images: `[steps^2, H, W, ch]`."""
  z = model.apply(params, corners, method=model.to_latent)  # [4, D]
  u = jnp.linspace(0.0, 1.0, steps)
  a, b = jnp.meshgrid(u, u, indexing="ij")
  a, b = a.reshape(-1, 1), b.reshape(-1, 1)
  grid = ((1 - a) * (1 - b) * z[0] + (1 - a) * b * z[1]
          + a * (1 - b) * z[2] + a * b * z[3])
  return model.apply(params, grid, method=model.to_data)


def _corner_images(test, num):
  """4 test images from as many datasets (then classes) as there are."""
  picked = []
  for groups in (test["dataset"], test["label"]):
    for g in np.unique(groups):
      i = int(np.flatnonzero(groups == g)[0])
      if i not in picked:
        picked.append(i)
  picked += [i for i in range(num) if i not in picked]
  return np.asarray(test["x"])[picked[:4]]


def _make_plots(config, workdir, model, params, test):
  plots = os.path.join(workdir, "plots")
  ec = config.eval
  n = ec.num_samples
  ncols = int(np.ceil(np.sqrt(n)))
  names = "+".join(config.data.datasets)
  plotting.image_grid(
      np.asarray(test["x"][:n]) / 255.0, os.path.join(plots, "test_data.png"),
      ncols=ncols, title=f"{names}: test data",
  )
  key = jax.random.key(config.seed + 2)
  samples = jax.jit(
      lambda k: model.apply(params, k, n, ec.temperature,
                            method=model.flow_sample)
  )(key)
  plotting.image_grid(
      _to_images(samples), os.path.join(plots, "samples_flow.png"),
      ncols=ncols, title=f"{names}: t ~ q(t), T = {ec.temperature}",
  )
  for i, name in enumerate(model.knowledge):
    samples = jax.jit(
        lambda k, i=i: model.apply(
            params, k, n, i, gibbs_steps=ec.gibbs_steps,
            temperature=ec.temperature, method=model.conditional_sample,
        )
    )(jax.random.fold_in(key, i + 1))
    plotting.image_grid(
        _to_images(samples),
        os.path.join(plots, f"samples_{models.knowledge_key(name)}.png"),
        ncols=ncols,
        title=f"t ~ p(t | e = 1) for {name}, {ec.gibbs_steps} Gibbs sweeps",
    )
  corners = data.uniform_dequantize(
      jax.random.fold_in(key, 0),
      jnp.asarray(_corner_images(test, len(test["x"]))),
  )
  plotting.image_grid(
      _to_images(_interpolation(model, params, corners,
                                ec.interpolation_steps)),
      os.path.join(plots, "interpolation.png"), ncols=ec.interpolation_steps,
      title="interpolation in z",
  )
  common.plot_validation_curve(
      config, workdir, training.read_metrics(workdir),
      label="val loss (bits/dim)",
  )


def _test_split(source, num_test):
  test = source.test
  if not num_test:
    return test
  # The first num_test images of each dataset.
  keep = np.concatenate([
      np.flatnonzero(test["dataset"] == d)[:num_test]
      for d in np.unique(test["dataset"])
  ])
  return {k: np.asarray(v)[keep] for k, v in test.items()}


def run_phase(config, workdir, *, with_knowledge, flow_params, train_flow,
              max_epochs):
  """Trains and evaluates one phase in `workdir`; returns its results."""
  phase = copy.deepcopy(config)
  with phase.unlocked():
    phase.train.max_epochs = max_epochs
    if not with_knowledge:
      phase.data.knowledge = ()
      phase.data.train_filter = (
          config.flow_train_filter or config.data.train_filter
      )
  # A phase is the same run whichever workflow trained it.
  finished = common.finished_results(
      workdir, phase, ignore=("workflow", "flow_workdir")
  )
  if finished is not None:
    return finished
  start = time.perf_counter()
  source = data.make_flow_source(**phase.data,
                                 batch_size=phase.train.batch_size)
  model = build_model(phase, source.knowledge_names)
  mesh = training.make_mesh()
  training.check_divisible(phase.train.batch_size, mesh)
  state = common.train(
      phase,
      model=model,
      loss_fn=objectives.make_tzk_loss_fn(
          model, sampling=phase.sampling, train_flow=train_flow
      ),
      source=source,
      workdir=workdir,
      mesh=mesh,
      init_params=_initial_params(phase, model, source, flow_params),
  )
  train_time = training.training_seconds(workdir)
  params = jax.tree.map(lambda a: a[0], training.selected_params(state))
  ec = phase.eval
  test = _test_split(source, ec.num_test)
  metrics = evaluation.evaluate_tzk(
      model, params, test, key=jax.random.key(phase.seed + 1),
      batch_size=ec.batch_size, is_samples=ec.is_samples,
      existence_samples=ec.existence_samples,
  )
  results = dict(
      metrics,
      knowledge_types=list(model.knowledge),
      train_flow=train_flow,
      **common.run_record(phase, state, source, start=start,
                          train_time=train_time, unit="images"),
  )
  if jax.process_index() == 0:
    _make_plots(phase, workdir, model, params, test)
  return common.write_results(workdir, results)


def run(config, workdir, *, overwrite=False):
  """Runs `config.workflow` in `workdir`; returns the results dict.

  A finished run of the same config is read back without writing (also
  from a read-only folder), and so are finished phases; a different config
  is an error unless `overwrite` (see `training.claim_workdir`).
  """
  if config.workflow not in tzk_common.WORKFLOWS:
    raise mimjax.InputError(
        f"unknown workflow {config.workflow!r}; use one of "
        f"{tzk_common.WORKFLOWS}"
    )
  if config.sampling not in objectives.TZK_SAMPLINGS:
    raise mimjax.InputError(
        f"unknown sampling {config.sampling!r}; use one of "
        f"{objectives.TZK_SAMPLINGS}"
    )
  finished = common.finished_workflow(workdir, config, overwrite=overwrite)
  if finished is not None:
    return finished
  with training.claim_workdir(workdir, config, overwrite=overwrite):
    return _run_workflow(config, workdir)


def _run_workflow(config, workdir):
  tc = config.train
  if config.workflow == "flow":
    return run_phase(config, workdir, with_knowledge=False, flow_params=None,
                     train_flow=True, max_epochs=tc.max_epochs)
  if config.workflow == "end_to_end":
    return run_phase(config, workdir, with_knowledge=True, flow_params=None,
                     train_flow=True, max_epochs=tc.max_epochs)
  if config.workflow == "conditional":
    return run_phase(
        config, workdir, with_knowledge=True,
        flow_params=load_flow_params(config, config.flow_workdir),
        train_flow=False, max_epochs=tc.conditional_max_epochs,
    )
  # Check the knowledge types on the data before the flow phase trains.
  data.make_flow_source(**config.data, batch_size=tc.batch_size)
  flow_dir = os.path.join(workdir, "flow")
  flow = run_phase(config, flow_dir, with_knowledge=False, flow_params=None,
                   train_flow=True, max_epochs=tc.max_epochs)
  conditional = run_phase(
      config, os.path.join(workdir, "conditional"), with_knowledge=True,
      flow_params=load_flow_params(config, flow_dir), train_flow=False,
      max_epochs=tc.conditional_max_epochs,
  )
  return common.write_results(
      workdir, dict(flow=flow, conditional=conditional)
  )


def _log_summary(results, workdir):
  for phase, r in results.items() if "flow" in results else [("", results)]:
    logging.info("%s test bits/dim of q(t): %.4f +- %.4f", phase,
                 r["test_bpd"], r["test_bpd_se"])
    for name, k in r["knowledge"].items():
      if "is_bpd" in k:
        logging.info(
            "%s %s (%d images): q(t) %.4f | conditional (App. G.2.3) %.4f | "
            "conditional (IS) %.4f bits/dim", phase, name, k["num_test"],
            k["prior_bpd"], k["thesis_bpd"], k["is_bpd"],
        )
  logging.info("See %s", os.path.join(workdir, "results.json"))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  workdir = common.setup()
  results = run(copy.deepcopy(common.CONFIG.value), workdir,
                overwrite=common.OVERWRITE.value)
  _log_summary(results, workdir)


if __name__ == "__main__":
  common.run_main(main)
