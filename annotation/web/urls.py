"""The portal's pages: public figures, a partner's dashboard and submissions, sign-in."""

from django.urls import include, path

from .views import accounts, public, review, submissions

urlpatterns = [
    path("", public.home, name="home"),
    path("languages/", public.languages, name="languages"),
    path("dashboard/", submissions.dashboard, name="dashboard"),
    path("submissions/new/", submissions.submission_new, name="submission_new"),
    path("submissions/<int:submission_id>/", submissions.submission_detail, name="submission_detail"),
    path("submissions/<int:submission_id>/status.json", submissions.submission_status, name="submission_status"),
    path("review/", review.queue_list, name="review_queues"),
    path("review/new/", review.queue_new, name="review_queue_new"),
    path("review/certifications/<str:code>/", review.certifications, name="review_certifications"),
    path(
        "review/certifications/<str:code>/<int:certification_id>/withdraw/",
        review.certification_withdraw_view,
        name="review_certification_withdraw",
    ),
    path("review/adjudication/", review.adjudication_list, name="review_adjudication"),
    path("review/adjudication/<int:decision_id>/", review.adjudicate, name="review_adjudicate"),
    path("review/<int:queue_id>/", review.queue_detail, name="review_queue"),
    path("review/<int:queue_id>/next/", review.queue_next, name="review_next"),
    path("review/<int:queue_id>/write/", review.queue_write, name="review_write"),
    path("review/leaderboard/<str:code>/", review.leaderboard, name="review_leaderboard"),
    path("review/leaderboard/<str:code>/me/", review.leaderboard_preference, name="review_leaderboard_preference"),
    path("review/items/<int:assignment_id>/", review.item_work, name="review_item"),
    # Throttled: failed old passwords count as failed sign-ins; reset requests per hour.
    path("accounts/password_change/", accounts.PasswordChangeView.as_view(), name="password_change"),
    path("accounts/password_reset/", accounts.PasswordResetView.as_view(), name="password_reset"),
    # login, logout (POST only), the other password steps.
    path("accounts/", include("django.contrib.auth.urls")),
]
