"""Runs compared: 2 to 6 of the user's own runs (else a message, or a 404 for a run not theirs), their scores
side by side with the best marked, their settings flattened with the differing rows marked, and each run's
stored points handed to compare.js."""
from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from cldweb.comparing import flatten, parse_ids
from cldweb.models import MetricPoint, Run
from tests.report_results import finished_result

pytestmark = pytest.mark.django_db


def _finished(owner, corpus, teacher, *, student: int, epochs: int, name: str = "") -> Run:
    run = Run.create(owner=owner, corpus=corpus, teacher=teacher, epochs=epochs, max_length=64)
    run.status, run.result, run.name = Run.Status.DONE, finished_result(student=student), name
    run.save()
    for seq, (kind, step, values) in enumerate([("step", 5, {"loss": 0.9, "epoch": 0.5}),
                                                ("step", 10, {"loss": 0.5, "epoch": 1.0}),
                                                ("eval", 10, {"dev_accuracy": 0.8, "epoch": 1.0})], start=1):
        MetricPoint.objects.create(run=run, seq=seq, phase="student", kind=kind, step=step, values=values)
    MetricPoint.objects.create(run=run, seq=4, phase="", kind=MetricPoint.KIND_NOTE, values={"text": "a note"})
    return run


@pytest.fixture
def two_runs(owner, corpus, demo_teacher) -> tuple[Run, Run]:
    return (_finished(owner, corpus, demo_teacher, student=880, epochs=2, name="two epochs"),
            _finished(owner, corpus, demo_teacher, student=850, epochs=5))


def _compare(client, *ids, headers=None, **params):
    return client.get(reverse("run-compare"), {"ids": ",".join(str(pk) for pk in ids), **params}, headers=headers)


def test_it_shows_the_scores_side_by_side_and_marks_the_best(owner_client, two_runs):
    first, second = two_runs

    page = _compare(owner_client, first.pk, second.pk).content.decode()

    assert "two epochs" in page and f"Run #{second.pk}" in page
    metrics = re.search(r'<tbody id="compare-metrics">(.*?)</tbody>', page, re.S).group(1)
    rows = {re.search(r'<th scope="row">(.*?)</th>', row).group(1): re.findall(r'<td class="num( best)?">([^<]*)', row)
            for row in re.findall(r"<tr>(.*?)</tr>", metrics, re.S)}
    assert rows["Student"] == [(" best", "88.0%"), ("", "85.0%")]
    assert rows["Teacher"] == [("", "90.0%"), ("", "90.0%")]  # the same: nothing marked
    assert rows["Student on labels only"] == [("", "85.9%"), ("", "85.9%")]
    assert rows["Student parameters"] == [("", "500,000"), ("", "500,000")]
    assert rows["Student latency p50 (ms, 1 text)"] == [("", "1.0"), ("", "1.0")]
    assert rows["Speed-up over the teacher"] == [("", "20.0×"), ("", "20.0×")]
    assert rows["Student size"][0][1] in ("1.9\xa0MB", "1.9 MB")
    assert rows["Scored by"] == [("", "accuracy"), ("", "accuracy")]


def test_it_marks_the_settings_that_differ_and_can_show_only_those(owner_client, two_runs):
    first, second = two_runs

    page = _compare(owner_client, first.pk, second.pk).content.decode()

    epochs = re.search(r'<tr data-key="train.epochs" class="differs">(.*?)</tr>', page, re.S).group(1)
    assert "<td><code>2</code></td><td><code>5</code></td>" in epochs and "differs" in epochs
    assert re.search(r'<tr data-key="data.max_length">', page)  # the same in both: not marked
    for machine in ("output_dir", "cache_dir", "data.train_path"):
        assert f'data-key="{machine}"' not in page
    assert "1 setting differs" in page
    assert 'class="compare settings"' in page
    only = _compare(owner_client, first.pk, second.pk, only_differences="1").content.decode()
    assert 'class="compare settings only-differences"' in only and 'id="only-differences" checked' in only


def test_it_hands_each_runs_curves_to_the_page_without_its_notes(owner_client, two_runs):
    first, second = two_runs

    response = _compare(owner_client, second.pk, first.pk)

    data = json.loads(re.search(r'<script id="compare-data" type="application/json">(.*?)</script>',
                                response.content.decode(), re.S).group(1))
    assert [run["id"] for run in data["runs"]] == [second.pk, first.pk]  # in the order chosen
    assert data["runs"][0]["color"] != data["runs"][1]["color"]
    assert [point["seq"] for point in data["runs"][0]["points"]] == [1, 2, 3]
    assert data["labels"]["epoch"] == "Epoch"


def test_it_404s_when_a_chosen_run_is_another_users(owner_client, two_runs, other_user, demo_teacher):
    theirs = Run.objects.create(owner=other_user, corpus=two_runs[0].corpus, teacher=demo_teacher)

    assert _compare(owner_client, two_runs[0].pk, theirs.pk).status_code == 404
    assert _compare(owner_client, two_runs[0].pk, 10**9).status_code == 404  # no such run: the same answer


@pytest.mark.parametrize("how_many", [1, 7])
def test_it_asks_for_two_to_six_runs(owner_client, owner, corpus, demo_teacher, how_many):
    ids = [Run.objects.create(owner=owner, corpus=corpus, teacher=demo_teacher).pk for _ in range(how_many)]

    response = _compare(owner_client, *ids)

    assert response.status_code == 302 and response["Location"] == reverse("run-list")
    page = owner_client.get(response["Location"]).content.decode()
    chosen = "1 was chosen" if how_many == 1 else "7 were chosen"
    assert f"Choose from 2 to 6 runs to compare; {chosen}." in page


def test_it_takes_the_lists_ticked_boxes_too(owner_client, two_runs):
    first, second = two_runs

    response = owner_client.get(reverse("run-compare"), {"ids": [str(first.pk), str(second.pk)]})

    assert response.status_code == 200 and [c["run"] for c in response.context["columns"]] == [first, second]


def test_it_compares_in_chinese(owner_client, two_runs):
    first, second = two_runs

    page = _compare(owner_client, first.pk, second.pk, headers={"accept-language": "zh-hans"}).content.decode()

    for words in ("比较任务", "训练曲线", "对数", "仅显示不同之处", "有差异", "学生模型参数量"):
        assert words in page, words


def test_it_reads_ids_and_flattens_settings():
    assert parse_ids(["3,5", "5", "x", " 7 "]) == [3, 5, 7]
    assert flatten({"train": {"epochs": 5, "methods": ["mask"]}, "empty": {}, "seed": 1}) == {
        "train.epochs": 5, "train.methods": ["mask"], "empty": {}, "seed": 1}
