"""Training's API: snapshots, withdrawals, runs. Included under ``api/`` without a namespace, so the names stay ``api_…``."""

from django.urls import path

from . import runs, snapshots, withdrawals

urlpatterns = [
    path("submissions/<int:submission_id>/withdraw/", withdrawals.SubmissionWithdraw.as_view(),
         name="api_submission_withdraw"),
    path("snapshots/", snapshots.SnapshotList.as_view(), name="api_snapshot_list"),
    path("snapshots/<int:snapshot_id>/", snapshots.SnapshotDetail.as_view(), name="api_snapshot_detail"),
    path("snapshots/<int:snapshot_id>/files/<path:path>", snapshots.SnapshotFileDownload.as_view(), name="api_snapshot_file"),
    path("runs/", runs.TrainingRunListCreate.as_view(), name="api_run_list"),
    path("runs/<int:run_id>/", runs.TrainingRunDetail.as_view(), name="api_run_detail"),
    path("runs/<int:run_id>/cancel/", runs.TrainingRunCancel.as_view(), name="api_run_cancel"),
    path("runs/<int:run_id>/rerun/", runs.TrainingRunRerun.as_view(), name="api_run_rerun"),
    path("runs/<int:run_id>/compare/<int:other_id>/", runs.TrainingRunCompare.as_view(), name="api_run_compare"),
]
