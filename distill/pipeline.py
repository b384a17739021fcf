"""One run end to end: prepare → fine-tune the teacher if needed → label → distil → baseline → evaluate → export.

The teacher is in memory only while it is fine-tuned or labels texts; its
outputs for train, dev and test all go through the on-disk cache, so a rerun
(or a resumed run) over the same data never loads it for labelling again, and
the teacher's accuracy is computed from those cached logits.

One file over 400 lines because it is the run's order: each stage reads what the one before it
wrote, and a reader follows a run from top to bottom here. The work of each stage lives in its
package (corpus, teachers, training, evaluate, baselines, export); what stays is the wiring.
"""
from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import students, teachers
from .config import CHECKPOINT_SELECTIONS, MODES, STUDENT_TOKENIZERS, TASKS, TRANSFER_METHODS, TRANSFER_PRESETS, RunConfig, TransferConfig
from .atomic import write_text_atomically
from .baselines import classical_probabilities, majority_probabilities
from .corpus.examples import Example
from .corpus.lines import TextLinesStream
from .corpus.reading import CorpusStream
from .corpus.rows import NO_LABEL, RowView
from .corpus.sequences import Chained, Subset
from .corpus.splits import Splits, prepare_splits
from .errors import ConfigError, CorpusError
from .evaluate import (SPEED_BATCH_SIZE, SPEED_BUDGET_S, SPEED_ROUNDS, SPEED_TEXTS, SPEED_WARMUP, Speed,
                       accuracy_from_logits, classification_metrics, count_parameters, disagreements, measure_speeds,
                       safetensors_size, softmax)
from .export import export_student
from .progress import (PHASE_BASELINE, STAGE_BASELINE, STAGE_DISTILLING, STAGE_EVALUATING, STAGE_FINETUNING_TEACHER,
                       STAGE_GENERATING, STAGE_LABELLING, STAGE_PREPARING, Reporter, RunCancelled, send_note)
from .result import ModelReport, RunResult
from .tagging_run import run_tagging
from .training.checkpoints import CHECKPOINT_NAME, set_seed
from .training.distillation import (EvalSet, TransferSet, resolve_layer_mapping, student_logits, teacher_layers_needed,
                                    train_student, uses_intermediates)
from .training.losses import IGNORE_INDEX
from .training.precision import amp_dtype, check_amp_supported, resolve_device
from .tokens.batches import pad_batch
from .tokens.store import TokenStore, write_token_store
from .tokens.tokenizer import SEP_TOKEN, StudentTokenizer, TeacherTokenizer, build_student_tokenizer, load_tokenizer

STAGE_LOADING_TEACHER = "loading_teacher"  # a stage_seconds line only: time spent reading the teacher's weights
TRANSFER_TOKENS = "transfer_tokens"  # the run's encoded transfer set: a TokenStore folder
ROW_STORES = "rows"  # the corpus rows on disk (a RowStore per file), rebuilt at every start
SPLIT_STAMP = "split.json"  # the digest of the split the work in this folder was done on
# Work that saw the training texts: done for another split, it would have trained on today's dev/test texts.
SPLIT_DEPENDENT = ("teacher_init", "teacher", teachers.TEACHER_CHECKPOINT_DIR, "checkpoints", "student_tokenizer.json",
                   "baseline_checkpoints")
BASELINE_CHECKPOINTS = "baseline_checkpoints"  # the labels-only baseline's own last.pt/best, so it resumes too
GENERATED_ROWS = "generated_rows"  # the grown transfer set (distill.transfer): texts + provenance, keyed by what made it
GENERATED_FORMAT = 1  # part of the generated rows' key: bump it when generation changes what a seed makes
DEMO_TEACHERS = "demo-teachers"  # under cache_dir: demo teachers pre-trained as masked LMs, one folder per key
DEMO_PRETRAIN_FORMAT = 1  # part of their key: bump it when pre-training changes what a seed makes
DEMO_PRETRAIN_MARKER = "pretrained.json"  # written last: a folder without it is unfinished
TRANSFER_EXAMPLES_SHOWN = 10  # generated rows shown on the run page with the teacher's label


@dataclass
class _TeacherHandle:
    """The teacher as the pipeline knows it: a folder + fingerprint, loaded only when needed."""

    cfg: RunConfig
    labels: list[str]
    directory: str = ""
    fingerprint: str = ""
    # The checkpoint as given, before any fine-tune: the folder a masked-LM head can be read from
    # (fine-tuning for classification drops it). "" for the demo teacher, which never had one.
    source_directory: str = ""
    loaded: teachers.LoadedTeacher | None = None
    finetuned: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    load_seconds: float = 0.0  # wall time spent loading its weights so far: the report's "loading the teacher"

    def load(self) -> teachers.LoadedTeacher:
        if self.loaded is None:
            started = time.perf_counter()
            self.loaded = teachers.load_teacher(self.cfg.teacher, self.labels, name_or_path=self.directory or None)
            self.fingerprint = self.loaded.fingerprint
            self.directory = self.loaded.directory
            self.load_seconds += time.perf_counter() - started
        return self.loaded

    def free(self) -> None:
        """Drop the teacher from memory; student training never needs it when the cache covers the data."""
        self.loaded = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


class _OverallProgress:
    """The run's reporter, with labelling progress counted over train, dev and test together.

    The teacher labels each split in its own pass and reports ``done``/``total`` for that pass; a
    user watching one bar wants one count that only grows and one time left for the whole stage.
    Texts of splits already in the cache count as done.
    """

    def __init__(self, reporter: Reporter, sizes: dict[str, int], clock: Any = time.monotonic) -> None:
        self.reporter = reporter
        self.total = sum(sizes.values())
        self.offsets = dict(zip(sizes, np.cumsum([0, *sizes.values()])[:-1].tolist()))
        self.split = next(iter(sizes))
        self._clock = clock
        self._first: tuple[float, int] | None = None  # (time, overall done) at the first point this session

    def on_progress(self, stage: str, point: dict[str, float]) -> None:
        done = self.offsets[self.split] + int(point["done"])
        now = self._clock()
        if self._first is None:
            self._first = (now, done)
        first_time, first_done = self._first
        if done > first_done and now > first_time:
            eta_s = (self.total - done) * (now - first_time) / (done - first_done)
        else:
            eta_s = float(point.get("eta_s", 0.0))  # only the pass's own estimate exists after one batch
        self.reporter.on_progress(stage, {"done": done, "total": self.total, "eta_s": eta_s})

    def on_stage(self, stage: str, info: dict[str, object]) -> None:
        self.reporter.on_stage(stage, info)

    def on_step(self, phase: str, point: dict[str, float]) -> None:
        self.reporter.on_step(phase, point)

    def on_eval(self, phase: str, point: dict[str, float]) -> None:
        self.reporter.on_eval(phase, point)

    def on_message(self, message: str, *, code: str = "", params: Mapping[str, Any] | None = None) -> None:
        self.reporter.on_message(message, code=code, params=params)

    def should_stop(self) -> bool:
        return self.reporter.should_stop()


