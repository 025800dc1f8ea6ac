"""Planted personal data, and a search for it everywhere the portal writes."""

from pathlib import Path

from django.conf import settings
from django.db import connection


def email(n: int) -> str:
    return f"anna.schulz{n}@beispiel-firma.de"


def phone(n: int) -> str:
    return f"+49 40 {5550100 + n}"


def iban(n: int) -> str:
    """A valid German IBAN, written in groups of four."""
    bban = f"37040044{n:010d}"
    check = 98 - int(bban + "131400") % 97  # "DE00" moved to the end, D=13, E=14
    compact = f"DE{check:02d}{bban}"
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def planted_record(n: int, text: str) -> tuple[dict, list[str]]:
    """A pretraining record with personal data in its text, id and (nested) meta; and what was planted."""
    record = {
        "id": f"kontakt-{email(n)}",
        "text": f"{text} Schreiben Sie an {email(n)} oder rufen Sie {phone(n)} an. Konto: {iban(n)}.",
        "meta": {"author_email": email(n + 1000), "phone": phone(n + 1000),
                 "contacts": [{"iban": iban(n + 1000)}, f"Tel. {phone(n + 2000)}"]},
    }  # fmt: skip
    return record, [email(n), phone(n), iban(n), email(n + 1000), phone(n + 1000), iban(n + 1000), phone(n + 2000)]


def stored_hits(planted: list[str]) -> list[str]:
    """Where each planted string is kept: every row of every table, every file in the data folders."""
    hits = []
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        for (table,) in cursor.fetchall():
            cursor.execute(f'SELECT t::text FROM "{table}" AS t')  # the whole row, every column as text
            rows = "\n".join(row for (row,) in cursor.fetchall())
            hits += [f"{table}: {value}" for value in planted if value in rows]
    for folder in {Path(settings.MEDIA_ROOT), Path(settings.UPLOAD_INCOMING_DIR), Path(settings.DATA_DIR)}:
        for path in folder.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                hits += [f"{path}: {value}" for value in planted if value.encode() in data]
    return hits
