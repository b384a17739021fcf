"""Deduplication and the train/dev/test split, as array operations over the keys of ``RowStore``s.

Duplicates are removed before splitting and labels vote, so scores measure
generalisation rather than memorisation; the texts themselves stay on disk.
"""
from __future__ import annotations

import hashlib
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, CorpusError
from ..progress import note_text
from ..tasks import Task, get_task
from .examples import Example, SkippedRows
from .rows import KEY_DTYPE, NO_LABEL, RowStore, RowView, write_row_store

SKIPPED_SHOWN = 20  # skipped rows listed in full in the report; the rest are counted (and the web lists all)


@dataclass
class CorpusReport:
    rows: int = 0  # rows read, over every given file
    distinct_texts: int = 0  # distinct normalised texts kept in train + dev + test
    duplicate_rows: int = 0  # rows dropped because the same text came earlier in the same file
    conflicting_texts: int = 0  # texts seen with more than one label (majority kept; ties unlabeled)
    labeled: int = 0  # distinct texts with a label, after dedup
    unlabeled: int = 0  # distinct texts without one (including label ties)
    label_counts: dict[str, int] = field(default_factory=dict)  # distinct labeled texts per label, all splits
    train: int = 0
    dev: int = 0
    test: int = 0
    dev_overlap_removed: int = 0  # train texts dropped because they are also in the given dev file
    test_overlap_removed: int = 0  # train texts dropped because they are also in the given test file
    # Distinct texts of the unlabelled text file (DataConfig.unlabeled_path) kept in train: not already in the
    # corpus (a text both labelled and in that file keeps its label) nor in a dev/test file.
    unlabeled_file: int = 0
    skipped: dict[str, Any] = field(default_factory=dict)  # SkippedRows.to_dict() of every file; {} = none
    warnings: list[str] = field(default_factory=list)  # in English, for logs, the CLI and tests
    # The same warnings as notes, {"code": progress.NOTE_CODES, "params": {...}} in the same order, so the
    # run's reporter can send each one for the web to say in the user's language.
    warning_notes: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def warn(self, code: str, **params: Any) -> None:
        self.warnings.append(note_text(code, params))
        self.warning_notes.append({"code": code, "params": params})


@dataclass
class Splits:
    train: RowView
    dev: RowView
    test: RowView
    report: CorpusReport
    labels: list[str]  # class names in index order: the sorted labels left in train, dev and test
    _cleanup: Any = field(default=None, repr=False)  # removes a temporary store folder once unreferenced

    def digest(self) -> str:
        """sha256 of which distinct texts are in train, dev and test: equal digests, equal splits."""
        digest = hashlib.sha256()
        for part in (self.train, self.dev, self.test):
            digest.update(len(part).to_bytes(8, "little"))
            digest.update(np.sort(part.keys).tobytes())
        return digest.hexdigest()


@dataclass
class _Selection:
    """Rows of one store chosen so far, with their labels (provisional ids) and keys."""

    store: RowStore
    rows: np.ndarray  # (N,) int64
    label_ids: np.ndarray  # (N,) int32
    keys: np.ndarray  # (N,) KEY_DTYPE

    def take(self, mask_or_index: np.ndarray) -> "_Selection":
        return _Selection(self.store, self.rows[mask_or_index], self.label_ids[mask_or_index],
                          self.keys[mask_or_index])

    def relabel(self, remap: np.ndarray) -> "_Selection":
        return _Selection(self.store, self.rows, remap[self.label_ids], self.keys)


@dataclass
class _Deduped:
    kept: _Selection
    duplicates: int
    conflicting: int
    ties: int


