"""Smoke tests of the toy entrypoint (shrunken configs, synthetic data)."""

import copy
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from configs import toy_1d
from configs import toy_gmm2d
from configs import toy_pca20
from experiments import toy_mim
import mimjax
from mimjax import training

# End-to-end runs: the slow tier (`pytest -m "not slow"` skips them).
pytestmark = pytest.mark.slow

_REPO = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir)


def test_gmm2d_writes_results_plots_and_summary(tmp_path, tiny_toy):
  config = tiny_toy(toy_gmm2d.get_config("quick"))
  config.sweep.hidden = [8]
  results = toy_mim.run(config, str(tmp_path))
  with open(tmp_path / "results.json") as f:
    on_disk = json.load(f)
  assert on_disk["config"]["sweep"]["losses"] == ["mim", "vae"]
  assert len(results["runs"]) == 4  # 2 losses x 1 width x 2 seeds
  for run in on_disk["runs"]:
    assert {"loss", "hidden", "latent_dim", "seed", "metrics"} <= set(run)
    for name in ("mi_ksg", "nll", "recon_err", "knn5_acc", "posterior_std"):
      assert np.isfinite(run["metrics"][name]), name
  for png in ("fig51_posteriors.png", "metrics_vs_hidden.png", "val_loss.png"):
    assert (tmp_path / "plots" / png).stat().st_size > 5000
  assert "| mim | 8 | 2 |" in (tmp_path / "summary.md").read_text()
  # Running again reuses the finished runs (no retraining) and agrees.
  again = toy_mim.run(config, str(tmp_path))
  assert again["runs"] == results["runs"]


def test_app_b_1d_models_and_density_plot(tmp_path, tiny_toy):
  config = tiny_toy(toy_1d.get_config())
  toy_mim.run(config, str(tmp_path))
  assert (tmp_path / "plots" / "densities_1d.png").stat().st_size > 5000
  with open(tmp_path / "results.json") as f:
    losses = {r["loss"] for r in json.load(f)["runs"]}
  assert losses == {"mim", "ce"}


def test_staged_loss_starts_from_the_first_stage(tmp_path, tiny_toy):
  """App. B.3: "ce>mim" trains CE, then MIM from CE's best models."""
  config = tiny_toy(toy_1d.get_config("pretrain"))
  config.sweep.losses = ["ce>mim"]
  config.num_seeds = 1
  toy_mim.run(config, str(tmp_path))
  run = tmp_path / "runs" / "ce_then_mim_h10_z1"
  first = [json.loads(l) for l in open(run / "stage_ce" / "metrics.jsonl")]
  second = [json.loads(l) for l in open(run / "metrics.jsonl")]
  assert len(first) == len(second) == config.train.max_epochs
  # The MIM stage starts from a trained model, not from a fresh init.
  fresh = tiny_toy(toy_1d.get_config())
  fresh.sweep.losses = ["mim"]
  fresh.num_seeds = 1
  toy_mim.run(fresh, str(tmp_path / "fresh"))
  scratch = [
      json.loads(l)
      for l in open(tmp_path / "fresh" / "runs" / "mim_h10_z1" / "metrics.jsonl")
  ]
  assert second[0]["train/loss"] != scratch[0]["train/loss"]


def test_pca_from_local_npz(tmp_path, tiny_toy):
  rng = np.random.default_rng(0)
  data_dir = tmp_path / "data"
  data_dir.mkdir()
  np.savez(
      data_dir / "mnist.npz",
      x_train=rng.integers(0, 256, (600, 28, 28), dtype=np.uint8),
      y_train=rng.integers(0, 10, 600).astype(np.uint8),
      x_test=rng.integers(0, 256, (200, 28, 28), dtype=np.uint8),
      y_test=rng.integers(0, 10, 200).astype(np.uint8),
  )
  config = tiny_toy(toy_pca20.get_config("quick"))
  config.data.dir = str(data_dir)
  config.data.num_validation = 100
  config.sweep.losses = ["vae"]
  config.sweep.latent_dim = [4]
  results = toy_mim.run(config, str(tmp_path / "work"))
  assert {r["latent_dim"] for r in results["runs"]} == {4}


def test_unknown_loss_is_rejected_before_training(tmp_path, tiny_toy):
  config = tiny_toy(toy_gmm2d.get_config("quick"))
  config.sweep.losses = ["mim", "nope"]
  with pytest.raises(ValueError, match="unknown loss 'nope'"):
    toy_mim.run(config, str(tmp_path))
  assert not (tmp_path / "runs").exists()


def test_unknown_validation_is_rejected_before_training(tmp_path, tiny_toy):
  config = tiny_toy(toy_gmm2d.get_config("quick"))
  config.validation = "decoder_half"
  with pytest.raises(mimjax.InputError, match="unknown config.validation"):
    toy_mim.run(config, str(tmp_path))
  assert not (tmp_path / "runs").exists()


def test_encoder_half_validation_trains(tmp_path, tiny_toy):
  config = tiny_toy(toy_gmm2d.get_config("quick"))
  config.validation = "encoder_half"
  results = toy_mim.run(config, str(tmp_path))
  assert {r["loss"] for r in results["runs"]} == set(config.sweep.losses)


def test_missing_data_dir_names_the_flag(tmp_path, tiny_toy):
  config = tiny_toy(toy_pca20.get_config("quick"))
  config.data.dir = str(tmp_path / "nowhere")
  with pytest.raises(FileNotFoundError, match="config.data.dir"):
    toy_mim.run(config, str(tmp_path / "work"))


