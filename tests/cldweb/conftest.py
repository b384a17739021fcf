"""Shared personas and fixtures for the web tests: an owner, an outsider, their clients, a corpus, a run.

Files go under pytest's tmp_path (MEDIA_ROOT and CLD_DATA_DIR paths are overridden per
test) and channel messages under a per-test Redis prefix, so tests never see each
other's files or groups, nor those of a running demo.
"""
from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from cldweb.models import DEMO_TEACHER_NAME, Corpus, Run, Teacher

PASSWORD = "correct horse battery staple"

REVIEWS_CSV = (
    "text,label\n"
    "这家店的服务很好，下次还来。,pos\n"
    "质量太差了，用了两天就坏。,neg\n"
    "物流很快，包装也很仔细。,pos\n"
    "客服态度恶劣，再也不买了。,neg\n"
    "性价比很高，推荐购买。,pos\n"
    "味道一般，价格偏贵。,neg\n"
    "非常满意，五星好评！,pos\n"
    "收到的东西和图片不一样。,neg\n"
    "做工精细，手感很好。,pos\n"
    "屏幕有划痕，很失望。,neg\n"
    "这家店的服务很好，下次还来。,pos\n"
)


@pytest.fixture(autouse=True)
def isolated_storage(settings, tmp_path):
    """Uploads, runs and caches in a fresh folder; channel groups under a fresh Redis prefix."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CLD_RUNS_DIR = tmp_path / "runs"
    settings.CLD_TEACHER_CACHE_DIR = tmp_path / "teacher-cache"
    settings.CLD_TEACHERS_DIR = tmp_path / "teachers"
    settings.CLD_SCRATCH_DIR = tmp_path / "scratch"
    for folder in (settings.MEDIA_ROOT, settings.CLD_RUNS_DIR, settings.CLD_TEACHERS_DIR):
        folder.mkdir(parents=True)
    layers = {**settings.CHANNEL_LAYERS}
    layers["default"] = {**layers["default"], "CONFIG": {**layers["default"]["CONFIG"], "prefix": f"cldtest-{uuid.uuid4().hex[:12]}"}}
    settings.CHANNEL_LAYERS = layers
    settings.LANGUAGE_CODE = "en"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast personas
    return tmp_path


@pytest.fixture
def owner(db):
    return get_user_model().objects.create_user("owner", password=PASSWORD)


@pytest.fixture
def other_user(db):
    return get_user_model().objects.create_user("other", password=PASSWORD)


@pytest.fixture
def owner_client(client, owner):
    client.force_login(owner)
    return client


@pytest.fixture
def other_client(client, other_user):
    client.force_login(other_user)
    return client


# Two more texts give each label 6 distinct ones: enough for the default split to give dev and test a row each.
SPLITTABLE_REVIEWS_CSV = REVIEWS_CSV + "发货太慢，等了半个月。,neg\n颜色很正，和描述一致。,pos\n"


@pytest.fixture
def corpus(owner) -> Corpus:
    upload = SimpleUploadedFile("reviews.csv", SPLITTABLE_REVIEWS_CSV.encode("utf-8"), content_type="text/csv")
    return Corpus.create_from_upload(owner=owner, upload=upload, name="Reviews")


@pytest.fixture
def demo_teacher(db) -> Teacher:
    # get_or_create: transactional tests flush the rows the data migration created
    teacher, _ = Teacher.objects.get_or_create(owner=None, kind=Teacher.KIND_DEMO, defaults={"name": DEMO_TEACHER_NAME})
    return teacher


@pytest.fixture
def hub_teacher(db) -> Teacher:
    teacher, _ = Teacher.objects.get_or_create(
        owner=None, kind=Teacher.KIND_HUB, hub_id="bert-base-chinese", defaults={"name": "bert-base-chinese"})
    return teacher


@pytest.fixture
def run(owner, corpus, demo_teacher) -> Run:
    """A queued run, created the way the form creates it (the enqueue callback is never executed here)."""
    return Run.create(owner=owner, corpus=corpus, teacher=demo_teacher, epochs=2, max_length=64)
