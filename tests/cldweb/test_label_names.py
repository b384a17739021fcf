"""Label names given at column mapping (pos -> 好评) are what results, predictions, the API and the export show."""
from __future__ import annotations

import json
import zipfile

import pytest
from django.urls import reverse

from cldweb.models import Run
from cldweb.tasks import run_distillation

pytestmark = pytest.mark.django_db


def name_labels(client, corpus, **names):
    """Post the preview page's form as a user does: the columns unchanged, a name per label position."""
    corpus.refresh_from_db()  # the page lists labels in the order the database gives them back
    fields = {"text_column": "text", "label_column": "label", "apply": "1"}
    for index, (raw, _name, _count) in enumerate(corpus.named_label_counts):
        fields[f"label_name_{index}"] = names.get(raw, "")
    return client.post(reverse("corpus-preview", args=[corpus.pk]), fields)


def test_it_offers_a_name_field_per_label_on_the_preview_page(owner_client, corpus):
    page = owner_client.get(reverse("corpus-preview", args=[corpus.pk])).content.decode()

    assert 'id="label-names"' in page
    assert page.count('name="label_name_') == 2 and 'placeholder="pos"' in page and 'placeholder="neg"' in page


@pytest.mark.parametrize(("names", "error"), [
    ({"pos": "好评", "neg": "好评"}, "The labels “neg” and “pos” would both be called “好评”; give each label its own name."),
    ({"pos": "neg"}, "The labels “neg” and “pos” would both be called “neg”; give each label its own name."),
    ({"pos": "   "}, "A label name cannot be only spaces; leave it empty to keep “pos”."),
])
def test_it_refuses_duplicate_and_blank_names(owner_client, corpus, names, error):
    response = name_labels(owner_client, corpus, **names)

    assert response.status_code == 200 and error in response.content.decode()
    corpus.refresh_from_db()
    assert corpus.label_names == {}


@pytest.mark.slow
def test_it_trains_predicts_and_exports_with_the_names(owner, owner_client, corpus, demo_teacher):
    response = name_labels(owner_client, corpus, pos=" 好评 ", neg="差评")
    assert response.status_code == 302
    corpus.refresh_from_db()
    assert corpus.label_names == {"pos": "好评", "neg": "差评"}
    run = Run.create(owner=owner, corpus=corpus, teacher=demo_teacher, epochs=1, max_length=32)

    run_distillation.apply(args=(run.pk,))

    run.refresh_from_db()
    assert run.status == Run.Status.DONE, (run.error_code, run.error_message)
    assert run.result["labels"] == ["好评", "差评"]  # sorted by name, as the engine sorts labels
    with zipfile.ZipFile(run.export_path) as archive:
        labels_file = next(name for name in archive.namelist() if name.endswith("labels.json"))
        assert json.loads(archive.read(labels_file)) == ["好评", "差评"]
    api = owner_client.post(reverse("run-predict", args=[run.pk]), json.dumps({"texts": ["质量太差了"]}),
                            content_type="application/json")
    prediction = api.json()["predictions"][0]
    assert prediction["label"] in {"好评", "差评"} and set(prediction["probabilities"]) == {"好评", "差评"}
    assert owner_client.get(reverse("api-runs")).json()["runs"][0]["labels"] == ["好评", "差评"]
    form = owner_client.post(reverse("run-predict", args=[run.pk]), {"text": "质量太差了"}).content.decode()
    assert prediction["label"] in form


def test_it_shows_the_label_names_in_the_corpus_summary(owner_client, corpus):
    corpus.name_labels({"pos": "好评", "neg": "差评"})
    corpus.save()

    page = owner_client.get(reverse("corpus-detail", args=[corpus.pk])).content.decode()

    assert "好评 <span class=\"muted\">(pos)</span>" in page and "差评 <span class=\"muted\">(neg)</span>" in page