def validate_config(cfg: RunConfig) -> None:
    if cfg.train.mode not in MODES:
        raise ConfigError(f"unknown mode {cfg.train.mode!r}; choose one of {', '.join(MODES)}", code="config_mode")
    if cfg.train.soft_loss not in ("kl", "mse"):
        raise ConfigError(f"unknown soft_loss {cfg.train.soft_loss!r}; choose kl or mse", code="config_soft_loss")
    if cfg.student.tokenizer not in STUDENT_TOKENIZERS:
        raise ConfigError(f"unknown student tokenizer {cfg.student.tokenizer!r}", code="config_tokenizer")
    if cfg.train.epochs < 1 or cfg.train.batch_size < 1:
        raise ConfigError("epochs and batch_size must be at least 1", code="config_range")
    if cfg.train.checkpoint_selection not in CHECKPOINT_SELECTIONS:
        raise ConfigError(f"unknown checkpoint_selection {cfg.train.checkpoint_selection!r}; choose one of "
                          f"{', '.join(CHECKPOINT_SELECTIONS)}", code="config_range")
    if cfg.train.temperature <= 0:
        raise ConfigError("temperature must be positive", code="config_range")
    if not cfg.data.train_path:
        raise ConfigError("no training file was given", code="config_no_train")
    if cfg.data.task not in TASKS:
        raise ConfigError(f"unknown task {cfg.data.task!r}; choose one of {', '.join(TASKS)}", code="unknown_task",
                          task=cfg.data.task, available=list(TASKS))
    if cfg.teacher.labelling_precision not in teachers.LABELLING_PRECISIONS:
        raise ConfigError(f"unknown labelling_precision {cfg.teacher.labelling_precision!r}; choose one of "
                          f"{', '.join(teachers.LABELLING_PRECISIONS)}", code="config_range")
    if cfg.data.task == "pair" and not cfg.data.text_pair_column:
        raise ConfigError("a pair task needs the column of the second text (data.text_pair_column)",
                          code="config_pair_column")
    if cfg.data.task == "pair" and cfg.data.unlabeled_path:
        raise ConfigError("an unlabelled text file holds one text a line, not pairs; leave it out of a pair task",
                          code="config_pair_unlabeled")
    _validate_transfer(cfg)
    if cfg.train.hidden_weight < 0 or cfg.train.attention_weight < 0:
        raise ConfigError("hidden_weight and attention_weight must not be negative", code="config_range")
    device = resolve_device(cfg.train.device)
    precision = amp_dtype(device, cfg.train.amp)  # an unknown amp value is refused here, before any work
    if cfg.data.task == "tagging":
        if cfg.student.tokenizer != "char":
            raise ConfigError("a tagging student reads one token per character: use the char tokenizer",
                              code="config_tagging_tokenizer", tokenizer=cfg.student.tokenizer)
        students.build_tagger(cfg.student, 4, 3)  # refuses TextCNN (tagger_unsupported) before any work
    elif cfg.student.crf:
        raise ConfigError("a CRF layer is for tagging; a text classifier has none", code="crf_unsupported")
    if precision is not None and cfg.student.architecture != "transformer":
        # A tiny probe of the same architecture: refuses now what would crash mid-epoch after labelling.
        probe = students.build_tagger(cfg.student, 4, 3) if cfg.data.task == "tagging" else \
            students.build_student(cfg.student, 4, 2)
        check_amp_supported(probe, device, cfg.train.amp)
    if uses_intermediates(cfg):
        if cfg.train.mode == "hard":
            raise ConfigError("hard mode uses no teacher signal; set hidden_weight and attention_weight to 0",
                              code="config_intermediate_matching")
        if cfg.student.architecture != "transformer" or cfg.student.tokenizer != "teacher":
            # Position t must be the same token on both sides, and only the transformer has per-token layers.
            raise ConfigError("hidden/attention matching needs the transformer student reading with the teacher's "
                              f"tokenizer (got {cfg.student.architecture} with the {cfg.student.tokenizer} tokenizer)",
                              code="config_intermediate_matching", architecture=cfg.student.architecture,
                              tokenizer=cfg.student.tokenizer)


def _validate_transfer(cfg: RunConfig) -> None:
    grow = cfg.transfer
    if grow.preset not in TRANSFER_PRESETS:
        raise ConfigError(f"unknown transfer preset {grow.preset!r}; choose one of {', '.join(TRANSFER_PRESETS)}",
                          code="config_transfer_preset")
    unknown = [method for method in grow.methods if method not in TRANSFER_METHODS]
    if unknown:
        raise ConfigError(f"unknown transfer method {unknown[0]!r}; choose from {', '.join(TRANSFER_METHODS)}",
                          code="config_transfer_method")
    if grow.target_rows < 0 or grow.ngram_min_words < 1 or grow.ngram_max_words < grow.ngram_min_words \
            or grow.mlm_top_k < 1 or grow.mlm_batch_size < 1:
        raise ConfigError("transfer target_rows must not be negative, 1 <= ngram_min_words <= ngram_max_words, "
                          "and mlm_top_k and mlm_batch_size at least 1", code="config_range")
    for name in ("mask_probability", "pos_probability", "mlm_probability"):
        if not 0.0 < getattr(grow, name) <= 1.0:
            raise ConfigError(f"transfer {name} must be above 0 and at most 1", code="config_range")
    if cfg.transfer.enabled and cfg.data.task != "single":
        raise ConfigError("growing the training set makes variants of single texts; it is not available for "
                          f"the {cfg.data.task} task yet", code="config_transfer_task", task=cfg.data.task)
    if cfg.transfer.enabled and cfg.train.mode == "hard":
        raise ConfigError("hard mode trains on labels only, and generated rows have none; grow the training set "
                          "in soft or semi mode", code="config_transfer_hard")


def run_pipeline(config: RunConfig, reporter: Reporter) -> RunResult:
    """See ``distill.run``. Returns status "cancelled" (checkpoint saved) when the reporter asks to stop."""
    _quiet_transformers()
    validate_config(config)
    config = dataclasses.replace(config, transfer=config.transfer.resolved())  # saved as run: the preset spelled out
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    config.save(out / "config.json")
    device = resolve_device(config.train.device)
    if device.type == "cpu" and config.train.num_threads:
        torch.set_num_threads(config.train.num_threads)
    result = RunResult(status="done", output_dir=str(out), device=device.type, config=config.to_dict(),
                       environment=_environment(device, config.train.amp))
    try:
        _run(config, reporter, out, device, result)
    except RunCancelled:
        result.status = "cancelled"
        send_note(reporter, "run_cancelled")
    result.save(out / "result.json")
    return result


