"""Growing the training set, for people: the run form's estimate of the extra teacher time, and the run
page's "Training rows" block from ``RunResult.transfer`` (distill/result.py; schema in its comment).

The estimate is rows × seconds per text. The speed is measured where it can be: the latest finished run of
the same teacher that recorded ``transfer["teacher_texts_per_second"]``, else that teacher's latest finished
run that labelled without the cache (its labelling time over the texts labelled); failing both, a rough
default for the kind of teacher, and the sentence says it is a guess.
"""
from __future__ import annotations

from typing import Any

from cldweb import messages
from cldweb.forms import TAGGING_STUDENTS
from cldweb.models import Run, Teacher
from distill import TRANSFER_METHODS, TRANSFER_PRESETS, TransferConfig, shown_text

# Rough labelling speeds on a CPU, texts a second, used only when no finished run measured one here. The demo
# teacher (256 wide, 2 layers) labelled 17,363 texts in 36 s on 2 cores (docs/benchmarks.md "demo"): ~480/s,
# halved for slower machines. A bert-base-sized teacher answers 3 texts/s at batch 32 on one thread
# (docs/benchmarks.md "efficiency"); 5/s allows a few cores.
GUESSED_TEXTS_PER_SECOND = {"demo": 250.0, "pretrained": 5.0}
RUNS_SEARCHED = 50  # how far back the teacher's finished runs are looked through for a measured speed


def teacher_speed(teacher: Teacher) -> dict[str, Any]:
    """{"texts_per_second", "measured": bool, "kind": "demo" | "pretrained"} for the estimate."""
    kind = "demo" if teacher.is_demo else "pretrained"
    runs = list(Run.objects.filter(teacher=teacher, status=Run.Status.DONE)
                .order_by("-finished_at", "-pk").values_list("result", flat=True)[:RUNS_SEARCHED])
    for result in runs:
        recorded = ((result or {}).get("transfer") or {}).get("teacher_texts_per_second") or 0
        if recorded > 0:
            return {"texts_per_second": float(recorded), "measured": True, "kind": kind}
    for result in runs:
        result = result or {}
        seconds = (result.get("stage_seconds") or {}).get("labelling") or 0
        corpus = result.get("corpus") or {}
        texts = sum(int(corpus.get(split) or 0) for split in ("train", "dev", "test"))
        if seconds > 0 and texts and not result.get("teacher_cache_hit"):
            return {"texts_per_second": texts / seconds, "measured": True, "kind": kind}
    return {"texts_per_second": GUESSED_TEXTS_PER_SECOND[kind], "measured": False, "kind": kind}


def speed_in_words(texts_per_second: float) -> str:
    return f"{texts_per_second:,.0f}" if texts_per_second >= 10 else f"{texts_per_second:.1f}"


def estimate(speed: dict[str, Any], rows: int, methods: list[str]) -> str:
    """The sentence next to the grow choice ("" for no rows)."""
    if rows <= 0:
        return ""
    formats = messages.grow_estimate_formats()
    key = "measured" if speed["measured"] else f"guess_{speed['kind']}"
    sentence = formats[key] % {"time": messages.grow_duration(rows / speed["texts_per_second"]),
                               "rows": f"{rows:,}", "speed": speed_in_words(speed["texts_per_second"])}
    if "mlm" in methods and speed["kind"] != "demo":
        sentence += " " + formats["mlm"]
    return sentence


def form_settings(form) -> dict[str, Any]:
    """What static/cld/run_form.js needs to say the estimate as the choices change: per teacher its speed,
    per preset its rows and methods, and the sentences' formats."""
    teachers = {}
    for teacher in form.fields["teacher"].queryset:
        speed = teacher_speed(teacher)
        teachers[str(teacher.pk)] = {**speed, "speed_words": speed_in_words(speed["texts_per_second"])}
    return {
        "teachers": teachers,
        "presets": {name: {"rows": int(preset["target_rows"]), "methods": list(preset["methods"])}  # type: ignore[arg-type]
                    for name, preset in TRANSFER_PRESETS.items()},
        "formats": messages.grow_estimate_formats(),
        # Corpora of text pairs, for which growing is not offered (run_form.js greys its choices out).
        "pair_corpora": [str(corpus.pk) for corpus, _sentence in form.pair_corpora],
        # Named-entity corpora: no growing either, and only the students that tag (TextCNN greyed out).
        "tagging_corpora": [str(corpus.pk) for corpus, _sentence in form.tagging_corpora],
        "tagging_students": list(TAGGING_STUDENTS),
    }


