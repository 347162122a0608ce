r"""Sentence experiments: sentenceMIM, sVAE and AE on PTB and friends (ch. 7).

Trains one GRU sentence auto-encoder (`config.loss`: "smim", "vae" or "ae"),
evaluates the early-stopped model on the whole test set and writes to the
workdir:
  results.json     melbo_nll/ppl (eq 6.17, N = the test-set size stated as
                   num_test), elbo_nll/ppl, is_nll/ppl (S importance
                   samples), bleu1 (z ~ q, greedy) and bleu1_mean (z = mean),
                   kl, active units, latent entropy vs N(0, I) (Table 7.6),
                   QA P@1 / MRR when eval.qa_file is set, plus the config,
                   budget and wall time
  vocab.txt        the vocabulary (reloaded when the run resumes)
  examples.md      reconstructions (D data, M mean, R sample, P 10x std;
                   Tables E.1-E.3), interpolations (Table 7.10, E.4-E.6),
                   samples at z ~ N(0, 0.1^2 I) (Tables E.7-E.9), and
                   generated answers when QA is on (Table 7.9)
  plots/           Fig 7.1 log q histograms, Fig D.2 MELBO vs sample-set
                   size, Fig D.3 per-sentence MELBO / ELBO, validation
                   curves (loss; MELBO PPL and BLEU-1 per epoch)
  validation_curves.json
                   per epoch: the validation loss and, on the first
                   eval.curve_sentences validation sentences, MELBO / ELBO
                   PPL (N = those sentences), BLEU-1, KL and active units
  checkpoints/, metrics.jsonl, TensorBoard events

  python -m experiments.sentence_mim --config=configs/ptb_smim.py \
      --config.data.dir=/folder/with/ptb.train.txt.gz

A killed run resumes from its last checkpoint when started again with the
same workdir; a finished run is only re-evaluated if results.json is absent.
The AE ("ae") is evaluated at z = E[z|x], as the authors' code does: its
bleu1 is bleu1_mean, and what needs q(z|x)'s density (ELBO, KL, posterior
std, IS-NLL, the Fig 7.1 histograms, the R / P example rows) is left out.
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
import numpy as np

from experiments import common
import mimjax
from mimjax import data
from mimjax import evaluation
from mimjax import files
from mimjax import metrics
from mimjax import models
from mimjax import objectives
from mimjax import plotting
from mimjax import training
# pylint: enable=wrong-import-position,wrong-import-order

def build_model(config, vocab_size):
  """The `SentenceVAE` of `config.model` in train mode."""
  return models.SentenceVAE(vocab_size=vocab_size, **config.model)


def make_loss_fn(config, model):
  common.check_loss(config.loss)
  if objectives.LOSSES[config.loss].symmetric:
    raise mimjax.InputError(
        f"loss {config.loss!r} samples whole sentences x ~ p(x|z) at every "
        "step, which the sentence model does not do (the thesis trains "
        "sentences on encoder samples: use 'smim', 'vae' or 'ae')"
    )
  return objectives.make_loss_fn(model, loss=config.loss)


def is_deterministic(loss):
  """Whether `loss` trains a deterministic code (the AE), which is evaluated
  at z = E[z|x] (`evaluation.evaluate_sentence_model`)."""
  return objectives.LOSSES[loss].deterministic


def load_source(config, workdir):
  """The text source; the vocabulary is workdir/vocab.txt once written."""
  vocab_path = os.path.join(workdir, "vocab.txt")
  vocab = data.Vocabulary.load(vocab_path) if os.path.exists(vocab_path) else None
  source = data.make_text_source(
      **config.data, batch_size=config.train.batch_size, vocab=vocab
  )
  if vocab is None and jax.process_index() == 0:
    os.makedirs(workdir, exist_ok=True)
    source.vocab.save(vocab_path + ".tmp")  # atomic: a kill leaves no half
    os.replace(vocab_path + ".tmp", vocab_path)
  return source


# Per-epoch validation metrics (`evaluate_sentence_model` keys), logged as
# "val/<key>" in metrics.jsonl and TensorBoard.
_CURVE_METRICS = ("melbo_ppl", "elbo_ppl", "bleu1", "bleu1_mean", "kl",
                  "active_units")


def make_epoch_eval_fn(config, source):
  """`eval_model -> epoch_eval_fn` of the validation curves (see
  `training.train`), or None when `config.eval.curve_sentences` is 0.

  After every epoch it evaluates the current parameters on the first
  `curve_sentences` validation sentences with `evaluate_sentence_model`
  (one z ~ q(z|x) per sentence, a fixed key; MELBO with N = those
  sentences, so its level is not the test MELBO's) and returns `[1]`
  arrays named "val/<key>" for the keys in `_CURVE_METRICS` (those that
  need q(z|x)'s density are left out for the AE).
  """
  n = config.eval.curve_sentences
  if not n:
    return None
  x = np.asarray(source.validation["x"][:n])
  key = jax.random.key(config.seed + 2)

  def make(eval_model):
    def epoch_eval_fn(params):
      seed0 = jax.tree.map(lambda a: a[0], params)
      out, _ = evaluation.evaluate_sentence_model(
          eval_model, seed0, x, key, num_z=1, chunk=config.eval.chunk,
          entropy_points=0, deterministic=is_deterministic(config.loss),
      )
      return {f"val/{k}": np.asarray([out[k]], np.float64)
              for k in _CURVE_METRICS if out[k] is not None}

    return epoch_eval_fn

  return make


def write_validation_curves(workdir, records):
  """validation_curves.json and plots/val_{melbo_ppl,bleu1}.png from the
  run's `training.read_metrics` records (the curves of `make_epoch_eval_fn`;
  only the validation loss for a run without them)."""
  names = ["val/loss"] + [f"val/{k}" for k in _CURVE_METRICS]
  curves = {"epoch": [r["epoch"] for r in records]}
  curves.update({
      name[4:]: [r[name] for r in records]
      for name in names if all(name in r for r in records)
  })
  files.write_json(os.path.join(workdir, "validation_curves.json"), curves)
  for name in ("melbo_ppl", "bleu1"):
    if name in curves:
      plotting.training_curves(
          {"validation": list(zip(curves["epoch"], curves[name]))},
          os.path.join(workdir, "plots", f"val_{name}.png"),
          metric=f"validation {name}",
      )


def _text(vocab, ids):
  return " ".join(vocab.decode(ids)) or "(empty)"


def _decode(config, model, params, z):
  """Greedy sentences from codes `z [n, d]`, in the evaluation's chunk shape
  (one compiled decoding loop for every table)."""
  return evaluation.reconstruct(
      model, params, np.asarray(z, np.float32), max_len=config.data.max_len,
      chunk=config.eval.chunk,
  )


def _examples_markdown(config, model, params, vocab, test, arrays):
  """Tables E.1-E.9 style markdown: reconstructions, interpolations,
  samples."""
  ec = config.eval
  words = arrays["words"]
  rows = np.flatnonzero((words >= 2) & (words <= ec.max_example_words))
  rows = rows[: ec.num_examples]
  mean, std = arrays["mean"][rows], arrays["std"][rows]
  noise = np.asarray(jax.random.normal(jax.random.key(config.seed + 3),
                                       mean.shape))
  deterministic = is_deterministic(config.loss)
  if not deterministic:
    perturbed = _decode(config, model, params, mean + 10 * std * noise)
  lines = [f"# {config.data.name} {config.loss} (z = {mean.shape[1]})", "",
           "## Reconstructions", "",
           "D: data; M: decoded from the posterior mean; R: from z ~ q(z|x); "
           "P: from mean + 10 std noise (greedy decoding)"
           + ("; a deterministic code has no R or P." if deterministic
              else "."), ""]
  for i, r in enumerate(rows):
    lines += [
        f"- (D) {_text(vocab, test[r])}",
        f"  - (M) {_text(vocab, arrays['recon_mean'][r])}",
    ]
    if not deterministic:
      lines += [
          f"  - (R) {_text(vocab, arrays['recon_sample'][r])}",
          f"  - (P) {_text(vocab, perturbed[i])}",
      ]
  lines += ["", "## Interpolations", "",
            "Posterior means of consecutive example sentences, 8 steps "
            "between the end points.", ""]
  for a, b in zip(rows[:-1:2], rows[1::2]):
    t = np.linspace(0.0, 1.0, 10)[:, None]
    path = (1 - t) * arrays["mean"][a] + t * arrays["mean"][b]
    lines += [f"- {_text(vocab, row)}" for row in _decode(
        config, model, params, path)] + [""]
  z = 0.1 * np.asarray(jax.random.normal(
      jax.random.key(config.seed + 4), (ec.num_examples, mean.shape[1])))
  lines += ["## Samples at z ~ N(0, 0.1^2 I)", ""]
  lines += [f"- {_text(vocab, row)}" for row in _decode(
      config, model, params, z)]
  return "\n".join(lines) + "\n"


def question_answering(config, model, params, vocab, key):
  """Sec. 7.6 on `config.eval.qa_file`: P@1, MRR and greedy answers."""
  examples = metrics.read_qa_file(config.eval.qa_file)
  max_len = config.data.max_len
  num_answers = max(len(e.answers) for e in examples)
  queries, pairs = [], []
  for e in examples:
    padded = e.answers + [e.answers[0]] * (num_answers - len(e.answers))
    queries += [metrics.qa_query_tokens(e.question, len(a)) for a in padded]
    pairs += [metrics.qa_pair_tokens(e.question, a) for a in padded]
  x = data.encode_sentences(queries + pairs, vocab, max_len=max_len)
  terms = evaluation.posterior_terms(model, params, x, key, num_z=1)
  shape = (len(examples), num_answers, -1)
  half = len(queries)
  ranks = metrics.rank_by_latent_distance(
      np.asarray(terms["z"][:half]).reshape(shape),
      np.asarray(terms["std"][:half]).reshape(shape),
      np.asarray(terms["z"][half:]).reshape(shape),
      num_answers=np.asarray([len(e.answers) for e in examples]),
  )
  answers = _decode(config, model, params, terms["mean"][:half])
  lines = ["", "## Question answering (greedy answers from Q + ? + <unk>s)",
           ""]
  for i, e in enumerate(examples[: config.eval.num_examples]):
    lines += [f"- Q: {' '.join(e.question)}",
              f"  - A: {_text(vocab, answers[i * num_answers])}"]
  return {
      "qa_p_at_1": metrics.precision_at_1(ranks),
      "qa_mrr": metrics.mean_reciprocal_rank(ranks),
      "qa_questions": len(examples),
  }, "\n".join(lines) + "\n"


def _make_plots(config, workdir, arrays):
  plots = os.path.join(workdir, "plots")
  title = f"{config.data.name} {config.loss} (z = {config.model.latent_dim})"
  if arrays["log_q_same"] is not None:  # None for a deterministic code
    plotting.plot_log_prob_histograms(
        arrays["log_q_same"], arrays["log_q_other"],
        os.path.join(plots, "log_q_histograms.png"), title=title,
    )
  n = len(arrays["melbo_nll"])
  recon = arrays["melbo_nll"] - np.log(n)
  sizes = [s for s in (10, 30, 100, 300, 1000, 3000) if s < n] + [n]
  plotting.plot_melbo_vs_sample_size(
      sizes, [np.mean(recon[:s]) + np.log(s) for s in sizes],
      os.path.join(plots, "melbo_vs_sample_size.png"),
  )
  bounds = {"MELBO": arrays["melbo_nll"], "ELBO": arrays["elbo_nll"]}
  plotting.plot_per_sentence_histograms(
      {k: v for k, v in bounds.items() if v is not None},
      os.path.join(plots, "per_sentence_nll.png"), xlabel="NLL bound (nats)",
  )
  records = training.read_metrics(workdir)
  common.plot_validation_curve(config, workdir, records)
  write_validation_curves(workdir, records)


def run(config, workdir, *, overwrite=False):
  """Trains and evaluates `config` in `workdir`; returns the results dict
  (a finished run is read back: `common.run_single_model`)."""
  return common.run_single_model(
      config, workdir, _train_and_evaluate, overwrite=overwrite
  )


def _train_and_evaluate(config, workdir):
  start = time.perf_counter()
  source = load_source(config, workdir)
  state, eval_model, params, train_time = common.train_single_model(
      config, workdir, model=build_model(config, len(source.vocab)),
      make_loss_fn=make_loss_fn, source=source,
      make_epoch_eval_fn=make_epoch_eval_fn(config, source),
  )
  ec = config.eval
  key = jax.random.key(config.seed + 1)
  test = source.test["x"]
  results, arrays = evaluation.evaluate_sentence_model(
      eval_model, params, test, key, num_z=ec.num_z, chunk=ec.chunk,
      is_samples=ec.is_samples, is_examples=ec.is_examples,
      entropy_points=ec.entropy_points,
      deterministic=is_deterministic(config.loss),
  )
  markdown = _examples_markdown(
      config, eval_model, params, source.vocab, test, arrays
  )
  if ec.qa_file:
    qa, qa_markdown = question_answering(
        config, eval_model, params, source.vocab, jax.random.fold_in(key, 1)
    )
    results.update(qa)
    markdown += qa_markdown
  results.update(
      num_params=int(sum(
          np.prod(a.shape[1:]) for a in jax.tree.leaves(state.params)
      )),
      **common.run_record(config, state, source, start=start,
                          train_time=train_time, unit="sentences",
                          lr_scale=float(state.lr_scale[0])),
  )
  if jax.process_index() == 0:
    _make_plots(config, workdir, arrays)
    files.write_text(os.path.join(workdir, "examples.md"), markdown)
  return common.write_results(workdir, results)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  workdir = common.setup()
  results = run(copy.deepcopy(common.CONFIG.value), workdir,
                overwrite=common.OVERWRITE.value)
  density = (  # None for a deterministic code (the AE)
      "" if results["kl"] is None else
      f", ELBO PPL {results['elbo_ppl']:.2f}, KL {results['kl']:.2f}"
  )
  logging.info(
      "Done in %.0f s: MELBO NLL %.2f (N = %d) PPL %.2f%s, BLEU-1 %.3f; see %s",
      results["wall_time_s"], results["melbo_nll"], results["num_test"],
      results["melbo_ppl"], density, results["bleu1"],
      os.path.join(workdir, "results.json"),
  )


if __name__ == "__main__":
  common.run_main(main)