@contextmanager
def _stage(reporter: Reporter, result: RunResult, stage: str, info: dict[str, object]) -> Iterator[None]:
    reporter.on_stage(stage, info)
    start = time.perf_counter()
    try:
        yield
    finally:
        result.stage_seconds[stage] = round(result.stage_seconds.get(stage, 0.0) + time.perf_counter() - start, 3)


def _run(cfg: RunConfig, reporter: Reporter, out: Path, device: torch.device, result: RunResult) -> None:
    dcfg, scfg, tcfg = cfg.data, cfg.student, cfg.train
    set_seed(tcfg.seed)

    # --- preparing: corpus, splits, teacher identity, student vocabulary -------------------------
    with _stage(reporter, result, STAGE_PREPARING, {"device": device.type}):
        splits = _read_splits(cfg, out)
        _forget_work_for_another_split(out, splits.digest(), reporter)
        if dcfg.task == "tagging":
            result.corpus = splits.report.to_dict()
            for warning in splits.report.warning_notes:
                send_note(reporter, warning["code"], **warning["params"])
        else:
            labels = splits.labels
            result.labels = labels
            result.corpus = splits.report.to_dict()
            report = splits.report
            send_note(reporter, "corpus_summary", train=report.train, dev=report.dev, test=report.test,
                      duplicates=report.duplicate_rows, labels=", ".join(labels))
            for warning in report.warning_notes:
                send_note(reporter, warning["code"], **warning["params"])
            if tcfg.mode == "hard" and not (splits.train.label_ids != NO_LABEL).any():
                raise ConfigError("hard mode trains on labels only, and the training file has no labeled rows",
                                  code="config_hard_needs_labels")
            teacher = _resolve_teacher(cfg, labels, splits, out, reporter)
    if dcfg.task == "tagging":  # the same stages on per-character data (tagging_run.py)
        run_tagging(cfg, reporter, out, device, result, splits,
                    lambda stage, info: _stage(reporter, result, stage, info))
        shutil.rmtree(out / ROW_STORES, ignore_errors=True)  # a copy of the corpus, rebuilt by any later start
        return

    # --- fine-tuning the teacher when it has no head for these labels -----------------------------
    if teacher.loaded is not None and teacher.loaded.needs_finetune:
        with _stage(reporter, result, STAGE_FINETUNING_TEACHER, {"device": device.type, "demo": cfg.teacher.demo}):
            if device.type == "cpu" and amp_dtype(device, tcfg.amp) == torch.float16:
                send_note(reporter, "teacher_finetune_slow_fp16")
            send_note(reporter, "teacher_finetune_first_demo" if cfg.teacher.demo else "teacher_finetune_first")
            teacher.loaded = teachers.finetune_teacher(
                teacher.loaded, splits.train.texts, class_targets(splits.train), splits.dev.texts,
                class_targets(splits.dev), labels, cfg, device, reporter, out)
            teacher.fingerprint, teacher.directory = teacher.loaded.fingerprint, teacher.loaded.directory
            teacher.finetuned = True
    result.teacher_finetuned = teacher.finetuned
    result.teacher_directory, result.teacher_fingerprint = teacher.directory, teacher.fingerprint  # load_run_teacher's

    # --- generating: variants of the training texts, for the teacher to label (cfg.transfer) -------
    generated = None
    if cfg.transfer.enabled:
        with _stage(reporter, result, STAGE_GENERATING, {"device": device.type}):
            generated = _grow_transfer_set(cfg, splits, teacher, out, device, reporter)

    # --- labelling: teacher logits for train/dev/test, from the cache when possible ---------------
    # Lazy views: each text is read from the row store on disk when asked for.
    train_texts, dev_texts, test_texts = splits.train.texts, splits.dev.texts, splits.test.texts
    to_label = {"train": train_texts, "dev": dev_texts, "test": test_texts}
    if generated is not None and len(generated.texts):
        to_label["generated"] = generated.texts
    # What the student reads: the corpus's training rows, then the generated ones.
    transfer_texts = Chained(train_texts, to_label["generated"]) if "generated" in to_label else train_texts
    hidden_layers, attention_layers = _teacher_layers_to_cache(cfg, teacher)
    all_cached = all(teachers.cached_logits_available(teacher.fingerprint, texts, dcfg.max_length, cfg.cache_dir)
                     for texts in to_label.values()) if teacher.fingerprint else False
    if all_cached and (hidden_layers or attention_layers):
        all_cached = teachers.cached_intermediates_available(teacher.fingerprint, transfer_texts, dcfg.max_length,
                                                             cfg.cache_dir, hidden_layers, attention_layers)
    loaded_before = teacher.load_seconds
    with _stage(reporter, result, STAGE_LABELLING, {"device": device.type, "cached": all_cached}):
        loaded = None if all_cached else teacher.load()
        labelling_started = time.perf_counter()  # after loading: the texts/s the run form's estimate reads
        precision = teachers.PrecisionChoice(amp="auto", precision="")
        if loaded is not None:
            precision = teachers.choose_labelling_precision(loaded, dev_texts or train_texts, dcfg.max_length,
                                                            cfg.teacher.inference_batch_size, device,
                                                            cfg.teacher.labelling_precision)
            result.environment["labelling_precision"] = precision.to_dict()
            if precision.checked_texts:
                send_note(reporter, "teacher_labelling_bf16" if precision.precision == "bf16"
                          else "teacher_labelling_fp32_checked", texts=precision.checked_texts,
                          changed=precision.top_label_changed)
        logits: dict[str, np.ndarray] = {}
        hits: list[bool] = []
        intermediates = None
        labelling = _OverallProgress(reporter, {name: len(texts) for name, texts in to_label.items()})
        if hidden_layers or attention_layers:
            # First, so the same teacher pass also fills the train logits below (without generated rows).
            labelling.split = "train"
            intermediates, hit = teachers.teacher_intermediates(
                loaded, transfer_texts, dcfg.max_length, cfg.cache_dir, cfg.teacher.inference_batch_size, device,
                labelling, hidden_layers=hidden_layers, attention_layers=attention_layers,
                fingerprint=teacher.fingerprint)
            hits.append(hit)
        labelled_now = 0
        for name, texts in to_label.items():
            labelling.split = name
            logits[name], hit = teachers.teacher_logits(loaded, texts, dcfg.max_length, cfg.cache_dir,
                                                        cfg.teacher.inference_batch_size, device, labelling,
                                                        fingerprint=teacher.fingerprint, amp=precision.amp)
            hits.append(hit)
            labelled_now += 0 if hit else len(texts)
        result.teacher_cache_hit = all(hits)
        if result.teacher_cache_hit:
            send_note(reporter, "teacher_outputs_cached")
        else:
            send_note(reporter, "teacher_labelled", count=sum(len(texts) for texts in to_label.values()))
        labelling_seconds = time.perf_counter() - labelling_started
        teacher.free()
    _carve_out_teacher_loading(result, STAGE_LABELLING, teacher.load_seconds - loaded_before)

    if tcfg.mode != "hard":
        _warn_when_teacher_at_chance(np.asarray(logits["dev"]), class_targets(splits.dev),
                                     class_targets(splits.train), reporter)

    # --- distilling -----------------------------------------------------------------------------
    tokenizer = _student_tokenizer(cfg, train_texts, teacher, out)
    train_targets = class_targets(splits.train)  # (N_train,)
    transfer_logits = logits["train"]  # (N, C): train rows, then generated rows
    transfer_targets = train_targets  # (N,) generated rows carry no label (IGNORE_INDEX)
    if "generated" in logits:
        transfer_logits = np.concatenate([np.asarray(logits["train"]), np.asarray(logits["generated"])])
        transfer_targets = np.concatenate([train_targets, np.full(len(logits["generated"]), IGNORE_INDEX, np.int64)])
    transfer = TransferSet(_token_store(tokenizer, transfer_texts, dcfg.max_length, out, TRANSFER_TOKENS),
                           None if tcfg.mode == "hard" else transfer_logits, transfer_targets,
                           intermediates=intermediates)
    result.transfer = _transfer_summary(cfg, splits, generated, logits, labels,
                                        labelled_now / labelling_seconds if labelled_now and labelling_seconds else 0.0)
    dev_set = EvalSet(_token_store(tokenizer, dev_texts, dcfg.max_length, out, "dev_tokens"),
                      class_targets(splits.dev), teacher_logits=None if tcfg.mode == "hard" else logits.get("dev"))
    test_set = EvalSet(_token_store(tokenizer, test_texts, dcfg.max_length, out, "test_tokens"),
                       class_targets(splits.test))
    teacher_config = _teacher_config(teacher.directory) if scfg.teacher_layers else None
    set_seed(tcfg.seed)
    pair_separator_id = _pair_separator_id(cfg, tokenizer)
    model = students.build_student(scfg, tokenizer.vocab_size, len(labels), teacher_config=teacher_config,
                                   pair_separator_id=pair_separator_id)
    if (scfg.embedding_init == "teacher" or scfg.teacher_layers) and not (out / "checkpoints" / CHECKPOINT_NAME).is_file():
        _init_from_teacher(model, cfg, teacher, tokenizer, reporter)
    with _stage(reporter, result, STAGE_DISTILLING, {"device": device.type, "parameters": count_parameters(model),
                                                     "resumed": (out / "checkpoints" / CHECKPOINT_NAME).is_file()}):
        outcome = train_student(model, transfer, dev_set, cfg, pad_id=tokenizer.pad_id, device=device,
                                checkpoint_dir=out / "checkpoints", reporter=reporter)
        result.training = {"steps": outcome.steps, "epochs_completed": outcome.epochs_completed,
                           "stopped_early": outcome.stopped_early, "resumed_from_step": outcome.resumed_from_step,
                           "best_dev_accuracy": outcome.best_dev_accuracy, "kept_epoch": outcome.kept_epoch,
                           "checkpoint_selection": outcome.selection}
        send_note(reporter, "student_trained_stopped_early" if outcome.stopped_early else "student_trained",
                  steps=outcome.steps)
        if outcome.selection == "soft_loss" and None not in (outcome.kept_epoch, outcome.best_dev_accuracy):
            # Said because it is not the dev-accuracy peak a user might look for on the chart.
            send_note(reporter, "student_kept_closest_to_teacher", epoch=math.ceil(outcome.kept_epoch - 1e-9),
                      epochs=math.ceil(outcome.epochs_completed - 1e-9), dev_accuracy=outcome.best_dev_accuracy)

    # --- the baseline: the same student on labels only, same budget and seed ------------------------
    baseline_model = None
    if _wants_baseline(cfg, transfer, reporter):
        baseline_cfg = _baseline_config(cfg)
        set_seed(tcfg.seed)
        baseline_model = students.build_student(scfg, tokenizer.vocab_size, len(labels), teacher_config=teacher_config,
                                                pair_separator_id=pair_separator_id)
        baseline_dir = out / BASELINE_CHECKPOINTS
        resumed = (baseline_dir / CHECKPOINT_NAME).is_file()
        if (scfg.embedding_init == "teacher" or scfg.teacher_layers) and not resumed:
            # The same starting weights as the distilled student, so the report's difference between
            # them is what the teacher's soft labels taught, not what copying its weights gave.
            _init_from_teacher(baseline_model, cfg, teacher, tokenizer, reporter, notes=False)
        with _stage(reporter, result, STAGE_BASELINE, {"device": device.type, "resumed": resumed}):
            send_note(reporter, "baseline_training")
            # The labelled rows only: unlabelled and generated rows carry nothing for a labels-only student,
            # and in its batches they would only dilute the ones that do.
            labelled = np.flatnonzero(train_targets != IGNORE_INDEX)  # (N_labelled,)
            baseline_outcome = train_student(
                baseline_model, TransferSet(Subset(transfer.token_ids, labelled), None, train_targets[labelled]),
                dev_set, baseline_cfg,
                pad_id=tokenizer.pad_id, device=device, checkpoint_dir=baseline_dir, reporter=reporter,
                phase=PHASE_BASELINE, stage=STAGE_BASELINE)
            result.baseline_training = {"steps": baseline_outcome.steps,
                                        "epochs_completed": baseline_outcome.epochs_completed,
                                        "stopped_early": baseline_outcome.stopped_early,
                                        "resumed_from_step": baseline_outcome.resumed_from_step,
                                        "best_dev_accuracy": baseline_outcome.best_dev_accuracy}

    # --- evaluating and export --------------------------------------------------------------------
    loaded_before = teacher.load_seconds
    with _stage(reporter, result, STAGE_EVALUATING, {"device": device.type}):
        batch = tcfg.batch_size * 2
        student_dev = student_logits(model, dev_set, batch, tokenizer.pad_id, device, tcfg.amp)  # (N_dev, C)
        student_test = student_logits(model, test_set, batch, tokenizer.pad_id, device, tcfg.amp)  # (N_test, C)
        result.student = ModelReport(
            dev_accuracy=accuracy_from_logits(student_dev, dev_set.labels),
            test_accuracy=accuracy_from_logits(student_test, test_set.labels),
            parameters=count_parameters(model),
        )
        _report_quality(result, splits, labels, logits, (student_dev, student_test), baseline_model, dev_set, test_set,
                        batch, tokenizer.pad_id, device, cfg)
        model.eval()
        speeds, teacher_size = _measure_speeds(model, tokenizer, teacher, dev_texts or train_texts, dcfg.max_length,
                                               device, tcfg.amp, cfg.cache_dir, result.environment, reporter,
                                               remeasure_teacher=cfg.teacher.remeasure_speed)
        result.student.latency_p50_ms = speeds["student"].latency_p50_ms
        result.student.latency_p95_ms = speeds["student"].latency_p95_ms
        result.student.samples_per_second = speeds["student"].samples_per_second
        result.teacher = ModelReport(
            dev_accuracy=accuracy_from_logits(np.asarray(logits["dev"]), dev_set.labels),
            test_accuracy=accuracy_from_logits(np.asarray(logits["test"]), test_set.labels),
            parameters=teacher_size["parameters"], size_bytes=teacher_size["size_bytes"],
            latency_p50_ms=speeds["teacher"].latency_p50_ms, latency_p95_ms=speeds["teacher"].latency_p95_ms,
            samples_per_second=speeds["teacher"].samples_per_second,
        )
        exporting = time.perf_counter()
        exported = export_student(model, tokenizer, labels, out / "student", out / "student.zip",
                                  max_length=dcfg.max_length, check_texts=dev_texts, result=result.to_dict(),
                                  task=dcfg.task)
        result.export_path, result.export_check = str(exported.zip_path), exported.check.to_dict()
        if not exported.check.int8_included:
            send_note(reporter, "export_int8_left_out", agreement_accuracy=exported.check.int8_agreement,
                      texts=exported.check.agreement_texts)
        result.student.size_bytes = safetensors_size(out / "student" / "model.safetensors")
        # Its own line in the stage times, taken out of evaluating's (added when that stage ends).
        exported_in = result.stage_seconds["exporting"] = round(time.perf_counter() - exporting, 3)
        result.stage_seconds[STAGE_EVALUATING] = result.stage_seconds.get(STAGE_EVALUATING, 0.0) - exported_in
        shutil.rmtree(out / ROW_STORES, ignore_errors=True)  # a copy of the corpus, rebuilt by any later start
        send_note(reporter, "run_summary", teacher_accuracy=result.teacher.test_accuracy,
                  student_accuracy=result.student.test_accuracy, student_ms=result.student.latency_p50_ms,
                  teacher_ms=result.teacher.latency_p50_ms, student_parameters=result.student.parameters,
                  teacher_parameters=result.teacher.parameters, device=device.type)
    _carve_out_teacher_loading(result, STAGE_EVALUATING, teacher.load_seconds - loaded_before)


