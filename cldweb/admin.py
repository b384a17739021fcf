from django.contrib import admin

from cldweb.models import Corpus, MetricPoint, Run, Teacher


@admin.register(Corpus)
class CorpusAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "owner", "format", "encoding", "row_count", "created_at")


@admin.register(Teacher)
class TeacherAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "kind", "hub_id", "owner")


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "tags", "owner", "status", "teacher", "student_architecture", "attempt", "device",
                    "created_at")
    list_filter = ("status",)


@admin.register(MetricPoint)
class MetricPointAdmin(admin.ModelAdmin):
    list_display = ("run", "seq", "phase", "kind", "step")