def _deduplicate(store: RowStore, label_count: int) -> _Deduped:
    """One row per key, in file order; the first occurrence's text and line are kept.

    Labels vote: the most frequent label wins; a tie leaves the text unlabeled
    rather than guessing. All of it is sorting and counting over (N,) arrays.
    """
    if not len(store):
        empty = _Selection(store, np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0, KEY_DTYPE))
        return _Deduped(empty, 0, 0, 0)
    # np.unique sorts stably when asked for first indices, so first_rows are first occurrences.
    unique_keys, first_rows, group_of_row = np.unique(store.keys, return_index=True, return_inverse=True)
    groups = len(unique_keys)
    labeled = store.label_ids >= 0
    # One entry per (group, label) pair with its number of rows; sorted by group, then label.
    pairs, votes = np.unique(group_of_row[labeled].astype(np.int64) * label_count + store.label_ids[labeled],
                             return_counts=True)
    pair_group, pair_label = pairs // label_count, (pairs % label_count).astype(np.int32)
    group_label = np.full(groups, NO_LABEL, dtype=np.int32)
    conflicting = ties = 0
    if len(pairs):
        segment_starts = np.flatnonzero(np.r_[True, pair_group[1:] != pair_group[:-1]])
        labels_per_group = np.diff(np.r_[segment_starts, len(pairs)])
        top_votes = np.maximum.reduceat(votes, segment_starts)
        is_top = votes == np.repeat(top_votes, labels_per_group)
        tops_per_group = np.add.reduceat(is_top.astype(np.int64), segment_starts)
        sole_winner = is_top & np.repeat(tops_per_group == 1, labels_per_group)
        group_label[pair_group[sole_winner]] = pair_label[sole_winner]
        conflicting = int((labels_per_group > 1).sum())
        ties = int((tops_per_group > 1).sum())
    in_file_order = np.argsort(first_rows, kind="stable")
    kept = _Selection(store, first_rows[in_file_order].astype(np.int64), group_label[in_file_order],
                      unique_keys[in_file_order])
    return _Deduped(kept, len(store) - groups, conflicting, ties)


def prepare_splits(train: Iterable[Example], dev: Iterable[Example] | None, test: Iterable[Example] | None, *,
                   dev_fraction: float, test_fraction: float, seed: int, task: str = "single",
                   path: str = "train", directory: str | Path | None = None,
                   unlabeled: Iterable[Example] | None = None) -> Splits:
    """Deduplicate, then split (or de-overlap) train/dev/test so scores measure generalisation.

    Each input is streamed once into a row store under ``directory`` (a temporary
    folder, removed once the splits are gone, when None). An input with a
    ``skipped`` attribute (a ``CorpusStream``) has the rows it left out reported
    in ``report.skipped`` and the warnings. Without a dev/test
    file, labeled distinct texts are split per label with ``seed`` (unlabeled ones
    always stay in train). With one, every train text that also appears in it is
    removed from train. ``path`` names the training file in errors. ``unlabeled`` (a text file's rows,
    none labelled) joins the training store after the training file's rows, so it is deduplicated with
    them and, having no labels, never moved into dev or test.
    """
    if not 0 <= dev_fraction < 1 or not 0 <= test_fraction < 1 or dev_fraction + test_fraction >= 1:
        raise ConfigError(f"dev_fraction + test_fraction must be below 1 (got {dev_fraction} + {test_fraction})",
                          code="bad_split_fractions", dev_fraction=dev_fraction, test_fraction=test_fraction)
    reader_task = get_task(task)
    temporary = directory is None
    directory = Path(tempfile.mkdtemp(prefix="cld-rows-") if directory is None else directory)
    try:
        splits = _prepare(train, dev, test, dev_fraction, test_fraction, seed, reader_task, path, directory,
                          unlabeled)
    except BaseException:
        if temporary:
            shutil.rmtree(directory, ignore_errors=True)
        raise
    if temporary:
        # Views still open after this keep reading: their files stay mapped after the folder is removed.
        splits._cleanup = weakref.finalize(splits, shutil.rmtree, str(directory), True)
    return splits


