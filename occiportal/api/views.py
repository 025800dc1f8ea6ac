"""Invitations through the API: list, send, resend, revoke. Thin, as the pages are."""

from django.utils.translation import get_language
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from occiportal.access import access_invitation
from occiportal.invitations import invitation_create, invitation_resend, invitation_revoke
from occiportal.selectors import invitations_managed_by

from .serializers import InvitationSerializer


class InvitationList(generics.ListAPIView):
    """Pending invitations you may manage; POST invites someone (403 for a role you may not give)."""

    serializer_class = InvitationSerializer

    def get_queryset(self):
        return invitations_managed_by(self.request.user)

    @extend_schema(request=InvitationSerializer, responses={201: InvitationSerializer})
    def post(self, request):
        form = InvitationSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        invitation = invitation_create(
            inviter=request.user, email=data["email"], role=data["role"], partner=data["partner"],
            languages=data["languages"], mail_language=data.get("mail_language") or get_language(),
            base_url=request.build_absolute_uri("/"),
        )  # fmt: skip
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)


class InvitationResend(APIView):
    """Mail a fresh link for a pending invitation you manage; the old link stops working."""

    @extend_schema(request=None, responses={200: InvitationSerializer})
    def post(self, request, pk):
        invitation = access_invitation(request.user, pk)
        invitation = invitation_resend(invitation=invitation, base_url=request.build_absolute_uri("/"))
        return Response(InvitationSerializer(invitation).data)


class InvitationRevoke(APIView):
    """Revoke a pending invitation you manage."""

    @extend_schema(request=None, responses={200: InvitationSerializer})
    def post(self, request, pk):
        invitation = invitation_revoke(invitation=access_invitation(request.user, pk))
        return Response(InvitationSerializer(invitation).data)