def _carve_out_teacher_loading(result: RunResult, stage: str, seconds: float) -> None:
    """Move the time spent loading the teacher's weights during ``stage`` to its own line of the stage times,
    so labelling and evaluating time the work itself (and a warm run shows it never loaded the teacher)."""
    if seconds <= 0:
        return
    result.stage_seconds[stage] = round(result.stage_seconds.get(stage, 0.0) - seconds, 3)
    result.stage_seconds[STAGE_LOADING_TEACHER] = round(result.stage_seconds.get(STAGE_LOADING_TEACHER, 0.0)
                                                        + seconds, 3)


def _grow_transfer_set(cfg: RunConfig, splits: Splits, teacher: _TeacherHandle, out: Path, device: torch.device,
                       reporter: Reporter) -> Any:
    """Variants of the training texts (distill.transfer), made once and kept in ``out/generated_rows``.

    Only training texts are sources, and no variant equals any corpus text (train, dev or test), so
    nothing generated carries a dev or test text into training. The rows are keyed by what made them
    (the training texts, the held-out texts, the settings and the masked-LM teacher), so a resumed run
    reads the same rows and provenance back instead of making them again.
    """
    from . import transfer as growing
    from .tasks import get_task

    grow = cfg.transfer
    sampler = None
    mlm_identity = ""
    if "mlm" in grow.methods:
        source = teacher.source_directory
        if source and growing.mlm_head_available(source):
            sampler = growing.MlmSampler.from_folder(source, device)
            mlm_identity = teachers.fingerprint_folder(source)
    held_out = np.sort(np.concatenate([splits.dev.keys, splits.test.keys]))
    key = hashlib.sha256(json.dumps({
        "format": GENERATED_FORMAT, "task": cfg.data.task, "train": teachers.texts_digest(splits.train.texts),
        "held_out": hashlib.sha256(held_out.tobytes()).hexdigest(), "transfer": dataclasses.asdict(grow),
        "mlm": mlm_identity,
    }, sort_keys=True).encode()).hexdigest()
    exclude = np.concatenate([splits.train.keys, splits.dev.keys, splits.test.keys])
    try:
        generated = growing.generate_transfer_rows(splits.train.texts, grow, task=get_task(cfg.data.task),
                                                   exclude_keys=exclude, directory=out / GENERATED_ROWS,
                                                   mlm=sampler, reporter=reporter, key=key)
    finally:
        del sampler
        gc.collect()
    return generated  # the builder has said what it made, what it skipped and whether it ran short


