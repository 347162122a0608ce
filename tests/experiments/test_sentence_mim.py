"""Smoke tests of the sentence entrypoint on small synthetic PTB-style files."""

import gzip
import json
import os

import jax
import numpy as np
import pytest

from configs import ptb_ae
from configs import ptb_smim
from configs import ptb_svae
from experiments import common
from experiments import sentence_mim
from experiments import sentence_table
from mimjax import data
from mimjax import models
from mimjax import objectives
from mimjax import training

# End-to-end runs: the slow tier (`pytest -m "not slow"` skips them).
pytestmark = pytest.mark.slow

_WORDS = ("the market stock fell rose sharply on friday investors said "
          "prices bonds traders company shares new york <unk> N").split()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  folder = tmp_path_factory.mktemp("ptb")
  rng = np.random.RandomState(0)
  for split, n in (("train", 240), ("valid", 40), ("test", 60)):
    lines = [" ".join(rng.choice(_WORDS, rng.randint(2, 40)))
             for _ in range(n)]
    with gzip.open(folder / f"ptb.{split}.txt.gz", "wt") as f:
      f.write("\n".join(lines) + "\n")
  with open(folder / "qa.tsv", "w") as f:
    for _ in range(6):
      q, *answers = (" ".join(rng.choice(_WORDS, rng.randint(3, 8)))
                     for _ in range(4))
      f.write("\t".join([q] + answers) + "\n")
  return folder


def _quick(data_dir, module=ptb_smim, arg="quick"):
  config = module.get_config(arg)
  config.data.dir = str(data_dir)
  config.model.latent_dim = 8
  return config


def test_quick_smim_run_writes_results_examples_and_plots(tmp_path, data_dir):
  config = _quick(data_dir)
  config.eval.qa_file = str(data_dir / "qa.tsv")
  results = sentence_mim.run(config, str(tmp_path))
  on_disk = json.loads((tmp_path / "results.json").read_text())
  assert on_disk["num_test"] == 60
  for key in ("melbo_nll", "melbo_ppl", "elbo_nll", "is_nll", "bleu1",
              "bleu1_mean", "kl", "qa_p_at_1", "qa_mrr"):
    assert np.isfinite(on_disk[key]), key
  # MELBO = reconstruction term + log N (eq 6.17).
  np.testing.assert_allclose(
      on_disk["melbo_nll"], on_disk["recon_nll"] + np.log(60), rtol=1e-5
  )
  assert on_disk["qa_questions"] == 6 and 0 <= on_disk["qa_p_at_1"] <= 1
  examples = (tmp_path / "examples.md").read_text()
  for heading in ("## Reconstructions", "## Interpolations",
                  "## Samples at z ~ N(0, 0.1^2 I)", "## Question answering"):
    assert heading in examples
  for png in ("log_q_histograms.png", "melbo_vs_sample_size.png",
              "per_sentence_nll.png", "val_loss.png", "val_melbo_ppl.png",
              "val_bleu1.png"):
    assert (tmp_path / "plots" / png).stat().st_size > 3000, png
  # Validation curves: one value per epoch, on the first 20 validation
  # sentences.
  curves = json.loads((tmp_path / "validation_curves.json").read_text())
  assert curves["epoch"] == [1, 2]
  for key in ("loss", "melbo_ppl", "elbo_ppl", "bleu1", "kl"):
    assert len(curves[key]) == 2 and np.all(np.isfinite(curves[key])), key
  assert all(0 <= b <= 1 for b in curves["bleu1"])
  vocab = data.Vocabulary.load(str(tmp_path / "vocab.txt"))
  assert len(vocab) == len(set(_WORDS)) + 3  # <unk> is a special already
  # A finished run is read back, not retrained.
  assert sentence_mim.run(config, str(tmp_path)) == on_disk == results


def test_quick_ae_run_is_evaluated_at_the_posterior_mean(tmp_path, data_dir):
  """The AE's code is its mean: BLEU-1 from z ~ q is the mean's, and the
  numbers that need q(z|x)'s density are null, in results and curves."""
  sentence_mim.run(_quick(data_dir, module=ptb_ae), str(tmp_path))
  on_disk = json.loads((tmp_path / "results.json").read_text())
  assert on_disk["bleu1"] == on_disk["bleu1_mean"]
  for key in ("elbo_nll", "kl", "posterior_std", "is_nll"):
    assert on_disk.get(key) is None, key
  np.testing.assert_allclose(
      on_disk["melbo_nll"], on_disk["recon_nll"] + np.log(60), rtol=1e-5
  )
  assert "(M)" in (tmp_path / "examples.md").read_text()
  assert "(R)" not in (tmp_path / "examples.md").read_text()
  assert not (tmp_path / "plots" / "log_q_histograms.png").exists()
  curves = json.loads((tmp_path / "validation_curves.json").read_text())
  assert curves["bleu1"] == curves["bleu1_mean"]
  assert "kl" not in curves and "elbo_ppl" not in curves


def test_killed_run_resumes_to_the_same_results(tmp_path, data_dir):
  def config(epochs):
    c = _quick(data_dir, ptb_svae, "quick,vae_kl")
    c.train.beta_warmup_steps = 10
    c.train.max_epochs = epochs
    return c

  straight = sentence_mim.run(config(2), str(tmp_path / "straight"))
  resumed_dir = tmp_path / "resumed"
  sentence_mim.run(config(1), str(resumed_dir))  # "killed" after epoch 1
  (resumed_dir / "results.json").unlink()
  resumed = sentence_mim.run(config(2), str(resumed_dir))
  for key in ("melbo_nll", "elbo_nll", "is_nll", "bleu1", "kl"):
    assert resumed[key] == straight[key], key
  lines = lambda d: [
      {k: v for k, v in json.loads(l).items() if k.startswith("val/")}
      for l in (d / "metrics.jsonl").read_text().splitlines()
  ]
  assert lines(resumed_dir) == lines(tmp_path / "straight")
  assert "val/bleu1" in lines(resumed_dir)[-1]


