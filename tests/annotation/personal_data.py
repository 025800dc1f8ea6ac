"""Planted personal data."""


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

