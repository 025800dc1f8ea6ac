"""Review through the API: queues, claim the next item, answer it, figures, adjudication.

Thin, as the pages are: parse, access check, one service, render.
"""

from contextlib import contextmanager
from dataclasses import asdict

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation import review_selectors as selectors
from annotation.access import access_assignment, access_decision_for_adjudication, access_language_led, access_queue
from annotation.models import Certification
from annotation.services.review import (
    certification_grant,
    certification_withdraw,
    queue_create,
    review_adjudicate,
    review_item_claim,
    review_submit,
)
from annotation.services.writing import writing_create

from .review_serializers import (
    AdjudicationSerializer,
    AnnotationSerializer,
    AnswerSerializer,
    AssignmentSerializer,
    CertificationSerializer,
    DecisionSerializer,
    QueueCreateSerializer,
    ReviewQueueSerializer,
    WritingSerializer,
    WrittenRecordSerializer,
)


class ReviewQueueList(generics.ListAPIView):
    """Queues of the languages you annotate or lead (all, for staff); POST opens one (language leads)."""

    serializer_class = ReviewQueueSerializer

    def get_queryset(self):
        return selectors.queues_visible_to(self.request.user)

    @extend_schema(request=QueueCreateSerializer, responses={201: ReviewQueueSerializer})
    def post(self, request):
        form = QueueCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        language = access_language_led(request.user, data.pop("language"))
        with _as_api_errors():
            queue = queue_create(creator=request.user, language=language, **data)
        return Response(ReviewQueueSerializer(queue).data, status=status.HTTP_201_CREATED)


class CertificationList(generics.ListAPIView):
    """Live certifications in the languages you lead; POST certifies someone."""

    serializer_class = CertificationSerializer

    def get_queryset(self):
        return selectors.certifications_led_by(self.request.user)

    @extend_schema(request=CertificationSerializer, responses={201: CertificationSerializer})
    def post(self, request):
        form = CertificationSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        with _as_api_errors():
            certification = certification_grant(granter=request.user, **form.validated_data)
        return Response(CertificationSerializer(certification).data, status=status.HTTP_201_CREATED)


class CertificationWithdraw(APIView):
    """Withdraw a certification in a language you lead."""

    @extend_schema(request=None, responses={200: CertificationSerializer})
    def post(self, request, pk):
        try:
            certification = selectors.certifications_led_by(request.user).get(pk=pk)
        except Certification.DoesNotExist:
            raise NotFound()
        with _as_api_errors():
            certification = certification_withdraw(withdrawer=request.user, certification=certification)
        return Response(CertificationSerializer(certification).data)


class ReviewQueueWrite(APIView):
    """Write a new record for a queue's language and kind; it waits for review, credited to you."""

    @extend_schema(request=WritingSerializer, responses={201: WrittenRecordSerializer})
    def post(self, request, pk):
        queue = access_queue(request.user, pk)
        form = WritingSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        source = selectors.translation_source(form.validated_data["source_record"], queue.language)
        with _as_api_errors():
            record = writing_create(author=request.user, language=queue.language, kind=queue.kind,
                                    content=form.validated_data["content"], source_record=source)
        return Response(WrittenRecordSerializer(record).data, status=status.HTTP_201_CREATED)


@contextmanager
def _as_api_errors():
    """The services' Django exceptions as DRF's: 400 with field errors, 403."""
    try:
        yield
    except DjangoValidationError as error:
        raise ValidationError(getattr(error, "message_dict", None) or {"detail": error.messages})
    except DjangoPermissionDenied as error:
        raise PermissionDenied(str(error))


class ReviewQueueClaim(APIView):
    """Lease the next item of a queue (or get back the one you hold)."""

    @extend_schema(request=None, responses={
        201: AssignmentSerializer, 204: OpenApiResponse(description="Nothing left for you in this queue."),
        403: OpenApiResponse(description="Not certified for the queue's language."),
    })
    def post(self, request, pk):
        queue = access_queue(request.user, pk)
        with _as_api_errors():
            assignment = review_item_claim(queue=queue, annotator=request.user)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(AssignmentSerializer(assignment).data, status=status.HTTP_201_CREATED)


class AssignmentSubmit(APIView):
    """Answer one of your leased items."""

    @extend_schema(request=AnswerSerializer, responses={201: AnnotationSerializer})
    def post(self, request, pk):
        assignment = access_assignment(request.user, pk)
        answer = AnswerSerializer(data=request.data)
        answer.is_valid(raise_exception=True)
        with _as_api_errors():
            annotation = review_submit(assignment=assignment, **answer.validated_data)
        return Response(AnnotationSerializer(annotation).data, status=status.HTTP_201_CREATED)


class ReviewQueueStats(APIView):
    """A queue's progress, each annotator's counts and agreement, and agreement figures."""

    @extend_schema(responses={200: OpenApiResponse(description="progress, annotators, agreement")})
    def get(self, request, pk):
        queue = access_queue(request.user, pk)
        agreement = selectors.queue_agreement(queue)
        annotators = [
            {**row, "kappa": asdict(row["kappa"]) if row["kappa"] else None}
            for row in selectors.queue_annotator_rows(queue)
        ]
        return Response({
            "queue": queue.pk,
            "progress": selectors.queue_progress(queue),
            "annotators": annotators,
            "agreement": {
                "fleiss": asdict(agreement["fleiss"]),
                "alpha": {scale: asdict(figure) for scale, figure in agreement["alpha"].items()},
            },
        })


class DisputedList(generics.ListAPIView):
    """Disputed records in the languages you lead."""

    serializer_class = DecisionSerializer

    def get_queryset(self):
        return selectors.disputed_decisions(self.request.user)


class DecisionAdjudicate(APIView):
    """Decide a disputed record (language leads and staff)."""

    @extend_schema(request=AdjudicationSerializer, responses={200: DecisionSerializer})
    def post(self, request, pk):
        decision = access_decision_for_adjudication(request.user, pk)
        form = AdjudicationSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        decision = review_adjudicate(lead=request.user, decision=decision, **form.validated_data)
        return Response(DecisionSerializer(decision).data)
