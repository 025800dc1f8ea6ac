from django.urls import path

from . import views

app_name = "api"

urlpatterns = [
    path("languages/", views.LanguageList.as_view(), name="languages"),
    path("partners/", views.PartnerList.as_view(), name="partners"),
    path("submissions/", views.SubmissionListCreate.as_view(), name="submissions"),
    path("submissions/<int:pk>/", views.SubmissionDetail.as_view(), name="submission"),
]