def initial_estimate(form) -> str:
    """The estimate for the choices the form shows now, for a page read without JavaScript."""
    grow = form["grow"].value() or "off"
    teacher_pk = form["teacher"].value()
    if grow not in TRANSFER_PRESETS or grow == "off" or not teacher_pk:
        return ""
    teacher = form.fields["teacher"].queryset.filter(pk=teacher_pk).first() if str(teacher_pk).isdigit() else None
    if teacher is None:
        return ""
    try:
        rows = int(form["grow_rows"].value() or 0) or int(TRANSFER_PRESETS[grow]["target_rows"])  # type: ignore[arg-type]
    except (TypeError, ValueError):
        rows = int(TRANSFER_PRESETS[grow]["target_rows"])  # type: ignore[arg-type]
    methods = list(form["grow_methods"].value() or TRANSFER_PRESETS[grow]["methods"])  # type: ignore[arg-type]
    return estimate(teacher_speed(teacher), rows, methods)


# -- the run page ------------------------------------------------------------------------------


def grow_setting(config: dict[str, Any]) -> str:
    """What the run was asked to generate, in words ("" when growing was off)."""
    try:
        transfer = TransferConfig(**(config or {}).get("transfer") or {}).resolved()
    except TypeError:
        return ""
    if not transfer.enabled:
        return ""
    return messages.grow_setting(transfer.preset, transfer.target_rows, list(transfer.methods))



def training_rows(result: dict[str, Any]) -> dict[str, Any] | None:
    """The "Training rows" block of a finished run; None when ``result["transfer"]`` is empty."""
    transfer = (result or {}).get("transfer") or {}
    if not transfer:
        return None
    rows = transfer.get("rows") or {}
    generated = rows.get("generated") or {}
    names = messages.grow_method_names()
    kinds = [
        ("labelled", messages_kind("labelled"), int(rows.get("labelled") or 0)),
        ("unlabelled", messages_kind("unlabelled"), int(rows.get("unlabelled") or 0)),
        ("unlabelled_file", messages_kind("unlabelled_file"), int(rows.get("unlabelled_file") or 0)),
    ]
    kinds += [(f"generated_{method}", messages.grow_generated_kind(names[method]), int(generated.get(method) or 0))
              for method in TRANSFER_METHODS if generated.get(method)]
    made = sum(int(count or 0) for count in generated.values())
    total = sum(count for _key, _name, count in kinds)
    target = int(transfer.get("target_rows") or 0)
    virtual = transfer.get("virtual_labels") or {}
    return {
        "rows": [{"key": key, "kind": name, "count": count} for key, name, count in kinds if count],
        "total": total,
        "summary": messages.grow_rows_total(total, made),
        "short": messages.grow_rows_short(made, target, int(transfer.get("attempts") or 0))
        if target and made < target else "",
        "skipped": [messages.grow_method_skipped(method, code)
                    for method, code in (transfer.get("methods_skipped") or {}).items()],
        "virtual_labels": messages.virtual_labels_share(int(virtual.get("passed") or 0),
                                                        int(virtual.get("candidates") or 0),
                                                        float(virtual.get("threshold") or 0.0))
        if virtual.get("candidates") else "",
        # shown_text: a pair's joined texts would carry the engine's separator onto the page.
        "examples": [{"text": shown_text(example.get("text", "")), "source_text": shown_text(example.get("source_text", "")),
                      "method": names.get(example.get("method", ""), example.get("method", "")),
                      "label": example.get("label", ""),
                      "confidence": f"{float(example.get('confidence') or 0.0) * 100:.1f}%"}
                     for example in (transfer.get("examples") or [])[:10]],
    }


def messages_kind(kind: str) -> str:
    return messages.training_row_kinds()[kind]
