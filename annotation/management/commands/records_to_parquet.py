from django.core.management.base import BaseCommand

from annotation.services.record_text_move import records_text_move


class Command(BaseCommand):
    help = (
        "Move pretraining records' text stored in PostgreSQL into the chunks' Parquet files and empty the column "
        "(idempotent, one chunk at a time)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=1000, help="Records read at a time.")

    def handle(self, *args, batch_size, **options):
        count = records_text_move(batch_size=batch_size)
        self.stdout.write(f"Moved the text of {count} record(s) into the record files.")
