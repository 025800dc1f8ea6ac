"""API for training runs: list and read what you may see; staff start, cancel, re-run and compare runs."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from training.run_selectors import access_training_run, is_staff, manifest_diff, runs_visible_to
from training.services.runs import job_cancel, training_run_create, training_run_rerun

from .serializers import TrainingRunCreateSerializer, TrainingRunSerializer


class TrainingRunListCreate(generics.ListAPIView):
    """Runs you may see (published ones; all for staff). POST (staff) starts one on the gpu queue."""

    serializer_class = TrainingRunSerializer

    def get_queryset(self):
        return runs_visible_to(self.request.user).order_by("-created_at")

    @extend_schema(request=TrainingRunCreateSerializer, responses={201: TrainingRunSerializer})
    def post(self, request):
        if not request.user.is_staff:
            raise PermissionDenied("Only staff start training runs.")
        incoming = TrainingRunCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            run = training_run_create(created_by=request.user, **incoming.validated_data)
        except DjangoValidationError as error:
            raise ValidationError(getattr(error, "message_dict", None) or {"non_field_errors": error.messages})
        return Response(TrainingRunSerializer(run, context={"request": request}).data, status=status.HTTP_201_CREATED)


class TrainingRunDetail(generics.RetrieveAPIView):
    """One run; an unpublished one answers 404 but to staff, who alone read ``checkpoint_path`` and ``failure``."""

    serializer_class = TrainingRunSerializer

    def get_object(self):
        return access_training_run(self.request.user, self.kwargs["run_id"])


class TrainingRunCancel(APIView):
    """Staff cancel a queued or running run."""

    @extend_schema(request=None, responses={200: TrainingRunSerializer})
    def post(self, request, run_id):
        run = access_training_run(request.user, run_id)
        try:
            job_cancel(user=request.user, job=run)
        except DjangoPermissionDenied as denied:
            raise PermissionDenied(str(denied))
        run.refresh_from_db()
        return Response(TrainingRunSerializer(run, context={"request": request}).data)


class TrainingRunRerun(APIView):
    """Staff start a new run from this run's manifest (same snapshot, base model, method, hyper-parameters, seed)."""

    @extend_schema(request=None, responses={201: TrainingRunSerializer})
    def post(self, request, run_id):
        run = access_training_run(request.user, run_id)
        try:
            again = training_run_rerun(created_by=request.user, run=run)
        except DjangoPermissionDenied as denied:
            raise PermissionDenied(str(denied))
        except DjangoValidationError as error:
            raise ValidationError({"non_field_errors": error.messages})
        return Response(TrainingRunSerializer(again, context={"request": request}).data, status=status.HTTP_201_CREATED)


class TrainingRunCompare(APIView):
    """Staff compare two runs' manifests: ``{"differences": {key: [this run's value, the other's]}}``.

    Staff only: a manifest names server paths (403 on a published run for others, 404 on an unpublished one).
    """

    @extend_schema(responses={200: dict})
    def get(self, request, run_id, other_id):
        run, other = access_training_run(request.user, run_id), access_training_run(request.user, other_id)
        if not is_staff(request.user):
            raise PermissionDenied("Only staff compare runs.")
        differences = manifest_diff(run.manifest, other.manifest)
        return Response({"run": run.pk, "other": other.pk, "differences": {k: list(v) for k, v in differences.items()}})
