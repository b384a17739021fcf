"""A named-entity corpus on the web: chosen at column mapping, its entities counted per type, sentences whose
entities do not fit skipped and listed with their line and reason, and runs on it built for the engine's
tagging task, with taggers the engine cannot train refused in words (both languages)."""
from __future__ import annotations

import json
from collections import Counter

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import translation

from cldweb.entities import highlighted
from cldweb.forms import CorpusColumnsForm, RunForm
from cldweb.messages import describe_error, engine_note, skip_reasons
from cldweb.models import Corpus, Run
from distill import ConfigError
from distill.config import RunConfig
from distill.datasets import peoples_daily
from distill.pipeline import validate_config
from distill.progress import note_text
from tests.cldweb.test_tagging_run import write_entities

pytestmark = pytest.mark.django_db


@pytest.fixture
def entities_jsonl(tmp_path):
    """60 People's Daily sentences as JSON Lines, sentence 5 given an entity past its end, 12 overlapping ones."""
    path = write_entities(tmp_path / "人民日报.jsonl", sentences=60)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    rows[4]["entities"] = [{"start": 0, "end": len(rows[4]["text"]) + 3, "label": "LOC"}]
    rows[11]["entities"] = [{"start": 0, "end": 3, "label": "PER"}, {"start": 2, "end": 4, "label": "LOC"}]
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    return path, rows


def upload(owner, path) -> Corpus:
    return Corpus.create_from_upload(owner=owner, upload=SimpleUploadedFile(path.name, path.read_bytes()),
                                     name="人民日报")


def map_entity_columns(client, corpus: Corpus, **fields: str):
    """The column form as a user sends it: named entities, "Use these columns" pressed."""
    data = {"task": "tagging", "text_column": "text", "label_column": "entities", "text_pair_column": "",
            "continue": "1", **fields}
    return client.post(reverse("corpus-preview", args=[corpus.pk]), data)


def test_it_makes_a_named_entity_corpus_at_column_mapping_and_counts_entities_per_type(owner_client, owner,
                                                                                       entities_jsonl):
    path, rows = entities_jsonl
    corpus = upload(owner, path)
    assert not corpus.tagging and corpus.task == "single"

    response = map_entity_columns(owner_client, corpus)

    assert response.status_code == 302 and response.url == reverse("corpus-detail", args=[corpus.pk])
    corpus.refresh_from_db()
    assert corpus.tagging and corpus.task == "tagging" and corpus.label_counts == {}
    kept = [row for index, row in enumerate(rows) if index not in (4, 11)]
    assert corpus.row_count == corpus.labeled_count == len(kept)
    assert corpus.entity_counts == dict(Counter(entity["label"] for row in kept for entity in row["entities"]))
    page = owner_client.get(reverse("corpus-detail", args=[corpus.pk])).content.decode()
    assert "Named entities: each sentence in “text” with its entities" in page
    assert "Entities per type" in page and "Rows per label" not in page
    dashboard = owner_client.get(reverse("dashboard")).content.decode()
    assert '人民日报</a> <span class="badge">named entities</span>' in dashboard
    for kind, count in corpus.entity_count_rows:
        assert f"<tr><td>{kind}</td><td class=\"num\">{count:,}</td></tr>" in page


