"""Learning-rate schedules, optimiser construction and the metric writer."""

import glob
import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mimjax import training


def _schedule_fields(**overrides):
  """Keyword arguments of `learning_rate_schedule` (noam, lr 0.3, w = 3)."""
  fields = dict(learning_rate=0.3, schedule="noam", warmup_epochs=3)
  fields.update(overrides)
  return fields


def _sgd(steps_per_epoch, **overrides):
  return training.make_optimizer(
      name=overrides.pop("name", "sgd"), steps_per_epoch=steps_per_epoch,
      **_schedule_fields(**overrides),
  )


def test_noam_schedule_per_epoch_values():
  steps_per_epoch, lr = 5, 0.3
  schedule = training.learning_rate_schedule(
      **_schedule_fields(learning_rate=lr), steps_per_epoch=steps_per_epoch
  )
  # Epochs 1..4 at warm-up 3: lr/3, 2 lr/3, lr (peak), lr sqrt(3/4).
  expected = [lr / 3, 2 * lr / 3, lr, lr * math.sqrt(3 / 4)]
  for epoch, want in enumerate(expected):
    for step in range(epoch * steps_per_epoch, (epoch + 1) * steps_per_epoch):
      np.testing.assert_allclose(
          float(schedule(jnp.asarray(step))), want, rtol=1e-6
      )


def test_noam_schedule_drives_sgd_updates():
  """The optimiser really applies the schedule: sgd step = -lr(step) * g."""
  steps_per_epoch, lr = 2, 0.3
  opt = _sgd(steps_per_epoch, learning_rate=lr)
  params = {"w": jnp.zeros(())}
  grads = {"w": jnp.ones(())}
  opt_state = opt.init(params)
  got = []
  for _ in range(4 * steps_per_epoch):
    updates, opt_state = opt.update(grads, opt_state, params)
    got.append(-float(updates["w"]))
  per_epoch = [lr / 3, 2 * lr / 3, lr, lr * math.sqrt(3 / 4)]
  want = np.repeat(per_epoch, steps_per_epoch)
  np.testing.assert_allclose(got, want, rtol=1e-6)


def test_constant_and_linear_warmup_schedules():
  constant = training.learning_rate_schedule(
      **_schedule_fields(schedule="constant"), steps_per_epoch=4
  )
  np.testing.assert_allclose(float(constant(17)), 0.3, rtol=1e-7)
  linear = training.learning_rate_schedule(
      **_schedule_fields(schedule="linear_warmup", warmup_epochs=2),
      steps_per_epoch=5,
  )
  np.testing.assert_allclose(
      [float(linear(s)) for s in (0, 5, 10, 30)],
      [0.0, 0.15, 0.3, 0.3],
      rtol=1e-6,
  )


def test_noam_schedule_accepts_python_int_step():
  schedule = training.learning_rate_schedule(
      **_schedule_fields(), steps_per_epoch=5
  )
  np.testing.assert_allclose(float(schedule(10)), 0.3, rtol=1e-6)


def test_linear_warmup_without_warmup_is_constant():
  schedule = training.learning_rate_schedule(
      **_schedule_fields(schedule="linear_warmup", warmup_epochs=0),
      steps_per_epoch=5,
  )
  np.testing.assert_allclose(float(schedule(jnp.asarray(0))), 0.3)


def test_clip_global_norm_is_applied():
  opt = _sgd(1, schedule="constant", learning_rate=1.0, clip_global_norm=0.5)
  params = {"w": jnp.zeros((2,))}
  updates, _ = opt.update(
      {"w": jnp.array([3.0, 4.0])}, opt.init(params), params
  )
  np.testing.assert_allclose(updates["w"], [-0.3, -0.4], rtol=1e-6)


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(schedule="cosine"), "unknown schedule"),
        (dict(name="rmsprop"), "unknown optimiser"),
        (dict(schedule="noam", warmup_epochs=0), "warmup_epochs"),
    ],
)
def test_bad_optim_config_raises(overrides, match):
  with pytest.raises(ValueError, match=match):
    _sgd(10, **overrides)