def _transfer_summary(cfg: RunConfig, splits: Splits, generated: Any, logits: Mapping[str, np.ndarray],
                      labels: list[str], teacher_texts_per_second: float) -> dict[str, Any]:
    """RunResult.transfer: the rows the student learnt from, by kind, and what the teacher said of some generated ones."""
    train_labelled = int((splits.train.label_ids != NO_LABEL).sum())
    from_file = splits.report.unlabeled_file
    unlabelled = len(splits.train) - train_labelled - from_file
    counts = generated.counts() if generated is not None else {}
    if not (counts or unlabelled or from_file):
        return {}
    summary: dict[str, Any] = {
        "rows": {"labelled": train_labelled, "unlabelled": unlabelled, "unlabelled_file": from_file,
                 "generated": {method: int(counts.get(method, 0)) for method in TRANSFER_METHODS}},
        "target_rows": cfg.transfer.target_rows if generated is not None else 0,
        "attempts": int(generated.attempts) if generated is not None else 0,
        "methods_skipped": dict(generated.skipped_methods) if generated is not None else {},
        "examples": [], "virtual_labels": {},
        "teacher_texts_per_second": round(teacher_texts_per_second, 2),
    }
    if generated is not None and len(generated.texts):
        probabilities = softmax(np.asarray(logits["generated"]))  # (N_generated, C)
        methods = np.asarray(generated.methods)  # (N_generated,)
        shown: list[int] = []
        # Round-robin over the methods used, so each method shows what it makes.
        by_method = [np.flatnonzero(methods == index) for index in range(len(TRANSFER_METHODS))]
        for position in range(TRANSFER_EXAMPLES_SHOWN):
            for rows in by_method:
                if position < len(rows) and len(shown) < TRANSFER_EXAMPLES_SHOWN:
                    shown.append(int(rows[position]))
        for row in sorted(shown):
            summary["examples"].append({
                "text": generated.texts[row], "source_text": splits.train.texts[int(generated.sources[row])],
                "method": TRANSFER_METHODS[int(methods[row])], "label": labels[int(probabilities[row].argmax())],
                "confidence": round(float(probabilities[row].max()), 4)})
    if cfg.train.mode == "semi" and cfg.train.virtual_label_threshold > 0:
        # The same rule as losses.apply_virtual_labels: an unlabelled row's top teacher probability at T = 1.
        candidates = [np.asarray(logits["train"])[splits.train.label_ids == NO_LABEL]]
        if "generated" in logits:
            candidates.append(np.asarray(logits["generated"]))
        pooled = np.concatenate(candidates) if candidates else np.zeros((0, len(labels)), np.float32)  # (M, C)
        passed = int((softmax(pooled).max(axis=-1) >= cfg.train.virtual_label_threshold).sum()) if len(pooled) else 0
        summary["virtual_labels"] = {"threshold": cfg.train.virtual_label_threshold, "candidates": len(pooled),
                                     "passed": passed, "share": round(passed / len(pooled), 4) if len(pooled) else 0.0}
    return summary


