"""Safe and tidy by default: deleting with files, cancel confirmation and state, queue position,
the API tokens page, Bearer download, the device in words, New-run preselect, dashboard text."""
from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse

from cldweb import jobs
from cldweb.models import ApiToken, Corpus, MetricPoint, Run
from cldweb.presentation import run_device
from tests.processes import REPO

pytestmark = pytest.mark.django_db


def run_folder_with_files(run: Run) -> None:
    """What a worker leaves in a run's folder: a checkpoint and an exported student."""
    (run.output_dir / "checkpoints").mkdir(parents=True)
    (run.output_dir / "checkpoints" / "last.pt").write_bytes(b"x" * 1000)
    (run.output_dir / "student.zip").write_bytes(b"zip")


def finished(run: Run, status: str = "done") -> Run:
    Run.objects.filter(pk=run.pk).update(status=status, export_path=str(run.output_dir / "student.zip"))
    run.refresh_from_db()
    return run


# -- deleting ------------------------------------------------------------------------------


def test_it_deletes_a_run_with_its_folder_after_confirming(owner_client, run, settings, django_capture_on_commit_callbacks):
    run_folder_with_files(finished(run))
    cache_entry = settings.CLD_TEACHER_CACHE_DIR / "shared.npy"
    cache_entry.parent.mkdir(parents=True)
    cache_entry.write_bytes(b"logits")

    confirm = owner_client.get(reverse("run-delete", args=[run.pk]))
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("run-delete", args=[run.pk]))

    page = confirm.content.decode()
    assert confirm.status_code == 200 and "Delete run #" in page and "Teacher outputs cached" in page
    assert response.status_code == 302
    assert not Run.objects.filter(pk=run.pk).exists()
    assert not run.output_dir.exists()
    assert cache_entry.exists()  # shared by content: kept


def test_it_refuses_to_delete_a_run_still_going(owner_client, run):
    response = owner_client.post(reverse("run-delete", args=[run.pk]))

    assert response.status_code == 409
    assert "cancel it first" in response.content.decode()
    assert Run.objects.filter(pk=run.pk).exists()


def test_it_deletes_a_corpus_with_its_file_and_runs(owner_client, corpus, run, django_capture_on_commit_callbacks):
    run_folder_with_files(finished(run))
    corpus_file = corpus.path

    confirm = owner_client.get(reverse("corpus-delete", args=[corpus.pk])).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(reverse("corpus-delete", args=[corpus.pk]))

    assert "1 run on this corpus is deleted with it" in confirm and "Teacher outputs cached" in confirm
    assert response.status_code == 302
    assert not Corpus.objects.filter(pk=corpus.pk).exists() and not Run.objects.filter(pk=run.pk).exists()
    assert not corpus_file.exists() and not run.output_dir.exists()


def test_it_keeps_a_corpus_whose_run_is_still_going(owner_client, corpus, run):
    response = owner_client.post(reverse("corpus-delete", args=[corpus.pk]))

    assert response.status_code == 409
    assert "still going" in response.content.decode()
    assert Corpus.objects.filter(pk=corpus.pk).exists() and corpus.path.exists()


def test_it_hides_other_users_runs_and_corpora_from_deleting(other_client, corpus, run):
    finished(run)

    assert other_client.post(reverse("run-delete", args=[run.pk])).status_code == 404
    assert other_client.post(reverse("corpus-delete", args=[corpus.pk])).status_code == 404
    assert Run.objects.filter(pk=run.pk).exists() and Corpus.objects.filter(pk=corpus.pk).exists()


def test_it_keeps_the_folder_of_a_cancelled_run_so_it_can_be_resumed(run, django_capture_on_commit_callbacks):
    Run.objects.filter(pk=run.pk).update(status="distilling", attempt=1, cancel_requested=True)
    run.refresh_from_db()
    run_folder_with_files(run)
    MetricPoint.objects.create(run=run, seq=1, phase="student", kind="step", step=1, values={"loss": 1.0})

    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.record_result(run, {"status": "cancelled", "device": "cpu"}, attempt=1)

    assert run.output_dir.exists()  # its checkpoints, to resume; deleting the run removes them
    assert Run.objects.get(pk=run.pk).status == "cancelled" and run.points.count() == 1


