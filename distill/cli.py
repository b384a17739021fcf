"""``python -m distill fit | evaluate | predict | config``: the engine from a terminal.

A ``DistillError`` is printed as ``error: <message>`` on stderr with exit code 2,
never as a traceback: it is something the user can fix.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .config import MODES, TASKS, TRANSFER_PRESETS, RunConfig, apply_override
from .errors import DistillError
from .progress import STAGE_LABELLING, STAGES, NullReporter

EXIT_USER_ERROR = 2  # a DistillError: bad file, bad column, missing teacher, bad config
EVALUATE_CHUNK_ROWS = 4096  # rows predicted at a time by `evaluate`; bounds its memory on huge test files


class RichReporter(NullReporter):
    """Progress bars for the student and teacher phases plus a line per stage and message."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.console = Console(stderr=True)
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                                 TimeRemainingColumn(), console=self.console, transient=False)
        self.tasks: dict[str, int] = {}
        self.progress.start()

    def on_stage(self, stage: str, info: dict[str, object]) -> None:
        number = STAGES.index(stage) + 1 if stage in STAGES else 0
        details = ", ".join(f"{key}={value}" for key, value in info.items())
        self.console.print(f"[bold]{number}/{len(STAGES)} {stage}[/bold] ({details})")

    def on_step(self, phase: str, point: dict[str, float]) -> None:
        if phase not in self.tasks:
            self.tasks[phase] = self.progress.add_task(phase, total=None, info="")
        done = point.get("step", 0)
        eta = point.get("eta_s", 0.0)
        # Points carry no step total, so the bar pulses and the ETA comes from the engine.
        self.progress.update(self.tasks[phase], completed=done,
                             info=f"step {int(done)} loss {point.get('loss', float('nan')):.4f} eta {eta:.0f}s")

    def on_eval(self, phase: str, point: dict[str, float]) -> None:
        self.console.print(f"  {phase} epoch {point.get('epoch', 0):.2f}: dev accuracy {point.get('dev_accuracy', float('nan')):.4f}, "
                           f"dev loss {point.get('dev_loss', float('nan')):.4f}")

    def on_progress(self, stage: str, point: dict[str, float]) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=point.get("total"), info="")
        self.progress.update(self.tasks[stage], completed=point.get("done", 0), total=point.get("total"),
                             info=f"{int(point.get('done', 0)):,}/{int(point.get('total', 0)):,} "
                                  + ("texts" if stage == STAGE_LABELLING else "steps"))

    def on_message(self, message: str, *, code: str = "", params: Mapping[str, Any] | None = None) -> None:
        self.console.print(f"  {message}")  # the English wording; code and params are for translating reporters

    def close(self) -> None:
        self.progress.stop()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m distill", description="Distil a Chinese text classifier into a small student.")
    commands = parser.add_subparsers(dest="command", required=True)

    fit = commands.add_parser("fit", help="fine-tune the teacher if needed, label, distil, evaluate, export")
    fit.add_argument("--config", help="RunConfig JSON; flags below override it")
    fit.add_argument("--teacher", help="hub id or local save_pretrained folder")
    fit.add_argument("--demo-teacher", action="store_true", help="build a small teacher from scratch (offline demo)")
    fit.add_argument("--student", help="bilstm, bigru, textcnn or transformer")
    fit.add_argument("--train", help="training CSV/TSV/JSONL (the transfer set)")
    fit.add_argument("--dev", help="dev file (default: split off train)")
    fit.add_argument("--test", help="test file (default: split off train)")
    fit.add_argument("--out", help="output folder (rerun with the same folder to resume)")
    fit.add_argument("--mode", choices=MODES, help="soft, semi, or hard (labels only: the no-distillation baseline)")
    fit.add_argument("--hidden-weight", type=float, help="TinyBERT hidden-state matching weight (transformer student, "
                     "--student-tokenizer teacher)")
    fit.add_argument("--attention-weight", type=float, help="TinyBERT attention matching weight (same requirements)")
    fit.add_argument("--layer-mapping", type=_layer_mapping,
                     help="student:teacher layer pairs, e.g. 1:2,2:4 (0 = embeddings); default uniform")
    fit.add_argument("--student-tokenizer", choices=("char", "word", "teacher"))
    fit.add_argument("--epochs", type=int)
    fit.add_argument("--unlabeled", metavar="FILE",
                     help="plain text file, one text per line, any size: more text for the teacher to label "
                          "and the student to learn from (never used for dev/test)")
    fit.add_argument("--grow", choices=tuple(TRANSFER_PRESETS),
                     help="grow the training set with variants of its texts, labelled by the teacher: "
                          + ", ".join(f"{name} ({int(preset['target_rows']):,} rows: "  # type: ignore[call-overload]
                                      f"{'+'.join(preset['methods']) or 'none'})"  # type: ignore[arg-type]
                                      for name, preset in TRANSFER_PRESETS.items())
                          + "; --set transfer.methods=[...] picks the methods")
    fit.add_argument("--grow-rows", type=int, metavar="N", help="generated rows wanted (default: the --grow preset's)")
    fit.add_argument("--text-column")
    fit.add_argument("--task", choices=TASKS, help="single (one text, one label; the default), pair (two texts, one "
                                                   "label: --text-pair-column) or tagging (named entities)")
    fit.add_argument("--text-pair-column", metavar="COLUMN",
                     help="the second text's column: the run learns how two texts relate (a text-pair task)")
    fit.add_argument("--label-column")
    fit.add_argument("--cache-dir")
    fit.add_argument("--device", choices=("auto", "cpu", "cuda"))
    fit.add_argument("--offline", action="store_true", help="never try the model hub")
    fit.add_argument("--max-length", type=int, help="tokens per text after truncation (default 128)")
    fit.add_argument("--batch-size", type=int, help="student batch size (default 64)")
    fit.add_argument("--learning-rate", type=float, help="student learning rate (default 0.002)")
    fit.add_argument("--temperature", type=float, help="softmax temperature of the soft loss (default 2)")
    fit.add_argument("--preset", choices=("small", "base"), help="student size preset (default small)")
    fit.add_argument("--seed", type=int, help="training seed (default 42)")
    fit.add_argument("--amp", choices=("auto", "bf16", "fp16", "off"), help="mixed precision (default auto)")
    fit.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                     help="any other setting, repeatable, e.g. --set train.virtual_label_threshold=0.9 "
                          "--set student.teacher_layers=[0,6,11]; `python -m distill config` lists them all")

    commands.add_parser("config", help="print every setting with its default, as JSON for --config")

    evaluate = commands.add_parser("evaluate", help="accuracy of an exported student on a labeled file")
    evaluate.add_argument("--model", required=True, help="student folder or zip")
    evaluate.add_argument("--data", required=True)
    evaluate.add_argument("--text-column", default="text")
    evaluate.add_argument("--text-pair-column", default="", help="the second text's column (a pair student)")
    evaluate.add_argument("--label-column", default="label")

    predict = commands.add_parser("predict", help="label texts with an exported student")
    predict.add_argument("--model", required=True, help="student folder or zip")
    predict.add_argument("texts", nargs="+", help="texts to label; for a pair student, two texts per pair")
    return parser


