"""Build a snapshot from the command line and print one JSON object."""

import getpass
import json

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from training.services.snapshot_build import SnapshotRefused, snapshot_build
from training.services.snapshots import snapshot_create
from training.snapshots.mixture import BudgetRefused


def _list(value):
    return [part.strip() for part in value.split(",") if part.strip()] if value else None


class Command(BaseCommand):
    help = "Define a new version of snapshot NAME and build it (in this process with --wait, else on the worker)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--languages", required=True, help="comma-separated codes: de,fr")
        parser.add_argument("--kinds", default="pretraining", help="comma-separated kinds")
        parser.add_argument("--license", default="CC-BY-4.0", help="the snapshot's declared SPDX licence")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--splits", help="train,validation,test fractions: 0.98,0.01,0.01")
        parser.add_argument("--parameters", help="JSON object of further parameters (mixture, filters, …)")
        parser.add_argument("--tokenizer", default="", help="tokenizer.json for the fertility figures")
        parser.add_argument("--override-reason", default="", help="build despite licence conflicts, for this reason")
        parser.add_argument("--by", default="", help="the portal account building it (default: the OS user's namesake)")
        parser.add_argument("--wait", action="store_true", help="build now and print the result")

    def handle(self, *args, **options):
        params = json.loads(options["parameters"]) if options["parameters"] else {}
        params.update(languages=_list(options["languages"]), kinds=_list(options["kinds"]), seed=options["seed"])
        if options["tokenizer"]:
            params["tokenizer"] = options["tokenizer"]
        if options["splits"]:
            params["splits"] = dict(zip(("train", "validation", "test"), map(float, options["splits"].split(","))))
        try:
            snapshot = snapshot_create(
                name=options["name"], license=options["license"], parameters=params, created_by=_user(options["by"]),
                override_reason=options["override_reason"], enqueue=not options["wait"],
            )
        except SnapshotRefused as refused:
            raise CommandError(json.dumps({"error": str(refused), "conflicts": refused.conflicts}))
        except BudgetRefused as refused:
            raise CommandError(json.dumps({"error": str(refused), "budgets": refused.shortfalls}))
        except ValidationError as error:
            raise CommandError("; ".join(error.messages))
        if options["wait"]:
            snapshot = snapshot_build(snapshot_id=snapshot.pk)
        self.stdout.write(json.dumps(_summary(snapshot), sort_keys=True))
        if snapshot.status == snapshot.Status.FAILED:
            raise CommandError(snapshot.failure)


def _user(username: str):
    """The active portal account ``username``, else the OS user's namesake: the card names who built it."""
    username = username or getpass.getuser()
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(f"no portal account {username!r}: name one with --by USERNAME")
    return user


def _summary(snapshot) -> dict:
    per = snapshot.counts
    return {
        "snapshot": snapshot.label,
        "name": snapshot.name,
        "version": snapshot.version,
        "status": snapshot.status,
        "path": snapshot.uri,
        "sha256": snapshot.manifest_sha256,
        "records": {lang: {split: c["records"] for split, c in splits.items()} for lang, splits in per.items()},
        "tokens": {lang: {split: c["tokens"] for split, c in splits.items()} for lang, splits in per.items()},
        "contamination": {k: v for k, v in snapshot.contamination.items() if k != "per_language"},
    }
