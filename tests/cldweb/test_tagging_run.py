"""A named-entity run end to end on the web: a few hundred People's Daily sentences written as JSON Lines,
trained for real through the Celery task, its report scoring entities per type (never drawing confusion
matrices), its worst sentences with the entities highlighted, and its student finding entities in the
playground."""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

import distill
from cldweb import playground
from cldweb.entities import highlighted
from cldweb.models import Corpus, Run
from distill.datasets import peoples_daily
from distill.tasks.tagging_schemes import bio_to_spans
from cldweb.tasks import run_distillation
from tests.cldweb.test_api_runs import TINY_CONFIG

pytestmark = pytest.mark.django_db

SENTENCE = "江泽民在北京会见了来自上海的代表。"


def write_entities(path: Path, sentences: int = 300) -> Path:
    """``sentences`` People's Daily sentences of 8-40 characters as JSON Lines rows of text and entity spans."""
    rows = [(text, tags) for text, tags in peoples_daily(limit=3000) if 8 <= len(text) <= 40][:sentences]
    with path.open("w", encoding="utf-8") as handle:
        for text, tags in rows:
            entities = [{"start": start, "end": end, "label": label} for start, end, label in bio_to_spans(tags)]
            handle.write(json.dumps({"text": text, "entities": entities}, ensure_ascii=False) + "\n")
    return path


def tagging_corpus(owner, tmp_path, sentences: int = 300) -> Corpus:
    path = write_entities(tmp_path / "人民日报.jsonl", sentences)
    corpus = Corpus.create_from_upload(owner=owner, upload=SimpleUploadedFile(path.name, path.read_bytes()),
                                       name="人民日报")
    corpus.analyse("text", "entities", tagging=True)
    corpus.save()
    assert corpus.is_usable, corpus.problem
    return corpus


@pytest.fixture
def tagging_run(owner, demo_teacher, tmp_path) -> Run:
    """A BiLSTM tagger distilled in semi mode, trained in this process through the Celery task: batches of 16 at
    a learning rate of 1e-2, at which taggers learn fast, and a demo teacher fine-tuned long enough to tag."""
    config = {section: dict(values) for section, values in TINY_CONFIG.items()}
    config["teacher"]["finetune_epochs"] = 4  # 1 leaves the demo teacher tagging every character O
    config["train"].update(batch_size=16, learning_rate=1e-2, epochs=12, mode="semi")
    run = Run.objects.create(owner=owner, corpus=tagging_corpus(owner, tmp_path), teacher=demo_teacher, config=config)
    run.config = run.build_config().to_dict()
    run.save(update_fields=["config"])
    run_distillation.apply(args=(run.pk,))
    run.refresh_from_db()
    assert run.status == Run.Status.DONE, (run.error_code, run.error_message)
    playground.teachers.clear()
    return run


@pytest.mark.slow
def test_it_trains_a_tagging_run_and_reports_entity_f1_per_type_and_highlighted_worst_sentences(owner_client,
                                                                                             tagging_run):
    assert tagging_run.config["data"]["task"] == "tagging" and tagging_run.is_tagging
    metrics = tagging_run.result["metrics"]
    page = owner_client.get(reverse("run-detail", args=[tagging_run.pk])).content.decode()
    report = owner_client.get(reverse("run-report", args=[tagging_run.pk]) + "?download=1").content.decode()

    for body in (page, report):
        assert 'id="report-entities"' in body and "Entity F1" in body and "Token accuracy" in body
        assert "confusion-chart" not in body and 'id="report-per-class"' not in body
        for model in ("teacher", "student", "baseline"):
            rows = {"": {**metrics[model], "support": metrics[model]["entities"]}, **metrics[model]["per_type"]}
            assert set(metrics[model]["per_type"]) <= {"LOC", "ORG", "PER"} and metrics[model]["per_type"]
            for kind, scores in rows.items():
                cells = "".join(f'<td class="num">{scores[name] * 100:.1f}%</td>' for name in ("precision", "recall", "f1"))
                assert re.search(f'<tr data-model="{model}" data-type="{kind}">(<th[^>]*>[^<]*</th>)?'
                                 f'<td>{kind or "All entities"}</td>{re.escape(cells)}<td class="num">'
                                 f'{scores["support"]:,}</td></tr>', body), (model, kind)
            assert f'<td class="num">{metrics[model]["token_accuracy"] * 100:.1f}%</td></tr>' in body
        worst = tagging_run.result["disagreements"][0]
        entity = (worst["gold"] or worst["predicted"])[0]
        assert (f'<mark class="entity" data-type="{entity["label"]}">{html.escape(entity["text"])}'
                f'<sup>{entity["label"]}</sup></mark>') in body
    assert 'id="playground-entities"' in page and 'id="playground-rows"' not in page
    assert '"eval_key": "dev_f1"' in page and "<h2>Dev entity F1</h2>" in page  # the live chart draws entity F1
    chinese = owner_client.get(reverse("run-detail", args=[tagging_run.pk]), HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "实体 F1" in chinese and "字符准确率" in chinese and "学生模型错得最多的句子" in chinese


@pytest.mark.slow
def test_it_finds_entities_with_the_student_in_the_playground_and_the_api(owner_client, tagging_run):
    # Training sentences with entities, which a tiny student has seen, and one it has not.
    rows = [json.loads(line) for line in tagging_run.corpus.path.read_text(encoding="utf-8").splitlines()]
    texts = [row["text"] for row in rows if row["entities"]][:8] + [SENTENCE]
    expected = distill.load_student(tagging_run.export_path).entities(texts)
    assert any(expected), "the student found no entity at all: the run learnt nothing"

    page = owner_client.post(reverse("run-predict", args=[tagging_run.pk]), {"text": "\n".join(texts)}).content.decode()
    answer = owner_client.post(reverse("api-run-predict", args=[tagging_run.pk]), {"texts": texts},
                               content_type="application/json").json()

    assert answer["student"]["predictions"] == [{"text": text, "entities": found} for text, found in zip(texts, expected)]
    assert "teacher" not in answer  # a tagging run's teacher is not offered in the playground
    listed = owner_client.get(reverse("api-runs")).json()["runs"][0]
    assert listed["task"] == "tagging" and listed["student_entity_f1"] == tagging_run.result["metrics"]["student"]["f1"]
    scores = owner_client.get(reverse("api-run", args=[tagging_run.pk])).json()["metrics"]["student"]["entity_scores"]
    assert scores["per_type"] == tagging_run.result["metrics"]["student"]["per_type"]
    assert 'id="playground-entities"' in page
    for text, found in zip(texts, expected):
        assert f'<p class="tagged">{highlighted(text, found)}</p>' in page
        for entity in found:
            assert (f'<mark class="entity" data-type="{entity["label"]}">{entity["text"]}'
                    f'<sup>{entity["label"]}</sup></mark>') in page