def _wants_baseline(cfg: RunConfig, transfer: TransferSet, reporter: Reporter) -> bool:
    """Whether to train the labels-only baseline: asked for, not already the run itself, and possible."""
    if not cfg.train.baseline or cfg.train.mode == "hard":
        return False
    if not (np.asarray(transfer.labels) != IGNORE_INDEX).any():
        send_note(reporter, "baseline_no_labels")
        return False
    return True


TEACHER_CHANCE_MIN_DEV = 30  # labelled dev texts needed before a teacher is called no better than chance


def _warn_when_teacher_at_chance(dev_logits: np.ndarray, dev_targets: np.ndarray, train_targets: np.ndarray,
                                 reporter: Reporter) -> None:
    """Say so before the student trains when the teacher's dev accuracy is within two standard errors of always
    answering the commonest training label: distilling it would copy a coin flip (a demo teacher trained from
    scratch on text pairs stays there, docs/benchmarks.md "pairs")."""
    labelled = dev_targets >= 0  # (N_dev,)
    if labelled.sum() < TEACHER_CHANCE_MIN_DEV or not (train_targets >= 0).any():
        return
    commonest = int(np.bincount(train_targets[train_targets >= 0]).argmax())
    majority = float((dev_targets[labelled] == commonest).mean())
    teacher = accuracy_from_logits(dev_logits, dev_targets) or 0.0
    standard_error = (majority * (1 - majority) / labelled.sum()) ** 0.5
    if teacher <= majority + 2 * standard_error:
        send_note(reporter, "teacher_no_better_than_majority", teacher_accuracy=teacher, majority_accuracy=majority)


def _baseline_config(cfg: RunConfig) -> RunConfig:
    """The run's settings in mode "hard": same student, epochs, batches, seed and early stopping; no teacher signal."""
    train = dataclasses.replace(cfg.train, mode="hard", hidden_weight=0.0, attention_weight=0.0, layer_mapping=[])
    return dataclasses.replace(cfg, train=train, transfer=TransferConfig())


def _report_quality(result: RunResult, splits: Splits, labels: list[str], teacher_logits: dict[str, np.ndarray],
                    student_outputs: tuple[np.ndarray, np.ndarray], baseline_model: torch.nn.Module | None,
                    dev_set: EvalSet, test_set: EvalSet, batch: int, pad_id: int, device: torch.device,
                    cfg: RunConfig) -> None:
    """Fill result.metrics for every model of the report (on test, or dev when test has no labels),
    and the dev texts where student and teacher disagree most."""
    scored = "test" if (test_set.labels >= 0).any() else "dev" if (dev_set.labels >= 0).any() else ""
    result.metrics_split = scored
    train_labels = class_targets(splits.train)
    outputs: dict[str, tuple[np.ndarray, np.ndarray]] = {  # model -> (dev scores, test scores)
        "teacher": (np.asarray(teacher_logits["dev"]), np.asarray(teacher_logits["test"])),
        "student": student_outputs,
    }
    if baseline_model is not None:
        outputs["baseline"] = tuple(student_logits(baseline_model, part, batch, pad_id, device, cfg.train.amp)
                                    for part in (dev_set, test_set))
    if (train_labels >= 0).any():
        outputs["classical"] = tuple(classical_probabilities(splits.train.texts, train_labels, len(labels),
                                                             [splits.dev.texts, splits.test.texts], seed=cfg.train.seed))
        outputs["majority"] = tuple(majority_probabilities(train_labels, len(labels), len(part.labels))
                                    for part in (dev_set, test_set))
    for name, (dev_scores, test_scores) in outputs.items():
        metrics = classification_metrics(test_scores if scored == "test" else dev_scores,
                                         (test_set if scored == "test" else dev_set).labels, labels) if scored else None
        if metrics is not None:
            result.metrics[name] = {**metrics, "dev_accuracy": accuracy_from_logits(dev_scores, dev_set.labels)}
    result.disagreements = disagreements(outputs["teacher"][0], student_outputs[0], dev_set.labels, splits.dev.texts,
                                         labels)


def _environment(device: torch.device, amp: str) -> dict[str, Any]:
    """Versions, hardware and precision, so a reported speed or accuracy can be reproduced and compared."""
    import platform

    import transformers

    if device.type == "cuda":
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = _cpu_model() or platform.machine()
    precision = amp_dtype(device, amp) or torch.float32
    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "numpy": np.__version__, "device_name": device_name, "threads": torch.get_num_threads(),
            "precision": str(precision).removeprefix("torch.")}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:  # not Linux: the machine type is all that is known cheaply
        pass
    return ""


def _quiet_transformers() -> None:
    # transformers draws its own tqdm bars while loading/saving; they would clutter worker logs and the CLI.
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _read_splits(cfg: RunConfig, out: Path) -> Splits:
    """Stream every given file once into row stores under ``out/rows``; texts never sit in memory."""
    dcfg = cfg.data

    def read(path: str, max_rows: int = 0) -> CorpusStream:
        if not Path(path).is_file():
            raise CorpusError("the file does not exist", path=path, code="file_not_found")
        return CorpusStream(path, dcfg.text_column, dcfg.label_column, max_text_chars=dcfg.max_text_chars,
                                 max_rows=max_rows, task=dcfg.task, encoding=dcfg.encoding,
                                 max_bad_row_share=dcfg.max_bad_row_share, text_pair_column=dcfg.text_pair_column)

    train = _named_labels(read(dcfg.train_path, dcfg.max_rows), dcfg.label_names)
    dev = _named_labels(read(dcfg.dev_path), dcfg.label_names) if dcfg.dev_path else None
    test = _named_labels(read(dcfg.test_path), dcfg.label_names) if dcfg.test_path else None
    unlabeled = (TextLinesStream(dcfg.unlabeled_path, max_text_chars=dcfg.max_text_chars,
                                 max_bad_row_share=dcfg.max_bad_row_share) if dcfg.unlabeled_path else None)
    directory = out / ROW_STORES
    shutil.rmtree(directory, ignore_errors=True)
    return prepare_splits(train, dev, test, dev_fraction=dcfg.dev_fraction, test_fraction=dcfg.test_fraction,
                          seed=dcfg.split_seed, task=dcfg.task, path=dcfg.train_path, directory=directory,
                          unlabeled=unlabeled)


