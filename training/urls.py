"""Snapshot pages and downloads, withdrawal pages for partners, training runs."""

from django.urls import path

from . import views_models, views_runs, web

urlpatterns = [
    path("snapshots/", web.snapshot_list, name="snapshot_list"),
    path("snapshots/new/", web.snapshot_new, name="snapshot_new"),
    path("snapshots/withdrawals/", web.withdrawal_list_staff, name="snapshot_withdrawals"),
    path("snapshots/<int:snapshot_id>/", web.snapshot_detail, name="snapshot_detail"),
    path("snapshots/<int:snapshot_id>/status.json", web.snapshot_status, name="snapshot_status"),
    path("snapshots/<int:snapshot_id>/hub-push/", web.snapshot_hub_push_view, name="snapshot_hub_push"),
    path("snapshots/<int:snapshot_id>/compare/<int:other_id>/", web.snapshot_compare_view, name="snapshot_compare"),
    path("snapshots/<int:snapshot_id>/files/", web.snapshot_files_view, name="snapshot_files"),
    path("snapshots/<int:snapshot_id>/files/<path:path>", web.snapshot_file, name="snapshot_file"),
    path("withdrawals/", web.withdrawal_list, name="withdrawals"),
    path("submissions/<int:submission_id>/withdraw/", web.submission_withdraw, name="submission_withdraw"),
    path("runs/", views_runs.run_list, name="run_list"),
    path("runs/new/", views_runs.run_new, name="run_new"),
    path("runs/base-models/", views_models.base_model_list, name="base_model_list"),
    path("runs/base-models/tiny/", views_models.base_model_tiny, name="base_model_tiny"),
    path("runs/suites/", views_models.suite_list, name="suite_list"),
    path("runs/suites/<int:suite_id>/", views_models.suite_detail, name="suite_detail"),
    path("runs/partners/<slug:slug>/", views_runs.partner_models, name="partner_models"),
    path("runs/evaluations/<int:evaluation_id>/results.json", views_runs.evaluation_results_json, name="evaluation_results"),
    path("runs/leaderboard/", views_runs.leaderboard_view, name="leaderboard"),
    path("runs/<int:run_id>/", views_runs.run_detail, name="run_detail"),
    path("runs/<int:run_id>/status.json", views_runs.run_status, name="run_status"),
    path("runs/<int:run_id>/cancel/", views_runs.run_cancel, name="run_cancel"),
    path("runs/<int:run_id>/publish/", views_runs.run_publish, name="run_publish"),
    path("runs/<int:run_id>/rerun/", views_runs.run_rerun, name="run_rerun"),
    path("runs/<int:run_id>/compare/", views_runs.run_compare_pick, name="run_compare_pick"),
    path("runs/<int:run_id>/compare/<int:other_id>/", views_runs.run_compare, name="run_compare"),
]