@pytest.mark.parametrize(
    "override, message",
    [
        ("--config.no_such_field=1", "no_such_field"),
        ("--config.optim.schedule=cosine", "unknown schedule 'cosine'"),
        ("--config.train.batch_size=30", "not divisible"),
    ],
)
def test_bad_config_fails_with_a_clear_message(tmp_path, override, message,
                                               tiny_toy):
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
  proc = subprocess.run(
      [
          sys.executable, "-m", "experiments.toy_mim",
          "--config=configs/toy_gmm2d.py:quick",
          f"--workdir={tmp_path}",
          "--config.num_seeds=1",
          override,
      ],
      cwd=_REPO,
      capture_output=True,
      text=True,
      timeout=300,
      env=env,
  )
  assert proc.returncode != 0
  assert message in proc.stderr


@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory, tiny_toy):
  """A finished tiny sweep (1 point) and its config."""
  config = tiny_toy(toy_gmm2d.get_config("quick"))
  config.sweep.losses = ["vae"]
  config.sweep.hidden = [8]
  config.plots.kinds = ["curves"]
  workdir = tmp_path_factory.mktemp("finished")
  return config, workdir, toy_mim.run(config, str(workdir))


def test_provenance_is_recorded(finished_sweep):
  config, workdir, results = finished_sweep
  record = json.loads((workdir / "run.json").read_text())
  assert results["provenance"]["config_hash"] == record["config_hash"]
  assert record["environment"]["libraries"]["jax"]
  assert record["config"] == json.loads(json.dumps(config.to_dict(),
                                                   default=list))


def test_changed_config_is_an_error_that_changes_nothing(finished_sweep,
                                                        snapshot):
  config, workdir, _ = finished_sweep
  before = snapshot(workdir)
  changed = copy.deepcopy(config)
  changed.optim.learning_rate = 0.1
  with pytest.raises(mimjax.InputError) as e:
    toy_mim.run(changed, str(workdir))
  assert "optim.learning_rate: 0.001 -> 0.1" in str(e.value)
  assert "\n" not in str(e.value)
  assert snapshot(workdir) == before


def test_torn_outputs_are_rebuilt_without_retraining(finished_sweep, tmp_path):
  config, workdir, results = finished_sweep
  copy_dir = tmp_path / "copy"
  shutil.copytree(workdir, copy_dir)
  (copy_dir / "results.json").write_text('{"runs": [')  # killed mid-write
  rundir = copy_dir / "runs" / "vae_h8_z2"
  (rundir / "eval.json").write_text("")
  metrics = (rundir / "metrics.jsonl").read_text()
  again = toy_mim.run(config, str(copy_dir))
  assert again["runs"] == results["runs"]
  assert json.loads((rundir / "eval.json").read_text())["per_seed"]
  assert (rundir / "metrics.jsonl").read_text() == metrics  # no new epoch


def test_finished_run_reports_without_writing(finished_sweep, read_only):
  """A finished run in a read-only folder reports its results."""
  config, workdir, results = finished_sweep
  assert toy_mim.run(config, str(workdir)) == results


def test_longer_sweep_reuses_finished_points(finished_sweep, tmp_path,
                                             monkeypatch):
  config, workdir, results = finished_sweep
  copy_dir = tmp_path / "copy"
  shutil.copytree(workdir, copy_dir)
  longer = copy.deepcopy(config)
  longer.sweep.hidden = [8, 4]
  trained = []
  train = training.train
  monkeypatch.setattr(
      training, "train", lambda **kw: trained.append(kw["workdir"]) or train(**kw)
  )
  again = toy_mim.run(longer, str(copy_dir))
  assert [os.path.basename(w) for w in trained] == ["vae_h4_z2"]
  assert again["runs"][:2] == results["runs"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--config=configs/toy_gmm2d.py:quick", "--config.train.batchsize=3"],
         "error: --config.train.batchsize=3: the config has no field "
         "'batchsize' (did you mean 'batch_size'?)"),
        ([], "error: --config is required"),
        (["--config=configs/nope.py"],
         "error: --config=configs/nope.py: cannot load the config file"),
        (["--config=configs/toy_gmm2d.py:qick"],
         "error: --config=configs/toy_gmm2d.py:qick: unknown config argument "
         "'qick'"),
        (["--config=configs/toy_gmm2d.py:quick", "--config.num_seeds=x"],
         "error: --config.num_seeds=x: invalid literal for int()"),
    ],
)
def test_command_line_mistakes_give_one_line(tmp_path, args, message):
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.toy_mim", f"--workdir={tmp_path}",
       *args],
      cwd=_REPO, capture_output=True, text=True, timeout=300,
  )
  assert proc.returncode == 1
  errors = [line for line in proc.stderr.splitlines()
            if not line.startswith(("I", "W"))]  # absl log lines
  assert len(errors) == 1 and errors[0].startswith(message), proc.stderr
  assert "Traceback" not in proc.stderr
  assert os.listdir(tmp_path) == []


def test_help_exits_zero():
  proc = subprocess.run(
      [sys.executable, "-m", "experiments.toy_mim", "--help"],
      cwd=_REPO, capture_output=True, text=True, timeout=300,
  )
  assert proc.returncode == 0
  assert "--[no]overwrite" in proc.stdout and "--workdir" in proc.stdout
