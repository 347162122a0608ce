"""The summary table and the standardization of `benchmarks.toy_ksg_scale`."""

import numpy as np

from benchmarks import toy_ksg_scale


def test_standardized_columns_have_unit_std():
  rng = np.random.default_rng(0)
  a = rng.normal(size=(500, 3)) * np.array([0.1, 2.0, 50.0])
  np.testing.assert_allclose(
      np.std(toy_ksg_scale._standardized(a), axis=0), 1.0, rtol=1e-12
  )


def test_summary_row_is_the_mean_and_std_over_seeds(capsys):
  toy_ksg_scale._print_summary(
      {"mim_h50_z6": [[1.0, 2.0, 3.0], [3.0, 2.0, 5.0]]}, scales=[1.0, 3.0]
  )
  row = capsys.readouterr().out.strip().splitlines()[-1]
  assert row == "| mim_h50_z6 | 2 | 2.000 ± 1.000 | 2.000 ± 0.000 | 4.000 ± 1.000 |"
