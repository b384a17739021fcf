"""The runs list: only the user's runs, one row each in words; filters, search by name or number, pages; and a
run named and tagged from its page (POST, then back to the page), its tags stored normalised."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from cldweb.listing import RUNS_PER_PAGE
from cldweb.models import Corpus, Run, Teacher, normalise_tags
from tests.report_results import finished_result

pytestmark = pytest.mark.django_db


def _rows(response) -> list[int]:
    """The run ids of the table's rows, top to bottom."""
    return [int(pk) for pk in re.findall(r'<tr data-run="(\d+)">', response.content.decode())]


def _another_corpus(owner, name: str = "News") -> Corpus:
    return Corpus.objects.create(owner=owner, name=name, original_filename="news.csv", file="uploads/news.csv",
                                 format="csv", encoding="utf-8", columns=["text", "label"], text_column="text",
                                 label_column="label", row_count=100)


def test_it_lists_only_the_users_own_runs(owner_client, run, other_user, demo_teacher):
    theirs = Run.objects.create(owner=other_user, corpus=_another_corpus(other_user), teacher=demo_teacher,
                                name="their secret run")

    response = owner_client.get(reverse("run-list"))

    assert _rows(response) == [run.pk]
    assert "their secret run" not in response.content.decode()
    assert _rows(owner_client.get(reverse("run-list"), {"q": str(theirs.pk)})) == []


def test_it_shows_a_row_in_words(owner_client, run, corpus, demo_teacher):
    started = timezone.now() - timedelta(minutes=3, seconds=5)
    Run.objects.filter(pk=run.pk).update(status=Run.Status.DONE, result=finished_result(student=880),
                                         device="cuda", device_name="NVIDIA H200", started_at=started,
                                         finished_at=started + timedelta(minutes=3, seconds=5))
    running = Run.objects.create(owner=run.owner, corpus=corpus, teacher=demo_teacher, status=Run.Status.DISTILLING)
    first, second = (Run.objects.create(owner=run.owner, corpus=corpus, teacher=demo_teacher) for _ in range(2))

    page = owner_client.get(reverse("run-list")).content.decode()

    done_row = re.search(rf'<tr data-run="{run.pk}">(.*?)</tr>', page, re.S).group(1)
    assert f"Run #{run.pk}" in done_row and 'data-status="done"' in done_row and "Reviews" in done_row
    assert "→ TextCNN" in done_row
    assert "88.00%" in done_row and "test accuracy" in done_row  # the student's, as the run page shows it
    assert "3 min 5 s" in done_row and "GPU: NVIDIA H200" in done_row
    queue = {pk: re.search(rf'<tr data-run="{pk}">.*?<td>([^<]*)</td>\s*</tr>', page, re.S).group(1)
             for pk in (running.pk, first.pk, second.pk)}
    assert queue == {running.pk: "—", first.pk: "1 run ahead", second.pk: "2 runs ahead"}  # Run.runs_ahead


def test_it_shows_a_taggers_entity_f1_as_its_key_metric(owner_client, run):
    result = {"metrics": {"student": {"f1": 0.8123}}, "student": {"test_accuracy": 0.97}}
    Run.objects.filter(pk=run.pk).update(status=Run.Status.DONE, result=result,
                                         config={**run.config, "data": {**run.config["data"], "task": "tagging"}})

    row = re.search(rf'<tr data-run="{run.pk}">(.*?)</tr>',
                    owner_client.get(reverse("run-list")).content.decode(), re.S).group(1)

    assert "81.2%" in row and "entity F1" in row and "97.00%" not in row


def test_it_filters_by_status_corpus_teacher_student_and_tag(owner_client, owner, corpus, demo_teacher, hub_teacher):
    news = _another_corpus(owner)
    done = Run.objects.create(owner=owner, corpus=corpus, teacher=demo_teacher, status=Run.Status.DONE,
                              student_architecture="bilstm", tags="gpu,baseline")
    failed = Run.objects.create(owner=owner, corpus=news, teacher=hub_teacher, status=Run.Status.FAILED,
                                student_architecture="textcnn", tags="gpu-big")
    queued = Run.objects.create(owner=owner, corpus=news, teacher=demo_teacher, student_architecture="textcnn")
    url = reverse("run-list")

    assert _rows(owner_client.get(url, {"status": "done"})) == [done.pk]
    assert _rows(owner_client.get(url, {"corpus": news.pk})) == [queued.pk, failed.pk]
    assert _rows(owner_client.get(url, {"teacher": hub_teacher.pk})) == [failed.pk]
    assert _rows(owner_client.get(url, {"student": "textcnn", "corpus": news.pk, "teacher": demo_teacher.pk})) == [
        queued.pk]
    assert _rows(owner_client.get(url, {"tag": "gpu"})) == [done.pk]  # a whole tag: not "gpu-big"
    assert _rows(owner_client.get(url, {"tag": "gpu-big"})) == [failed.pk]
    page = owner_client.get(url).content.decode()
    assert re.findall(r'<option value="([^"]+)">\1</option>', page) == ["baseline", "gpu", "gpu-big"]  # tag choices
    # A value that is not one of the user's (another user's corpus, a made-up status) filters nothing out.
    assert set(_rows(owner_client.get(url, {"status": "exploded", "corpus": 10**9}))) == {done.pk, failed.pk,
                                                                                          queued.pk}


