from django.conf import settings
from rest_framework import serializers

from occiportal.models import Invitation, Language, Partner


class InvitationSerializer(serializers.ModelSerializer):
    partner = serializers.SlugRelatedField(
        slug_field="slug", queryset=Partner.objects.all(), required=False, allow_null=True, default=None
    )
    languages = serializers.SlugRelatedField(
        slug_field="code", queryset=Language.objects.all(), many=True, required=False, default=list
    )
    mail_language = serializers.ChoiceField(
        choices=settings.LANGUAGES, required=False, help_text="Default: the language of your request."
    )
    invited_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Invitation
        fields = [
            "id", "email", "role", "partner", "languages", "mail_language", "invited_by", "created_at", "expires_at"
        ]
        read_only_fields = ["id", "invited_by", "created_at", "expires_at"]

    def validate(self, data):
        problems = Invitation.scope_problems(data["role"], partner=data.get("partner"), languages=data.get("languages"))
        if problems:
            raise serializers.ValidationError(problems)
        return data
