"""Question answering (thesis Sec. 7.6): tokens, ranking, P@1 / MRR, reader."""

import numpy as np
import pytest

from mimjax import metrics


def _write_qa_file(path, lines):
  """Writes `lines` (lists of fields) as a tab-separated QA file."""
  path.write_text("".join("\t".join(fields) + "\n" for fields in lines),
                  encoding="utf-8")
  return str(path)


def test_pair_and_query_tokens():
  question = ["what", "continent", "has", "most", "deserts"]
  answer = ["antarctica", "."]
  assert metrics.qa_pair_tokens(question, answer) == [
      "what", "continent", "has", "most", "deserts", "?", "antarctica", "."
  ]
  assert metrics.qa_query_tokens(question, len(answer)) == [
      "what", "continent", "has", "most", "deserts", "?", "<unk>", "<unk>"
  ]
  assert metrics.qa_query_tokens(["q"], 3, unk="UNK") == [
      "q", "?", "UNK", "UNK", "UNK"
  ]


def test_query_tokens_rejects_bad_length():
  with pytest.raises(ValueError):
    metrics.qa_query_tokens(["q"], -1)


def test_scores_normalise_each_coordinate():
  query = np.zeros((1, 1, 2))
  std = np.array([[[1.0, 2.0]]])
  pair = np.array([[[3.0, 4.0]]])
  # sqrt((3 / 1)^2 + (4 / 2)^2)
  np.testing.assert_allclose(
      metrics.qa_scores(query, std, pair), [[np.sqrt(13.0)]]
  )


def _latents_at_distances(distances, seed=0, dim=5):
  """Codes whose normalised distances S_i^k are exactly `distances` [Q, A]."""
  rng = np.random.default_rng(seed)
  shape = distances.shape + (dim,)
  query = rng.normal(size=shape)
  std = rng.uniform(0.1, 3.0, size=shape)
  direction = rng.normal(size=shape)
  direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
  pair = query + std * distances[..., None] * direction
  return query, std, pair


def test_rank_of_correct_answer_on_constructed_latents():
  distances = np.array([
      [0.5, 1.0, 2.0, 3.0],  # correct answer closest: rank 1
      [2.5, 1.0, 2.0, 3.0],  # two answers closer: rank 3
      [4.0, 1.0, 2.0, 3.0],  # farthest: rank 4
      [1.5, 2.0, 3.0, 1.0],  # the closer 4th answer is padding: rank 1
  ])
  query, std, pair = _latents_at_distances(distances)
  np.testing.assert_allclose(metrics.qa_scores(query, std, pair), distances)
  ranks = metrics.rank_by_latent_distance(
      query, std, pair, num_answers=[4, 4, 4, 3]
  )
  np.testing.assert_array_equal(ranks, [1, 3, 4, 1])


def test_ranking_uses_posterior_std():
  # Raw distances favour the wrong answer (0.1 < 5); divided by
  # sigma = (0.1, 10) the correct one is closer (0.5 < 1).
  query = np.zeros((1, 2, 2))
  std = np.broadcast_to([0.1, 10.0], (1, 2, 2))
  pair = np.array([[[0.0, 5.0], [0.1, 0.0]]])
  assert metrics.rank_by_latent_distance(query, std, pair)[0] == 1
  assert metrics.rank_by_latent_distance(query, np.ones_like(std), pair)[0] == 2


def test_ties_count_against_the_correct_answer():
  query = np.zeros((1, 3, 2))
  np.testing.assert_array_equal(
      metrics.rank_by_latent_distance(query, np.ones_like(query), query), [3]
  )


@pytest.mark.parametrize("num_answers", [[1], [4], [2, 2], [2.0]])
def test_rank_rejects_bad_num_answers(num_answers):
  query = np.zeros((1, 3, 2))
  with pytest.raises(ValueError, match="num_answers"):
    metrics.rank_by_latent_distance(
        query, np.ones_like(query), query, num_answers=num_answers
    )


def test_scores_reject_bad_inputs():
  query = np.zeros((2, 3, 4))
  with pytest.raises(ValueError, match="shape"):
    metrics.qa_scores(query, np.ones((2, 3, 4)), np.zeros((2, 3, 5)))
  with pytest.raises(ValueError, match="positive"):
    metrics.qa_scores(query, np.zeros_like(query), query)
  with pytest.raises(ValueError, match="finite"):
    metrics.qa_scores(query, np.ones_like(query), np.full_like(query, np.nan))


def test_precision_at_1_and_mrr_hand_values():
  ranks = [1, 2, 1, 4]
  assert metrics.precision_at_1(ranks) == pytest.approx(0.5)
  assert metrics.mean_reciprocal_rank(ranks) == pytest.approx(
      (1 + 1 / 2 + 1 + 1 / 4) / 4
  )


@pytest.mark.parametrize("ranks", [[], [0, 1], [1.0], [[1]]])
def test_rank_summaries_reject(ranks):
  for summary in (metrics.precision_at_1, metrics.mean_reciprocal_rank):
    with pytest.raises(ValueError):
      summary(ranks)


def test_read_qa_file(tmp_path):
  path = _write_qa_file(tmp_path / "qa.tsv", [
      ["what is best ?", "ask  yourself !", "no", "maybe so"],
      [""],  # blank lines are skipped
      ["need cards .", "ebay", "a shop"],
  ])
  examples = metrics.read_qa_file(path)
  assert examples == [
      metrics.QAExample(
          question=["what", "is", "best", "?"],
          answers=[["ask", "yourself", "!"], ["no"], ["maybe", "so"]],
      ),
      metrics.QAExample(
          question=["need", "cards", "."], answers=[["ebay"], ["a", "shop"]]
      ),
  ]


def test_read_qa_file_missing(tmp_path):
  path = str(tmp_path / "absent.tsv")
  with pytest.raises(FileNotFoundError, match="absent.tsv"):
    metrics.read_qa_file(path)


@pytest.mark.parametrize(
    "bad_line, message",
    [(["q only", "one answer"], "1 answer"), (["q", "a", " "], "field 3")],
)
def test_read_qa_file_bad_line(tmp_path, bad_line, message):
  path = _write_qa_file(tmp_path / "qa.tsv", [["q", "a", "b"], bad_line])
  with pytest.raises(ValueError, match=rf"qa\.tsv:2: .*{message}"):
    metrics.read_qa_file(path)
