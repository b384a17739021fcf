"""What a finished run hands back: scores of every model in the report, sizes, speeds, where the export is."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ModelReport:
    dev_accuracy: float | None = None  # share of dev rows predicted right
    test_accuracy: float | None = None  # share of test rows predicted right
    parameters: int = 0  # trainable + frozen parameter count
    size_bytes: int = 0  # bytes of its safetensors weights
    # Speed as a person would use the model, on the run's device and threads, timed interleaved with the
    # other model on the same texts (evaluate.measure_speeds), so teacher/student ratios are fair.
    latency_p50_ms: float = 0.0  # milliseconds to answer one text (batch 1), median
    latency_p95_ms: float = 0.0  # milliseconds to answer one text (batch 1), 95th percentile
    samples_per_second: float = 0.0  # inference throughput in batches of 32 (batch 64 before latency was measured)


# The models the report compares, in the order it lists them: the teacher, the distilled student,
# the same student trained on labels only, and the two floors (evaluate / baselines).
REPORT_MODELS = ("teacher", "student", "baseline", "classical", "majority")


@dataclass
class RunResult:
    status: str = "done"  # "done" or "cancelled"
    output_dir: str = ""
    export_path: str = ""  # the download: ONNX (fp32, int8) + safetensors, tokenizer, labels, model card, predict.py
    device: str = "cpu"  # where training ran
    labels: list[str] = field(default_factory=list)  # label names in class-index order
    teacher: ModelReport = field(default_factory=ModelReport)
    student: ModelReport = field(default_factory=ModelReport)
    corpus: dict[str, Any] = field(default_factory=dict)  # corpus.splits.CorpusReport as a dict: duplicates, overlap, split sizes
    teacher_finetuned: bool = False  # True when the teacher was trained on the corpus labels first
    teacher_cache_hit: bool = False  # True when soft labels came from the on-disk cache
    # The folder of the teacher that labelled this run (the fine-tune in the shared cache, the demo teacher
    # in the run folder, a local folder or a hub snapshot) and its fingerprint: distill.load_run_teacher
    # loads exactly that teacher again from them. "" when the run ended before its teacher was resolved.
    teacher_directory: str = ""
    teacher_fingerprint: str = ""  # teachers.fingerprint_folder of teacher_directory when it labelled
    stage_seconds: dict[str, float] = field(default_factory=dict)  # wall time per stage
    # How the student trained: steps, epochs_completed, stopped_early, resumed_from_step, best_dev_accuracy.
    training: dict[str, Any] = field(default_factory=dict)
    # What the numbers were measured with: library versions, device name, CPU threads, precision.
    environment: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)  # the resolved RunConfig
    # The report's quality table, one entry per model in REPORT_MODELS that was scored:
    # evaluate.classification_metrics (size, accuracy, macro_f1, per_class, confusion [gold][predicted])
    # on ``metrics_split``, plus "dev_accuracy". The floors and the baseline are what make the
    # student's number mean something; empty for a run finished by an older release.
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics_split: str = ""  # "test", or "dev" when the test rows have no labels; "" when neither has
    # How the labels-only baseline trained (steps, epochs_completed, stopped_early, resumed_from_step,
    # best_dev_accuracy); empty when it was switched off or not needed (mode "hard").
    baseline_training: dict[str, Any] = field(default_factory=dict)
    # The dev texts where student and teacher disagree most (evaluate.disagreements): where distillation
    # lost something, for a user to read before shipping.
    disagreements: list[dict[str, Any]] = field(default_factory=list)
    # The download's ONNX check (distill.export.verify.ExportCheck as a dict): fp32_max_abs_diff and
    # int8_max_abs_diff (probabilities, vs PyTorch, edge-case batch), int8_agreement over agreement_texts dev texts.
    export_check: dict[str, Any] = field(default_factory=dict)
    # What the student learnt from, by kind of row (pipeline._transfer_summary): "rows" {"labelled",
    # "unlabelled" (in the corpus), "unlabelled_file", "generated" {method: count}}, "target_rows",
    # "attempts", "methods_skipped" {method: note code}, "examples" (ten generated rows: text, source_text,
    # method, label, confidence), "virtual_labels" {"threshold", "candidates", "passed", "share"} in semi mode,
    # and "teacher_texts_per_second" (the labelling speed measured, for estimating the next run).
    transfer: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "RunResult":
        raw = dict(raw)
        raw["teacher"] = ModelReport(**raw.get("teacher", {}))
        raw["student"] = ModelReport(**raw.get("student", {}))
        return cls(**raw)
