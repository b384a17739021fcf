"""How the engine talks to whoever runs it: progress events out, a stop flag in.

The engine calls a ``Reporter``; the web layer implements one that stores each
point in the database and pushes it to the browser, the CLI one that draws a
progress bar, tests one that records. Every point is a flat dict of named
numbers, so any reporter can store or plot it without knowing the engine.
A note (``send_note``) is a registered code with params, plus its English wording,
so a reporter can say it again in its user's language (NOTE_TEXTS below).
"""
from __future__ import annotations

from typing import Any, Mapping, Protocol, runtime_checkable

# Stages in the order a run passes through them. The web layer mirrors these as
# Run.status values; keep the names stable.
STAGE_PREPARING = "preparing"  # reading the corpus, building vocabularies
STAGE_FINETUNING_TEACHER = "finetuning_teacher"  # teacher had no head for these labels
STAGE_GENERATING = "generating"  # growing the transfer set: variants of training texts (TransferConfig)
STAGE_LABELLING = "labelling"  # teacher computes soft labels (or reads them from cache)
STAGE_DISTILLING = "distilling"  # student training
STAGE_BASELINE = "baseline"  # the same student trained on labels only (TrainConfig.baseline), for comparison
STAGE_EVALUATING = "evaluating"  # final dev/test scores, speed, export
STAGES = (STAGE_PREPARING, STAGE_FINETUNING_TEACHER, STAGE_GENERATING, STAGE_LABELLING, STAGE_DISTILLING, STAGE_BASELINE,
          STAGE_EVALUATING)

# Phases a metric point belongs to, so one chart can tell the teacher's
# fine-tuning curve from the student's distillation curve.
PHASE_TEACHER = "teacher"
PHASE_STUDENT = "student"
PHASE_BASELINE = "baseline"  # the no-distillation baseline's curve: the student on labels only