def _layer_mapping(value: str) -> list[list[int]]:
    """"1:2,2:4" -> [[1, 2], [2, 4]]."""
    try:
        return [[int(side) for side in pair.split(":", 1)] for pair in value.split(",") if pair.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a list of student:teacher pairs like 1:2,2:4") from None


def config_from_args(args: argparse.Namespace) -> RunConfig:
    try:
        cfg = RunConfig.load(args.config) if args.config else RunConfig()
    except (OSError, ValueError) as error:
        from .errors import ConfigError

        raise ConfigError(f"{args.config}: {error}", code="config_file", path=args.config) from error
    overrides = [
        (args.teacher, cfg.teacher, "name_or_path"),
        (args.student, cfg.student, "architecture"),
        (args.train, cfg.data, "train_path"),
        (args.dev, cfg.data, "dev_path"),
        (args.test, cfg.data, "test_path"),
        (args.out, cfg, "output_dir"),
        (args.mode, cfg.train, "mode"),
        (args.hidden_weight, cfg.train, "hidden_weight"),
        (args.attention_weight, cfg.train, "attention_weight"),
        (args.layer_mapping, cfg.train, "layer_mapping"),
        (args.student_tokenizer, cfg.student, "tokenizer"),
        (args.epochs, cfg.train, "epochs"),
        (args.text_column, cfg.data, "text_column"),
        (args.text_pair_column, cfg.data, "text_pair_column"),
        (args.task, cfg.data, "task"),
        (args.label_column, cfg.data, "label_column"),
        (args.cache_dir, cfg, "cache_dir"),
        (args.device, cfg.train, "device"),
        (args.max_length, cfg.data, "max_length"),
        (args.batch_size, cfg.train, "batch_size"),
        (args.learning_rate, cfg.train, "learning_rate"),
        (args.temperature, cfg.train, "temperature"),
        (args.preset, cfg.student, "preset"),
        (args.seed, cfg.train, "seed"),
        (args.amp, cfg.train, "amp"),
        (args.unlabeled, cfg.data, "unlabeled_path"),
        (args.grow, cfg.transfer, "preset"),
        (args.grow_rows, cfg.transfer, "target_rows"),
    ]
    for value, section, field in overrides:
        if value is not None:
            setattr(section, field, value)
    if args.text_pair_column and not args.task:
        cfg.data.task = "pair"
    for assignment in args.set:
        try:
            apply_override(cfg, assignment)
        except ValueError as error:
            from .errors import ConfigError

            raise ConfigError(f"--set {assignment}: {error}", code="config_override", setting=assignment) from None
    if args.demo_teacher:
        cfg.teacher.demo = True
    if args.offline:
        cfg.teacher.local_files_only = True
    return cfg


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "fit":
            return _fit(args)
        if args.command == "evaluate":
            return _evaluate(args)
        if args.command == "config":
            print(json.dumps(RunConfig().to_dict(), ensure_ascii=False, indent=2))
            return 0
        return _predict(args)
    except DistillError as error:
        print(f"error: {error.message}", file=sys.stderr)
        return EXIT_USER_ERROR


def _fit(args: argparse.Namespace) -> int:
    from .pipeline import run_pipeline

    cfg = config_from_args(args)
    reporter = RichReporter()
    try:
        result = run_pipeline(cfg, reporter)
    finally:
        reporter.close()
    if result.status == "cancelled":
        print("cancelled", file=sys.stderr)
        return 1
    accuracy = "token accuracy: " if cfg.data.task == "tagging" else ""
    print(f"teacher: {accuracy}dev {_fmt(result.teacher.dev_accuracy)} test {_fmt(result.teacher.test_accuracy)} "
          f"params {result.teacher.parameters:,} latency p50 {result.teacher.latency_p50_ms:.2f} ms "
          f"p95 {result.teacher.latency_p95_ms:.2f} ms (batch 1) {result.teacher.samples_per_second:,.0f} samples/s (batch 32)")
    print(f"student: {accuracy}dev {_fmt(result.student.dev_accuracy)} test {_fmt(result.student.test_accuracy)} "
          f"params {result.student.parameters:,} latency p50 {result.student.latency_p50_ms:.2f} ms "
          f"p95 {result.student.latency_p95_ms:.2f} ms (batch 1) {result.student.samples_per_second:,.0f} samples/s (batch 32)")
    for name, metrics in result.metrics.items():  # the report's quality table: the baseline and the floors too
        if cfg.data.task == "tagging":  # entities: seqeval's scores, and the share of characters tagged right
            print(f"{name} on {result.metrics_split} ({metrics['sentences']:,} sentences, {metrics['entities']:,} "
                  f"entities): entity F1 {metrics['f1']:.4f} (precision {metrics['precision']:.4f}, recall "
                  f"{metrics['recall']:.4f}) token accuracy {metrics['token_accuracy']:.4f}")
            continue
        print(f"{name} on {result.metrics_split} ({metrics['size']:,} texts): accuracy {metrics['accuracy']:.4f} "
              f"macro-F1 {metrics['macro_f1']:.4f}")
    print(f"export: {result.export_path}")
    return 0


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _evaluate(args: argparse.Namespace) -> int:
    from .corpus.reading import CorpusStream
    from .export import load_exported

    from .tasks import join_pair

    predictor = load_exported(args.model)
    pairs = predictor.model.config.get("task") == "pair"
    if pairs != bool(args.text_pair_column):
        print("error: " + ("this pair student needs --text-pair-column, the second text's column" if pairs else
                           "this student reads one text; leave out --text-pair-column"), file=sys.stderr)
        return EXIT_USER_ERROR
    stream = CorpusStream(args.data, args.text_column, args.label_column, task="pair" if pairs else "single",
                          text_pair_column=args.text_pair_column)
    correct = scored = 0
    examples = iter(stream)
    # Chunks of EVALUATE_CHUNK_ROWS rows: a test file larger than memory is scored as it streams past.
    while chunk := [example for _, example in zip(range(EVALUATE_CHUNK_ROWS), examples)]:
        predictions = predictor.predict([join_pair(example.text, example.text_pair or "") if pairs else example.text
                                         for example in chunk])
        for (label, _), example in zip(predictions, chunk):
            if example.label is not None:
                scored += 1
                correct += label == example.label
    if not scored:
        print(f"error: {args.data} has no labeled rows in column {args.label_column!r}", file=sys.stderr)
        return EXIT_USER_ERROR
    print(f"accuracy {correct / scored:.4f} on {scored:,} labeled rows of {Path(args.data).name}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from .export import load_exported

    from .tasks import join_pair, shown_text

    predictor = load_exported(args.model)
    texts = list(args.texts)
    if predictor.task == "tagging":  # one line a text: its entities, with character offsets
        for text, entities in zip(texts, predictor.entities(texts)):
            print(f"{json.dumps(entities, ensure_ascii=False)}\t{text}")
        return 0
    if predictor.model.config.get("task") == "pair":
        if len(texts) % 2:
            print("error: this pair student judges two texts together: give them in twos (first, second, ...)",
                  file=sys.stderr)
            return EXIT_USER_ERROR
        texts = [join_pair(first, second) for first, second in zip(texts[::2], texts[1::2])]
    for text, (label, probability) in zip(texts, predictor.predict(texts)):
        print(f"{label}\t{probability:.4f}\t{shown_text(text)}")
    return 0
