"""The workdir claim: provenance, stale-config and data checks, the lock,
and atomic outputs."""

import json
import os
import subprocess
import sys

import ml_collections
import pytest

import mimjax
from mimjax import files
from mimjax import training


def _config(**train):
  return ml_collections.ConfigDict(dict(
      seed=0,
      train=dict(dict(batch_size=8, log_every=1), **train),
      data=dict(name="toy", dir=""),
  ))


def test_config_diff_names_fields_and_ignores_safe_ones():
  old = dict(a=dict(b=1, c=[1, 2]), train=dict(log_every=1), gone=3)
  new = dict(a=dict(b=2, c=(1, 2)), train=dict(log_every=9), extra=4)
  assert training.config_diff(old, new) == [
      ("a.b", 1, 2), ("extra", "<absent>", 4), ("gone", 3, "<absent>"),
  ]
  assert training.config_hash(old) != training.config_hash(new)
  # A field added later reads, where a recorded config lacks it, as the
  # value that reproduces the old runs.
  assert training.config_diff(dict(x=1), dict(x=1, validation="loss")) == []
  assert training.config_diff(
      dict(x=1), dict(x=1, validation="encoder_half")
  ) == [("validation", "loss", "encoder_half")]
  # ... also inside a section.
  old_model, new_model = dict(model=dict(a=1)), dict(model=dict(a=1))
  new_model["model"]["decoder_min_scale"] = 0.0
  assert training.config_diff(old_model, new_model) == []
  new_model["model"]["decoder_min_scale"] = 0.05
  assert training.config_diff(old_model, new_model) == [
      ("model.decoder_min_scale", 0.0, 0.05)
  ]
  assert training.config_diff(dict(x=1), dict(x=1)) == []
  assert training.config_hash(_config()) == training.config_hash(
      _config().to_dict()
  )


def test_claim_writes_provenance_beside_the_run(tmp_path):
  with training.claim_workdir(str(tmp_path), _config()) as record:
    assert (tmp_path / ".lock").read_text().startswith(f"pid {os.getpid()} ")
  on_disk = json.loads((tmp_path / "run.json").read_text())
  assert on_disk == json.loads(json.dumps(record))
  env = on_disk["environment"]
  assert env["mimjax_version"] == mimjax.__version__
  assert env["device_count"] >= 1 and env["libraries"]["jax"]
  assert on_disk["config_hash"] == training.config_hash(_config())


def test_resume_with_a_different_config_is_an_error_and_changes_nothing(
    tmp_path, snapshot):
  with training.claim_workdir(str(tmp_path), _config()):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "1").write_text("state")
  before = snapshot(tmp_path)
  with pytest.raises(mimjax.InputError) as e:
    with training.claim_workdir(str(tmp_path), _config(batch_size=16)):
      pass
  message = str(e.value)
  assert "\n" not in message
  assert "train.batch_size: 8 -> 16" in message and "--overwrite" in message
  assert snapshot(tmp_path) == before
  # A field declared safe may change.
  with training.claim_workdir(str(tmp_path), _config(log_every=5)):
    pass


def test_overwrite_moves_the_old_run_aside(tmp_path, snapshot):
  workdir = tmp_path / "run"
  with training.claim_workdir(str(workdir), _config()):
    (workdir / "metrics.jsonl").write_text("old\n")
  before = snapshot(workdir)
  with training.claim_workdir(
      str(workdir), _config(batch_size=16), overwrite=True
  ):
    pass
  (moved,) = [p for p in tmp_path.iterdir() if p.name != "run"]
  assert moved.name.startswith("run.replaced-")
  assert snapshot(moved) == {k: v for k, v in before.items() if k != ".lock"}
  assert not (workdir / "metrics.jsonl").exists()
  assert json.loads((workdir / "run.json").read_text())["config"]["train"][
      "batch_size"] == 16


def test_changed_data_file_is_an_error(tmp_path):
  data_dir = tmp_path / "data"
  data_dir.mkdir()
  (data_dir / "toy.npz").write_bytes(b"one")
  (data_dir / "unrelated.txt").write_bytes(b"x")
  config = _config()
  config.data.dir = str(data_dir)
  workdir = str(tmp_path / "run")
  with training.claim_workdir(workdir, config) as record:
    assert set(record["data_files"]) == {"toy.npz"}
    os.makedirs(os.path.join(workdir, "checkpoints"))  # the run's product
  (data_dir / "unrelated.txt").write_bytes(b"y")  # not read by the run
  with training.claim_workdir(workdir, config):
    pass
  (data_dir / "toy.npz").write_bytes(b"two")
  with pytest.raises(mimjax.InputError, match=r"\['toy.npz'\] changed"):
    with training.claim_workdir(workdir, config):
      pass


@pytest.mark.slow  # starts a second Python process
def test_second_process_on_a_held_workdir_is_refused(tmp_path, snapshot):
  holder = subprocess.Popen(
      [sys.executable, "-c",
       "import sys, time, ml_collections\n"
       "from mimjax import training\n"
       "c = ml_collections.ConfigDict(dict(seed=0))\n"
       "with training.claim_workdir(sys.argv[1], c):\n"
       "  print('held', flush=True)\n"
       "  time.sleep(60)\n", str(tmp_path)],
      stdout=subprocess.PIPE, text=True,
  )
  try:
    assert holder.stdout.readline().strip() == "held"
    before = snapshot(tmp_path)
    with pytest.raises(mimjax.InputError) as e:
      with training.claim_workdir(
          str(tmp_path), ml_collections.ConfigDict(dict(seed=0))
      ):
        pass
    assert f"in use by pid {holder.pid} on host " in str(e.value)
    assert snapshot(tmp_path) == before
  finally:
    holder.kill()
    holder.wait()
  # The kernel released the killed holder's lock: no stale lock to clear.
  with training.claim_workdir(
      str(tmp_path), ml_collections.ConfigDict(dict(seed=0))
  ):
    pass


def test_failed_first_try_does_not_block_a_fixed_config(tmp_path):
  with pytest.raises(mimjax.InputError):
    with training.claim_workdir(str(tmp_path), _config()):
      raise mimjax.InputError("bad field, found before training")
  with training.claim_workdir(str(tmp_path), _config(batch_size=16)):
    pass


def test_read_only_workdir_is_one_clear_error(tmp_path, read_only):
  with pytest.raises(mimjax.InputError) as e:
    with training.claim_workdir(str(tmp_path), _config()):
      pass
  assert str(e.value).startswith(
      f"workdir {tmp_path} is not writable (Read-only file system)"
  )


def test_atomic_open_leaves_the_old_file_on_failure(tmp_path):
  path = tmp_path / "out.json"
  files.write_json(str(path), {"a": 1})
  with pytest.raises(RuntimeError):
    with files.atomic_open(str(path)) as f:
      f.write('{"a": ')
      raise RuntimeError("killed mid-write")
  assert files.read_json(str(path)) == {"a": 1}
  assert os.listdir(tmp_path) == ["out.json"]  # no temporary left
  path.write_text('{"a": ')  # torn by a writer that was not atomic
  assert files.read_json(str(path)) is None
