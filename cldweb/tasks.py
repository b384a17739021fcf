"""Celery tasks. They only adapt a Run row to the engine; training logic lives in distill/."""
from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

import distill
from distill.errors import DistillError
from distill.progress import RunCancelled

from cldweb.models import Run
from cldweb.reporting import WebReporter, json_safe

logger = logging.getLogger(__name__)

INTERNAL_ERROR_MESSAGE = (
    "An unexpected error stopped the run. The details are in the worker log; please report this run's number."
)
TIME_LIMIT_MESSAGE = "The run took longer than the time limit and was stopped."


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True, name="cldweb.run_distillation")
def run_distillation(self, run_id: int) -> None:
    """Train the student for one Run. Redelivered after a worker crash; the engine resumes from its checkpoint."""
    run = Run.objects.select_related("corpus", "teacher").filter(pk=run_id).first()
    if run is None:
        logger.warning("run %s does not exist; task dropped", run_id)
        return
    if run.is_finished:
        return
    if run.cancel_requested:
        run.mark_cancelled()
        WebReporter(run_id).send_status()
        return

    run.mark_started()
    if self.request.id:
        Run.objects.filter(pk=run_id).update(celery_task_id=self.request.id)
    reporter = WebReporter(run_id)
    try:
        result = distill.run(run.build_config(), reporter)
        reporter.flush()
        run.refresh_from_db()
        run.mark_done(json_safe(result.to_dict()))
    except RunCancelled:
        run.refresh_from_db()
        run.mark_cancelled()
    except DistillError as error:
        run.refresh_from_db()
        run.mark_failed(error.code, error.message, error.params)
    except SoftTimeLimitExceeded:
        run.refresh_from_db()
        run.mark_failed("time_limit", TIME_LIMIT_MESSAGE)
    except Exception:
        logger.exception("run %s failed with an unexpected error", run_id)
        run.refresh_from_db()
        run.mark_failed("internal", INTERNAL_ERROR_MESSAGE)
    finally:
        reporter.close()
        reporter.send_status()
