"""A run's actions on its page: clone it with changes, retry it when it failed, resume it from its checkpoint."""
from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from cldweb.models import MetricPoint, Run

pytestmark = pytest.mark.django_db


def with_status(run: Run, status: str, **fields) -> Run:
    Run.objects.filter(pk=run.pk).update(status=status, attempt=1, finished_at=timezone.now(), **fields)
    run.refresh_from_db()
    return run


def checkpointed(run: Run) -> Run:
    """What a worker leaves in the folder of a run cancelled while distilling: the student's last.pt."""
    (run.output_dir / "checkpoints").mkdir(parents=True)
    (run.output_dir / "checkpoints" / "last.pt").write_bytes(b"x")
    return run


@pytest.fixture
def tuned_run(owner, corpus, demo_teacher) -> Run:
    """A finished run with settings away from the form's defaults, one of them (the seed) not on the form."""
    run = Run.create(owner=owner, corpus=corpus, teacher=demo_teacher, student_architecture="bigru", mode="semi",
                     epochs=3, max_length=64, baseline=False, virtual_label_threshold=0.8)
    run.config["train"]["seed"] = 1234
    run.save(update_fields=["config"])
    return with_status(run, Run.Status.DONE)


# -- clone ------------------------------------------------------------------------------------


def test_it_fills_the_new_run_form_with_the_cloned_runs_settings(owner_client, tuned_run):
    page = owner_client.get(reverse("run-create"), {"clone": tuned_run.pk})

    form = page.context["form"]
    assert {name: form[name].value() for name in ("corpus", "teacher", "student_architecture", "mode", "epochs",
                                                    "max_length", "baseline", "grow", "virtual_label_threshold",
                                                    "settings_from")} == {
        "corpus": tuned_run.corpus_id, "teacher": tuned_run.teacher_id, "student_architecture": "bigru",
        "mode": "semi", "epochs": 3, "max_length": 64, "baseline": False, "grow": "off",
        "virtual_label_threshold": 0.8, "settings_from": tuned_run.pk}
    html = page.content.decode()
    assert f"The settings of run #{tuned_run.pk} are filled in" in html
    assert f'name="settings_from" value="{tuned_run.pk}"' in html


def test_it_starts_a_clone_with_the_changes_and_every_other_setting_of_the_run(owner_client, tuned_run):
    response = owner_client.post(reverse("run-create"), {
        "corpus": tuned_run.corpus_id, "teacher": tuned_run.teacher_id, "student_architecture": "bigru",
        "mode": "semi", "epochs": 5, "max_length": 64, "virtual_label_threshold": 0.8, "grow": "off",
        "settings_from": tuned_run.pk})  # the baseline box unticked, as the clone showed it

    clone = Run.objects.exclude(pk=tuned_run.pk).get()
    assert response["Location"] == reverse("run-detail", args=[clone.pk])
    train = clone.config["train"]
    assert (train["epochs"], train["mode"], train["baseline"], train["virtual_label_threshold"]) == (5, "semi", False, 0.8)
    assert train["seed"] == 1234  # not on the form: the cloned run's
    assert clone.config["student"] == tuned_run.config["student"]
    assert clone.config["output_dir"].endswith(f"/{clone.pk}") and clone.status == Run.Status.QUEUED


def test_it_fills_nothing_from_another_users_run(other_client, tuned_run):
    page = other_client.get(reverse("run-create"), {"clone": tuned_run.pk}, follow=True)

    assert page.context["form"]["settings_from"].value() is None
    assert "no longer exists" in page.content.decode()
    other_client.post(reverse("run-create"), {"settings_from": tuned_run.pk})  # a forged field: its run is not theirs
    assert Run.objects.count() == 1


# -- retry ------------------------------------------------------------------------------------


def test_it_asks_before_retrying_then_starts_a_new_run_with_the_same_settings(owner_client, tuned_run,
                                                                             django_capture_on_commit_callbacks):
    failed = with_status(tuned_run, Run.Status.FAILED, error_code="internal")
    confirm = owner_client.get(reverse("run-retry", args=[failed.pk]))
    assert confirm.status_code == 200 and f"Retry run #{failed.pk}?" in confirm.content.decode()
    assert Run.objects.count() == 1  # asking starts nothing

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = owner_client.post(reverse("run-retry", args=[failed.pk]))

    retried = Run.objects.exclude(pk=failed.pk).get()
    assert response["Location"] == reverse("run-detail", args=[retried.pk])
    assert len(callbacks) == 1  # enqueued once the transaction commits
    assert (retried.status, retried.corpus_id, retried.teacher_id, retried.student_architecture) == (
        Run.Status.QUEUED, failed.corpus_id, failed.teacher_id, failed.student_architecture)
    assert {**retried.config, "output_dir": ""} == {**failed.config, "output_dir": ""}
    assert retried.config["output_dir"] != failed.config["output_dir"]
    failed.refresh_from_db()
    assert failed.status == Run.Status.FAILED  # kept as it was, beside the new one


