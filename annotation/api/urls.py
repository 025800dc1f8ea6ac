from django.urls import path

from occiportal.api import views as people_views

from . import review_views, upload_views, views

app_name = "api"

urlpatterns = [
    path("languages/", views.LanguageList.as_view(), name="languages"),
    path("partners/", views.PartnerList.as_view(), name="partners"),
    path("invitations/", people_views.InvitationList.as_view(), name="invitations"),
    path("invitations/<int:pk>/resend/", people_views.InvitationResend.as_view(), name="invitation-resend"),
    path("invitations/<int:pk>/revoke/", people_views.InvitationRevoke.as_view(), name="invitation-revoke"),
    path("submissions/", views.SubmissionListCreate.as_view(), name="submissions"),
    path("submissions/<int:pk>/", views.SubmissionDetail.as_view(), name="submission"),
    path("submissions/<int:pk>/lines/", views.SubmissionLines.as_view(), name="submission-lines"),
    path("uploads/", upload_views.UploadCreate.as_view(), name="uploads"),
    path("uploads/<uuid:pk>/", upload_views.UploadDetail.as_view(), name="upload"),
    path("review/queues/", review_views.ReviewQueueList.as_view(), name="review-queues"),
    path("review/queues/<int:pk>/claim/", review_views.ReviewQueueClaim.as_view(), name="review-claim"),
    path("review/queues/<int:pk>/stats/", review_views.ReviewQueueStats.as_view(), name="review-stats"),
    path("review/assignments/<int:pk>/submit/", review_views.AssignmentSubmit.as_view(), name="review-submit"),
    path("review/queues/<int:pk>/write/", review_views.ReviewQueueWrite.as_view(), name="review-write"),
    path("review/certifications/", review_views.CertificationList.as_view(), name="review-certifications"),
    path(
        "review/certifications/<int:pk>/withdraw/",
        review_views.CertificationWithdraw.as_view(),
        name="review-certification-withdraw",
    ),
    path("review/disputed/", review_views.DisputedList.as_view(), name="review-disputed"),
    path("review/decisions/<int:pk>/adjudicate/", review_views.DecisionAdjudicate.as_view(), name="review-adjudicate"),
]
