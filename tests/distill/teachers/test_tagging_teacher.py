"""The tagging teacher: a demo token classifier fine-tuned on People's Daily, its per-character outputs, their cache."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from distill import datasets, teachers
from distill.config import RunConfig
from distill.progress import RecordingReporter
from distill.teachers.demo import demo_teacher_parameters
from distill.teachers.tagging import (LOG_PROB_FLOOR, char_logits_key, finetune_tagging_teacher, load_tagging_teacher,
                                      tagging_finetune_key, teacher_char_logits)

from ..conftest import tiny_teacher_config

TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
VOCAB = Path("/work/shared/data/bert-base-chinese-vocab.txt")
RARE = "\U0002003e"  # an Extension B ideograph outside the vocabulary: [UNK]
# digits, a Latin word, a space and a rare character
TEXT = f"2024年苹果在{RARE}村发布iPhone 15。"
SPACE = TEXT.index(" ")


@pytest.fixture(scope="module")
def sentences() -> list[tuple[str, tuple[str, ...]]]:
    """600 short People's Daily sentences (8 to 40 characters), so a 64-token teacher sees each whole."""
    return [row for row in datasets.peoples_daily(limit=3000) if 8 <= len(row[0]) <= 40][:600]


@pytest.fixture(scope="module")
def demo_dir(sentences, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo-tagger")
    teachers.build_demo_teacher([text for text, _ in sentences], TAGS, tiny_teacher_config(), directory,
                                max_length=64, task="tagging")
    return directory


@pytest.fixture(scope="module")
def bert_vocab_teacher(tmp_path_factory: pytest.TempPathFactory):
    """An untrained one-layer token classifier over the real bert-base-chinese vocabulary, with the tags as its head."""
    from transformers import BertConfig, BertForTokenClassification, BertTokenizerFast

    if not VOCAB.is_file():
        pytest.skip("the bert-base-chinese vocabulary is not in /work/shared/data")
    # BertTokenizerFast(vocab_file=...) keeps only the special tokens in this transformers release.
    vocab = VOCAB.read_text(encoding="utf-8").splitlines()
    tokenizer = BertTokenizerFast(vocab={token: index for index, token in enumerate(vocab)}, tokenize_chinese_chars=True)
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, num_labels=len(TAGS),
                        id2label=dict(enumerate(TAGS)), label2id={tag: i for i, tag in enumerate(TAGS)})
    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("bert-vocab-tagger")
    BertForTokenClassification(config).save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    return load_tagging_teacher(tiny_teacher_config(), TAGS, str(directory))


def test_it_builds_a_demo_token_classifier_that_asks_for_finetuning(demo_dir: Path) -> None:
    from transformers import AutoModelForTokenClassification

    loaded = load_tagging_teacher(tiny_teacher_config(), TAGS, str(demo_dir))
    assert loaded.needs_finetune  # placeholder head names, not the tags
    assert type(loaded.model).__name__ == "BertForTokenClassification"
    built = AutoModelForTokenClassification.from_pretrained(str(demo_dir))
    vocabulary = len(loaded.tokenizer.get_vocab())
    assert demo_teacher_parameters(tiny_teacher_config(), vocabulary, len(TAGS), 64, task="tagging") == sum(
        parameter.numel() for parameter in built.parameters())


def test_it_finetunes_a_demo_tagger_to_a_real_entity_f1_and_reuses_it(demo_dir: Path, sentences,
                                                                       tmp_path: Path) -> None:
    texts, tags = [text for text, _ in sentences], [list(row_tags) for _, row_tags in sentences]
    cfg = RunConfig(cache_dir=str(tmp_path / "cache"))
    cfg.data.max_length = 64
    cfg.teacher = tiny_teacher_config(finetune_epochs=5, demo=True, demo_learning_rate=5e-3)
    cfg.train.num_threads = 1
    cfg.train.log_every_steps = 5
    loaded = load_tagging_teacher(cfg.teacher, TAGS, str(demo_dir))
    reporter = RecordingReporter()

    tuned = finetune_tagging_teacher(loaded, texts[:500], tags[:500], texts[500:], tags[500:], TAGS, cfg,
                                     torch.device("cpu"), reporter, tmp_path / "run")

    evals = [point for kind, phase, point in reporter.events if kind == "eval" and phase == "teacher"]
    assert [point["epoch"] for point in evals] == [1, 2, 3, 4, 5]
    target = teachers.finetuned_dir(cfg.cache_dir, tagging_finetune_key(
        loaded.fingerprint, TAGS, texts[:500], tags[:500], texts[500:], tags[500:], cfg))
    assert tuned.directory == str(target) and not tuned.needs_finetune
    marker = json.loads((target / teachers.FINETUNE_MARKER).read_text(encoding="utf-8"))
    # Measured dev entity F1 by epoch: 0.00, 0.00 (all O), 0.25, 0.17, 0.17; the best epoch's weights are kept.
    # A 32-wide one-layer teacher trained from scratch on 500 sentences; an all-O tagger scores 0.
    assert marker["dev_entity_f1"] == max(point["dev_entity_f1"] for point in evals) > 0.1
    assert evals[-1]["dev_loss"] < evals[0]["dev_loss"]
    reloaded = load_tagging_teacher(cfg.teacher, TAGS, str(target))
    assert not reloaded.needs_finetune  # the saved head carries the tags as its id2label

    second = RecordingReporter()
    reused = finetune_tagging_teacher(loaded, texts[:500], tags[:500], texts[500:], tags[500:], TAGS, cfg,
                                      torch.device("cpu"), second, tmp_path / "run")
    assert reused.fingerprint == tuned.fingerprint
    assert not [event for event in second.events if event[0] in ("step", "eval")]


