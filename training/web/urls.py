"""Training's pages: snapshots and their downloads, withdrawals for partners, runs, base models, suites."""

from django.urls import path

from .views import base_models, runs, snapshots

urlpatterns = [
    path("snapshots/", snapshots.snapshot_list, name="snapshot_list"),
    path("snapshots/new/", snapshots.snapshot_new, name="snapshot_new"),
    path("snapshots/withdrawals/", snapshots.withdrawal_list_staff, name="snapshot_withdrawals"),
    path("snapshots/<int:snapshot_id>/", snapshots.snapshot_detail, name="snapshot_detail"),
    path("snapshots/<int:snapshot_id>/status.json", snapshots.snapshot_status, name="snapshot_status"),
    path("snapshots/<int:snapshot_id>/hub-push/", snapshots.snapshot_hub_push_view, name="snapshot_hub_push"),
    path("snapshots/<int:snapshot_id>/compare/<int:other_id>/", snapshots.snapshot_compare_view, name="snapshot_compare"),
    path("snapshots/<int:snapshot_id>/files/", snapshots.snapshot_files_view, name="snapshot_files"),
    path("snapshots/<int:snapshot_id>/files/<path:path>", snapshots.snapshot_file, name="snapshot_file"),
    path("withdrawals/", snapshots.withdrawal_list, name="withdrawals"),
    path("submissions/<int:submission_id>/withdraw/", snapshots.submission_withdraw, name="submission_withdraw"),
    path("runs/", runs.run_list, name="run_list"),
    path("runs/new/", runs.run_new, name="run_new"),
    path("runs/base-models/", base_models.base_model_list, name="base_model_list"),
    path("runs/base-models/tiny/", base_models.base_model_tiny, name="base_model_tiny"),
    path("runs/suites/", base_models.suite_list, name="suite_list"),
    path("runs/suites/<int:suite_id>/", base_models.suite_detail, name="suite_detail"),
    path("runs/partners/<slug:slug>/", runs.partner_models, name="partner_models"),
    path("runs/evaluations/<int:evaluation_id>/results.json", runs.evaluation_results_json, name="evaluation_results"),
    path("runs/leaderboard/", runs.leaderboard_view, name="leaderboard"),
    path("runs/<int:run_id>/", runs.run_detail, name="run_detail"),
    path("runs/<int:run_id>/status.json", runs.run_status, name="run_status"),
    path("runs/<int:run_id>/cancel/", runs.run_cancel, name="run_cancel"),
    path("runs/<int:run_id>/publish/", runs.run_publish, name="run_publish"),
    path("runs/<int:run_id>/rerun/", runs.run_rerun, name="run_rerun"),
    path("runs/<int:run_id>/compare/", runs.run_compare_pick, name="run_compare_pick"),
    path("runs/<int:run_id>/compare/<int:other_id>/", runs.run_compare, name="run_compare"),
]
