"""Smoke tests of the image entrypoint on a small synthetic MNIST file."""

import importlib
import json

import numpy as np
import pytest

from configs import mnist_vp
from experiments import image_mim
from experiments import image_table

# End-to-end runs: the slow tier (`pytest -m "not slow"` skips them).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir(synthetic_mnist_dir):
  return synthetic_mnist_dir


def _quick(data_dir, loss):
  config = mnist_vp.get_config(f"quick,{loss}")
  config.data.dir = data_dir
  config.data.num_validation = 60
  return config


def test_quick_mim_run_writes_results_and_plots(tmp_path, data_dir):
  config = _quick(data_dir, "mim")
  results = image_mim.run(config, str(tmp_path))
  on_disk = json.loads((tmp_path / "results.json").read_text())
  for key in ("nll_is", "elbo", "knn1_acc", "knn5_acc", "nmi", "recon_err",
              "knn5_acc_mean", "noise_share", "pooled_noise_share"):
    assert np.isfinite(on_disk[key]), key
  assert len(on_disk["scale_per_dim"]["mean_spread"]) == 80
  assert on_disk["budget"]["steps"] == 4
  assert on_disk["config"]["loss"] == "mim"
  assert results["nll_is"] > 0 and on_disk["nll_is_samples"] == 10
  # The standard error holds the test-set sampling error besides the Monte
  # Carlo error of each image's estimate.
  assert on_disk["nll_is_stderr"] > on_disk["nll_is_mc_stderr"] > 0
  for png in ("test_data.png", "reconstructions.png", "samples.png",
              "tsne_z.png", "val_loss.png"):
    assert (tmp_path / "plots" / png).stat().st_size > 3000, png
  # A finished run is read back, not retrained.
  assert image_mim.run(config, str(tmp_path)) == on_disk


def test_validation_split_run_with_a_detached_learned_anchor(tmp_path,
                                                              data_dir):
  """Settings are compared on the validation split: every metric is
  computed on its (here 40) images, none on the test split's 100."""
  config = _quick(data_dir, "mim")
  config.latent_anchor.kind = "learned_stop_gradient"
  config.eval.split = "validation"
  config.eval.num_train_features = 100
  results = image_mim.run(config, str(tmp_path))
  assert results["nll_is_examples"] == 20  # num_nll_examples of :quick
  assert len(results["scale_per_dim"]["posterior_std"]) == 80
  assert np.isfinite(results["knn5_acc_mean"])
  assert results["config"]["eval"]["split"] == "validation"


def test_table_lists_ours_beside_the_thesis(tmp_path):
  row = dict(nll_is=90.0, nll_is_stderr=0.5, nll_is_samples=100,
             nll_is_examples=200, elbo=-95.0, knn1_acc=0.9, knn5_acc=0.93,
             nmi=0.7, recon_err=4.0, active_units=30, train_time_s=10.0,
             budget=dict(epochs=4, steps=200, train_images=20000))
  path = tmp_path / "table.md"
  image_table.write_table([(("mnist", "vp", "mim", "0"), row)], path,
                          no_warmup=False)
  text = path.read_text()
  assert ("| mnist VP MIM seed 0 | 90.00 ± 0.50 (S=100, n=200) | 82.73 | - |"
          in text)
  assert "0.930 | 0.970" in text
  # The dense HVAE's VAE rows sit beside the VampPrior paper's HVAE (L = 2).
  image_table.write_table([(("mnist", "vp", "vae", "1"), row)], path,
                          no_warmup=False, model="hvae")
  text = path.read_text()
  assert text.startswith("dense HVAE (L = 2)")
  assert "| mnist VP VAE seed 1 | 90.00 ± 0.50 (S=100, n=200) | 79.66 | 83.19 |" in text
  # --from_results: a row without results.json is listed as not run, with
  # as many cells as the header.
  image_table.write_table([(("mnist", "vp", "amim", "0"), None)], path,
                          no_warmup=False, model="hvae")
  header, _, missing = path.read_text().splitlines()[2:5]
  assert missing.startswith("| mnist VP AMIM seed 0 | not run |")
  assert missing.count("|") == header.count("|")


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("loss", "elbo", "unknown loss"),
        ("model.prior", "gmm", "unknown model.prior"),
        ("model.prior", "standard", "now 'standard_normal'"),
        ("data.name", "cifar10", "cifar10"),
        ("latent_anchor.kind", "prior", "unknown config.latent_anchor.kind"),
        ("eval.split", "train", "unknown config.eval.split"),
    ],
)
def test_bad_config_fails_before_training(tmp_path, data_dir, field, value,
                                          message):
  config = _quick(data_dir, "vae")
  config.update_from_flattened_dict({field: value})
  with pytest.raises(ValueError, match=message):
    image_mim.run(config, str(tmp_path))
  assert not (tmp_path / "checkpoints").exists()


def test_missing_data_names_the_file_and_flag(tmp_path):
  config = mnist_vp.get_config("quick")
  config.data.dir = str(tmp_path / "nowhere")
  with pytest.raises(FileNotFoundError, match="config.data.dir"):
    image_mim.run(config, str(tmp_path))


def test_quick_pixel_hvae_amim_run(tmp_path, data_dir):
  from configs import mnist_pixel_vp  # pylint: disable=g-import-not-at-top
  config = mnist_pixel_vp.get_config("quick")
  config.data.dir = data_dir
  config.data.num_validation = 60
  results = image_mim.run(config, str(tmp_path))
  assert results["config"]["model"]["kind"] == "pixel_hvae"
  assert np.isfinite(results["nll_is"]) and np.isfinite(results["knn5_acc"])
  assert (tmp_path / "plots" / "samples.png").stat().st_size > 1000
  config.loss = "mim"
  with pytest.raises(ValueError, match="amim"):
    image_mim.run(config, str(tmp_path / "mim"))


@pytest.mark.parametrize(
    "config_name,arg",
    [("mnist_s", "quick,vae"), ("mnist_hvae_vp", "quick,mim")],
)
def test_killed_run_resumes_to_the_same_results(tmp_path, data_dir,
                                                config_name, arg):
  module = importlib.import_module(f"configs.{config_name}")

  def config(epochs):
    c = module.get_config(arg)
    c.data.dir = data_dir
    c.data.num_validation = 60
    c.train.max_epochs = epochs
    return c

  straight = image_mim.run(config(2), str(tmp_path / "straight"))
  resumed_dir = tmp_path / "resumed"
  image_mim.run(config(1), str(resumed_dir))  # "killed" after epoch 1
  (resumed_dir / "results.json").unlink()
  resumed = image_mim.run(config(2), str(resumed_dir))
  for key in ("nll_is", "elbo", "knn5_acc", "nmi", "recon_err"):
    assert resumed[key] == straight[key], key
  lines = lambda d: [json.loads(l)["val/loss"]
                     for l in (d / "metrics.jsonl").read_text().splitlines()]
  assert lines(resumed_dir) == lines(tmp_path / "straight")
