"""Built-in teachers offered to every user.

Names and descriptions are stored in English and translated at display time
(Teacher.display_name); the strings are marked here with gettext_noop so
makemessages collects them.
"""
from django.db import migrations
from django.utils.translation import gettext_noop

BUILTINS = [
    {
        "kind": "hub",
        "hub_id": "bert-base-chinese",
        "name": "bert-base-chinese",
        "description": gettext_noop(
            "Google's Chinese BERT base (110M parameters), pretrained on Chinese Wikipedia. "
            "Downloaded from the Hugging Face hub on first use."
        ),
    },
    {
        "kind": "hub",
        "hub_id": "hfl/chinese-roberta-wwm-ext",
        "name": "hfl/chinese-roberta-wwm-ext",
        "description": gettext_noop(
            "HFL's Chinese RoBERTa with whole-word masking (102M parameters), usually a stronger teacher "
            "than bert-base-chinese. Downloaded from the Hugging Face hub on first use."
        ),
    },
    {
        "kind": "demo",
        "hub_id": "",
        "name": gettext_noop(
            "Demo teacher (small transformer trained from scratch on your corpus — not pretrained)"
        ),
        "description": gettext_noop(
            "Works offline and in minutes on a CPU. It only knows your corpus, so expect lower accuracy "
            "than a pretrained teacher; use it to try the workflow."
        ),
    },
]


def create_builtins(apps, schema_editor):
    Teacher = apps.get_model("cldweb", "Teacher")
    for spec in BUILTINS:
        Teacher.objects.update_or_create(
            owner=None,
            kind=spec["kind"],
            hub_id=spec["hub_id"],
            defaults={"name": spec["name"], "description": spec["description"]},
        )


def remove_builtins(apps, schema_editor):
    Teacher = apps.get_model("cldweb", "Teacher")
    Teacher.objects.filter(owner=None, kind__in=["hub", "demo"], runs__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("cldweb", "0001_initial")]
    operations = [migrations.RunPython(create_builtins, remove_builtins)]
