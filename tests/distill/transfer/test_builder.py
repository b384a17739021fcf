"""generate_transfer_rows: distinct rows up to the target, none a corpus row, provenance kept, resumable."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from distill.config import TRANSFER_METHODS, TransferConfig
from distill.corpus.examples import Example
from distill.corpus.rows import KEY_DTYPE, row_key
from distill.progress import STAGE_GENERATING, RecordingReporter, RunCancelled
from distill.tasks import get_task
from distill.transfer import GeneratedRows, MlmSampler, generate_transfer_rows
from distill.transfer.generators import MASK_TOKEN

from .conftest import REVIEWS

TASK = get_task("single")
TRAIN, HELD_OUT = REVIEWS[:32], REVIEWS[32:]  # the sources, and dev/test rows no variant may equal


def _keys(texts: list[str]) -> np.ndarray:
    return np.frombuffer(b"".join(row_key(TASK, Example(text=text, label=None, line=0)) for text in texts),
                         dtype=KEY_DTYPE)


def _config(**overrides: object) -> TransferConfig:
    settings = {"target_rows": 300, "methods": ["mask", "pos", "ngram"], "seed": 11, **overrides}
    return TransferConfig(**settings).resolved()  # type: ignore[arg-type]


def _generate(directory: Path, cfg: TransferConfig | None = None, sources: list[str] = TRAIN,
              **kwargs: object) -> GeneratedRows:
    return generate_transfer_rows(sources, cfg or _config(), task=TASK, exclude_keys=_keys([*TRAIN, *HELD_OUT]),
                                  directory=directory, **kwargs)  # type: ignore[arg-type]


def _snapshot(rows: GeneratedRows) -> tuple[list[str], list[int], list[int]]:
    return list(rows.texts), rows.sources.tolist(), rows.methods.tolist()


def _notes(reporter: RecordingReporter) -> dict[str, dict]:
    return {info["code"]: info["params"] for kind, _, info in reporter.events if kind == "message"}


def _assert_derives_from_its_source(text: str, source: str, method: str) -> None:
    if method == "ngram":
        assert text in source and len(text) < len(source)
    elif method == "mask":
        assert MASK_TOKEN in text and text.replace(MASK_TOKEN, "") != source
        remaining = iter(source)
        assert all(char in remaining for char in text.replace(MASK_TOKEN, ""))  # the rest, in the source's order
    else:  # pos and mlm swap words: the punctuation stays where it was
        assert [char for char in text if not char.isalnum()] == [char for char in source if not char.isalnum()]


def test_it_reaches_the_target_with_distinct_new_rows_that_derive_from_their_sources(tmp_path: Path) -> None:
    reporter = RecordingReporter()

    rows = _generate(tmp_path / "transfer", reporter=reporter)

    assert len(rows) == len(rows.texts) == 300 and rows.attempts >= 300
    keys = _keys(list(rows.texts))
    assert len(np.unique(keys)) == 300  # no two generated rows are the same input
    assert not np.isin(keys, _keys(REVIEWS)).any()  # none is a train, dev or test row
    assert rows.sources.dtype == np.int64 and rows.methods.dtype == np.int8
    for text, source, method in zip(rows.texts, rows.sources, rows.methods):
        assert text.strip() and 0 <= source < len(TRAIN)
        _assert_derives_from_its_source(text, TRAIN[source], TRANSFER_METHODS[method])
    counts = rows.counts()
    assert set(counts) == set(TRANSFER_METHODS) and sum(counts.values()) == 300 and counts["mlm"] == 0
    assert all(counts[method] > 60 for method in ("mask", "pos", "ngram"))  # the methods take turns
    assert rows.skipped_methods == {}

    progress = [point for kind, stage, point in reporter.events if kind == "progress" and stage == STAGE_GENERATING]
    assert progress[0]["done"] == 0 and progress[-1] == {"done": 300, "total": 300, "eta_s": 0.0}
    assert _notes(reporter) == {"transfer_generated": {"count": 300, **counts}}


def test_it_reuses_a_finished_set_with_the_same_key_and_regenerates_for_another(tmp_path: Path) -> None:
    directory = tmp_path / "transfer"
    first = _snapshot(_generate(directory, key="corpus-a"))
    (directory / "marker").write_text("reused")
    reporter = RecordingReporter()

    reused = _generate(directory, key="corpus-a", reporter=reporter)

    assert _snapshot(reused) == first and (directory / "marker").exists()  # read back, not made again
    assert not [event for event in reporter.events if event[0] == "progress"]
    assert "transfer_generated" in _notes(reporter)  # the run page still says what the set holds

    regenerated = _generate(directory, key="corpus-b")
    assert not (directory / "marker").exists() and _snapshot(regenerated) == first  # same inputs, same draws
    other_seed = _generate(directory, _config(seed=12), key="corpus-b")
    assert _snapshot(other_seed) != first  # the key alone is not trusted: other settings regenerate
    assert sorted(path.name for path in tmp_path.iterdir()) == ["transfer"]  # no temp folder left beside it


def test_it_stops_at_the_attempt_cap_when_the_corpus_runs_out_of_variants(tmp_path: Path) -> None:
    reporter = RecordingReporter()
    cfg = _config(target_rows=500, methods=["ngram"], ngram_min_words=2, ngram_max_words=3)

    rows = _generate(tmp_path / "transfer", cfg, sources=TRAIN[:3], reporter=reporter)

    assert 0 < len(rows) < 500 and rows.attempts == 5 * 500
    assert len(set(rows.texts)) == len(rows)
    assert _notes(reporter)["transfer_ran_out"] == {"count": len(rows), "target": 500}


def test_it_skips_teacher_mlm_without_a_sampler_and_uses_it_with_one(tmp_path: Path, tiny_mlm_folder: Path) -> None:
    cfg = _config(target_rows=120, methods=["mask", "mlm"], mlm_batch_size=8)
    reporter = RecordingReporter()

    without = _generate(tmp_path / "without", cfg, reporter=reporter)
    assert without.skipped_methods == {"mlm": "transfer_mlm_no_head"} and without.counts()["mlm"] == 0
    assert len(without) == 120 and "transfer_mlm_no_head" in _notes(reporter)

    sampler = MlmSampler.from_folder(tiny_mlm_folder, "cpu")
    with_mlm = _generate(tmp_path / "with", cfg, mlm=sampler)
    counts = with_mlm.counts()
    assert with_mlm.skipped_methods == {} and len(with_mlm) == 120 and counts["mlm"] > 40 and counts["mask"] > 40
    for text, source, method in zip(with_mlm.texts, with_mlm.sources, with_mlm.methods):
        _assert_derives_from_its_source(text, TRAIN[source], TRANSFER_METHODS[method])
    again = _generate(tmp_path / "again", cfg, mlm=sampler)
    assert _snapshot(again) == _snapshot(with_mlm)


def test_it_leaves_no_folder_when_cancelled(tmp_path: Path) -> None:
    class StopAfterFirstReport(RecordingReporter):
        def should_stop(self) -> bool:
            return any(kind == "progress" for kind, _, _ in self.events)

    with pytest.raises(RunCancelled):
        _generate(tmp_path / "transfer", _config(target_rows=2000), reporter=StopAfterFirstReport())

    assert list(tmp_path.iterdir()) == []


def test_it_makes_an_empty_set_when_there_is_nothing_to_do(tmp_path: Path) -> None:
    rows = _generate(tmp_path / "none", sources=[])
    assert len(rows) == 0 and list(rows.texts) == [] and rows.counts()["mask"] == 0
    only_mlm = _generate(tmp_path / "mlm", _config(methods=["mlm"]))
    assert len(only_mlm) == 0 and only_mlm.skipped_methods == {"mlm": "transfer_mlm_no_head"}


def test_it_never_makes_a_row_the_corpus_already_has(tmp_path: Path) -> None:
    cfg = _config(target_rows=60, methods=["ngram"])
    made = list(_generate(tmp_path / "first", cfg).texts)
    # The same draws again, now with those windows among the corpus's rows (as dev rows would be), written
    # with spaces around: rows are the same input by the task's dedup key, not by their raw text.
    corpus = [*TRAIN, *HELD_OUT, *(f" {text} " for text in made)]
    rows = generate_transfer_rows(TRAIN, cfg, task=TASK, exclude_keys=_keys(corpus), directory=tmp_path / "second")

    assert len(rows) == 60 and not set(rows.texts) & set(made)