def test_it_searches_by_name_and_by_number(owner_client, owner, corpus, demo_teacher):
    named = Run.objects.create(owner=owner, corpus=corpus, teacher=demo_teacher, name="BiGRU 温度 4")
    unnamed = Run.objects.create(owner=owner, corpus=corpus, teacher=demo_teacher)
    url = reverse("run-list")

    assert _rows(owner_client.get(url, {"q": "bigru"})) == [named.pk]
    assert _rows(owner_client.get(url, {"q": "温度"})) == [named.pk]
    assert _rows(owner_client.get(url, {"q": f"#{unnamed.pk}"})) == [unnamed.pk]
    response = owner_client.get(url, {"q": "nothing like it"})
    assert _rows(response) == [] and "No run matches these filters." in response.content.decode()


def test_it_pages_the_list_and_keeps_the_filters_on_the_page_links(owner_client, owner, corpus, demo_teacher):
    Run.objects.bulk_create([Run(owner=owner, corpus=corpus, teacher=demo_teacher, status=Run.Status.DONE)
                             for _ in range(RUNS_PER_PAGE + 3)])
    newest_first = list(Run.objects.filter(owner=owner).values_list("pk", flat=True))

    first = owner_client.get(reverse("run-list"), {"status": "done"})
    second = owner_client.get(reverse("run-list"), {"status": "done", "page": "2"})

    assert _rows(first) == newest_first[:RUNS_PER_PAGE]
    assert _rows(second) == newest_first[RUNS_PER_PAGE:]
    assert 'href="?status=done&amp;page=2"' in first.content.decode()
    assert "Page 2 of 2" in second.content.decode()
    assert _rows(owner_client.get(reverse("run-list"), {"page": "99"})) == newest_first[RUNS_PER_PAGE:]  # the last


def test_it_names_and_tags_a_run_then_redirects_to_its_page(owner_client, run):
    url = reverse("run-label", args=[run.pk])

    response = owner_client.post(url, {"name": "  TextCNN   short  ", "tags": "GPU，baseline、 gpu , ,Small student"})

    assert response.status_code == 302 and response["Location"] == reverse("run-detail", args=[run.pk])
    run.refresh_from_db()
    assert run.name == "TextCNN short"
    assert run.tags == "gpu,baseline,small student" and run.tag_list == ["gpu", "baseline", "small student"]
    page = owner_client.get(response["Location"]).content.decode()
    assert "Saved: the run is called “TextCNN short”." in page
    assert '<span id="run-name">TextCNN short</span>' in page
    assert 'value="gpu, baseline, small student"' in page  # the form shows the tags as stored
    # Emptied again: the run is called by its number.
    owner_client.post(url, {"name": "", "tags": ""})
    assert owner_client.get(reverse("run-detail", args=[run.pk])).context["run"].display_name == f"Run #{run.pk}"


def test_it_changes_nothing_on_a_get(owner_client, run):
    response = owner_client.get(reverse("run-label", args=[run.pk]), {"name": "by get"})

    assert response.status_code == 302 and response["Location"] == reverse("run-detail", args=[run.pk])
    run.refresh_from_db()
    assert run.name == ""


def test_it_lets_only_the_owner_name_a_run(other_client, run):
    assert other_client.post(reverse("run-label", args=[run.pk]), {"name": "mine now", "tags": ""}).status_code == 404
    run.refresh_from_db()
    assert run.name == ""


def test_it_says_next_to_the_field_what_is_too_long(owner_client, run):
    response = owner_client.post(reverse("run-label", args=[run.pk]), {"name": "x" * 201, "tags": ""})

    assert response.status_code == 400
    assert "has-error" in response.content.decode() and 'id="run-labels" open' in response.content.decode()


def test_it_normalises_tags():
    assert normalise_tags(" A  b ,a b,, 深度，学习 ") == ["a b", "深度", "学习"]
    assert normalise_tags("") == []
    assert len(",".join(normalise_tags(",".join(f"tag{i:03}" for i in range(200))))) <= 500


def test_it_lists_the_runs_in_chinese(owner_client, run):
    page = owner_client.get(reverse("run-list"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()

    for words in ("关键指标", "比较", "按名称搜索", "全部状态", f"任务 #{run.pk}", "下一个"):
        assert words in page, words


def test_the_top_menu_leads_to_the_runs_list(owner_client):
    assert f'href="{reverse("run-list")}"' in owner_client.get(reverse("dashboard")).content.decode()


def test_the_teacher_filter_offers_the_users_teachers_only(owner_client, other_user):
    theirs = Teacher.objects.create(owner=other_user, kind=Teacher.KIND_HUB, hub_id="their/model", name="their/model")

    page = owner_client.get(reverse("run-list")).content.decode()

    assert theirs.name not in page


def test_the_api_gives_a_runs_name_and_tags(owner_client, run):
    run.rename("短的", "gpu, 基线")

    listed = owner_client.get(reverse("api-runs")).json()["runs"][0]
    one = owner_client.get(reverse("api-run", args=[run.pk])).json()

    assert (listed["name"], listed["tags"]) == (one["name"], one["tags"]) == ("短的", ["gpu", "基线"])