def test_it_lists_sentences_whose_entities_do_not_fit_with_their_line_and_reason(owner_client, owner,
                                                                                 entities_jsonl):
    corpus = upload(owner, entities_jsonl[0])
    map_entity_columns(owner_client, corpus)
    corpus.refresh_from_db()

    assert corpus.skipped_rows["total"] == 2 and corpus.skipped_rows["by_reason"] == {"bad_tags": 2}
    shown = corpus.skipped_shown
    assert [row["line"] for row in shown] == [5, 12]
    assert shown[0]["problem"] == "entity 1 ends past the end of the sentence"
    assert shown[1]["problem"] == "entity 2 overlaps another; nested or overlapping entities cannot be tagged"
    page = owner_client.get(reverse("corpus-detail", args=[corpus.pk])).content.decode()
    assert "entity 1 ends past the end of the sentence" in page
    with translation.override("zh-hans"):
        assert corpus.skipped_shown[0]["problem"] == "第 1 个实体超出了句子的末尾"
        assert skip_reasons(corpus.skipped_rows["by_reason"], "；") == "2 行含有与句子不符的实体或标签"
    with translation.override("en"):
        assert skip_reasons(corpus.skipped_rows["by_reason"], "; ") == "2 with entities or tags that do not fit the sentence"
    chinese = owner_client.get(reverse("corpus-detail", args=[corpus.pk]), HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert "第 1 个实体超出了句子的末尾" in chinese.content.decode()


def test_it_reads_the_corpus_as_labelled_texts_again_when_single_is_chosen(owner_client, owner, entities_jsonl):
    corpus = upload(owner, entities_jsonl[0])
    map_entity_columns(owner_client, corpus)

    map_entity_columns(owner_client, corpus, task="single", label_column="")

    corpus.refresh_from_db()
    assert not corpus.tagging and corpus.task == "single" and corpus.entity_counts == {}


def test_it_refuses_a_second_text_for_named_entities(owner, entities_jsonl):
    corpus = upload(owner, entities_jsonl[0])
    form = CorpusColumnsForm({"task": "tagging", "text_column": "text", "label_column": "",
                              "text_pair_column": "entities"}, corpus=corpus)
    assert not form.is_valid()
    assert form.errors["text_pair_column"] == ["Named entities are tagged in one sentence at a time; choose no "
                                               "second text for them."]


@pytest.fixture
def entity_corpus(owner_client, owner, entities_jsonl) -> Corpus:
    corpus = upload(owner, entities_jsonl[0])
    map_entity_columns(owner_client, corpus)
    corpus.refresh_from_db()
    return corpus


def test_it_builds_a_tagging_run_the_engine_accepts(owner, entity_corpus, demo_teacher):
    run = Run.create(owner=owner, corpus=entity_corpus, teacher=demo_teacher, student_architecture="bigru", epochs=1)

    data = run.config["data"]
    assert (data["task"], data["text_column"], data["label_column"]) == ("tagging", "text", "entities")
    assert run.is_tagging and not run.is_pair
    validate_config(RunConfig.from_dict(run.config))  # the engine accepts what the web built


def test_it_refuses_textcnn_and_growing_for_a_named_entity_corpus(owner_client, owner, entity_corpus, demo_teacher):
    data = {"corpus": entity_corpus.pk, "teacher": demo_teacher.pk, "student_architecture": "bilstm",
            "mode": "soft", "epochs": 1, "max_length": 32, "baseline": "on", "grow": "off"}

    textcnn = RunForm({**data, "student_architecture": "textcnn"}, user=owner)
    growing = RunForm({**data, "grow": "light"}, user=owner)
    accepted = RunForm(data, user=owner)

    assert not textcnn.is_valid()
    assert "cannot tag named entities" in textcnn.errors["student_architecture"][0]
    assert "Choose a BiLSTM, BiGRU or transformer student." in textcnn.errors["student_architecture"][0]
    assert not growing.is_valid()
    assert growing.errors["grow"] == ["Growing the training set makes variants of single texts; it is not offered "
                                      "for a named-entity corpus."]
    assert accepted.is_valid(), accepted.errors
    page = owner_client.get(reverse("run-create") + f"?corpus={entity_corpus.pk}").content.decode()
    assert "“人民日报” holds named entities: choose a BiLSTM, BiGRU or transformer student" in page


@pytest.mark.parametrize("section, field, value, code, english, chinese", [
    ("student", "architecture", "textcnn", "tagger_unsupported", "cannot tag named entities", "命名实体"),
    ("student", "tokenizer", "word", "config_tagging_tokenizer", "one character at a time", "字符"),
    ("transfer", "preset", "light", "config_transfer_task", "not offered for a named-entity corpus", "命名实体"),
])
def test_it_says_the_engines_tagging_refusals_in_both_languages(section, field, value, code, english, chinese):
    config = RunConfig()
    config.data.train_path, config.data.task = "never-read.jsonl", "tagging"
    setattr(getattr(config, section), field, value)
    with pytest.raises(ConfigError) as refused:
        validate_config(config)
    assert refused.value.code == code
    with translation.override("en"):
        said = describe_error(code, refused.value.params, refused.value.message)
    with translation.override("zh-hans"):
        said_in_chinese = describe_error(code, refused.value.params, refused.value.message)
    assert english in said and said != refused.value.message
    assert chinese in said_in_chinese and said_in_chinese != said


def test_it_highlights_entities_with_their_type_and_escapes_the_rest():
    text = "<b>李鹏</b>访问&北京"
    shown = highlighted(text, [{"start": 3, "end": 5, "label": "PER"}, {"start": 12, "end": 14, "label": "L<C"},
                               {"start": 4, "end": 6, "label": "ORG"}])  # the last overlaps the first: left out

    assert shown == ('&lt;b&gt;<mark class="entity" data-type="PER">李鹏<sup>PER</sup></mark>&lt;/b&gt;访问&amp;'
                     '<mark class="entity" data-type="L&lt;C">北京<sup>L&lt;C</sup></mark>')


def test_it_reads_a_conll_file_as_named_entities_with_its_bad_sentences_listed(owner_client, owner, tmp_path,
                                                                               demo_teacher):
    sentences = [(text, tags) for text, tags in peoples_daily(limit=400) if 8 <= len(text) <= 40][:60]
    lines: list[str] = []
    bad_line = 0
    for number, (text, tags) in enumerate(sentences):
        if number == 7:
            bad_line = len(lines) + 2  # the sentence's second line (lines count from 1)
            lines += [f"{text[0]}\t{tags[0]}", "这行没有标签", *(f"{c}\t{t}" for c, t in zip(text[1:], tags[1:]))]
        else:
            lines += [f"{char}\t{tag}" for char, tag in zip(text, tags)]
        lines.append("")
    path = tmp_path / "人民日报.conll"
    path.write_text("\n".join(lines), encoding="utf-8")
    corpus = upload(owner, path)

    # A CoNLL file has no header: the form offers the columns its sentences and tags are read into.
    map_entity_columns(owner_client, corpus, text_column=corpus.columns[0], label_column=corpus.columns[1])

    corpus.refresh_from_db()
    assert (corpus.format, corpus.text_column, corpus.label_column) == ("conll", "text", "tags")
    kept = [tags for number, (_text, tags) in enumerate(sentences) if number != 7]
    assert corpus.row_count == len(kept)
    assert corpus.entity_counts == dict(Counter(tag[2:] for tags in kept for tag in tags if tag.startswith("B-")))
    assert [(row["line"], row["problem"]) for row in corpus.skipped_shown] == [
        (bad_line - 1, f"line {bad_line} is not a character and its tag")]
    page = owner_client.get(reverse("corpus-detail", args=[corpus.pk])).content.decode()
    assert "(the tags of the CoNLL file)" in page
    assert owner_client.get(reverse("corpus-preview", args=[corpus.pk])).status_code == 200
    run = Run.create(owner=owner, corpus=corpus, teacher=demo_teacher, student_architecture="bilstm", epochs=1)
    assert (run.config["data"]["task"], run.config["data"]["label_column"]) == ("tagging", "tags")
    validate_config(RunConfig.from_dict(run.config))


def conll_text(sentences: int) -> str:
    """People's Daily sentences as CoNLL: a character and its tag a line, a blank line after each sentence."""
    chosen = [(text, tags) for text, tags in peoples_daily(limit=400) if 8 <= len(text) <= 40][:sentences]
    return "".join("".join(f"{char}\t{tag}\n" for char, tag in zip(text, tags)) + "\n" for text, tags in chosen)


def test_it_knows_a_conll_file_called_txt_by_its_content_and_previews_its_sentences(owner_client, owner):
    content = conll_text(60)
    first_line = content.splitlines()[0]

    response = owner_client.post(reverse("corpus-upload"), {
        "file": SimpleUploadedFile("人民日报.txt", content.encode("utf-8")), "name": "人民日报"})

    corpus = Corpus.objects.get(owner=owner, name="人民日报")
    assert response.status_code == 302 and response.url == reverse("corpus-preview", args=[corpus.pk])
    assert (corpus.tagging, corpus.format, corpus.text_column, corpus.label_column) == (True, "conll", "text", "tags")
    assert corpus.row_count == 60 and set(corpus.entity_counts) <= {"PER", "LOC", "ORG"} and corpus.entity_counts
    page = owner_client.get(reverse("corpus-preview", args=[corpus.pk])).content.decode()
    assert '<th class="chosen">text</th><th class="chosen-label">tags</th>' in page
    assert f"<th>{first_line.split()[0]}</th>" not in page and f">{first_line.split()[1]}</th>" not in page
    sentence = "".join(line.split("\t")[0] for line in content.split("\n\n")[0].splitlines())
    assert f"<td>{sentence}</td>" in page


def test_it_keeps_a_conll_corpus_as_named_entities_at_column_mapping(owner_client, owner):
    owner_client.post(reverse("corpus-upload"), {"file": SimpleUploadedFile("ner.txt", conll_text(30).encode())})
    corpus = Corpus.objects.get(owner=owner)

    response = map_entity_columns(owner_client, corpus, task="single", text_column="text", label_column="tags")

    assert response.status_code == 200
    assert "This is a CoNLL file (a character and its tag a line): it can only be read as named entities." in \
        response.content.decode()
    corpus.refresh_from_db()
    assert corpus.tagging
    with translation.override("zh-hans"):
        form = CorpusColumnsForm({"task": "single", "text_column": "text", "label_column": "tags"}, corpus=corpus)
        assert not form.is_valid() and "CoNLL" in form.errors["task"][0] and "命名实体" in form.errors["task"][0]


def test_it_gives_a_named_entity_corpus_unlabelled_file_to_its_runs_and_says_what_it_is_for(
        owner_client, owner, entity_corpus, demo_teacher):
    lines = "".join(f"{text}\n" for text, _tags in peoples_daily(limit=600)[500:540])
    entity_corpus.attach_unlabeled(SimpleUploadedFile("更多句子.txt", lines.encode("utf-8")))

    run = Run.create(owner=owner, corpus=entity_corpus, teacher=demo_teacher, student_architecture="bilstm",
                     epochs=1)

    assert run.config["data"]["unlabeled_path"] == str(entity_corpus.unlabeled_path)
    validate_config(RunConfig.from_dict(run.config))
    corpus_page = reverse("corpus-detail", args=[entity_corpus.pk])
    assert "This is a named-entity corpus: a file of unlabelled texts holds one sentence a line, without tags. " \
           "Runs on this corpus give those sentences to the teacher to tag" in owner_client.get(corpus_page).content.decode()
    chinese = owner_client.get(corpus_page, HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "这是命名实体语料：无标签文本文件每行一个句子，不带标签。" in chinese
    run_form = reverse("run-create") + f"?corpus={entity_corpus.pk}"
    assert "Its file of unlabelled texts is used as sentences without tags: the teacher tags them" in \
        owner_client.get(run_form).content.decode()
    assert "它的无标签文本文件会作为没有标签的句子使用" in \
        owner_client.get(run_form, HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()


@pytest.mark.parametrize("code, english, chinese", [
    ("tagging_unlabeled_file", "40 sentences of the unlabelled text file joined training", "40 个句子加入了训练"),
    ("tagging_unlabeled_file_hard", "so they are not used.", "因此不会使用它们"),
])
def test_it_says_the_engines_note_on_a_tagging_runs_unlabelled_file_in_both_languages(code, english, chinese):
    note = {"code": code, "params": {"count": 40}, "text": note_text(code, {"count": 40})}
    with translation.override("en"):
        assert english in engine_note(note) and engine_note(note) == note["text"]
    with translation.override("zh-hans"):
        assert chinese in engine_note(note)


def test_it_shows_the_reasons_beside_the_students_and_growing_a_named_entity_corpus_cannot_have(owner_client,
                                                                                               entity_corpus):
    page = owner_client.get(reverse("run-create") + f"?corpus={entity_corpus.pk}").content.decode()
    assert ('<p class="help" id="student-tagging-note">TextCNN gives one answer per text, so it cannot tag named '
            'entities: choose another student for a named-entity corpus.</p>') in page
    assert ('<p class="help" id="grow-tagging-note">Growing the training set makes variants of single texts; it is '
            'not offered for a named-entity corpus.</p>') in page
    chinese = owner_client.get(reverse("run-create") + f"?corpus={entity_corpus.pk}",
                               HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert '<p class="help" id="student-tagging-note">TextCNN 对每段文本只给出一个答案，因此无法标注命名实体' in chinese
    assert '<p class="help" id="grow-tagging-note">扩充训练集会生成单段文本的变体，命名实体语料不提供此功能。</p>' in chinese