def _prepare(train: Iterable[Example], dev: Iterable[Example] | None, test: Iterable[Example] | None,
             dev_fraction: float, test_fraction: float, seed: int, task: Task, path: str, directory: Path,
             unlabeled: Iterable[Example] | None = None) -> Splits:
    label_names: dict[str, int] = {}
    train_file_rows = [0]  # rows of the training file; the store's rows after them are the unlabelled file's

    def train_then_unlabeled() -> Iterator[Example]:
        for example in train:
            train_file_rows[0] += 1
            yield example
        if unlabeled is not None:
            yield from (example if example.label is None else replace(example, label=None) for example in unlabeled)

    stores = {"train": write_row_store(train_then_unlabeled(), directory / "train", task, label_names, path)}
    for name, given in (("dev", dev), ("test", test)):
        if given is not None:
            stores[name] = write_row_store(given, directory / name, task, label_names, name)
    label_count = max(len(label_names), 1)
    parts = {name: _deduplicate(store, label_count) for name, store in stores.items()}
    report = CorpusReport(rows=sum(len(store) for store in stores.values()))
    _report_skipped(report, [getattr(source, "skipped", None) for source in (train, dev, test, unlabeled)])
    report.duplicate_rows = sum(part.duplicates for part in parts.values())
    report.conflicting_texts = sum(part.conflicting for part in parts.values())
    ties = sum(part.ties for part in parts.values())

    train_rows = parts["train"].kept
    held_out: dict[str, _Selection] = {}
    for name in ("dev", "test"):
        if name in parts:
            given = parts[name].kept
            unlabeled = int((given.label_ids == NO_LABEL).sum())
            if unlabeled:
                report.warn(f"corpus_{name}_unlabeled", count=unlabeled)
            held_out[name] = given.take(given.label_ids != NO_LABEL)
            before = len(train_rows.rows)
            train_rows = train_rows.take(~np.isin(train_rows.keys, held_out[name].keys))
            setattr(report, f"{name}_overlap_removed", before - len(train_rows.rows))
    # Class ids become indices into the sorted names of the labels that survived voting (before the
    # split, so it walks the labels in name order whatever order the file showed them in).
    names_by_id = sorted(label_names, key=label_names.get)
    present = np.unique(np.concatenate([part.label_ids for part in (train_rows, *held_out.values())]))
    labels = sorted(names_by_id[i] for i in present if i != NO_LABEL)
    remap = np.full(label_count + 1, NO_LABEL, dtype=np.int32)  # the last slot maps NO_LABEL (index -1)
    for index, label in enumerate(labels):
        remap[label_names[label]] = index
    train_rows = train_rows.relabel(remap)
    held_out = {name: part.relabel(remap) for name, part in held_out.items()}
    missing = {name: fraction for name, fraction in (("dev", dev_fraction), ("test", test_fraction))
               if name not in held_out}
    if missing:
        train_rows, carved = _split_off(train_rows, missing, seed)
        held_out.update(carved)

    def view(part: _Selection) -> RowView:
        return RowView(part.store, part.rows, part.label_ids, labels)

    splits = Splits(train=view(train_rows), dev=view(held_out["dev"]), test=view(held_out["test"]),
                    report=report, labels=labels)
    report.unlabeled_file = int((train_rows.rows >= train_file_rows[0]).sum())
    _check_labels(splits, path, task)
    _fill_counts(splits)
    _write_warnings(report, ties, splits)
    return splits


def _report_skipped(report: CorpusReport, skipped: list[SkippedRows | None]) -> None:
    """Merge the skipped rows of the train/dev/test readers into the report, with one English warning."""
    present = [rows for rows in skipped if rows is not None and rows.total]
    if not present:
        return
    merged = SkippedRows()
    for rows in present:
        merged.by_reason.update(rows.by_reason)
        merged.rows.extend(rows.rows[:SKIPPED_SHOWN])
    report.skipped = merged.to_dict(first=SKIPPED_SHOWN)
    report.warn("corpus_rows_skipped", **merged.summary_params(report.rows))