def test_it_keeps_the_folder_of_a_requeued_run_cancelled_while_queued(owner_client, run,
                                                                      django_capture_on_commit_callbacks):
    run_folder_with_files(run)  # an earlier attempt's checkpoints; the watchdog queued it again

    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(reverse("run-cancel", args=[run.pk]))

    assert run.output_dir.exists()  # an earlier attempt's checkpoints: it can be resumed


# -- cancelling and the queue --------------------------------------------------------------


def test_it_asks_before_cancelling(owner_client, run):
    confirm = owner_client.get(reverse("run-cancel", args=[run.pk]))

    page = confirm.content.decode()
    assert confirm.status_code == 200 and "Cancel run #" in page
    assert f'action="{reverse("run-cancel", args=[run.pk])}"' in page and 'method="post"' in page
    assert Run.objects.get(pk=run.pk).status == "queued"  # asking changed nothing
    detail = owner_client.get(reverse("run-detail", args=[run.pk])).content.decode()
    assert f'href="{reverse("run-cancel", args=[run.pk])}"' in detail  # the page links to the question


def test_it_never_says_cancelling_beside_cancelled(owner_client, run):
    response = owner_client.post(reverse("run-cancel", args=[run.pk]), follow=True)

    page = response.content.decode()
    assert 'data-status="cancelled"' in page
    assert "Cancelling" not in page
    assert "cancelled before it started" in page


def test_it_says_how_many_runs_a_queued_run_waits_behind(owner_client, other_user, corpus, demo_teacher, run):
    others_corpus = Corpus.objects.create(owner=other_user, name="theirs", file=corpus.file.name, text_column="text")
    Run.objects.create(owner=other_user, corpus=others_corpus, teacher=demo_teacher, status="distilling")
    later = Run.objects.create(owner=other_user, corpus=others_corpus, teacher=demo_teacher)
    second = Run.create(owner=run.owner, corpus=corpus, teacher=demo_teacher)

    first_page = owner_client.get(reverse("run-detail", args=[run.pk])).content.decode()
    second_page = owner_client.get(reverse("run-detail", args=[second.pk])).content.decode()

    assert "Waiting for 1 run ahead of it." in first_page  # the running one; `later` queued after it
    assert "Waiting for 3 runs ahead of it." in second_page  # running, `run`, `later`
    assert "theirs" not in second_page  # a count only, no names


# -- API tokens ------------------------------------------------------------------------------


def test_it_shows_the_bearer_header_example(owner_client):
    page = owner_client.get(reverse("tokens")).content.decode()

    assert "<code>Authorization: Bearer &lt;token&gt;</code>" in page


def test_it_creates_a_token_once_even_when_the_page_is_reloaded(owner_client, owner):
    created = owner_client.post(reverse("tokens"), {"name": "nightly"})
    shown = owner_client.get(reverse("tokens"))
    reloaded = owner_client.get(reverse("tokens"))

    assert created.status_code == 302 and created["Location"] == reverse("tokens")
    token = re.search(r'<code id="new-token">([^<]+)</code>', shown.content.decode()).group(1)
    assert shown["Cache-Control"] == "no-store"
    assert ApiToken.authenticate(token).user == owner
    assert token not in reloaded.content.decode()
    assert ApiToken.objects.filter(user=owner).count() == 1