# Every note the engine sends (Reporter.on_message): a stable code -> its English wording, a
# ``str.format`` template whose fields are the note's params. The code is what a reporter in another
# language translates by (cldweb/messages.py has one template per code, a test checks it); the English
# is for logs and the CLI. A param is a number or a string; how a number is written follows its name,
# the same rule in English (note_text) and in the web's languages:
#   ``*_accuracy``  a fraction, written as a percentage with one decimal ("91.3%")
#   ``*_ms``        milliseconds, two decimals ("3.25")
#   any other       a count, with thousands separators ("1,200")
#   None            "n/a" (a score that could not be measured)
#   a list          line numbers, joined by the language's list separator ("12, 40")
#   a mapping       why rows were skipped, {SKIP_REASON_TEXTS code: count}, most first ("3 with an empty text")
# A reason or a list is data, not English words, so the web can say it in Chinese too.
NOTE_TEXTS: dict[str, str] = {
    # the run as a whole
    "run_cancelled": "Run cancelled; the last checkpoint is kept, rerun with the same output folder to resume.",
    "export_int8_left_out": "The int8 model picked the trained student's label on only {agreement_accuracy} of "
                            "{texts} dev texts (99 in 100 needed), so the download holds model.onnx without it.",
    "split_changed": "The corpus or its train/dev/test split differs from the one this run folder was built with, "
                     "so the teacher fine-tune and the student training start over.",
    "run_summary": "Teacher test accuracy {teacher_accuracy}, student {student_accuracy}; student {student_ms} ms "
                   "a text (batch 1, median) against the teacher's {teacher_ms} ms; {student_parameters} "
                   "parameters against {teacher_parameters} on {device}.",
    # the corpus (distill/corpus/splits.py says its warnings with these codes too)
    "corpus_summary": "Corpus: {train} train, {dev} dev, {test} test rows; {duplicates} duplicates removed; "
                      "labels: {labels}.",
    "corpus_rows_skipped": "{count} of {rows} rows were skipped and are not used: {reasons}; first on lines {lines}.",
    "corpus_dev_unlabeled": "{count} dev rows have no label and were set aside, since they cannot be scored.",
    "corpus_test_unlabeled": "{count} test rows have no label and were set aside, since they cannot be scored.",
    "corpus_duplicates": "{duplicates} of {rows} rows repeat an earlier text; duplicates were removed before "
                         "splitting so scores do not measure memorisation.",
    "corpus_conflicts": "{count} texts appear with different labels; the most frequent label was kept.",
    "corpus_conflicts_ties": "{count} texts appear with different labels; the most frequent label was kept, "
                             "and {ties} ties were left unlabeled.",
    "corpus_dev_overlap": "{count} training texts also appear in the dev file and were removed from training, "
                          "so the dev score is not inflated by texts the model has seen.",
    "corpus_test_overlap": "{count} training texts also appear in the test file and were removed from training, "
                           "so the test score is not inflated by texts the model has seen.",
    "corpus_dev_test_shared": "{count} texts are in both the dev and the test file.",
    "corpus_unbalanced": "The classes are unbalanced (largest {largest}, smallest {smallest} texts); "
                         "accuracy alone may flatter the model.",
    "corpus_no_dev": "There is no dev set, so early stopping and best-checkpoint choice cannot work.",
    # a tagging run's file of unlabelled text (DataConfig.unlabeled_path): its sentences have no tags of their own
    "tagging_unlabeled_file": "{count} sentences of the unlabelled text file joined training: the teacher tags "
                              "them and the student learns from its tags (they are never scored).",
    "tagging_unlabeled_file_hard": "The {count} sentences of the unlabelled text file have no tags, and this mode "
                                   "trains on your tags only, so they are not used.",
    # the teacher
    "demo_teacher_building": "Building a demo teacher: a small BERT initialised at random, to be trained on this corpus.",
    "demo_teacher_pretraining": "Building a demo teacher and teaching it the corpus's language first: {epochs} "
                                "epochs of filling in masked characters of the training texts, before fine-tuning.",
    "demo_teacher_pretrained_reused": "Reusing the demo teacher pre-trained earlier on the same training texts.",
    "teacher_finetune_first": "The teacher has no trained head for these labels; fine-tuning it on the labeled rows first.",
    "teacher_finetune_first_demo": "The teacher has no trained head for these labels; fine-tuning it on the labeled "
                                   "rows first (demo teacher: a small transformer trained from scratch, not pretrained).",
    "teacher_finetune_slow_fp16": "amp fp16 on a CPU is emulated: the teacher fine-tune will be many times slower "
                                  "than with amp off or bf16.",
    "teacher_finetune_reused": "Reusing the teacher fine-tuned earlier on the same rows and settings.",
    "teacher_finetune_reused_at": "Reusing the teacher fine-tuned earlier on the same rows and settings ({folder}).",
    "teacher_finetune_waiting": "Another worker is fine-tuning this teacher on the same rows; waiting for it.",
    "teacher_finetune_resuming": "Resuming the teacher fine-tune from step {step} (epoch {epoch}).",
    "teacher_finetune_stale": "The teacher fine-tuning checkpoint was written for another teacher, labels, data or "
                              "settings; fine-tuning from the start.",
    "teacher_labelling_waiting": "Another worker is labelling these texts with this teacher; waiting for it.",
    "teacher_labelling_resuming": "Resuming teacher labelling at text {done} of {total}.",
    "teacher_outputs_cached": "Teacher outputs read from the cache.",
    "teacher_labelling_bf16": "The teacher labels in bf16, a shorter number format this processor computes "
                              "natively, at about twice the speed: of {texts} dev texts labelled both ways, {changed} "
                              "got another top label than in full precision (float32), and no probability moved by "
                              "more than 0.02.",
    "teacher_labelling_fp32_checked": "The teacher labels in full precision (float32): in the faster bf16 format, "
                                      "{changed} of {texts} dev texts got another top label or a probability moved "
                                      "by more than 0.02.",
    "teacher_speed_reused": "The teacher's speed was measured before on this machine with the same texts, threads and "
                            "precision; that measurement is reused and only the student was timed now.",
    "teacher_labelled": "Teacher labelled {count} texts.",
    # growing the transfer set (distill/transfer)
    "transfer_mlm_no_head": "The teacher has no masked-LM head, so teacher-MLM sampling was skipped; masking, POS "
                            "replacement and n-gram sampling still work.",
    "transfer_generated": "{count} new training rows were generated ({mask} by masking words, {pos} by replacing words "
                          "with others of the same part of speech, {ngram} as windows of a text, {mlm} rewritten by "
                          "the teacher's masked LM); the teacher labels them next.",
    "transfer_ran_out": "Only {count} distinct variants could be made of the {target} asked for: the corpus is small "
                        "or its texts short.",
    # the student
    "student_from_teacher": "Student initialised from the teacher's weights.",
    "student_embeddings_from_teacher": "Student embeddings initialised from the teacher's ({known} tokens known "
                                       "to the teacher).",
    "student_resuming": "Resuming student training from step {step} (epoch {epoch}).",
    "student_stale": "The checkpoint in this folder was written for other settings; training from scratch.",
    "early_stopping": "Early stopping: dev accuracy did not improve for {evaluations} evaluations.",
    "student_trained": "Student trained for {steps} steps.",
    "student_trained_stopped_early": "Student trained for {steps} steps (stopped early).",
    "student_kept_closest_to_teacher": "The student keeps its weights from epoch {epoch} of {epochs}, where it "
                                       "was closest to the teacher on the dev texts (dev accuracy {dev_accuracy}).",
    # the labels-only baseline the report compares the student with
    "baseline_training": "Training the same student on the labels only, with the same budget, to see what the "
                         "teacher adds.",
    "baseline_no_labels": "No training row has a label, so the student cannot be trained on labels only for "
                          "comparison; the report compares it with the teacher alone.",
    # said after labelling, before the student trains: a teacher at chance teaches nothing
    "teacher_no_better_than_majority": "The teacher is right on {teacher_accuracy} of the dev texts, no better than "
                                       "always giving the commonest label ({majority_accuracy}): the student can "
                                       "learn little from it. Bring a stronger teacher, or train in semi mode so "
                                       "the labels count too.",
}
NOTE_CODES = tuple(NOTE_TEXTS)

