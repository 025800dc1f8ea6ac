from django.core.management.base import BaseCommand

from annotation.ingest.minhash import BAND_SCHEME
from annotation.services.signatures import index_rebuild


class Command(BaseCommand):
    help = "Rebuild the near-duplicate band index from the Parquet signatures in the file storage."

    def add_arguments(self, parser):
        parser.add_argument("--scheme", default=BAND_SCHEME, help="The band scheme to rebuild (default: the current one).")

    def handle(self, *args, scheme, **options):
        keys = index_rebuild(scheme=scheme)
        self.stdout.write(f"Rebuilt the {scheme} band index: {keys} key(s).")
