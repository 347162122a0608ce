"""PCA projection fitted on training data only (thesis Sec. 4.2, Fig. 4.2)."""

import numpy as np

from mimjax._errors import InputError


def pca_projection(x_fit, num_components):
  """Fits PCA on `x_fit` and returns the projection to its top components.

  Unlike the authors' code, which fits a second PCA on the test split, the
  same training-split basis is applied to every split.

  Args:
    x_fit: `[N, D]` training data.
    num_components: number of principal components kept.

  Returns:
    `project(x) -> [M, num_components]` float32 coefficients, with
    `project.explained_variance_ratio` (the share of variance kept).

  Raises:
    InputError: `x_fit` is not `[N, D]` or `num_components` not in
      [1, min(N, D)].
  """
  x_fit = np.asarray(x_fit, np.float64)
  if x_fit.ndim != 2 or not 0 < num_components <= min(x_fit.shape):
    raise InputError(
        f"cannot fit {num_components} components to data of shape "
        f"{x_fit.shape}; set --config.data.components= between 1 and "
        f"{min(x_fit.shape)}"
    )
  mean = x_fit.mean(0)
  centred = x_fit - mean
  eigvals, eigvecs = np.linalg.eigh(centred.T @ centred)  # ascending
  order = np.argsort(eigvals)[::-1][:num_components]
  basis = eigvecs[:, order]  # [D, k]
  ratio = float(eigvals[order].sum() / eigvals.sum())

  def project(x):
    return ((np.asarray(x, np.float64) - mean) @ basis).astype(np.float32)

  project.explained_variance_ratio = ratio
  return project