def _read_jsonl(path):
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def test_metric_writer_jsonl_and_tensorboard(tmp_path, tb_scalars):
  workdir = str(tmp_path)
  writer = training.MetricWriter(workdir)
  for epoch in (1, 2, 3):
    writer.write(
        epoch,
        {"val/loss": np.array([epoch, 2.0 * epoch]), "lr": np.float32(0.5)},
    )
  writer.close()

  records = _read_jsonl(os.path.join(workdir, "metrics.jsonl"))
  assert [r["epoch"] for r in records] == [1, 2, 3]
  assert records[1] == {
      "epoch": 2,
      "val/loss": 3.0,
      "val/loss/per_seed": [2.0, 4.0],
      "lr": 0.5,
  }
  event_files = glob.glob(
      os.path.join(workdir, "tensorboard", "events.out.tfevents.*")
  )
  assert event_files
  scalars = tb_scalars(os.path.join(workdir, "tensorboard"))
  val = sorted((s, v) for tag, s, v in scalars if tag == "val/loss")
  np.testing.assert_allclose(val, [(1, 1.5), (2, 3.0), (3, 4.5)])


def test_metric_writer_truncates_past_resume_epoch(tmp_path):
  workdir = str(tmp_path)
  writer = training.MetricWriter(workdir)
  for epoch in (1, 2, 3, 4):
    writer.write(epoch, {"train/loss": np.float32(10.0 + epoch)})
  writer.close()

  # Resumed from a checkpoint at epoch 2: epochs 3, 4 are re-trained.
  writer = training.MetricWriter(workdir, resume_epoch=2)
  records = _read_jsonl(os.path.join(workdir, "metrics.jsonl"))
  assert [r["epoch"] for r in records] == [1, 2]
  assert [r["train/loss"] for r in records] == [11.0, 12.0]
  writer.write(3, {"train/loss": np.float32(-3.0)})
  writer.close()
  records = _read_jsonl(os.path.join(workdir, "metrics.jsonl"))
  assert [(r["epoch"], r["train/loss"]) for r in records] == [
      (1, 11.0), (2, 12.0), (3, -3.0)
  ]

  # A fresh start (resume_epoch 0) in the same folder drops every old line.
  training.MetricWriter(workdir, resume_epoch=0).close()
  assert _read_jsonl(os.path.join(workdir, "metrics.jsonl")) == []


def test_metric_writer_disabled_off_process_zero(tmp_path, monkeypatch):
  monkeypatch.setattr(jax, "process_index", lambda: 1)
  writer = training.MetricWriter(str(tmp_path / "w"))
  writer.write(1, {"a": 1.0})
  writer.close()
  assert not os.path.exists(tmp_path / "w")


def test_resumed_writer_rebuilds_unflushed_tensorboard_epochs(tmp_path,
                                                            tb_scalars):
  """A killed writer had written epochs 1-3 to metrics.jsonl but flushed no
  events; the resumed writer rebuilds them, so TensorBoard has every epoch
  once, with the values of metrics.jsonl."""
  workdir = str(tmp_path)
  lines = [{"epoch": e, "train/loss": 10.0 + e, "train/loss/per_seed": [1, 2]}
           for e in (1, 2, 3)]
  with open(os.path.join(workdir, "metrics.jsonl"), "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in lines)
    f.write('{"epoch": 4, "train/lo')  # torn by the kill
  os.makedirs(os.path.join(workdir, "tensorboard"))
  open(os.path.join(workdir, "tensorboard", "events.out.tfevents.1.vm"),
       "wb").close()  # the killed writer's empty event file
  writer = training.MetricWriter(workdir, resume_epoch=3)
  writer.write(4, {"train/loss": np.float32(14.0)})
  writer.close()
  scalars = tb_scalars(os.path.join(workdir, "tensorboard"))
  assert sorted((s, v) for _, s, v in scalars) == [
      (1, 11.0), (2, 12.0), (3, 13.0), (4, 14.0)
  ]
  assert [r["epoch"] for r in _read_jsonl(
      os.path.join(workdir, "metrics.jsonl"))] == [1, 2, 3, 4]


def test_read_metrics_skips_a_torn_last_line(tmp_path):
  """A run killed mid-write leaves a torn last line; the readers of a run's
  record (plots, curves, the stopping-rule replay) get the complete lines."""
  lines = [{"epoch": e, "val/loss": 5.0 - e} for e in (1, 2)]
  with open(tmp_path / "metrics.jsonl", "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in lines)
    f.write("\n")
    f.write('{"epoch": 3, "val/lo')
  assert training.read_metrics(str(tmp_path)) == lines
