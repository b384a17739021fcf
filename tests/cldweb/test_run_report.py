"""The evaluation report on the run page and as a downloadable file: the verdict's numbers in both
languages, the "does not beat" case said first, noise called noise, the tables, and who may see it."""
from __future__ import annotations

import re

import pytest
from django.urls import reverse

from cldweb.models import Run
from cldweb.report import beyond_noise, verdict
from tests.report_results import finished_result


def _finish(run: Run, **accuracies) -> Run:
    run.status = Run.Status.DONE
    run.result = finished_result(**accuracies)
    run.save()
    return run


def _verdict_html(page: str) -> str:
    return re.search(r'<div id="report-verdict">(.*?)</div>', page, re.S).group(1)


def test_the_page_says_what_the_student_keeps_and_gains_in_numbers(owner_client, run) -> None:
    _finish(run, teacher=900, student=880, baseline=830, classical=800)  # 88.0 / 90.0 = 97.8%; +5.0 points
    page = owner_client.get(reverse("run-detail", args=[run.pk])).content.decode()
    verdict_html = _verdict_html(page)
    assert ("The student keeps 97.8% of the teacher&#x27;s accuracy and is 5.0 points better than the same "
            "student trained without the teacher.") in verdict_html
    assert "It is 8.0 points better than the classical model" in verdict_html
    assert "report-warning" not in verdict_html
    assert "Scored on 1,000 test texts" in verdict_html
    quality = re.search(r'<table id="report-quality">(.*?)</table>', page, re.S).group(1)
    assert re.search(r'data-model="student"><th scope="row">Student \(distilled\)</th><td class="num">88.0%</td>'
                     r'<td class="num">85.8–89.9%</td>', quality)  # Wilson interval of 880/1000
    for name in ("Teacher", "Student on labels only", "Classical: character n-grams + logistic regression",
                 "Always the most common label"):
        assert name in quality
    assert "物流很快，但是东西一般。" in page and 'id="report-disagreements"' in page
    stage_times = re.search(r'<table id="report-stage-times">(.*?)</table>', page, re.S).group(1)
    assert "Fine-tuning the teacher</th><td class=\"num\">2 min 5 s" in stage_times
    assert "Training the student on labels only</th><td class=\"num\">59.0 s" in stage_times
    assert "Exporting" in stage_times and "Total</th><td class=\"num\">4 min 42 s" in stage_times
    assert "20.0×" in page  # the speed-up at batch 1
    assert 'id="report-download"' in page and f"/runs/{run.pk}/report.html?download=1" in page
    # The results table the page had before stays as it was.
    assert 'id="speedup"' in page and "Dev accuracy" in page


def test_a_student_that_does_not_beat_the_baseline_is_said_first_with_what_to_try(owner_client, run) -> None:
    _finish(run, teacher=900, student=850, baseline=860, classical=800)
    verdict_html = _verdict_html(owner_client.get(reverse("run-detail", args=[run.pk])).content.decode())
    warning = ("The distilled student is not better than the same student trained without the teacher "
               "(85.0% against 86.0%): here the teacher did not help. Try a stronger teacher, more unlabeled text, "
               "or a longer run (more epochs).")
    assert warning in verdict_html
    assert verdict_html.index(warning) < verdict_html.index("The student keeps 94.4% of the teacher")
    assert "points better than the same student" not in verdict_html


def test_a_student_below_the_classical_floor_is_said_first(owner_client, run) -> None:
    _finish(run, teacher=900, student=790, baseline=700, classical=800)
    verdict_html = _verdict_html(owner_client.get(reverse("run-detail", args=[run.pk])).content.decode())
    first = re.search(r'<p class="notice report-warning" role="alert">(.*?)</p>', verdict_html, re.S).group(1)
    assert first.startswith("The student is not better than a classical model that trains in seconds")
    assert "79.0% against 80.0%" in first and "Try a stronger teacher" in first


def test_a_gain_inside_the_noise_is_called_noise_not_a_gain(owner_client, run) -> None:
    _finish(run, size=200, teacher=180, student=176, baseline=172, classical=150)  # +2 points on 200 texts
    verdict_html = _verdict_html(owner_client.get(reverse("run-detail", args=[run.pk])).content.decode())
    assert ("It is 2.0 points above the same student trained without the teacher, but with 200 test texts that "
            "is inside the noise") in verdict_html
    assert "points better than the same student" not in verdict_html


