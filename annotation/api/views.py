"""API endpoints: thin, as the web views are — parse, access check, one service, render."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.access import access_partner_for_submitting, access_submission
from annotation.figure_selectors import FIGURES, REDACTION_KINDS, submission_lines
from annotation.selectors import languages_for_select, partners_of, submissions_visible_to
from annotation.services.submissions import submission_create
from annotation.services.uploads import submission_create_from_upload, upload_of
from occiportal.input_guard import FormParser, JSONParser, MultiPartParser
from occiportal.models import Language

from .serializers import (
    LanguageSerializer,
    LinesPageSerializer,
    PartnerSerializer,
    SubmissionCreateSerializer,
    SubmissionSerializer,
)


class LanguageList(generics.ListAPIView):
    """All languages the portal takes data in."""

    serializer_class = LanguageSerializer
    pagination_class = None

    def get_queryset(self):
        return languages_for_select()


class PartnerList(generics.ListAPIView):
    """The partners you may submit for (all of them for staff)."""

    serializer_class = PartnerSerializer
    pagination_class = None

    def get_queryset(self):
        return partners_of(self.request.user)


class SubmissionListCreate(generics.ListAPIView):
    """Your partners' submissions, newest first; POST a file (or a finished upload's id) to submit one."""

    serializer_class = SubmissionSerializer
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_queryset(self):
        return submissions_visible_to(self.request.user)

    @extend_schema(
        request=SubmissionCreateSerializer,
        responses={
            201: SubmissionSerializer,
            400: OpenApiResponse(description='Field errors: {"field": ["message", …]}.'),
            404: OpenApiResponse(description='{"partner": ["No such partner."]}: unknown, or not yours.'),
        },
    )
    def post(self, request):
        form = SubmissionCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        try:
            partner = access_partner_for_submitting(request.user, data["partner"])
        except Http404:
            # Someone else's partner reads like one that does not exist.
            raise NotFound({"partner": ["No such partner."]})
        fields = {
            "uploader": request.user, "partner": partner, "language": _language(data["language"]),
            "kind": data["kind"], "license": data["license"], "source": data["source"], "consent": data["consent"],
        }  # fmt: skip
        try:
            if "upload" in data:
                upload = upload_of(request.user, data["upload"])
                if upload is None:
                    raise ValidationError({"upload": [_("No such upload.")]})
                submission = submission_create_from_upload(upload=upload, **fields)
            else:
                submission = submission_create(**fields, file=data["file"], original_name=data["file"].name)
        except DjangoValidationError as error:
            raise ValidationError(error.message_dict)
        return Response(SubmissionSerializer(submission).data, status=status.HTTP_201_CREATED)


class SubmissionDetail(generics.RetrieveAPIView):
    """One submission: metadata, ingest progress and figures."""

    serializer_class = SubmissionSerializer
    def get_queryset(self):
        return submissions_visible_to(self.request.user)

    def get_object(self):
        return access_submission(self.request.user, self.kwargs["pk"])


class SubmissionLines(APIView):
    """The lines behind one of a submission's figures, 50 a page in line order; ``next`` links the following page.

    ``figure``: language_mismatches, near_duplicates, pii_redactions,
    low_quality, records_rejected or exact_duplicates. ``after``: the cursor
    ``next`` carries. Rejected lines are the first ones ingest kept. Someone
    else's submission answers 404.
    """

    @extend_schema(
        parameters=[
            OpenApiParameter("figure", str, enum=list(FIGURES), required=True),
            OpenApiParameter("after", int, description="Cursor from the previous page's next link."),
            OpenApiParameter("redaction", str, enum=list(REDACTION_KINDS),
                             description="With pii_redactions: only records with this kind of personal data."),
        ],
        responses={200: LinesPageSerializer, 400: OpenApiResponse(description='{"figure": ["…"]}'),
                   404: OpenApiResponse(description="No such submission, or not your partner's.")},
    )  # fmt: skip
    def get(self, request, pk):
        submission = access_submission(request.user, pk)
        figure, after = request.query_params.get("figure"), request.query_params.get("after", "0")
        if figure not in FIGURES:
            raise ValidationError({"figure": [f"Pick one of: {', '.join(FIGURES)}."]})
        if not after.isdigit():
            raise ValidationError({"after": ["A cursor from a next link."]})
        redaction = request.query_params.get("redaction", "")
        page = submission_lines(submission, figure=figure, after=int(after), redaction=redaction)
        return Response(LinesPageSerializer(page, context={"request": request}).data)


def _language(code):
    try:
        return Language.objects.get(code=code)
    except Language.DoesNotExist:
        raise ValidationError({"language": [f"Unknown language {code}; see /api/languages/."]})
