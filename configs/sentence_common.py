"""Shared recipe of the sentence experiments (thesis ch. 7, App. D-E).

Each `configs/<dataset>_<loss>.py` calls `base(...)` and states only what it
changes. Arguments (comma-separated, after the file name):
  ""        the thesis setup (Sec. 7.2): batch 20, 1-layer GRU, embedding
            dropout 0.5, plateau decay x0.25, stop at lr < 1e-8 (PTB: Adam
            1e-3, H = 512, E = 300; larger sets: SGD lr 5, clip 0.25,
            H = 1024, E = 512);
  "small"   a CPU budget (see `SMALL`): one pass over PTB's training set
            (2103 steps of 20 sentences), evaluation on the full test set,
            IS-NLL with S = 20 on 500 sentences;
  "quick"   a smoke run on a few hundred sentences (about 2 min on 2 CPU
            cores);
  "smim" / "vae" / "vae_kl" / "ae"  the objective ("vae_kl": KL annealed
            linearly from 0 to 1 over 10k steps);
  "z16" / "z128" / "z512" / ...  the latent size;
  "cuts3" / "cuts<N>" ...  stop when the plateau schedule makes its N-th
            learning-rate cut (lr x0.25^N) instead of at lr < 1e-8: the
            converged runs of BUILD_NOTES stop after 3 cuts.
e.g. `python -m experiments.sentence_mim --config=configs/ptb_smim.py:small,z128
--config.data.dir=/folder/with/ptb.train.txt.gz`.
"""

import ml_collections

# The CPU budget of "small" (stated in BUILD_NOTES.md with its results).
SMALL = dict(epochs=1, is_samples=20, is_examples=500)
_LOSSES = ("smim", "vae", "vae_kl", "ae")
_ARGS = ("small", "quick") + _LOSSES


