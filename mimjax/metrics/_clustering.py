"""k-means clustering of latent codes scored by NMI against class labels."""

import numpy as np
from sklearn import cluster
from sklearn import metrics as sk_metrics

from mimjax.metrics import _checks


def clustering_nmi(z, labels, *, num_clusters=None, seed=177):
  """NMI between k-means clusters of z and the class labels.

  As in the authors' image evaluation (reference digest Sec. 4.2): k-means
  with as many clusters as distinct labels, then
  NMI = I(C; Y) / max(H(C), H(Y)).

  Args:
    z: `[N, d]` latent codes.
    labels: `[N]` integer class labels.
    num_clusters: k (default: number of distinct labels).
    seed: k-means random state (the reference uses 177).

  Returns:
    NMI in [0, 1] as a Python float.
  """
  z = _checks.as_points(z, "z")
  labels = np.asarray(labels)
  if labels.shape != (len(z),):
    raise ValueError(f"labels {labels.shape} do not match z {z.shape}")
  k = num_clusters or len(np.unique(labels))
  clusters = cluster.KMeans(k, random_state=seed, n_init=10).fit_predict(z)
  return float(
      sk_metrics.normalized_mutual_info_score(
          labels, clusters, average_method="max"
      )
  )
