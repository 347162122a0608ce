"""Question answering by latent distance, thesis Sec. 7.6 (YahooCQA).

Question i has K_i candidate answers A_i^1..A_i^K, A_i^1 the correct one.
Each answer is scored by encoding two token sequences (thesis Sec. 7.6):

  Q_i^k     = Q_i + ["?"] + A_i^k                     (`qa_pair_tokens`)
  Q_i^unk,k = Q_i + ["?"] + ["<unk>"] * |A_i^k|       (`qa_query_tokens`)

and measuring how far the code of the question with the answer lies from
the code of the question with the answer's words unknown (`qa_scores`); the
closest answer ranks first. P@1 and MRR summarise the ranks of A_i^1.
"""

import os
from typing import NamedTuple

import numpy as np

QUESTION_MARK = "?"
UNK = "<unk>"


class QAExample(NamedTuple):
  """One question and its ranked candidate answers (whitespace tokens).

  Attributes:
    question: tokens of Q_i.
    answers: K_i >= 2 token lists, `answers[0]` = A_i^1 the correct answer.
  """

  question: list[str]
  answers: list[list[str]]


def read_qa_file(path):
  """Reads a YahooCQA-style question-answering file.

  Layout: UTF-8 text, one question per line,

    question<TAB>answer_1<TAB>answer_2[<TAB>answer_3 ...]

  with answer_1 the correct (rank 1) answer and at least two answers. Each
  field is split on whitespace into tokens; blank lines are skipped.

  Args:
    path: file to read.

  Returns:
    List of `QAExample`, in file order.

  Raises:
    FileNotFoundError: if `path` does not exist.
    ValueError: naming `path:line` for a line with fewer than 2 answers or
      an empty field.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f"QA file not found: {path}")
  examples = []
  with open(path, encoding="utf-8") as f:
    for line_number, line in enumerate(f, start=1):
      if not line.strip():
        continue
      fields = [field.split() for field in line.rstrip("\r\n").split("\t")]
      if len(fields) < 3:
        raise ValueError(
            f"{path}:{line_number}: need question<TAB>answer_1<TAB>answer_2"
            f"..., got {len(fields) - 1} answer(s)"
        )
      if not all(fields):
        raise ValueError(
            f"{path}:{line_number}: field {fields.index([]) + 1} is empty"
        )
      examples.append(QAExample(question=fields[0], answers=fields[1:]))
  return examples


def qa_pair_tokens(question, answer):
  """Q_i^k: the question, "?" and the answer, concatenated (Sec. 7.6).

  Args:
    question: tokens of Q_i.
    answer: tokens of A_i^k.

  Returns:
    The token list Q_i + ["?"] + A_i^k.
  """
  return [*question, QUESTION_MARK, *answer]


def qa_query_tokens(question, answer_length, *, unk=UNK):
  """Q_i^unk: the question, "?" and |A_i^k| unknown tokens (Sec. 7.6).

  Args:
    question: tokens of Q_i.
    answer_length: |A_i^k|, number of answer tokens, >= 0.
    unk: the unknown-word token of the vocabulary.

  Returns:
    The token list Q_i + ["?"] + [unk] * |A_i^k|.

  Raises:
    ValueError: if `answer_length` is not a non-negative integer.
  """
  if (isinstance(answer_length, bool)
      or not isinstance(answer_length, (int, np.integer)) or answer_length < 0):
    raise ValueError(
        f"answer_length must be an integer >= 0, got {answer_length!r}"
    )
  return [*question, QUESTION_MARK, *([unk] * answer_length)]


def qa_scores(query_z, query_std, pair_z):
  """Normalised latent distances S_i^k of the thesis, Sec. 7.6.

    S_i^k = || (z_i^unk,k - z_i^k) / sigma_i^k,unk ||_2,

  z_i^k ~ q(z|Q_i^k), z_i^unk,k ~ q(z|Q_i^unk,k) and sigma_i^k,unk the
  standard deviation of q(z|Q_i^unk,k), divided per latent coordinate:
  like -log q(z_i^k|Q_i^unk) up to the log sigma terms, as the thesis notes.
  A deterministic auto-encoder passes its codes and sigma = 1.

  Args:
    query_z: `[Q, A, d]` codes of Q_i^unk,k (samples or means).
    query_std: `[Q, A, d]` positive standard deviations of q(z|Q_i^unk,k).
    pair_z: `[Q, A, d]` codes of Q_i^k.

  Returns:
    `[Q, A]` float64 scores, lower = better answer.

  Raises:
    ValueError: on shapes other than one common `[Q, A, d]`, non-finite
      entries or a non-positive standard deviation.
  """
  arrays = [np.asarray(a, np.float64) for a in (query_z, query_std, pair_z)]
  shapes = {a.shape for a in arrays}
  if len(shapes) != 1 or arrays[0].ndim != 3:
    raise ValueError(
        f"query_z, query_std and pair_z need one common [Q, A, d] shape, "
        f"got {[a.shape for a in arrays]}"
    )
  if not all(np.all(np.isfinite(a)) for a in arrays):
    raise ValueError("query_z, query_std and pair_z must be finite")
  query, std, pair = arrays
  if np.any(std <= 0):
    raise ValueError("query_std must be positive")
  return np.linalg.norm((query - pair) / std, axis=-1)


def rank_by_latent_distance(query_z, query_std, pair_z, *, num_answers=None):
  """Rank of the correct answer A_i^1 (index 0) under `qa_scores`.

    rank_i = 1 + #{k = 2..K_i : S_i^k <= S_i^1},

  so ties count against the correct answer (all-equal scores give rank
  K_i, not 1).

  Args:
    query_z: `[Q, A, d]` codes of Q_i^unk,k, A = max_i K_i.
    query_std: `[Q, A, d]` standard deviations of q(z|Q_i^unk,k).
    pair_z: `[Q, A, d]` codes of Q_i^k.
    num_answers: optional `[Q]` integers K_i in [2, A]; answers k > K_i are
      padding (finite, with positive std) and ignored. Default: all A
      answers of every question.

  Returns:
    `[Q]` int64 ranks in [1, K_i].

  Raises:
    ValueError: as `qa_scores`, or if `num_answers` is not `[Q]` integers
      in [2, A].
  """
  scores = qa_scores(query_z, query_std, pair_z)  # [Q, A]
  num_questions, max_answers = scores.shape
  if num_answers is None:
    num_answers = np.full(num_questions, max_answers)
  num_answers = np.asarray(num_answers)
  if (num_answers.shape != (num_questions,)
      or not np.issubdtype(num_answers.dtype, np.integer)
      or np.any(num_answers < 2) or np.any(num_answers > max_answers)):
    raise ValueError(
        f"num_answers must be [{num_questions}] integers in "
        f"[2, {max_answers}], got {num_answers!r}"
    )
  valid = np.arange(max_answers)[None, :] < num_answers[:, None]  # [Q, A]
  beaten = valid[:, 1:] & (scores[:, 1:] <= scores[:, :1])  # [Q, A - 1]
  return 1 + beaten.sum(axis=1)


def _ranks(ranks):
  """`ranks` as a non-empty 1-D int array of values >= 1."""
  ranks = np.asarray(ranks)
  if (ranks.ndim != 1 or ranks.size == 0
      or not np.issubdtype(ranks.dtype, np.integer) or np.any(ranks < 1)):
    raise ValueError(
        f"ranks must be a non-empty [N] array of integers >= 1, got {ranks!r}"
    )
  return ranks


def precision_at_1(ranks):
  """P@1 = 1/N sum_i 1(rank(A_i^1) = 1), thesis Sec. 7.6.

  Args:
    ranks: `[N]` integer ranks of the correct answers, 1 = best.

  Returns:
    P@1, a Python float in [0, 1].

  Raises:
    ValueError: unless `ranks` is a non-empty `[N]` of integers >= 1.
  """
  return float(np.mean(_ranks(ranks) == 1))


def mean_reciprocal_rank(ranks):
  """MRR = 1/N sum_i 1 / rank(A_i^1), thesis Sec. 7.6.

  Args:
    ranks: `[N]` integer ranks of the correct answers, 1 = best.

  Returns:
    MRR, a Python float in (0, 1].

  Raises:
    ValueError: unless `ranks` is a non-empty `[N]` of integers >= 1.
  """
  return float(np.mean(1.0 / _ranks(ranks)))
