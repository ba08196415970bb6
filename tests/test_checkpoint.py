"""Resumable runs: a run killed after some epochs continues from its checkpoint to the result of an
uninterrupted run; stale or foreign checkpoints are never resumed."""

import json

import keras
import numpy as np
import pytest
from test_train import data_dir  # noqa: F401  (the tiny CIFAR / MNIST files fixture)

import zoo
from zoo.experiments.bench import CHECKPOINTS, run_one
from zoo.experiments.sweeps import parse_sweep
from zoo.training.checkpoint import Checkpoint

pytestmark = pytest.mark.portable


class _Killed(Exception):
    pass


class _KillAtEpoch(keras.callbacks.Callback):
    """Stands for a killed process: raises as the given epoch (0-based) starts training."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise _Killed(f"killed at epoch {epoch}")


#: every piece of state a resume must restore: shuffles, random flips and crops, momentum, the schedule's
#: step, the lookahead average, the trained weights beside the EMA in the model, alternating flips, per-epoch
#: test scores
KNOBS = dict(epochs=4, batch_size=8, limit=32, verbose=0, out_dir=None, lookahead=2, flip="alternate",
             crop_pad=2, precision="float32", target_top1=0.0, seed=4,
             **({} if keras.backend.backend() == "jax" else {"ema": 0.9}))  # ema: refused on JAX


def test_a_killed_run_resumes_to_the_uninterrupted_result(data_dir, tmp_path):
    whole = zoo.train("resnet_tiny", "fast", data_dir=data_dir, **KNOBS)
    folder = tmp_path / "checkpoint"
    with pytest.raises(_Killed):
        zoo.train("resnet_tiny", "fast", data_dir=data_dir, checkpoint=folder, callbacks=[_KillAtEpoch(2)], **KNOBS)
    assert json.loads((folder / "state.json").read_text())["epochs_done"] == 2
    resumed = zoo.train("resnet_tiny", "fast", data_dir=data_dir, checkpoint=folder, **KNOBS)
    assert resumed["resumed_from_epoch"] == 2 and whole["resumed_from_epoch"] is None
    assert len(resumed["epoch_seconds"]) == 4 and resumed["images_seen"] == whole["images_seen"]
    for key in ("loss", "top1", "test_top1", "test_loss"):
        np.testing.assert_allclose(resumed["history"][key], whole["history"][key], rtol=1e-5, atol=1e-6)
    assert resumed["top1"] == pytest.approx(whole["top1"]) and resumed["test_loss"] == pytest.approx(whole["test_loss"])
    assert resumed["epochs_to_target"] == 1 and resumed["seconds_to_target"] > 0
    assert not folder.exists()  # removed once the run is done


def test_a_checkpoint_of_another_run_definition_is_not_resumed(data_dir, tmp_path):
    folder = tmp_path / "checkpoint"
    with pytest.raises(_Killed):
        zoo.train("resnet_tiny", "fast", data_dir=data_dir, checkpoint=folder, callbacks=[_KillAtEpoch(1)], **KNOBS)
    other = zoo.train("resnet_tiny", "fast", data_dir=data_dir, checkpoint=folder, **{**KNOBS, "lr": 0.05})
    assert other["resumed_from_epoch"] is None and len(other["epoch_seconds"]) == 4


def test_only_the_last_epoch_is_kept_and_a_damaged_one_is_refused(tmp_path):
    checkpoint = Checkpoint(tmp_path, key="k")
    checkpoint.save({"epochs_done": 1}, {"a": np.zeros(2)})
    checkpoint.save({"epochs_done": 2}, {"a": np.ones(2)})
    assert [p.name for p in tmp_path.glob("state-*.npz")] == ["state-2.npz"]
    (tmp_path / "state-2.npz").write_bytes(b"torn")  # a kill while writing (or a damaged file)
    assert Checkpoint(tmp_path, key="k").load() is None  # refused, never half-read: the run starts again


def test_bench_runs_checkpoint_into_the_table_folder_and_clean_up(data_dir, tmp_path):
    sweep = parse_sweep('[[group]]\nvariants = ["resnet_tiny"]\nrecipes = ["fast"]\ndatasets = ["cifar10"]\n'
                        'limit = 32\noverrides = { epochs = 2, batch_size = 8 }\n', name="demo")
    run = sweep.runs[0]
    folder = tmp_path / "table" / CHECKPOINTS / run.run_id
    with pytest.raises(_Killed):
        zoo.train(run.variant, run.recipe, data_dir=data_dir, limit=run.limit, checkpoint=folder, verbose=0,
                  out_dir=None, callbacks=[_KillAtEpoch(1)], measure_inference=True, inference_batch=run.inference_batch,
                  dataset=run.dataset, seed=run.seed, **run.overrides)
    assert (folder / "state.json").exists()
    row = run_one(run, sweep="demo", out=tmp_path / "table", data_dir=data_dir, verbose=0)
    assert row["status"] == "ok" and row["resumed_from_epoch"] == 1 and not folder.exists()
    assert row["load_average"] is None or len(row["load_average"].split()) == 3
