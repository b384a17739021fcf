"""Copy a save_pretrained folder into CLD_DATA_DIR/teachers/<random> and offer it as a teacher.

Runs the same check as the upload on the Teachers page (``distill.check_teacher_folder``):
refuses folders that would need pickle (only .bin/.pt weights) or custom code (auto_map), or
that lack config.json's model_type, tokenizer files or a readable safetensors header, with a
message saying what to do, before copying anything.
"""
from __future__ import annotations

import secrets
import shutil
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from cldweb.models import Teacher
from distill import DistillError, check_teacher_folder


class Command(BaseCommand):
    help = "Import a local teacher model (a save_pretrained folder with model.safetensors)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("path", help="folder written by save_pretrained (config.json, model.safetensors, tokenizer files)")
        parser.add_argument("--name", default="", help="name shown on the Teachers page (default: the folder name)")
        parser.add_argument("--description", default="", help="one line shown under the name")
        parser.add_argument("--owner", default="", help="username that may use it (default: everyone)")

    def handle(self, *args, path: str, name: str, description: str, owner: str, **options) -> None:
        source = Path(path).expanduser().resolve()
        if not source.is_dir():
            raise CommandError(f"{source} is not a folder. Pass the folder written by save_pretrained().")
        if not (source / "config.json").is_file():
            raise CommandError(f"{source} has no config.json, so it is not a save_pretrained() folder.")
        try:
            check_teacher_folder(source)  # the user's own folder: pickles are left there, and not copied below
        except DistillError as error:
            raise CommandError(f"Refused: {error.message}") from None

        user = None
        if owner:
            user = get_user_model().objects.filter(username=owner).first()
            if user is None:
                raise CommandError(f"There is no user named {owner!r}.")

        destination = Path(settings.CLD_TEACHERS_DIR) / secrets.token_hex(8)
        shutil.copytree(source, destination, symlinks=False,
                        ignore=shutil.ignore_patterns("*.bin", "*.pt", "*.pth", "*.pkl", "*.pickle", "*.ckpt", ".git"))
        teacher = Teacher.objects.create(
            owner=user,
            name=(name or source.name)[:200],
            kind=Teacher.KIND_IMPORTED,
            path=str(destination),
            description=description,
        )
        self.stdout.write(self.style.SUCCESS(f"Imported teacher {teacher.name!r} (id {teacher.pk}) into {destination}"))