def test_it_lets_a_token_download_the_student(run, owner):
    finished(run)
    run.output_dir.mkdir(parents=True)
    (run.output_dir / "student.zip").write_bytes(b"PK student")
    _row, token = ApiToken.issue(user=owner, name="script")

    response = Client().get(reverse("run-download", args=[run.pk]), HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"PK student"
    assert Client().get(reverse("run-download", args=[run.pk]), HTTP_AUTHORIZATION="Bearer cld_wrong").status_code == 401


# -- words on the pages ----------------------------------------------------------------------


def test_it_names_the_device_in_words_everywhere(owner_client, run, corpus, demo_teacher):
    Run.objects.filter(pk=run.pk).update(status="distilling", device="cuda", device_name="NVIDIA H200")
    cpu_run = Run.objects.create(owner=run.owner, corpus=corpus, teacher=demo_teacher, status="failed", device="cpu")

    dashboard = owner_client.get(reverse("dashboard")).content.decode()
    detail = owner_client.get(reverse("run-detail", args=[run.pk])).content.decode()
    cpu_detail = owner_client.get(reverse("run-detail", args=[cpu_run.pk])).content.decode()

    assert "GPU: NVIDIA H200" in dashboard and "<td>CPU</td>" in dashboard
    assert '<dd id="run-device">GPU: NVIDIA H200</dd>' in detail
    assert '<dd id="run-device">CPU</dd>' in cpu_detail
    assert ">cuda<" not in dashboard + detail and ">cpu<" not in dashboard + cpu_detail


def test_it_preselects_the_latest_corpus_from_the_menu(owner_client, owner, corpus):
    newer = Corpus.objects.create(owner=owner, name="Newer", file=corpus.file.name, text_column="text",
                                  report=corpus.report)

    page = owner_client.get(reverse("run-create")).content.decode()

    assert re.search(rf'<option value="{newer.pk}"[^>]*selected', page)


def test_it_stops_asking_for_a_corpus_once_there_is_one(owner_client, corpus):
    page = owner_client.get(reverse("dashboard")).content.decode()

    assert "Upload a corpus, then start a run" not in page
    assert "Start a run on one of your corpora." in page


# -- ./cld start's settings -------------------------------------------------------------------


def settings_in_subprocess(env_overrides: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("CLD_", "DJANGO_")) and key not in ("DEBUG", "SECRET_KEY")}
    env.update(CLD_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="cldweb.settings", **env_overrides)
    code = "from django.conf import settings; print(settings.DEBUG, settings.SECURE_SSL_REDIRECT, settings.SECRET_KEY)"
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_it_generates_the_secret_key_once_and_reuses_it(tmp_path):
    key_file = tmp_path / "secret_key"
    start_env = {"DEBUG": "0", "CLD_HTTPS": "0", "CLD_SECRET_KEY_FILE": str(key_file)}

    first = settings_in_subprocess(start_env, tmp_path)
    again = settings_in_subprocess(start_env, tmp_path)
    developer = settings_in_subprocess({**start_env, "DEBUG": "1"}, tmp_path)

    assert first.returncode == 0, first.stderr
    debug, redirect, key = first.stdout.split()
    assert (debug, redirect) == ("False", "False")  # plain http://127.0.0.1 keeps working
    assert key == key_file.read_text().strip() and len(key) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert again.stdout.split()[2] == key  # a restart keeps sessions
    assert developer.stdout.split()[:1] == ["True"] and developer.stdout.split()[2] == key


def test_it_prints_help_for_start_and_changes_nothing(tmp_path):
    data_dir = tmp_path / "data"
    env = {**os.environ, "CLD_DATA_DIR": str(data_dir), "DATABASE_URL": f"sqlite:///{data_dir / 'db.sqlite3'}"}

    result = subprocess.run([str(REPO / "cld"), "start", "--help"], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=60)

    assert result.returncode == 0, result.stderr
    assert "usage: ./cld start" in result.stdout and "--port" in result.stdout
    assert not data_dir.exists()  # no database, no demo corpus, no key