# Why the corpus reader skipped a row (corpus.examples.SKIPPABLE_CODES), for a mapping param; the web
# has a translated phrase per code (cldweb/messages.py SKIP_REASONS).
SKIP_REASON_TEXTS: dict[str, str] = {
    "empty_text": "with an empty text", "text_too_long": "with a text over the length limit",
    "line_too_long": "with a line over the length limit", "bad_label": "with an unreadable label",
    "bad_tags": "with entities or tags that do not fit the text",
}


def by_count(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    """A mapping param's (code, count) pairs in the order a note names them: most first, ties by code
    (the stored mapping keeps no order: PostgreSQL's jsonb sorts keys its own way)."""
    return sorted(((str(code), int(count)) for code, count in counts.items()), key=lambda item: (-item[1], item[0]))


def note_param_text(name: str, value: Any) -> str:
    """One param in English, by the naming rule above NOTE_TEXTS."""
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{count:,} {SKIP_REASON_TEXTS.get(code, code)}" for code, count in by_count(value))
    if name.endswith("_accuracy"):
        return f"{value:.1%}"
    if name.endswith("_ms"):
        return f"{value:.2f}"
    return f"{int(value):,}"


def note_text(code: str, params: Mapping[str, Any]) -> str:
    """The English sentence of a note (KeyError for a code not in NOTE_TEXTS: every note is registered)."""
    return NOTE_TEXTS[code].format(**{name: note_param_text(name, value) for name, value in params.items()})


def send_note(reporter: Reporter, code: str, **params: Any) -> None:
    """Tell ``reporter`` one registered note: its English text, its code and its params."""
    reporter.on_message(note_text(code, params), code=code, params=params)


@runtime_checkable
class Reporter(Protocol):
    def on_stage(self, stage: str, info: dict[str, object]) -> None:
        """A new stage began; ``info`` carries e.g. {"device": "cpu"} or {"cached": True}."""

    def on_step(self, phase: str, point: dict[str, float]) -> None:
        """A training point: step, epoch, loss and its components, lr, samples_per_s, eta_s."""

    def on_eval(self, phase: str, point: dict[str, float]) -> None:
        """A dev evaluation: step, epoch, dev_accuracy, dev_loss."""

    def on_progress(self, stage: str, point: dict[str, float]) -> None:
        """How far a long stage is: ``done`` and ``total``, ``eta_s``.

        Teacher labelling counts texts; teacher fine-tuning and student distillation count training
        steps. ``done == total`` only once the stage's work is over (after the last dev evaluation and
        save), so a bar never reads 100% while the stage still runs. Called after every batch or step,
        so a reporter that stores or sends it should throttle.
        """

    def on_message(self, message: str, *, code: str = "", params: Mapping[str, Any] | None = None) -> None:
        """A note: ``message`` in English (for logs and the CLI), ``code`` one of NOTE_CODES and ``params``
        its numbers and names, by which the web run page says it in the user's language."""

    def should_stop(self) -> bool:
        """Polled between steps; True ends the run as cancelled at the next step boundary."""


class NullReporter:
    """Ignores everything and never stops; the default for library use."""

    def on_stage(self, stage: str, info: dict[str, object]) -> None:
        pass

    def on_step(self, phase: str, point: dict[str, float]) -> None:
        pass

    def on_eval(self, phase: str, point: dict[str, float]) -> None:
        pass

    def on_progress(self, stage: str, point: dict[str, float]) -> None:
        pass

    def on_message(self, message: str, *, code: str = "", params: Mapping[str, Any] | None = None) -> None:
        pass

    def should_stop(self) -> bool:
        return False


class RecordingReporter(NullReporter):
    """Keeps every event in order; used by tests and by the CLI summary."""

    def __init__(self, stop_after_steps: int | None = None) -> None:
        self.events: list[tuple[str, str, dict]] = []
        self.stop_after_steps = stop_after_steps
        self.steps_seen = 0

    def on_stage(self, stage: str, info: dict[str, object]) -> None:
        self.events.append(("stage", stage, dict(info)))

    def on_step(self, phase: str, point: dict[str, float]) -> None:
        self.steps_seen += 1
        self.events.append(("step", phase, dict(point)))

    def on_eval(self, phase: str, point: dict[str, float]) -> None:
        self.events.append(("eval", phase, dict(point)))

    def on_progress(self, stage: str, point: dict[str, float]) -> None:
        self.events.append(("progress", stage, dict(point)))

    def on_message(self, message: str, *, code: str = "", params: Mapping[str, Any] | None = None) -> None:
        self.events.append(("message", message, {"code": code, "params": dict(params or {})}))

    def should_stop(self) -> bool:
        return self.stop_after_steps is not None and self.steps_seen >= self.stop_after_steps

    def stages(self) -> list[str]:
        return [name for kind, name, _ in self.events if kind == "stage"]


class RunCancelled(Exception):
    """Raised inside the engine when the reporter asked to stop; the run ends as cancelled."""
