from __future__ import annotations

from pathlib import Path

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CldwebConfig(AppConfig):
    name = "cldweb"
    verbose_name = _("Chinese language-model distillation")

    def ready(self) -> None:
        from django.conf import settings

        for folder in (
            settings.CLD_DATA_DIR,
            settings.MEDIA_ROOT,
            settings.CLD_RUNS_DIR,
            settings.CLD_TEACHER_CACHE_DIR,
            settings.CLD_TEACHERS_DIR,
            settings.STATIC_ROOT,  # whitenoise warns at start-up when it is missing
        ):
            Path(folder).mkdir(parents=True, exist_ok=True)
