"""Evaluate a base model, a run's checkpoint or a model folder; print per-language, per-task metrics."""

import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from training.jobs.contract import is_store_uri
from training.management.commands.train import snapshot_by_label
from training.models import BaseModel, EvaluationSuite, TrainingRun
from training.run_selectors import evaluation_summary, job_wait
from training.services.runs import evaluation_run_create, evaluation_suite_create
from training.services.suites import snapshot_test_suite


class Command(BaseCommand):
    help = "Evaluate --model (a base model's name, run-<id>, an s3:// checkpoint or a folder) on suites and/or a snapshot's test split."

    def add_arguments(self, parser):
        parser.add_argument("--model", required=True, help="base model name, run-<id>, an s3:// checkpoint in the store, or a model folder")
        parser.add_argument("--suite", action="append", default=[], help="a suite folder or a registered suite's name")
        parser.add_argument("--provenance", default="native", choices=[c for c, _ in EvaluationSuite.Provenance.choices])
        parser.add_argument("--snapshot", help="NAME@VERSION: perplexity on its test split")
        parser.add_argument("--max-items", type=int)
        parser.add_argument("--wait", action="store_true")
        parser.add_argument("--timeout", type=float, default=24 * 3600)

    def handle(self, *args, **options):
        try:
            # One transaction: a refused evaluation leaves none of the suites it registered behind.
            with transaction.atomic():
                suites = [self._suite(ref, options["provenance"]) for ref in options["suite"]]
                if options["snapshot"]:
                    suites.append(snapshot_test_suite(snapshot=snapshot_by_label(options["snapshot"])))
                evaluation = evaluation_run_create(
                    created_by=None, suites=suites, max_items=options["max_items"], **_model(options["model"])
                )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages))
        if options["wait"]:
            evaluation = job_wait(job=evaluation, timeout=options["timeout"])
        self.stdout.write(json.dumps(evaluation_summary(evaluation), sort_keys=True))
        if evaluation.status == evaluation.Status.FAILED:
            raise CommandError(evaluation.failure)

    def _suite(self, ref: str, provenance: str) -> EvaluationSuite:
        found = EvaluationSuite.objects.filter(name=ref).first()
        return found or evaluation_suite_create(path=ref, provenance=provenance)


def _model(ref: str) -> dict:
    base = BaseModel.objects.filter(name=ref).first()
    if base:
        return {"base_model": base, "model_path": base.source}
    if ref.startswith("run-") and ref[4:].isdigit():
        run = TrainingRun.objects.filter(pk=int(ref[4:]), status=TrainingRun.Status.SUCCEEDED).first()
        if run is None:
            raise CommandError(f"no succeeded run {ref}")
        return {"training_run": run, "model_path": run.checkpoint_path}
    if is_store_uri(ref):  # a checkpoint in the object store; the service confines it to the bucket
        return {"model_path": ref}
    if not Path(ref).is_dir():
        raise CommandError(f"{ref} is neither a base model, run-<id>, an s3:// checkpoint, nor a folder")
    return {"model_path": str(Path(ref).resolve())}