def _named_labels(examples: Iterable[Example], names: dict[str, str]) -> Iterable[Example]:
    """Rename labels as they stream past, so everything downstream only ever sees the names."""
    if not names:
        return examples
    return (dataclasses.replace(example, label=names.get(example.label, example.label))
            if example.label is not None else example for example in examples)


def _forget_work_for_another_split(out: Path, digest: str, reporter: Reporter) -> None:
    """Delete what earlier attempts in ``out`` trained on a different split, then record this one.

    The corpus file, the split settings or the splitting code may change between attempts of one
    run (an edited file, a new release); reusing a teacher fine-tuned or a student trained on other
    training texts would score them on texts they were trained on. A folder without a stamp was
    written by an older release and is treated as another split.
    """
    stamp = out / SPLIT_STAMP
    previous = json.loads(stamp.read_text(encoding="utf-8")).get("digest") if stamp.is_file() else None
    stale = [out / name for name in SPLIT_DEPENDENT if (out / name).exists()]
    if previous != digest and stale:
        send_note(reporter, "split_changed")
        for path in stale:
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
    write_text_atomically(stamp, json.dumps({"digest": digest}))


def class_targets(view: RowView) -> np.ndarray:
    """(N,) int64 class index per row, IGNORE_INDEX where a row has no label (the loss skips it)."""
    return np.where(view.label_ids == NO_LABEL, IGNORE_INDEX, view.label_ids).astype(np.int64)


def _resolve_teacher(cfg: RunConfig, labels: list[str], splits: Splits, out: Path,
                     reporter: Reporter) -> _TeacherHandle:
    """Find the teacher to label with, loading it only if it might need fine-tuning.

    A finished fine-tune of this teacher on the same rows and settings, by this run or any other
    (the shared cache, keyed by teachers.finetune_key), is reused as is.
    """
    handle = _TeacherHandle(cfg=cfg, labels=labels)
    source = cfg.teacher.name_or_path
    if cfg.teacher.demo and cfg.teacher.demo_mlm_epochs:
        source = str(_pretrained_demo_teacher(cfg, labels, splits, reporter))
        handle.source_directory = source  # it has a masked-LM head now: teacher-MLM sampling can use it
    elif cfg.teacher.demo:
        source = str(out / "teacher_init")
        if not (Path(source) / "model.safetensors").is_file():
            send_note(reporter, "demo_teacher_building")
            teachers.build_demo_teacher(splits.train.texts, labels, cfg.teacher, source,
                                        max_length=cfg.data.max_length, seed=cfg.train.seed)
    def finetuned(source_fingerprint: str) -> Path:
        return teachers.finetuned_dir(cfg.cache_dir, teachers.finetune_key(
            source_fingerprint, labels, splits.train.texts, class_targets(splits.train), splits.dev.texts,
            class_targets(splits.dev), cfg))

    if not cfg.teacher.demo and Path(source).is_dir():
        handle.source_directory = source
    if Path(source).is_dir():
        teachers.check_teacher_folder(Path(source))
        source_fingerprint = teachers.fingerprint_folder(source)
        done = finetuned(source_fingerprint)
        if teachers.finished_finetune(done, source_fingerprint, labels):
            send_note(reporter, "teacher_finetune_reused")
            handle.directory, handle.fingerprint, handle.finetuned = str(done), teachers.fingerprint_folder(done), True
            return handle
    handle.directory = source
    if Path(source).is_dir() and teachers.head_ready(source, labels):
        # Trained for these labels already: no fine-tune, so the weights load only if labelling or
        # timing needs them (a run whose outputs and speed are cached never does).
        handle.fingerprint = source_fingerprint
        return handle
    loaded = handle.load()
    if not cfg.teacher.demo:
        handle.source_directory = loaded.directory  # a hub id resolved to its downloaded folder
    if loaded.needs_finetune:
        done = finetuned(loaded.fingerprint)
        if teachers.finished_finetune(done, loaded.fingerprint, labels):
            send_note(reporter, "teacher_finetune_reused")
            handle.loaded = None
            handle.directory, handle.fingerprint, handle.finetuned = str(done), teachers.fingerprint_folder(done), True
    return handle


def _pretrained_demo_teacher(cfg: RunConfig, labels: list[str], splits: Splits, reporter: Reporter) -> Path:
    """The demo teacher after masked-LM pre-training on the training texts, built once per corpus and settings.

    Kept in the shared cache (``cache_dir/demo-teachers/<key>``) like a fine-tune, so a second run on
    the same rows neither pre-trains again nor gets other weights (its fine-tune is then reused too).
    """
    tcfg = cfg.teacher
    key = hashlib.sha256(json.dumps({
        "format": DEMO_PRETRAIN_FORMAT, "train": teachers.texts_digest(splits.train.texts), "labels": labels,
        "sizes": [tcfg.demo_hidden_size, tcfg.demo_layers, tcfg.demo_heads], "max_length": cfg.data.max_length,
        "seed": cfg.train.seed, "epochs": tcfg.demo_mlm_epochs, "learning_rate": tcfg.demo_learning_rate,
    }, sort_keys=True).encode()).hexdigest()
    folder = Path(cfg.cache_dir) / DEMO_TEACHERS / key
    if (folder / DEMO_PRETRAIN_MARKER).is_file():
        send_note(reporter, "demo_teacher_pretrained_reused")
        return folder
    send_note(reporter, "demo_teacher_pretraining", epochs=tcfg.demo_mlm_epochs)
    partial = folder.with_name(f".{key}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        teachers.build_demo_teacher(splits.train.texts, labels, tcfg, partial, max_length=cfg.data.max_length,
                                    seed=cfg.train.seed)
        from .teachers.demo_pretraining import pretrain_demo_teacher

        pretrain_demo_teacher(partial, splits.train.texts, epochs=tcfg.demo_mlm_epochs,
                              learning_rate=tcfg.demo_learning_rate, max_length=cfg.data.max_length,
                              seed=cfg.train.seed, device=resolve_device(cfg.train.device), reporter=reporter)
        write_text_atomically(partial / DEMO_PRETRAIN_MARKER, json.dumps({"key": key}))
        try:
            os.replace(partial, folder)
        except OSError:  # another worker finished the same key first: its teacher is the same one
            if not (folder / DEMO_PRETRAIN_MARKER).is_file():
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def _student_tokenizer(cfg: RunConfig, train_texts: Sequence[str], teacher: _TeacherHandle, out: Path) -> StudentTokenizer:
    """Built once per run and saved, so a resumed run reads with exactly the same vocabulary."""
    path = out / "student_tokenizer.json"
    if path.is_file():
        return load_tokenizer(path)
    teacher_tokenizer = None
    if cfg.student.tokenizer == "teacher":
        from transformers import AutoTokenizer

        teacher_tokenizer = AutoTokenizer.from_pretrained(teacher.directory, local_files_only=True, trust_remote_code=False)
    tokenizer = build_student_tokenizer(cfg.student.tokenizer, train_texts, cfg.student, teacher_tokenizer)
    tokenizer.save(path)
    return tokenizer


