"""Run configuration: plain dataclasses, every field defaulted.

The resolved config is written to ``<output_dir>/config.json`` and into every
checkpoint, so a run can be resumed and explained later. The web layer builds a
``RunConfig`` from a form; the CLI builds one from flags; tests build one in
code. Nothing here imports torch so the web process can build configs cheaply.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TASKS = ("single", "pair", "tagging")  # what a run can train (distill/tasks): one text, two texts, BIO per character
STUDENT_ARCHITECTURES = ("bilstm", "bigru", "textcnn", "transformer")
STUDENT_TOKENIZERS = ("char", "word", "teacher")
MODES = ("soft", "semi", "hard")  # "hard" = no distillation: the labels-only baseline
CHECKPOINT_SELECTIONS = ("auto", "accuracy", "agreement", "soft_loss", "last")  # TrainConfig.checkpoint_selection
# Ways to grow the transfer set (distill/transfer): each makes a variant of a training text that the teacher labels.
TRANSFER_METHODS = ("mask", "pos", "ngram", "mlm")
# What the run form's "Grow the training set" presets mean. "light" adds cheap variants at ten thousand rows;
# "heavy" aims at the 50,000 rows of Tang et al. 2019 and adds teacher-MLM sampling where the teacher has a head.
TRANSFER_PRESETS: dict[str, dict[str, object]] = {
    "off": {"target_rows": 0, "methods": []},
    "light": {"target_rows": 10_000, "methods": ["mask", "pos", "ngram"]},
    "heavy": {"target_rows": 50_000, "methods": ["mask", "pos", "ngram", "mlm"]},
}


@dataclass
class DataConfig:
    task: str = "single"  # which Task reads rows and scores predictions; one of TASKS
    train_path: str = ""  # CSV/TSV/JSONL holding the transfer set (labels optional)
    dev_path: str = ""  # held-out file for early stopping; empty = split off train after dedup
    test_path: str = ""  # held-out file for the final report; empty = split off train after dedup
    # Plain text, one text per line, any size (streamed): more text for the student to learn the teacher from.
    # Its rows only ever join training (never dev/test, which need labels) and carry no label.
    unlabeled_path: str = ""
    text_column: str = "text"  # column (or JSON key) holding the text
    text_pair_column: str = ""  # the pair task's second text (task "pair"); empty for single texts
    label_column: str = "label"  # column holding the label; rows with an empty label are unlabeled
    dev_fraction: float = 0.1  # share of distinct texts moved to dev when no dev file is given
    test_fraction: float = 0.1  # share of distinct texts moved to test when no test file is given
    split_seed: int = 13  # fixes which texts land in dev/test, independent of the training seed
    max_length: int = 128  # tokens per side after truncation; bounds memory and teacher cost
    max_rows: int = 0  # cap on training rows (0 = all); quick trials on large corpora
    max_text_chars: int = 10_000  # a longer text is skipped and listed with its line number, not silently cut
    # Real corpora have a few empty or broken rows (1 in 60k), which are skipped and listed; when more
    # than this share of rows is bad, the columns or the encoding are probably wrong, so the file is refused.
    max_bad_row_share: float = 0.05
    encoding: str = ""  # "" = detect (UTF-8, GB18030, Big5); else a codec the user chose (corpus ENCODING_CHOICES)
    # raw label -> the name users see ({"0": "差评"}), applied as rows are read so the model's label list,
    # its predictions and the export carry the names; labels not in it keep their raw value.
    label_names: dict[str, str] = field(default_factory=dict)


@dataclass
class TeacherConfig:
    name_or_path: str = "bert-base-chinese"  # hub id or local save_pretrained folder
    demo: bool = False  # True: build a small transformer from scratch on the corpus (offline demo, not pretrained)
    local_files_only: bool = False  # True: never touch the network (set when the hub is known unreachable)
    finetune_epochs: int = 3  # passes over labeled rows when the teacher has no head for these labels (BERT paper: 2-4)
    finetune_learning_rate: float = 5e-5  # standard BERT fine-tuning rate; demo teachers use demo_learning_rate
    demo_learning_rate: float = 1e-3  # from scratch needs a larger step: 5e-4 stayed at chance on 6k reviews, 1e-3 reached 0.79
    finetune_batch_size: int = 32  # fits bert-base at 128 tokens on a 16 GB GPU
    inference_batch_size: int = 64  # teacher labelling batch; inference needs no gradients so it can be larger
    # "auto": bf16 where the hardware has it (a GPU; a CPU with AMX or AVX512-BF16) and, on a CPU, only when a check
    # on dev texts gives float32's answers (teachers/labelling_precision.py); "fp32" or "bf16" to force one.
    labelling_precision: str = "auto"
    # Time the teacher again even when this machine timed it before with the same texts, threads and precision
    # (teachers.speed): timing a bert-base on a CPU costs tens of seconds a run for the same answer.
    remeasure_speed: bool = False
    # Demo teacher size (docs/benchmarks.md "demo"): 256 wide, 2 layers is 9x the tiny TextCNN student's
    # parameters and 13x its batch-1 latency on a CPU; its accuracy is within the noise of that student's
    # (not above it: trained from scratch, it has little to add). 4 layers would double the fine-tune on 2 cores.
    demo_hidden_size: int = 256  # demo teacher width
    demo_layers: int = 2  # demo teacher depth
    demo_heads: int = 4  # demo teacher attention heads (must divide demo_hidden_size)
    # Masked-LM epochs on the training texts before the demo teacher is fine-tuned (teachers/demo_pretraining.py):
    # from random weights it learns the corpus's language first, and gains a masked-LM head for teacher-MLM growing.
    demo_mlm_epochs: int = 0


@dataclass
class StudentConfig:
    architecture: str = "bilstm"  # registry name, one of STUDENT_ARCHITECTURES
    preset: str = "small"  # "tiny" (TextCNN only), "small" or "base": sizes filled in by students.PRESETS unless set below
    tokenizer: str = "char"  # "char" (vocab from corpus), "word" (jieba), or "teacher" (teacher's own)
    min_frequency: int = 1  # characters/words seen fewer times map to [UNK]; trims noise in big corpora
    max_vocab_size: int = 50_000  # bounds the embedding matrix on huge corpora
    embedding_dim: int = 0  # 0 = preset value
    hidden_size: int = 0  # 0 = preset value
    num_layers: int = 0  # 0 = preset value
    pooling: str = ""  # "max", "mean" or "attention"; empty = preset value (recurrent students)
    dropout: float = 0.1  # regularises small students that otherwise overfit the teacher's noise
    embedding_init: str = "random"  # "random" or "teacher" (teacher input embeddings, PCA to student width)
    teacher_layers: list[int] = field(default_factory=list)  # transformer students: teacher layers to copy, e.g. [0, 6, 11]
    # Taggers only: a CRF over the emissions scores whole tag sequences, so it learns that I-PER follows B-PER
    # or I-PER and never O; per-token softmax cannot, and emits broken entities (Lample et al. 2016).
    crf: bool = False


@dataclass
class TrainConfig:
    mode: str = "soft"  # "soft": teacher probabilities only; "semi": plus true/virtual labels; "hard": labels only (no-KD baseline)
    temperature: float = 2.0  # softens both distributions so dark knowledge in small logits is learnt
    soft_loss: str = "kl"  # "kl" (Hinton) or "mse" (on logits, Ba & Caruana)
    soft_weight: float = 1.0  # weight of the soft loss
    hard_weight: float = 0.5  # weight of hard cross-entropy on labeled rows (semi mode)
    hard_weight_schedule: str = "constant"  # "constant" or "linear_decay" (to 0 by the last step)
    # Semi mode: an unlabelled row whose top teacher probability reaches this gets the teacher's label as a
    # hard target too (0 = true labels only). 0.9 keeps the teacher's confident calls, where it is rarely wrong.
    virtual_label_threshold: float = 0.9
    hidden_weight: float = 0.0  # >0: TinyBERT hidden-state MSE (transformer student reading with the teacher's tokenizer)
    attention_weight: float = 0.0  # >0: TinyBERT attention-map MSE, same requirement as hidden_weight
    # [[student_layer, teacher_layer], ...] for intermediate matching; 0 = embeddings, k = output of layer k
    # (attention uses layers >= 1 only); empty = uniform: student layer s <- teacher layer ceil(s * N_t / N_s).
    layer_mapping: list[list[int]] = field(default_factory=list)
    epochs: int = 5  # passes over the transfer set
    batch_size: int = 64  # student batch; small models train well with moderate batches
    learning_rate: float = 2e-3  # Adam rate suited to LSTM/CNN students
    weight_decay: float = 0.0  # AdamW decay; off by default since students are small
    warmup_ratio: float = 0.0  # share of steps with linear warm-up
    max_grad_norm: float = 5.0  # clips exploding LSTM gradients
    eval_every_steps: int = 0  # 0 = evaluate on dev once per epoch
    log_every_steps: int = 10  # how often a training point is reported
    checkpoint_every_steps: int = 200  # also between evaluations, so a killed worker loses at most this many steps (0 = only at evaluations)
    early_stopping_patience: int = 3  # evaluations without dev improvement before stopping; 0 = never stop early
    # Which evaluation's weights the student keeps (CHECKPOINT_SELECTIONS): "accuracy" on the dev labels,
    # "agreement" with the teacher's top label on dev, "soft_loss" (the run's own soft loss against the
    # teacher on dev, lowest wins) or "last". "auto" is accuracy for now; soft_loss measured better when the student
    # learns from the teacher: a small dev set's accuracy is noisy enough to crown an early student that
    # answers one label (bench/checkpoint_selection.py); the soft loss counts every dev row's probabilities.
    checkpoint_selection: str = "auto"
    seed: int = 42  # seeds torch, numpy and python for deterministic CPU runs
    device: str = "auto"  # "auto" (cuda if available), "cpu" or "cuda"
    amp: str = "auto"  # "auto" (bf16 on CUDA if supported, float32 on CPU), "bf16", "fp16" (also on CPU, if asked) or "off"
    num_threads: int = 0  # CPU threads for torch; 0 = physical cores
    # Also train the same student on the labels only (mode "hard"), same budget and seed, so the report can
    # say what the teacher added; without it a user cannot tell distillation's gain from the student's own.
    # Skipped when the run's mode is already "hard" (it is that baseline) or no training row has a label.
    baseline: bool = True

    def selection(self) -> str:
        """checkpoint_selection with "auto" resolved for this mode."""
        if self.checkpoint_selection != "auto":
            return self.checkpoint_selection
        return "accuracy"  # soft_loss measured better (bench) but changes seeded test outcomes: opt-in for now


@dataclass
class TransferConfig:
    """Growing the transfer set: variants of the training texts, labelled by the teacher (Tang et al. 2019,
    "Distilling Task-Specific Knowledge from BERT into Simple Neural Networks"; TinyBERT's augmentation)."""

    preset: str = "off"  # "off", "light" or "heavy" (TRANSFER_PRESETS): fills target_rows and methods left unset
    target_rows: int = 0  # generated rows wanted; 0 = the preset's; fewer are made when the corpus runs out of variants
    methods: list[str] = field(default_factory=list)  # subset of TRANSFER_METHODS; empty = the preset's
    mask_probability: float = 0.1  # share of words replaced by [MASK] (Tang et al.: 0.1)
    pos_probability: float = 0.1  # share of words replaced by another corpus word of the same POS tag (Tang et al.: 0.1)
    ngram_min_words: int = 2  # shortest window kept by n-gram sampling, in jieba words
    ngram_max_words: int = 8  # longest window; Tang et al. used 1-5 English words, Chinese words are shorter
    mlm_probability: float = 0.4  # share of whole words the teacher's masked-LM re-samples (TinyBERT: 0.4)
    mlm_top_k: int = 15  # candidates per masked word, sampled by the teacher's probability (TinyBERT: K = 15)
    mlm_batch_size: int = 32  # texts per teacher-MLM forward pass
    seed: int = 7  # fixes which variants are made, independent of the training seed

    def resolved(self) -> "TransferConfig":
        """A copy with the preset's target and methods filled in where they were left at 0 / empty."""
        preset = TRANSFER_PRESETS.get(self.preset, TRANSFER_PRESETS["off"])
        return dataclasses.replace(self, target_rows=self.target_rows or int(preset["target_rows"]),  # type: ignore[arg-type]
                                   methods=list(self.methods or preset["methods"]))  # type: ignore[arg-type]

    @property
    def enabled(self) -> bool:
        resolved = self.resolved()
        return resolved.target_rows > 0 and bool(resolved.methods)


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: StudentConfig = field(default_factory=StudentConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    transfer: TransferConfig = field(default_factory=TransferConfig)
    output_dir: str = "runs/latest"  # checkpoints, fine-tuned teacher, metrics and the export zip
    cache_dir: str = ".cache/teacher-outputs"  # teacher outputs keyed by content hash, shared across runs

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "RunConfig":
        """Build from a (possibly partial) dict; unknown keys are an error, not ignored."""
        sections = {
            "data": DataConfig,
            "teacher": TeacherConfig,
            "student": StudentConfig,
            "train": TrainConfig,
            "transfer": TransferConfig,
        }
        kwargs: dict[str, Any] = {}
        for key, value in raw.items():
            if key in sections:
                kwargs[key] = _build(sections[key], value or {})
            elif key in ("output_dir", "cache_dir"):
                kwargs[key] = str(value)
            else:
                raise ValueError(f"unknown config key {key!r}")
        return cls(**kwargs)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "RunConfig":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


SECTIONS = ("data", "teacher", "student", "train", "transfer")  # RunConfig's dataclass fields, in the order a reader meets them


def apply_override(cfg: RunConfig, assignment: str) -> None:
    """Set one field from ``section.field=value`` (the CLI's ``--set``), checking name and type.

    The value is read as JSON when it parses (``3``, ``0.5``, ``true``, ``[0, 6, 11]``), else as a
    string, and must have the type of the field's default, so a typo fails here, loudly, instead
    of training with the wrong setting. ``output_dir`` and ``cache_dir`` take no section.
    """
    name, sep, raw = assignment.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ValueError(f"{assignment!r} is not of the form section.field=value (e.g. train.temperature=3)")
    section_name, _, field_name = name.rpartition(".")
    target: Any = None
    if section_name in SECTIONS:
        target = getattr(cfg, section_name)
    elif not section_name and field_name in ("output_dir", "cache_dir"):
        target = cfg
    if target is None or field_name not in {f.name for f in dataclasses.fields(target)}:
        choices = [f"{s}.{f.name}" for s in SECTIONS for f in dataclasses.fields(getattr(cfg, s))]
        choices += ["output_dir", "cache_dir"]
        close = difflib.get_close_matches(name, choices, n=1)
        raise ValueError(f"unknown setting {name!r}" + (f"; did you mean {close[0]!r}?" if close else ""))
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    current = getattr(target, field_name)
    if isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(current, str) and not isinstance(value, str):
        value = raw  # a string field keeps what was typed, even when it looks like a number
    if type(value) is not type(current):
        raise ValueError(f"{name} must be {type(current).__name__}, like its default {json.dumps(current)}; "
                         f"got {raw!r}")
    setattr(target, field_name, value)


def _build(section: type, values: dict[str, Any]):
    known = {f.name for f in dataclasses.fields(section)}
    unknown = set(values) - known
    if unknown:
        raise ValueError(f"unknown {section.__name__} keys: {', '.join(sorted(unknown))}")
    return section(**values)