def test_it_answers_server_errors_and_refusals_with_its_own_pages(rf, owner):
    from django.utils import translation

    from cldweb.errors import permission_denied, server_error

    browser = rf.get("/runs/1/")
    browser.user = owner
    api = rf.get("/api/runs/", HTTP_ACCEPT="application/json")
    with translation.override("zh-hans"):
        error_page = server_error(browser).content.decode()
        refused = permission_denied(browser).content.decode()
        api_error = server_error(api)

    assert 'data-status="500"' in error_page and "服务器出错" in error_page
    assert 'data-status="403"' in refused and "无权访问" in refused
    assert api_error.status_code == 500 and api_error["Content-Type"] == "application/json"
    assert json.loads(api_error.content) == {"error": {"code": "server_error", "message": "服务器出错，详情见服务器日志。"}}


def test_it_records_the_gpus_name_when_a_stage_starts_on_one(run, monkeypatch):
    import torch

    from cldweb.reporting import WebReporter, gpu_name

    assert gpu_name() == ""  # this machine has no GPU: the type alone will be shown, nothing crashes
    # No GPU here, so the driver's answer is stood in for (the one thing these tests cannot reach).
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index: "NVIDIA H200")

    WebReporter(run.pk).on_stage("preparing", {"device": "cuda"})

    run.refresh_from_db()
    assert (run.device, run.device_name, run_device(run)) == ("cuda", "NVIDIA H200", "GPU: NVIDIA H200")


# -- times say their zone -------------------------------------------------------------------


def test_it_says_which_time_zone_the_dashboard_and_tokens_times_are_in(owner_client, owner, run, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    ApiToken.issue(user=owner, name="laptop")

    dashboard = owner_client.get(reverse("dashboard")).content.decode()
    tokens = owner_client.get(reverse("tokens")).content.decode()
    owner_client.post(reverse("set_language"), {"language": "zh-hans"})
    chinese = owner_client.get(reverse("dashboard")).content.decode()

    local = run.created_at.astimezone(ZoneInfo("Asia/Shanghai"))
    # The run's time is the Shanghai wall clock the note names (the Chinese format is 24-hour, so no "noon").
    assert f"<td>{local.year}年{local.month}月{local.day}日 {local:%H:%M}</td>" in chinese
    assert "Times are in the Asia/Shanghai time zone (UTC+0800)." in dashboard
    assert "Times are in the Asia/Shanghai time zone (UTC+0800)." in tokens
    assert "时间按 Asia/Shanghai 时区显示（UTC+0800）。" in chinese


# -- counts read at a glance -----------------------------------------------------------------


def test_it_groups_the_thousands_of_a_corpus_counts(owner_client, corpus):
    Corpus.objects.filter(pk=corpus.pk).update(row_count=35123, labeled_count=10000, label_counts={"0": 6000, "1": 4000})

    detail = owner_client.get(reverse("corpus-detail", args=[corpus.pk])).content.decode()
    dashboard = owner_client.get(reverse("dashboard")).content.decode()
    owner_client.post(reverse("set_language"), {"language": "zh-hans"})
    chinese = owner_client.get(reverse("corpus-detail", args=[corpus.pk])).content.decode()

    assert "<dd>35,123</dd>" in detail and "<dd>10,000</dd>" in detail and "<dd>25,123</dd>" in detail
    assert '<td class="num">6,000</td>' in detail
    assert '<td class="num">35,123</td>' in dashboard and "35123" not in dashboard
    assert "<dd>35,123</dd>" in chinese  # grouped as the sentences in cldweb/messages.py are, not Django's zh 35123


def test_it_says_beside_the_download_that_the_student_runs_without_cld(owner_client, run):
    run_folder_with_files(run)
    finished(run)

    english = owner_client.get(reverse("run-detail", args=[run.pk])).content.decode()
    owner_client.post(reverse("set_language"), {"language": "zh-hans"})
    chinese = owner_client.get(reverse("run-detail", args=[run.pk])).content.decode()

    assert "The zip runs without cld: predict.py needs only numpy and onnxruntime" in english
    assert "这个 zip 不需要 cld 就能运行" in chinese