def test_it_resumes_a_cancelled_tagging_finetune_to_the_same_weights(demo_dir: Path, sentences,
                                                                      tmp_path: Path) -> None:
    from distill.progress import RunCancelled

    texts, tags = [text for text, _ in sentences[:260]], [list(row_tags) for _, row_tags in sentences[:260]]

    def finetune(run: Path, reporter: RecordingReporter):
        cfg = RunConfig(cache_dir=str(run / "cache"))
        cfg.data.max_length = 64
        cfg.teacher = tiny_teacher_config(finetune_epochs=2, demo=True, demo_learning_rate=5e-3)
        cfg.train.num_threads = 1
        cfg.train.log_every_steps = 1  # the reporter counts step points to know when to cancel
        loaded = load_tagging_teacher(cfg.teacher, TAGS, str(demo_dir))
        return finetune_tagging_teacher(loaded, texts[:200], tags[:200], texts[200:], tags[200:], TAGS, cfg,
                                        torch.device("cpu"), reporter, run)

    whole = finetune(tmp_path / "whole", RecordingReporter())
    with pytest.raises(RunCancelled):
        finetune(tmp_path / "resumed", RecordingReporter(stop_after_steps=9))  # 2 epochs of 7 steps: mid-epoch 2
    rerun = RecordingReporter()
    resumed = finetune(tmp_path / "resumed", rerun)

    assert [point["step"] for kind, _, point in rerun.events if kind == "step"] == list(range(10, 15))
    whole_state, resumed_state = whole.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(whole_state[name], resumed_state[name]) for name in whole_state)
    assert resumed.fingerprint == whole.fingerprint


def token_log_probs(loaded, text: str, max_length: int) -> tuple[list[str], np.ndarray]:
    """The teacher's tokens for ``text`` and its (T, C) log-probabilities, straight from the model."""
    encoded = loaded.tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt")
    with torch.inference_mode():
        logits = loaded.model(**encoded).logits[0]  # (T, C)
    return (loaded.tokenizer.convert_ids_to_tokens(encoded["input_ids"][0].tolist()),
            torch.log_softmax(logits.float(), dim=-1).numpy())


