"""Mixed precision on the CPU: explicit bf16/fp16 run under autocast, fp16 scales its loss and resumes exactly, "auto" stays float32."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from distill import students
from distill.config import STUDENT_ARCHITECTURES, RunConfig
from distill.errors import ConfigError
from distill.progress import RecordingReporter, RunCancelled
from distill.training.checkpoints import CHECKPOINT_NAME, load_checkpoint, set_seed
from distill.training.distillation import train_student
from distill.training.precision import _onednn_has_bf16, amp_dtype

from .conftest import LABELS

CPU = torch.device("cpu")
STOP_AFTER_STEPS = 13  # mid-way through epoch 2 (10 batches per epoch), after epoch 1's checkpoint
FP16_STUDENT = "transformer"  # fp16 on CPU is refused for the LSTM (see training.precision.check_amp_supported)


def _config(architecture: str, amp: str, epochs: int = 1) -> RunConfig:
    cfg = RunConfig()
    cfg.student.architecture = architecture
    cfg.student.embedding_dim = 16
    cfg.student.hidden_size = 16
    cfg.student.num_layers = 1  # one layer of each kind is enough to put it under autocast
    cfg.student.dropout = 0.2  # dropout draws from the torch RNG, which the checkpoint must restore
    cfg.train.mode = "semi"
    cfg.train.epochs = epochs
    cfg.train.batch_size = 32
    cfg.train.warmup_ratio = 0.1
    cfg.train.log_every_steps = 1
    cfg.train.early_stopping_patience = 0
    cfg.train.device = "cpu"
    cfg.train.num_threads = 1  # tiny models gain nothing from more threads; parallel tests would fight over cores
    cfg.train.amp = amp
    return cfg


def _fresh_student(cfg: RunConfig, vocab_size: int) -> students.StudentModel:
    set_seed(cfg.train.seed)
    return students.build_student(cfg.student, vocab_size, len(LABELS))


class LogitDtypes:
    """Records the dtype of every logits tensor the student returns, split by training and evaluation forwards."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.training: set[torch.dtype] = set()
        self.evaluating: set[torch.dtype] = set()
        model.register_forward_hook(self._record)

    def _record(self, module: torch.nn.Module, inputs: object, logits: torch.Tensor) -> None:
        (self.training if module.training else self.evaluating).add(logits.dtype)


def _train(transfer, cfg: RunConfig, checkpoint_dir: Path,
           reporter: RecordingReporter | None = None) -> tuple[students.StudentModel, LogitDtypes, list[dict]]:
    transfer_set, dev_set, vocab_size, pad_id = transfer
    model = _fresh_student(cfg, vocab_size)
    dtypes = LogitDtypes(model)
    reporter = reporter or RecordingReporter()
    train_student(model, transfer_set, dev_set, cfg, pad_id=pad_id, device=CPU, checkpoint_dir=checkpoint_dir,
                  reporter=reporter)
    return model, dtypes, [point for kind, _, point in reporter.events if kind in ("step", "eval")]


@pytest.mark.parametrize("architecture", STUDENT_ARCHITECTURES)
def test_it_trains_every_student_under_bf16_autocast_on_the_cpu(transfer, architecture: str, tmp_path: Path) -> None:
    if architecture == "bilstm" and not _onednn_has_bf16():
        pytest.skip("this CPU's oneDNN has no bf16 LSTM, so train_student refuses it (config_amp_cpu_lstm)")
    _, dtypes, points = _train(transfer, _config(architecture, "bf16"), tmp_path)

    assert dtypes.training == dtypes.evaluating == {torch.bfloat16}
    losses = [point["loss"] for point in points if "loss" in point]
    assert len(losses) == 10 and all(math.isfinite(loss) for loss in losses)
    dev_accuracy = [point["dev_accuracy"] for point in points if "dev_accuracy" in point]
    assert len(dev_accuracy) == 1 and 0.0 <= dev_accuracy[0] <= 1.0
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["scaler"] == {}  # bf16 has the float32 range: no loss scaling


def test_it_keeps_auto_at_float32_on_the_cpu(transfer, tmp_path: Path) -> None:
    assert amp_dtype(CPU, "auto") is None

    _, dtypes, points = _train(transfer, _config("bilstm", "auto"), tmp_path)

    assert dtypes.training == dtypes.evaluating == {torch.float32}
    assert all(math.isfinite(point["loss"]) for point in points if "loss" in point)
    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["scaler"] == {}


def test_it_scales_the_fp16_loss_and_resumes_to_weights_equal_to_an_uninterrupted_run(transfer, tmp_path: Path) -> None:
    cfg = _config(FP16_STUDENT, "fp16", epochs=2)
    straight, dtypes, straight_points = _train(transfer, cfg, tmp_path / "straight")
    assert dtypes.training == dtypes.evaluating == {torch.float16}
    assert all(math.isfinite(point["loss"]) for point in straight_points if "loss" in point)

    with pytest.raises(RunCancelled):
        _train(transfer, cfg, tmp_path / "resumed", RecordingReporter(stop_after_steps=STOP_AFTER_STEPS))
    cancelled = load_checkpoint(tmp_path / "resumed" / CHECKPOINT_NAME)
    assert cancelled["step"] == STOP_AFTER_STEPS
    assert cancelled["scaler"]["scale"] > 1  # the GradScaler was on and its state went into the checkpoint

    resumed, _, resumed_points = _train(transfer, cfg, tmp_path / "resumed")

    assert [point["step"] for point in resumed_points if "loss" in point][0] == STOP_AFTER_STEPS + 1
    # The growth tracker counts steps since the last overflow, so a scaler not restored from
    # the checkpoint would end 13 steps behind the uninterrupted run's.
    assert load_checkpoint(tmp_path / "resumed" / CHECKPOINT_NAME)["scaler"] == \
        load_checkpoint(tmp_path / "straight" / CHECKPOINT_NAME)["scaler"]
    straight_state, resumed_state = straight.state_dict(), resumed.state_dict()
    assert straight_state.keys() == resumed_state.keys()
    for name in straight_state:
        assert torch.equal(straight_state[name], resumed_state[name]), name


def test_it_refuses_fp16_for_an_lstm_on_the_cpu_before_training(transfer, tmp_path: Path) -> None:
    reporter = RecordingReporter()
    with pytest.raises(ConfigError) as refused:
        _train(transfer, _config("bilstm", "fp16"), tmp_path, reporter)

    assert refused.value.code == "config_amp_cpu_lstm"
    assert not [event for event in reporter.events if event[0] == "step"]


def test_it_refuses_an_unknown_amp_setting() -> None:
    with pytest.raises(ConfigError) as refused:
        amp_dtype(CPU, "fp8")

    assert refused.value.code == "config_amp" and refused.value.params == {"amp": "fp8"}


def test_it_refuses_bad_amp_settings_when_the_run_starts_not_after_labelling(tmp_path: Path) -> None:
    from distill.pipeline import validate_config

    config = RunConfig()
    config.data.train_path = str(tmp_path / "never-read.csv")  # validation must not need the corpus
    config.train.device = "cpu"
    for architecture, amp, code in (("bilstm", "fp16", "config_amp_cpu_lstm"), ("textcnn", "fp8", "config_amp")):
        config.student.architecture, config.train.amp = architecture, amp
        with pytest.raises(ConfigError) as refused:
            validate_config(config)
        assert refused.value.code == code
    config.student.architecture, config.train.amp = "textcnn", "fp16"
    validate_config(config)  # a CNN runs fp16 on the CPU
