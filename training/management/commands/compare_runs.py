"""Compare two runs' manifests: print the keys whose values differ, as one JSON object."""

import json

from django.core.management.base import BaseCommand, CommandError

from training.models import TrainingRun
from training.run_selectors import manifest_diff


def run_by_ref(ref: str) -> TrainingRun:
    """The run named by its id or ``run-<id>``; CommandError if there is none."""
    pk = ref.removeprefix("run-")
    run = TrainingRun.objects.filter(pk=int(pk)).first() if pk.isdigit() else None
    if run is None:
        raise CommandError(f"no run {ref}")
    return run


class Command(BaseCommand):
    help = "Compare runs A and B (ids or run-<id>): {key: [A's value, B's value]} for each manifest key that differs."

    def add_arguments(self, parser):
        parser.add_argument("a")
        parser.add_argument("b")

    def handle(self, *args, **options):
        a, b = run_by_ref(options["a"]), run_by_ref(options["b"])
        self.stdout.write(json.dumps(manifest_diff(a.manifest, b.manifest), sort_keys=True))
