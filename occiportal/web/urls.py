"""People pages: who a partner admin or language lead manages, and the invitation link."""

from django.urls import path

from . import views

urlpatterns = [
    path("people/", views.people, name="people"),
    path("people/invite/", views.invitation_new, name="invitation_new"),
    path("people/invitations/<int:invitation_id>/resend/", views.invitation_resend_view, name="invitation_resend"),
    path("people/invitations/<int:invitation_id>/revoke/", views.invitation_revoke_view, name="invitation_revoke"),
    path("people/leads/", views.lead_new, name="lead_new"),
    path("people/leads/<int:role_id>/remove/", views.lead_remove, name="lead_remove"),
    path("invitations/<str:token>/", views.invitation_accept_view, name="invitation_accept"),
]
