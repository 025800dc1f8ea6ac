"""API for withdrawals: a partner takes back a submission, or records by the lines its page shows."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from annotation.access import access_submission
from training.services.withdrawals import withdrawal_get_or_create, withdrawal_get_or_create_lines

from .serializers import WithdrawalRequestSerializer, WithdrawalResultSerializer


class SubmissionWithdraw(APIView):
    """Withdraw a submission of your partner's, or some of its records: later snapshots leave them out.

    Asking again changes nothing (200, ``created`` false). Someone else's
    submission answers 404.
    """

    @extend_schema(
        request=WithdrawalRequestSerializer,
        responses={
            201: WithdrawalResultSerializer,
            200: OpenApiResponse(WithdrawalResultSerializer, description="All of it was withdrawn already."),
            400: OpenApiResponse(description='{"lines": ["Line 7 holds no record of this submission."]}, or the '
                                             "submission's checks still run."),
            404: OpenApiResponse(description="No such submission, or not your partner's."),
        },
    )  # fmt: skip
    def post(self, request, submission_id):
        submission = access_submission(request.user, submission_id)
        incoming = WithdrawalRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        lines, reason = incoming.validated_data["lines"], incoming.validated_data["reason"]
        try:
            if lines:
                results = withdrawal_get_or_create_lines(
                    user=request.user, submission=submission, lines=lines, reason=reason
                )
            else:
                results = [withdrawal_get_or_create(user=request.user, submission=submission, reason=reason)]
        except DjangoValidationError as error:
            raise ValidationError({"lines" if error.code == "line" else "non_field_errors": error.messages})
        created = any(made for _, made in results)
        body = {"created": created, "withdrawals": [withdrawal for withdrawal, _ in results], "submission": submission}
        answer = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(WithdrawalResultSerializer(body).data, status=answer)
