from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from cldweb import api, views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("admin/", admin.site.urls),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),  # set_language (POST)
    path("corpora/upload/", views.corpus_upload, name="corpus-upload"),
    path("corpora/<int:pk>/", views.corpus_detail, name="corpus-detail"),
    path("corpora/<int:pk>/preview/", views.corpus_preview, name="corpus-preview"),
    path("corpora/<int:pk>/delete/", views.corpus_delete, name="corpus-delete"),
    path("corpora/<int:pk>/encoding/", views.corpus_encoding, name="corpus-encoding"),
    path("corpora/<int:pk>/unlabeled/", views.corpus_unlabeled, name="corpus-unlabeled"),
    path("corpora/<int:pk>/unlabeled/remove/", views.corpus_unlabeled_remove, name="corpus-unlabeled-remove"),
    path("corpora/<int:pk>/skipped.csv", views.corpus_skipped, name="corpus-skipped"),
    path("teachers/", views.teachers, name="teachers"),
    path("teachers/upload/", views.teacher_upload, name="teacher-upload"),
    path("teachers/upload/<str:token>/", views.teacher_upload_confirm, name="teacher-upload-confirm"),
    path("teachers/hub/", views.teacher_add_hub, name="teacher-add-hub"),
    path("tokens/", views.tokens, name="tokens"),
    path("tokens/<int:pk>/revoke/", views.token_revoke, name="token-revoke"),
    path("runs/", views.run_list, name="run-list"),
    path("runs/compare/", views.run_compare, name="run-compare"),
    path("runs/queue/", views.run_queue, name="run-queue"),
    path("runs/new/", views.run_create, name="run-create"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/label/", views.run_label, name="run-label"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run-cancel"),
    path("runs/<int:pk>/move/", views.run_move, name="run-move"),
    path("runs/<int:pk>/delete/", views.run_delete, name="run-delete"),
    path("runs/<int:pk>/retry/", views.run_retry, name="run-retry"),
    path("runs/<int:pk>/resume/", views.run_resume, name="run-resume"),
    path("runs/<int:pk>/download/", views.run_download, name="run-download"),
    path("runs/<int:pk>/points/", views.run_points, name="run-points"),
    path("runs/<int:pk>/report.html", views.run_report, name="run-report"),
    path("runs/<int:pk>/predict/", api.run_predict, name="run-predict"),
    path("api/runs/", api.api_runs, name="api-runs"),
    path("api/runs/<int:pk>/", api.api_run, name="api-run"),
    path("api/runs/<int:pk>/predict/", api.api_run_predict, name="api-run-predict"),
    path("api/runs/<int:pk>/download/", api.api_run_download, name="api-run-download"),
]

handler403 = "cldweb.errors.permission_denied"
handler404 = "cldweb.errors.page_not_found"
handler500 = "cldweb.errors.server_error"
