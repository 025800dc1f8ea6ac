from django.core.management.base import BaseCommand

from annotation.ingest.minhash import BAND_SCHEME
from annotation.services.record_bands import records_reband


class Command(BaseCommand):
    help = "Re-band records stored under an older band scheme into the signature store and band index (idempotent, in batches)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=1000, help="Records per transaction.")

    def handle(self, *args, batch_size, **options):
        count = records_reband(batch_size=batch_size)
        self.stdout.write(f"Re-banded {count} record(s) to {BAND_SCHEME}.")
