"""Register a base model: a hub id (nothing is downloaded) or a tiny local Mistral built here.

Its revision is pinned for every run: the commit or tag given for a hub id, the
hash of the files for a local folder (``local_model_revision`` in training/jobs/contract.py). ``--tiny``
calls ``base_model_create_tiny``, as the base-model page's button does.
"""

import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from training.services.base_models import base_model_create_tiny
from training.services.runs import base_model_create


class Command(BaseCommand):
    help = "Register base model NAME from --source (hub id or folder), or build a tiny one with --tiny."

    def add_arguments(self, parser):
        parser.add_argument("name")
        what = parser.add_mutually_exclusive_group(required=True)
        what.add_argument("--source", help="hub id (mistralai/Mistral-7B-v0.1) or a local folder")
        what.add_argument("--tiny", action="store_true", help="build a small Mistral with a tokenizer trained on the portal's text")
        parser.add_argument("--revision", default="", help="hub commit or tag (a folder's is the hash of its files)")
        parser.add_argument("--out", help="folder for --tiny (default: DATA_DIR/models/NAME)")
        parser.add_argument("--vocab-size", type=int, default=2048)
        parser.add_argument("--hidden-size", type=int, default=256)
        parser.add_argument("--layers", type=int, default=4)
        parser.add_argument("--heads", type=int, default=4)
        parser.add_argument("--kv-heads", type=int, default=2)
        parser.add_argument("--max-positions", type=int, default=1024)

    def handle(self, *args, **options):
        try:
            model = self._tiny(options) if options["tiny"] else base_model_create(
                name=options["name"], source=options["source"], revision=options["revision"]
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages))
        fields = {"base_model": model.name, "source": model.source, "revision": model.revision, "is_tiny": model.is_tiny}
        self.stdout.write(json.dumps(fields))

    def _tiny(self, options):
        config = {
            "hidden_size": options["hidden_size"], "num_layers": options["layers"], "num_heads": options["heads"],
            "num_kv_heads": options["kv_heads"], "max_position_embeddings": options["max_positions"],
        }  # fmt: skip
        return base_model_create_tiny(name=options["name"], out=options["out"], vocab_size=options["vocab_size"], **config)
