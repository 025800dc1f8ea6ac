"""The portal's pages: public figures, a partner's dashboard and submissions, sign-in."""

from django.urls import include, path

from .views import public, submissions

urlpatterns = [
    path("", public.home, name="home"),
    path("languages/", public.languages, name="languages"),
    path("dashboard/", submissions.dashboard, name="dashboard"),
    path("submissions/new/", submissions.submission_new, name="submission_new"),
    path("submissions/<int:submission_id>/", submissions.submission_detail, name="submission_detail"),
    path("submissions/<int:submission_id>/status.json", submissions.submission_status, name="submission_status"),
    # login, logout (POST only), password_change, password_reset and its steps.
    path("accounts/", include("django.contrib.auth.urls")),
]
