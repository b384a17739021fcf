from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from cldweb.models import DEFAULT_STUDENT, MODE_CHOICES, STUDENT_CHOICES, Corpus, Teacher


class CorpusUploadForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=200, required=False,
        help_text=_("Optional; the file name is used when left empty."),
    )
    file = forms.FileField(
        label=_("Corpus file"),
        help_text=_("CSV, TSV or JSON Lines, in UTF-8 or GBK/GB18030, with one text per row and "
                    "optionally a label column."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.tsv,.tab,.txt,.jsonl,.ndjson,.json"}),
        allow_empty_file=True,  # the corpus reader says "<file>: the file is empty", naming the file
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.CLD_MAX_UPLOAD_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                _("%(file)s is larger than the limit of %(limit)s MB."),
                params={"file": upload.name, "limit": f"{limit / 1_048_576:.0f}"},
            )
        return upload


class CorpusColumnsForm(forms.Form):
    text_column = forms.ChoiceField(label=_("Text column"))
    label_column = forms.ChoiceField(label=_("Label column"), required=False)

    def __init__(self, *args, corpus: Corpus, **kwargs):
        super().__init__(*args, **kwargs)
        columns = [(name, name) for name in corpus.columns]
        self.fields["text_column"].choices = columns
        self.fields["label_column"].choices = [("", _("(no labels)"))] + columns
        self.initial.setdefault("text_column", corpus.text_column)
        self.initial.setdefault("label_column", corpus.label_column)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("text_column") and cleaned.get("text_column") == cleaned.get("label_column"):
            raise forms.ValidationError(_("The text and label columns must be different."))
        return cleaned


class TeacherChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, teacher: Teacher) -> str:
        return teacher.display_name


class RunForm(forms.Form):
    corpus = forms.ModelChoiceField(label=_("Corpus"), queryset=Corpus.objects.none())
    teacher = TeacherChoiceField(label=_("Teacher"), queryset=Teacher.objects.none())
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

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["corpus"].queryset = Corpus.objects.filter(owner=user)
        self.fields["teacher"].queryset = Teacher.objects.available_to(user)

    def clean_corpus(self):
        corpus: Corpus = self.cleaned_data["corpus"]
        if not corpus.is_usable:
            raise forms.ValidationError(corpus.problem)
        return corpus


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


class PredictForm(forms.Form):
    text = forms.CharField(
        label=_("Texts, one per line"),
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "这本书写得真好\n质量太差了"}),
    )