def _pair_separator_id(cfg: RunConfig, tokenizer: StudentTokenizer) -> int | None:
    """The token between a pair's texts, for the pair students that read each text alone; None for single texts."""
    if cfg.data.task != "pair":
        return None
    if isinstance(tokenizer, TeacherTokenizer):
        separator = tokenizer.token_to_id(SEP_TOKEN)
        if separator is None:
            raise ConfigError("the teacher's tokenizer has no [SEP] token to join a pair's two texts",
                              code="config_pair_separator")
        return separator
    return tokenizer.sep_id  # type: ignore[attr-defined]  # char and word tokenizers


def _init_from_teacher(model: torch.nn.Module, cfg: RunConfig, teacher: _TeacherHandle, tokenizer: Any,
                       reporter: Reporter, *, notes: bool = True) -> None:
    """Copy teacher embeddings/layers into the student (loads the teacher briefly, then frees it).

    ``notes`` False for the labels-only baseline, which starts from the same weights without saying so again.
    """
    loaded = teacher.load()
    if cfg.student.teacher_layers:
        students.init_from_teacher(model, loaded.model, cfg.student.teacher_layers,
                                   copy_embeddings=cfg.student.tokenizer == "teacher")
    if cfg.student.embedding_init == "teacher" and not (cfg.student.teacher_layers and cfg.student.tokenizer == "teacher"):
        known = students.init_embeddings_from_teacher(model, tokenizer, loaded.tokenizer,
                                                      loaded.model.get_input_embeddings().weight)
        if notes:
            send_note(reporter, "student_embeddings_from_teacher", known=known)
    if notes:
        send_note(reporter, "student_from_teacher")
    teacher.free()


def _teacher_layers_to_cache(cfg: RunConfig, teacher: _TeacherHandle) -> tuple[list[int], list[int]]:
    """Teacher hidden-state indices and attention layers intermediate matching needs; empty lists when off."""
    if not uses_intermediates(cfg):
        return [], []
    teacher_config = _teacher_config(teacher.directory)
    student = students.resolve_student_config(cfg.student, teacher_config if cfg.student.teacher_layers else None)
    pairs = resolve_layer_mapping(cfg.train.layer_mapping, int(student["num_layers"]),
                                  int(teacher_config.num_hidden_layers))
    return teacher_layers_needed(cfg, pairs)


def _token_store(tokenizer: StudentTokenizer, texts: Sequence[str], max_length: int, out: Path,
                 name: str) -> TokenStore:
    """Encoded texts as an on-disk token store in the run folder, rebuilt only when their content changed."""
    key = hashlib.sha256("\n".join([
        teachers.texts_digest(texts), str(max_length),
        (out / "student_tokenizer.json").read_text(encoding="utf-8"),
    ]).encode()).hexdigest()
    return write_token_store(tokenizer, texts, max_length, out / name, key=key)


def _teacher_config(directory: str) -> Any:
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(directory, local_files_only=True, trust_remote_code=False)


def _measure_speeds(model: torch.nn.Module, tokenizer: StudentTokenizer, teacher: _TeacherHandle,
                    texts: Sequence[str], max_length: int, device: torch.device, amp: str, cache_dir: str,
                    environment: Mapping[str, Any], reporter: Reporter,
                    remeasure_teacher: bool = False) -> tuple[dict[str, Speed], dict[str, int]]:
    """Teacher and student timed interleaved on the same few texts; plus the teacher's size. Frees the teacher.

    A fixed sample (the first SPEED_TEXTS texts given, dev by default), so the measurement costs
    seconds even for a bert-base teacher on a CPU, and two runs on one split time the same texts.
    The teacher's numbers are kept (teachers.speed) per teacher, texts, machine, threads and
    precision: a later run there times the student alone and never loads the teacher for it.
    """
    sample = [texts[i] for i in range(min(SPEED_TEXTS, len(texts)))]
    protocol = {"texts": len(sample), "batch_size": SPEED_BATCH_SIZE, "rounds": SPEED_ROUNDS, "warmup": SPEED_WARMUP,
                "budget_s": SPEED_BUDGET_S}
    key = teachers.speed_key(teacher.fingerprint, sample, max_length, environment, protocol) \
        if teacher.fingerprint else ""
    stored = teachers.read_teacher_speed(cache_dir, key) if key and not remeasure_teacher else None
    by_length = sorted(sample, key=len)  # batches of alike lengths, as a careful caller would send them
    chunks = [by_length[i:i + SPEED_BATCH_SIZE] for i in range(0, len(by_length), SPEED_BATCH_SIZE)]

    def encode_student(batch: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        return pad_batch([tokenizer.encode(text, max_length) for text in batch], tokenizer.pad_id)

    timed = {"student": (model, [encode_student([text]) for text in sample], [encode_student(chunk) for chunk in chunks])}
    if stored is not None:
        speeds = measure_speeds(timed, device, amp)
        speeds["teacher"] = Speed(latency_p50_ms=float(stored["latency_p50_ms"]),
                                  latency_p95_ms=float(stored["latency_p95_ms"]),
                                  samples_per_second=float(stored["samples_per_second"]))
        send_note(reporter, "teacher_speed_reused")
        return speeds, {"parameters": int(stored["parameters"]), "size_bytes": int(stored["size_bytes"])}
    loaded = teacher.load()
    try:
        teacher_model = loaded.model.to(device).eval()

        def encode_teacher(batch: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
            encoded = teachers.teacher_encode(loaded.tokenizer, batch, max_length, padding=True, return_tensors="pt")
            return encoded["input_ids"], encoded["attention_mask"]  # (B, T), (B, T)

        timed = {"teacher": (lambda ids, mask: teacher_model(input_ids=ids, attention_mask=mask).logits,
                             [encode_teacher([text]) for text in sample], [encode_teacher(chunk) for chunk in chunks]),
                 **timed}
        speeds = measure_speeds(timed, device, amp)
        size = {"parameters": count_parameters(teacher_model),
                "size_bytes": safetensors_size(loaded.directory) if loaded.directory else 0}
    finally:
        teacher.free()
    if key:
        teachers.write_teacher_speed(cache_dir, key, dataclasses.asdict(speeds["teacher"]), size)
    return speeds, size
