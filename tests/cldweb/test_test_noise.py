"""The results say how far chance alone moves each test accuracy, and warn when the test set is too small to decide."""
from __future__ import annotations

import pytest

from cldweb import jobs
from cldweb.presentation import wilson_interval

pytestmark = pytest.mark.django_db


def finish(run, test_texts: int, teacher: float, student: float) -> None:
    jobs.record_result(run, {"status": "done", "export_path": "", "device": "cpu", "corpus": {"test": test_texts},
                       "teacher": {"test_accuracy": teacher}, "student": {"test_accuracy": student}})


def test_it_gives_each_test_accuracy_its_95_percent_range(owner_client, run):
    finish(run, 1_736, teacher=0.820, student=0.833)

    english = owner_client.get(f"/runs/{run.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    chinese = owner_client.get(f"/runs/{run.pk}/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    assert ("The test set has 1,736 texts, so each test accuracy is only known within a range (95% interval): "
            "teacher 80.1–83.7%; student 81.5–85.0%. Differences inside these ranges may be chance.") in english
    assert "测试集共有 1,736 条文本" in chinese and "教师模型 80.1–83.7%；学生模型 81.5–85.0%" in chinese
    assert 'id="few-test-texts"' not in english


def test_it_warns_that_a_tiny_test_set_decides_nothing_even_at_100_percent(owner_client, run):
    finish(run, 2, teacher=0.5, student=1.0)

    page = owner_client.get(f"/runs/{run.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Only 2 texts were held back for testing, too few to tell a good model from a poor one." in page
    assert "student 34.2–100.0%" in page  # 2 of 2 right is no proof of a perfect model


def test_it_keeps_the_interval_inside_0_and_1_and_wide_for_few_texts():
    low, high = wilson_interval(1.0, 2)
    assert high == 1.0 and 0.3 < low < 0.4
    low, high = wilson_interval(0.5, 10_000)
    assert 0.49 < low < 0.5 < high < 0.51