def base(dataset, *, loss, latent_dim, large=False, arg=""):
  """The thesis's sentence setup; `large` for Yahoo / Yelp / WT103."""
  config = ml_collections.ConfigDict()
  # Base seed (parameters, data order and noise derive from it).
  config.seed = 0
  # One model per run.
  config.num_seeds = 1
  # "smim" (Alg. 4), "vae" (ELBO), "ae" (deterministic); KL annealing is
  # train.beta_warmup_steps.
  config.loss = loss
  config.data = ml_collections.ConfigDict(
      dict(
          # "ptb", "yahoo", "yelp", "wt103" or "text" (see mimjax.data).
          name=dataset,
          # Folder with <name>.{train,valid,test}.txt[.gz] or
          # {train,valid,test}.txt[.gz] (no download: pass it).
          dir="",
          # Row length incl. <eos>: longer sentences are cut ("truncate") or
          # rejected ("error"). PTB: 42 of 42068 training sentences are cut.
          max_len=64,
          on_long="truncate",
          # Length buckets: each training batch runs at the width of its
          # bucket (one compiled branch per width; () pads every batch to
          # max_len). About 2.5x faster on PTB. These nine put 91 % real
          # tokens in PTB's training batches (the five widths 16/24/32/48/64
          # of results/sentences_small: 82 %; BUILD_NOTES).
          bucket_widths=(12, 16, 20, 24, 28, 32, 40, 48, 64),
          # Vocabulary: words seen >= min_count times (PTB is pre-capped at
          # 10k), at most max_vocab entries (0: no cap).
          min_count=1,
          max_vocab=0,
          # Keep the first n sentences of a split (0: all).
          max_train=0,
          max_validation=0,
          max_test=0,
      )
  )
  config.model = ml_collections.ConfigDict(
      dict(
          embed_dim=512 if large else 300,
          hidden_dim=1024 if large else 512,
          latent_dim=latent_dim,
          # Dropout on the decoder's input embeddings.
          embed_dropout=0.5,
          # Encoder input tokens replaced by <unk> in training (App. E.4: 0.2).
          encoder_unk_rate=0.0,
          # Floor on log sigma^2 of q(z|x) (the authors' -10).
          min_logvar=-10.0,
      )
  )
  config.train = ml_collections.ConfigDict(
      dict(
          batch_size=20,
          max_epochs=200,
          # KL annealing steps (0: none; "vae_kl": 10k, Sec. 7.2).
          beta_warmup_steps=0,
          beta_warmup_epochs=0,
          # x0.25 after 2 (large: 1) epochs without validation improvement;
          # stop when lr has fallen below 1e-8.
          lr_decay_factor=0.25,
          lr_decay_patience=1 if large else 2,
          min_lr_scale=1e-8 / (5.0 if large else 1e-3),
          # Early stopping (the lr floor stops runs first).
          patience=20,
          min_delta=0.0,
          min_epochs=0,
          checkpoint_every=1,
          log_every=1,
          # A log line every this many steps inside an epoch (PTB: 2103).
          progress_every=200,
          eval_batch_size=20,
      )
  )
  # Posterior-collapse monitor on the first validation batch (see
  # configs/toy_common.py and training.CollapseRule).
  config.monitor = ml_collections.ConfigDict(
      dict(max_std_ratio=0.25, max_kl=3.0, max_noise_share=0.5, checks=3)
  )
  config.optim = ml_collections.ConfigDict(
      dict(
          name="sgd" if large else "adam",
          learning_rate=5.0 if large else 1e-3,
          schedule="constant",
          warmup_epochs=0,
          # Global L2 gradient clipping (the reference clips PTB runs too).
          clip_global_norm=0.25,
      )
  )
  config.eval = ml_collections.ConfigDict(
      dict(
          # z ~ q(z|x) samples per test sentence for MELBO / ELBO (eq 6.17;
          # the reference code uses 1).
          num_z=1,
          # Sentences per compiled evaluation call.
          chunk=100,
          # Importance samples for the sVAE NLL (0: skip) and sentences.
          is_samples=100,
          is_examples=0,
          # Codes in the latent entropy estimate (Table 7.6).
          entropy_points=1000,
          # Validation sentences scored after every epoch (MELBO / ELBO
          # PPL, BLEU-1, KL: the validation curves; 0: none).
          curve_sentences=500,
          # Rows of the reconstruction / interpolation / sample tables.
          num_examples=10,
          # Longest test sentence (words) shown in those tables.
          max_example_words=20,
          # Optional question-answering file (question<TAB>best<TAB>...).
          qa_file="",
      )
  )
  return apply_arg(config, arg)


def apply_arg(config, arg):
  """Applies the comma-separated arguments of the module docstring."""
  for a in filter(None, arg.split(",")):
    if a.startswith("z") and a[1:].isdigit():
      config.model.latent_dim = int(a[1:])
    elif a.startswith("cuts") and a[4:].isdigit() and int(a[4:]) > 0:
      # lr_scale falls to factor^N at the N-th cut: stop below factor^(N-1/2).
      config.train.min_lr_scale = (
          config.train.lr_decay_factor ** (int(a[4:]) - 0.5)
      )
    elif a not in _ARGS:
      raise ValueError(
          f"unknown config argument {a!r}; use {_ARGS}, z<dim> or cuts<N>"
      )
    elif a in _LOSSES:
      config.loss = "vae" if a == "vae_kl" else a
      config.train.beta_warmup_steps = 10000 if a == "vae_kl" else 0
    elif a == "small":
      config.train.max_epochs = SMALL["epochs"]
      config.eval.is_samples = SMALL["is_samples"]
      config.eval.is_examples = SMALL["is_examples"]
    elif a == "quick":
      config.data.update(
          max_train=200, max_validation=40, max_test=60,
          bucket_widths=(32, 64),
      )
      config.model.update(embed_dim=16, hidden_dim=32)
      config.train.update(max_epochs=2, eval_batch_size=20)
      config.eval.update(
          num_z=2, chunk=20, is_samples=4, entropy_points=60, num_examples=3,
          curve_sentences=20,
      )
  return config
