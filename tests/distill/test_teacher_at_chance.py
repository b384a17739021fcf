"""A teacher no better than the commonest label is named before the student copies it."""
from __future__ import annotations

import numpy as np

from distill.pipeline import _warn_when_teacher_at_chance
from distill.progress import RecordingReporter, note_text


def _notes(reporter: RecordingReporter) -> list[dict]:
    return [info for kind, _, info in reporter.events if kind == "message"]


def test_it_warns_when_the_teacher_is_within_noise_of_the_commonest_label() -> None:
    rng = np.random.default_rng(0)
    dev_targets = np.array([0, 1] * 100)  # balanced: the commonest label is right on half
    train_targets = np.array([0] * 60 + [1] * 40)
    always_zero = np.tile([2.0, 0.0], (200, 1))  # (N, C): a teacher stuck on one class
    reporter = RecordingReporter()

    _warn_when_teacher_at_chance(always_zero, dev_targets, train_targets, reporter)

    (note,) = _notes(reporter)
    assert note["code"] == "teacher_no_better_than_majority"
    assert note["params"] == {"teacher_accuracy": 0.5, "majority_accuracy": 0.5}
    assert "50.0%" in note_text(note["code"], note["params"])
    # A teacher right on 80% of the same texts is well clear of it: nothing is said.
    good = np.where((rng.random(200) < 0.8)[:, None], np.eye(2)[dev_targets], np.eye(2)[1 - dev_targets])
    quiet = RecordingReporter()
    _warn_when_teacher_at_chance(good, dev_targets, train_targets, quiet)
    assert _notes(quiet) == []


def test_it_says_nothing_on_a_dev_split_too_small_or_unlabelled_to_judge() -> None:
    reporter = RecordingReporter()
    _warn_when_teacher_at_chance(np.zeros((10, 2)), np.array([0, 1] * 5), np.array([0, 1]), reporter)
    _warn_when_teacher_at_chance(np.zeros((40, 2)), np.full(40, -100), np.array([0, 1]), reporter)
    assert _notes(reporter) == []
