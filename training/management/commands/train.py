"""Start a training run; with --wait, print its outcome as one JSON object; with --estimate, only its figures."""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from training.jobs.contract import METHODS
from training.models import BaseModel, EvaluationSuite, Snapshot
from training.run_selectors import job_wait, run_summary
from training.services.run_fit import estimate_summary, training_run_estimate
from training.services.runs import training_run_create


def snapshot_by_label(label: str) -> Snapshot:
    name, _, version = label.partition("@")
    try:
        return Snapshot.objects.get(name=name, version=int(version))
    except (Snapshot.DoesNotExist, ValueError):
        raise CommandError(f"no snapshot {label} (give NAME@VERSION)")


class Command(BaseCommand):
    help = "Train a base model on a snapshot on the gpu queue (cpt, sft or dpo, full or LoRA)."

    def add_arguments(self, parser):
        parser.add_argument("--snapshot", required=True, help="NAME@VERSION")
        parser.add_argument("--base-model", required=True, help="a registered base model's name")
        parser.add_argument("--method", required=True, choices=METHODS)
        parser.add_argument("--finetuning", default="full", choices=["full", "lora"])
        parser.add_argument("--max-steps", type=int)
        parser.add_argument("--hyperparameters", default="{}", help="JSON object of TrainConfig fields")
        parser.add_argument("--gpus", type=int, default=1, help="GPUs per node; more than one runs under torchrun")
        parser.add_argument("--nodes", type=int, default=1, help="hosts; more than one runs as a Slurm batch job")
        parser.add_argument("--suite", action="append", default=[], help="evaluate on this registered suite afterwards")
        parser.add_argument("--withdrawn-reason", default="",
                            help="why to train on a snapshot holding withdrawn data (refused without one)")
        parser.add_argument("--estimate", action="store_true",
                            help="check the run and print its memory per GPU and time, starting nothing")
        parser.add_argument("--wait", action="store_true", help="wait for the run to finish")
        parser.add_argument("--timeout", type=float, default=7 * 24 * 3600, help="seconds to wait")

    def handle(self, *args, **options):
        hyper = json.loads(options["hyperparameters"])
        if options["max_steps"]:
            hyper["max_steps"] = options["max_steps"]
        try:
            run_fields = {
                "snapshot": snapshot_by_label(options["snapshot"]), "method": options["method"],
                "base_model": BaseModel.objects.get(name=options["base_model"]), "finetuning": options["finetuning"],
                "hyperparameters": hyper, "resources": {"gpus_per_node": options["gpus"], "nodes": options["nodes"]},
            }  # fmt: skip
            if options["estimate"]:
                estimate = training_run_estimate(**run_fields)
                self.stdout.write(json.dumps(estimate_summary(estimate) if estimate else None, sort_keys=True))
                return
            suites = [EvaluationSuite.objects.get(name=name) for name in options["suite"]]
            run = training_run_create(
                created_by=None, **run_fields, eval_suites=suites, withdrawn_reason=options["withdrawn_reason"]
            )
        except (BaseModel.DoesNotExist, EvaluationSuite.DoesNotExist) as error:
            raise CommandError(str(error))
        except ValidationError as error:
            raise CommandError("; ".join(error.messages))
        if estimate := run.manifest.get("estimate"):
            self.stderr.write(f"estimate: {json.dumps(estimate, sort_keys=True)}")
        if options["wait"]:
            run = job_wait(job=run, timeout=options["timeout"])
        self.stdout.write(json.dumps(run_summary(run), sort_keys=True))
        if run.status == run.Status.FAILED:
            raise CommandError(run.failure)