def test_beyond_noise_follows_the_two_proportion_test() -> None:
    assert beyond_noise(0.88, 0.83, 1000) and not beyond_noise(0.88, 0.86, 1000)
    assert not beyond_noise(0.88, 0.86, 200)


def test_without_a_baseline_the_page_says_what_the_student_keeps_only() -> None:
    metrics = finished_result(baseline=None)["metrics"]
    warnings, summary = verdict(metrics, 1000)
    assert warnings == [] and summary[0] == "The student keeps 97.8% of the teacher's accuracy."


def test_the_report_is_in_chinese_under_zh_hans(owner_client, run) -> None:
    _finish(run, teacher=900, student=850, baseline=860, classical=800)
    page = owner_client.get(reverse("run-detail", args=[run.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    verdict_html = _verdict_html(page)
    assert "蒸馏得到的学生模型并不比不用教师模型训练的同一学生模型更好（85.0% 对 86.0%）" in verdict_html
    assert "学生模型保留了教师模型 94.4% 的准确率。" in verdict_html
    assert verdict_html.index("蒸馏得到的学生模型") < verdict_html.index("学生模型保留了")
    assert "评估报告" in page and "混淆矩阵" in page and "学生模型（仅用标签训练）" in page
    report = owner_client.get(reverse("run-report", args=[run.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "蒸馏得到的学生模型并不比" in report


def test_the_downloadable_report_is_one_file_that_needs_nothing_else(owner_client, run) -> None:
    _finish(run)
    response = owner_client.get(reverse("run-report", args=[run.pk]) + "?download=1")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="cld-run-{run.pk}-report.html"'
    page = response.content.decode()
    assert "The student keeps 97.8% of the teacher&#x27;s accuracy" in page
    assert "@media print" in page and "plotly.js v" in page  # Plotly inline, no <script src>
    assert "The student answers a single text 20× faster than the teacher" in page  # the efficiency in words
    assert "Measured on CPU (test CPU) with 2 threads" in page
    assert not re.search(r"<script[^>]+src=|<link[^>]+stylesheet", page)
    assert "</script" not in page.split("<script>", 1)[1].split("</script>", 1)[0]  # Plotly's text does not end its tag
    assert 'id="report-download"' not in page  # no links back into the app
    assert owner_client.get(reverse("run-report", args=[run.pk])).get("Content-Disposition") is None


def test_only_the_owner_sees_the_report_and_only_once_there_is_one(owner_client, other_user, run) -> None:
    assert owner_client.get(reverse("run-report", args=[run.pk])).status_code == 404  # queued: no report yet
    _finish(run)
    assert owner_client.get(reverse("run-report", args=[run.pk])).status_code == 200
    owner_client.force_login(other_user)  # the one test client, now signed in as someone else
    assert owner_client.get(reverse("run-report", args=[run.pk])).status_code == 404


def test_anonymous_visitors_are_sent_to_sign_in(client, run) -> None:
    _finish(run)
    response = client.get(reverse("run-report", args=[run.pk]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_run_from_an_older_release_shows_its_results_table_without_a_report(owner_client, run) -> None:
    result = finished_result()
    for key in ("metrics", "metrics_split", "disagreements", "baseline_training"):
        result.pop(key)
    run.status, run.result = Run.Status.DONE, result
    run.save()
    page = owner_client.get(reverse("run-detail", args=[run.pk])).content.decode()
    assert 'id="report"' not in page and 'id="speedup"' in page


def test_the_report_gives_the_finish_time_with_its_true_offset_from_utc(owner_client, run, settings) -> None:
    import datetime

    settings.TIME_ZONE = "Asia/Shanghai"
    _finish(run)
    Run.objects.filter(pk=run.pk).update(finished_at=datetime.datetime(2026, 12, 3, 15, 56, tzinfo=datetime.timezone.utc))
    report = owner_client.get(reverse("run-report", args=[run.pk])).content.decode()
    # 15:56 UTC is 23:56 in Shanghai: the clock and the offset must agree (it once said "23:56 UTC").
    assert "2026-12-03 23:56 (UTC+0800)" in report and "23:56 UTC" not in report