def test_it_retries_only_a_failed_run(owner_client, tuned_run):
    response = owner_client.post(reverse("run-retry", args=[tuned_run.pk]), follow=True)

    assert Run.objects.count() == 1
    assert "Only a failed run can be retried." in response.content.decode()


def test_it_hides_another_users_run_from_retry_and_resume(other_client, tuned_run):
    with_status(tuned_run, Run.Status.FAILED)
    checkpointed(tuned_run)

    assert other_client.get(reverse("run-retry", args=[tuned_run.pk])).status_code == 404
    assert other_client.post(reverse("run-retry", args=[tuned_run.pk])).status_code == 404
    assert other_client.post(reverse("run-resume", args=[tuned_run.pk])).status_code == 404
    tuned_run.refresh_from_db()
    assert tuned_run.status == Run.Status.FAILED and Run.objects.count() == 1


# -- resume -----------------------------------------------------------------------------------


def test_it_queues_a_cancelled_run_again_in_its_own_folder(owner_client, run, django_capture_on_commit_callbacks):
    cancelled = checkpointed(with_status(run, Run.Status.CANCELLED, cancel_requested=True,
                                         result={"status": "cancelled", "stage_seconds": {"preparing": 1.0}}))
    MetricPoint.objects.create(run=cancelled, seq=1, phase="student", kind="step", step=10, values={"loss": 0.5})
    page = owner_client.get(reverse("run-detail", args=[cancelled.pk])).content.decode()
    assert 'id="run-resume"' in page and "Its last checkpoint is kept" in page

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = owner_client.post(reverse("run-resume", args=[cancelled.pk]), follow=True)

    assert f"Run #{cancelled.pk} is queued again and continues from its last checkpoint." in response.content.decode()
    cancelled.refresh_from_db()
    assert (cancelled.status, cancelled.cancel_requested, cancelled.finished_at, cancelled.result) == (
        Run.Status.QUEUED, False, None, {})
    assert cancelled.attempt == 1  # the worker that takes it makes it 2
    assert len(callbacks) == 1 and Run.objects.count() == 1
    assert (cancelled.output_dir / "checkpoints" / "last.pt").is_file()
    # The points stay; a stage mark starts the timeline's next attempt, saying when the run had stopped.
    points = list(cancelled.points.order_by("seq").values_list("seq", "phase", "values"))
    assert points[0][:2] == (1, "student")
    assert points[1][:2] == (2, "stage") and points[1][2]["stage"] == "queued" and points[1][2]["stopped_at"]


def test_it_resumes_a_failed_run_and_clears_its_error(owner_client, run):
    failed = checkpointed(with_status(run, Run.Status.FAILED, error_code="time_limit", error_message="Too long."))

    owner_client.post(reverse("run-resume", args=[failed.pk]))

    failed.refresh_from_db()
    assert (failed.status, failed.error_code, failed.error_message) == (Run.Status.QUEUED, "", "")


def test_it_refuses_to_resume_a_run_without_a_checkpoint(owner_client, run, django_capture_on_commit_callbacks):
    cancelled = with_status(run, Run.Status.CANCELLED)
    page = owner_client.get(reverse("run-detail", args=[cancelled.pk])).content.decode()
    assert 'id="run-resume"' not in page and "has no checkpoint to resume from" in page

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = owner_client.post(reverse("run-resume", args=[cancelled.pk]), follow=True)

    assert f"Run #{cancelled.pk} has no checkpoint to resume from" in response.content.decode()
    cancelled.refresh_from_db()
    assert cancelled.status == Run.Status.CANCELLED and callbacks == []


def test_it_refuses_to_resume_a_run_that_is_not_cancelled_or_failed(owner_client, run):
    checkpointed(run)
    for status in (Run.Status.DONE, Run.Status.DISTILLING, Run.Status.QUEUED):
        Run.objects.filter(pk=run.pk).update(status=status)
        response = owner_client.post(reverse("run-resume", args=[run.pk]), follow=True)
        assert "Only a cancelled or failed run can be resumed." in response.content.decode()
        run.refresh_from_db()
        assert run.status == status


def test_it_does_nothing_on_a_get_to_resume(owner_client, run):
    cancelled = checkpointed(with_status(run, Run.Status.CANCELLED))

    response = owner_client.get(reverse("run-resume", args=[cancelled.pk]))

    assert response.status_code == 302 and response["Location"] == reverse("run-detail", args=[cancelled.pk])
    cancelled.refresh_from_db()
    assert cancelled.status == Run.Status.CANCELLED