@pytest.mark.parametrize(
    "field,value,error,message",
    [
        ("loss", "mim", ValueError, "samples whole sentences"),
        ("loss", "elbo", ValueError, "unknown loss 'elbo'.*smim"),
        ("data.name", "imdb", ValueError, "imdb"),
        ("data.bucket_widths", (16, 8), ValueError, "bucket_widths"),
        ("data.dir", "/nowhere", FileNotFoundError, "config.data.dir"),
    ],
)
def test_bad_config_fails_before_training(tmp_path, data_dir, field, value,
                                          error, message):
  config = _quick(data_dir)
  config.update_from_flattened_dict({field: value})
  with pytest.raises(error, match=message):
    sentence_mim.run(config, str(tmp_path))
  assert not (tmp_path / "checkpoints").exists()


def test_unknown_config_argument_is_an_error():
  with pytest.raises(ValueError, match="unknown config argument 'z'"):
    ptb_smim.get_config("quick,z")


def test_bucketed_training_same_on_one_and_four_devices(tmp_path, data_dir):
  config = _quick(data_dir)
  config.train.max_epochs = 1
  source = data.make_text_source(**config.data, batch_size=20)
  model = models.SentenceVAE(vocab_size=len(source.vocab), embed_dim=8,
                             hidden_dim=16, latent_dim=4)
  params = []
  for n in (1, 4):
    state = common.train(
        config,
        model=model,
        loss_fn=objectives.make_loss_fn(model, loss="smim"),
        eval_loss_fn=objectives.make_loss_fn(model.clone(train=False),
                                             loss="smim"),
        source=source, workdir=str(tmp_path / str(n)),
        mesh=training.make_mesh(n),
    )
    params.append(jax.device_get(state.params))
  for a, b in zip(jax.tree.leaves(params[0]), jax.tree.leaves(params[1])):
    np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-5)


def test_table_lists_ours_beside_the_thesis(tmp_path):
  row = dict(melbo_ppl=30.0, melbo_nll=80.0, bleu1=0.5, bleu1_mean=0.55,
             elbo_ppl=1e9, is_ppl=None, recon_nll=72.0, kl=300.0,
             active_units=128, posterior_std=0.01, latent_entropy=-200.0,
             train_time_s=10.0, num_test=3761, num_words=82430,
             config=dict(eval=dict(num_z=1)),
             budget=dict(steps=2103, train_sentences=42060))
  path = tmp_path / "table.md"
  sentence_table.write_table([(("smim", 128), row)], path)
  text = path.read_text()
  assert "| smim (128) | 30.0 | 27.9 | 28.6 | 80.0 | 75.6 | 0.5 | 0.61 |" in text
  assert "N = 3761 test sentences" in text


def test_curves_side_by_side_one_plot_per_latent_and_metric(tmp_path,
                                                            monkeypatch):
  drawn = {}
  plot = sentence_table.plotting.training_curves

  def recording_plot(curves, path, **kwargs):
    drawn[os.path.basename(path)] = sorted(curves)
    return plot(curves, path, **kwargs)

  monkeypatch.setattr(sentence_table.plotting, "training_curves",
                      recording_plot)
  runs = []
  # (table model, latent, config loss): the sVAE's loss is "vae".
  for model, dim, loss in (("smim", 512, "smim"), ("ae", 512, "ae"),
                           ("svae", 512, "vae"), ("smim", 16, "smim")):
    workdir = tmp_path / f"{model}_{dim}"
    workdir.mkdir()
    curves = dict(epoch=[1, 2, 3], bleu1=[0.2, 0.3, 0.4],
                  bleu1_mean=[0.3, 0.4, 0.5], melbo_ppl=[200.0, 90.0, 60.0])
    (workdir / "validation_curves.json").write_text(json.dumps(curves))
    runs.append(((model, dim), str(workdir), loss))
  paths = sentence_table.plot_curves_side_by_side(runs, str(tmp_path))
  names = sorted(os.path.basename(p) for p in paths)
  assert names == ["val_bleu1_z16.png", "val_bleu1_z512.png",
                   "val_melbo_ppl_z16.png", "val_melbo_ppl_z512.png"]
  assert all(os.path.getsize(p) > 10_000 for p in paths)
  # The AE's code is its mean: no z ~ q line, no MELBO line.
  assert drawn["val_bleu1_z512.png"] == [
      "ae mean z", "smim mean z", "smim z~q", "svae mean z", "svae z~q"
  ]
  assert drawn["val_melbo_ppl_z512.png"] == ["smim", "svae"]


def test_cuts_argument_stops_at_that_learning_rate_cut():
  """`cuts3` (the converged runs' budget): on a flat validation curve the
  plateau schedule cuts at bad epochs 2, 4, 6 and the run stops at the
  third cut, lr x0.25^3, not at the default lr < 1e-8."""
  t = ptb_smim.get_config("cuts3").train
  rule = training.StoppingRule(
      patience=t.patience, min_delta=t.min_delta,
      lr_decay_factor=t.lr_decay_factor,
      lr_decay_patience=t.lr_decay_patience, min_lr_scale=t.min_lr_scale,
  )
  flat = np.full((30, 1), 5.0, np.float32)
  state = jax.device_get(training.replay_stopping(rule, flat))
  assert state["stop_epoch"][0] == 7  # progress at 1, cuts at 3, 5, 7
  np.testing.assert_allclose(state["lr_scale"][0], 0.25**3)
  assert training.stop_reasons(state["stop_reason"]) == ["min_lr"]
