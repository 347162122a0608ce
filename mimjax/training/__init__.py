"""The training engine shared by every experiment.

data source -> model -> objective -> jitted epoch program -> validation /
early stopping -> Orbax checkpoint -> metrics, as small functions that take
explicit arguments (`TrainSettings`, an optax optimiser), not configs. The
epoch program (`make_epoch_fn`) composes the pure per-seed `train_step` and
`validation_loss` with `stopping_update` and `collapse_update`.
`claim_workdir` holds a run's folder: lock, provenance (`run.json`) and the
check that a resumed run has the same config. Several seeds of one small
model train in one compiled program (a leading seed axis on every state
leaf, vmapped), data-parallel over a 1-D `data` mesh (parameters
replicated, batches sharded).
"""

from mimjax._errors import CheckpointError
from mimjax.training._checkpoint import Checkpointer
from mimjax.training._epoch import make_epoch_fn
from mimjax.training._loop import TIME_FILE
from mimjax.training._loop import set_deadline
from mimjax.training._loop import train
from mimjax.training._loop import training_seconds
from mimjax.training._mesh import check_divisible
from mimjax.training._mesh import data_sharding
from mimjax.training._mesh import make_mesh
from mimjax.training._mesh import put_global
from mimjax.training._mesh import replicated
from mimjax.training._optim import learning_rate_schedule
from mimjax.training._optim import make_optimizer
from mimjax.training._optim import normalize_by_leaf_norm
from mimjax.training._settings import TrainSettings
from mimjax.training._state import TrainState
from mimjax.training._state import init_state
from mimjax.training._state import selected_params
from mimjax.training._step import keep_if
from mimjax.training._step import train_step
from mimjax.training._step import validation_loss
from mimjax.training._stopping import CollapseRule
from mimjax.training._stopping import StoppingRule
from mimjax.training._stopping import collapse_alarms
from mimjax.training._stopping import collapse_update
from mimjax.training._stopping import initial_collapse_state
from mimjax.training._stopping import initial_stopping_state
from mimjax.training._stopping import replay_stopping
from mimjax.training._stopping import seed_outcome
from mimjax.training._stopping import stop_reasons
from mimjax.training._stopping import stopping_update
from mimjax.training._workdir import ADDED_FIELDS
from mimjax.training._workdir import RUN_FILE
from mimjax.training._workdir import SAFE_FIELDS
from mimjax.training._workdir import check_same_config
from mimjax.training._workdir import claim_workdir
from mimjax.training._workdir import config_diff
from mimjax.training._workdir import config_hash
from mimjax.training._workdir import data_files
from mimjax.training._workdir import describe_config_diff
from mimjax.training._workdir import environment
from mimjax.training._workdir import run_record
from mimjax.training._writer import MetricWriter
from mimjax.training._writer import read_metrics

__all__ = (
    "ADDED_FIELDS",
    "CheckpointError",
    "Checkpointer",
    "CollapseRule",
    "MetricWriter",
    "RUN_FILE",
    "SAFE_FIELDS",
    "StoppingRule",
    "TrainSettings",
    "TrainState",
    "check_divisible",
    "check_same_config",
    "claim_workdir",
    "collapse_alarms",
    "collapse_update",
    "config_diff",
    "config_hash",
    "data_files",
    "describe_config_diff",
    "data_sharding",
    "environment",
    "init_state",
    "initial_collapse_state",
    "initial_stopping_state",
    "keep_if",
    "learning_rate_schedule",
    "make_epoch_fn",
    "make_mesh",
    "make_optimizer",
    "normalize_by_leaf_norm",
    "put_global",
    "read_metrics",
    "replicated",
    "replay_stopping",
    "run_record",
    "seed_outcome",
    "selected_params",
    "stop_reasons",
    "stopping_update",
    "set_deadline",
    "TIME_FILE",
    "train",
    "training_seconds",
    "train_step",
    "validation_loss",
)