def _split_off(selection: _Selection, fractions: dict[str, float],
               seed: int) -> tuple[_Selection, dict[str, _Selection]]:
    """Move a seeded share of each label's distinct texts into each named split.

    Per-label shares keep rare classes present in dev/test; ordering by key
    before shuffling makes the split depend only on the set of texts and the seed.
    """
    rng = np.random.default_rng(seed)
    chosen: dict[str, list[np.ndarray]] = {name: [] for name in fractions}
    taken = np.zeros(len(selection.rows), dtype=bool)
    for label in np.unique(selection.label_ids[selection.label_ids != NO_LABEL]):
        members = np.flatnonzero(selection.label_ids == label)
        members = members[np.argsort(selection.keys[members], kind="stable")][rng.permutation(len(members))]
        start = 0
        for name, fraction in fractions.items():
            count = round(len(members) * fraction)
            chosen[name].append(members[start:start + count])
            start += count
    moved: dict[str, _Selection] = {}
    for name, pieces in chosen.items():
        indices = np.sort(np.concatenate(pieces)) if pieces else np.zeros(0, np.int64)  # file order
        taken[indices] = True
        moved[name] = selection.take(indices)
    return selection.take(~taken), moved


def texts_per_label_for_one_row(fraction: float) -> int:
    """How many distinct labeled texts one label needs before ``_split_off`` moves one of them (``fraction``
    of them, rounded) into a split: 6 for the default 10%. 0 when the fraction is 0 (that split stays empty)."""
    if fraction <= 0:
        return 0
    needed = 1
    while round(needed * fraction) < 1:
        needed += 1
    return needed


def _check_labels(splits: Splits, path: str, task: Task) -> None:
    if task.name == "tagging":  # tagged sentences are one group; their tags are the classes, checked by the task
        if not splits.labels:
            raise CorpusError("no sentence has tags, so there is nothing to learn entities from or to score against",
                              path=path, code="single_class", labels=[])
        return
    if len(splits.labels) < 2:
        if not splits.labels:
            detail = "no row has a label, so there is nothing to learn classes from or to score against"
        else:
            detail = f"every labeled row has the label {splits.labels[0]!r}; a classifier needs at least 2 classes"
        raise CorpusError(detail, path=path, code="single_class", labels=list(splits.labels))
    train_labels = set(np.unique(splits.train.label_ids).tolist()) - {NO_LABEL}
    if not train_labels:
        return  # an unlabeled transfer set: the teacher supplies the classes
    for name in ("dev", "test"):
        held_out = set(np.unique(getattr(splits, name).label_ids).tolist()) - {NO_LABEL}
        unseen = sorted(splits.labels[i] for i in held_out - train_labels)
        if unseen:
            shown = ", ".join(repr(label) for label in unseen[:10])
            raise CorpusError(f"the {name} rows use labels that never occur in training: {shown}", path=path,
                              code="unseen_labels", split=name, labels=unseen)


def _fill_counts(splits: Splits) -> None:
    report = splits.report
    parts = (splits.train, splits.dev, splits.test)
    report.train, report.dev, report.test = (len(part) for part in parts)
    report.distinct_texts = len(np.unique(np.concatenate([part.keys for part in parts])))
    label_ids = np.concatenate([part.label_ids for part in parts])
    report.labeled = int((label_ids != NO_LABEL).sum())
    report.unlabeled = len(label_ids) - report.labeled
    counts = np.bincount(label_ids[label_ids != NO_LABEL], minlength=len(splits.labels))
    report.label_counts = {label: int(counts[i]) for i, label in enumerate(splits.labels)}


def _write_warnings(report: CorpusReport, ties: int, splits: Splits) -> None:
    if report.duplicate_rows:
        report.warn("corpus_duplicates", duplicates=report.duplicate_rows, rows=report.rows)
    if report.conflicting_texts:
        if ties:
            report.warn("corpus_conflicts_ties", count=report.conflicting_texts, ties=ties)
        else:
            report.warn("corpus_conflicts", count=report.conflicting_texts)
    for name in ("dev", "test"):
        removed = getattr(report, f"{name}_overlap_removed")
        if removed:
            report.warn(f"corpus_{name}_overlap", count=removed)
    shared = int(np.isin(splits.dev.keys, splits.test.keys).sum())
    if shared:
        report.warn("corpus_dev_test_shared", count=shared)
    if report.label_counts:
        smallest, largest = min(report.label_counts.values()), max(report.label_counts.values())
        if smallest * 10 < largest:
            report.warn("corpus_unbalanced", largest=largest, smallest=smallest)
    if not len(splits.dev):
        report.warn("corpus_no_dev")
