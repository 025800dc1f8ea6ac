"""Start a new run from a run's manifest (same snapshot, base model, method and hyper-parameters, seed included)."""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from training.management.commands.compare_runs import run_by_ref
from training.run_selectors import run_summary
from training.services.runs import training_run_rerun


class Command(BaseCommand):
    help = "Re-run RUN (an id or run-<id>) from its manifest; print the new run as one JSON object."

    def add_arguments(self, parser):
        parser.add_argument("run", help="the run's id, or run-<id>")

    def handle(self, *args, **options):
        run = run_by_ref(options["run"])
        try:
            again = training_run_rerun(created_by=None, run=run)
        except ValidationError as error:
            raise CommandError("; ".join(error.messages))
        self.stdout.write(json.dumps({**run_summary(again), "rerun_of": run.pk}, sort_keys=True))