def test_it_gives_one_row_per_character_and_continues_entities_inside_words(bert_vocab_teacher, tmp_path: Path) -> None:
    truncated = "上海浦东新区的人民广场在今天举行了庆祝活动"  # 21 characters, one token each: 14 fit in 16 tokens
    chars, hit = teacher_char_logits(bert_vocab_teacher, [TEXT, truncated], 64, tmp_path, 8, torch.device("cpu"))
    assert not hit and len(chars) == 2
    assert chars.offsets.tolist() == [0, len(TEXT), len(TEXT) + len(truncated)]
    values, mask = chars.row(0)
    assert values.shape == (len(TEXT), len(TAGS)) and values.dtype == np.float32
    assert np.flatnonzero(~mask).tolist() == [SPACE]  # only the dropped space has no teacher signal
    assert not values[SPACE].any()

    tokens, expected = token_log_probs(bert_vocab_teacher, TEXT, 64)
    assert tokens[1:3] == ["202", "##4"] and "iphone" in tokens and "[UNK]" in tokens
    begin, inside = TAGS.index("B-PER"), TAGS.index("I-PER")
    np.testing.assert_allclose(values[0], expected[1], atol=1e-5)  # "2" starts the token "202"
    np.testing.assert_allclose(values[3], expected[2], atol=1e-5)  # "4" is the token "##4"
    np.testing.assert_allclose(values[TEXT.index(RARE)], expected[tokens.index("[UNK]")], atol=1e-5)
    phone = TEXT.index("iPhone")
    np.testing.assert_allclose(values[phone], expected[tokens.index("iphone")], atol=1e-5)
    for position, token in [(1, 1), (2, 1)] + [(phone + k, tokens.index("iphone")) for k in range(1, 6)]:
        row, source = values[position], expected[token]
        probabilities, source_probabilities = np.exp(row), np.exp(source)
        assert row[begin] == LOG_PROB_FLOOR  # inside a word nothing begins
        assert probabilities[inside] == pytest.approx(source_probabilities[begin] + source_probabilities[inside],
                                                      rel=1e-5)
        assert row[TAGS.index("O")] == pytest.approx(source[TAGS.index("O")], abs=1e-6)
        assert probabilities.sum() == pytest.approx(1.0, abs=1e-6)

    assert chars.row(1)[1].all()  # at 64 tokens the second text fits whole
    short, _ = teacher_char_logits(bert_vocab_teacher, [truncated], 16, tmp_path, 8, torch.device("cpu"))
    assert np.flatnonzero(~short.row(0)[1]).tolist() == list(range(14, len(truncated)))  # cut off by truncation
    np.testing.assert_allclose(short.row(0)[0][:14], token_log_probs(bert_vocab_teacher, truncated, 16)[1][1:15],
                               atol=1e-5)


def test_it_serves_a_second_call_from_the_cache_without_a_teacher(bert_vocab_teacher, tmp_path: Path) -> None:
    texts = [TEXT, "王小明在北京工作。", "", "今天 天气很好"]
    assert not teachers.cached_char_logits_available(bert_vocab_teacher.fingerprint, texts, 32, tmp_path)
    first, first_hit = teacher_char_logits(bert_vocab_teacher, texts, 32, tmp_path, 3, torch.device("cpu"))
    second, second_hit = teacher_char_logits(None, texts, 32, tmp_path, 3, torch.device("cpu"),
                                             fingerprint=bert_vocab_teacher.fingerprint)
    assert (first_hit, second_hit) == (False, True)
    assert teachers.cached_char_logits_available(bert_vocab_teacher.fingerprint, texts, 32, tmp_path)
    np.testing.assert_array_equal(second.values, first.values)
    np.testing.assert_array_equal(second.offsets, first.offsets)
    np.testing.assert_array_equal(second.mask, first.mask)
    assert second.row(2)[0].shape == (0, len(TAGS))  # an empty text has no rows
    entry = tmp_path / f"{char_logits_key(bert_vocab_teacher.fingerprint, 32, texts)}.chars"
    assert sorted(path.name for path in tmp_path.iterdir()) == [entry.name]  # no partial or lock left behind
    with pytest.raises(ValueError):  # another max_length is another entry, and there is no teacher to fill it
        teacher_char_logits(None, texts, 16, tmp_path, 3, torch.device("cpu"),
                            fingerprint=bert_vocab_teacher.fingerprint)


class StopAfterBatches(RecordingReporter):
    """Asks to stop once ``batches`` labelling batches have reported progress: a cancel midway through a pass."""

    def __init__(self, batches: int) -> None:
        super().__init__()
        self.batches = batches

    def should_stop(self) -> bool:
        return sum(1 for kind, _, _ in self.events if kind == "progress") >= self.batches


def test_it_continues_a_cancelled_pass_to_the_arrays_of_an_uninterrupted_one(bert_vocab_teacher,
                                                                              tmp_path: Path) -> None:
    from distill.progress import RunCancelled

    texts = [TEXT, "王小明在北京工作。", "今天 天气很好", "人民日报", "上海"]
    whole, _ = teacher_char_logits(bert_vocab_teacher, texts, 32, tmp_path / "whole", 2, torch.device("cpu"))
    with pytest.raises(RunCancelled):
        teacher_char_logits(bert_vocab_teacher, texts, 32, tmp_path / "resumed", 2, torch.device("cpu"),
                            StopAfterBatches(2))
    reporter = RecordingReporter()
    resumed, hit = teacher_char_logits(bert_vocab_teacher, texts, 32, tmp_path / "resumed", 2, torch.device("cpu"),
                                       reporter)
    assert not hit
    notes = [point["code"] for kind, _, point in reporter.events if kind == "message"]
    assert "teacher_labelling_resuming" in notes
    assert [point["done"] for kind, _, point in reporter.events if kind == "progress"] == [5]  # only the last batch
    np.testing.assert_array_equal(resumed.values, whole.values)
    np.testing.assert_array_equal(resumed.mask, whole.mask)
