import pytest

from annotation.ingest.pii import iban_is_valid, redact, redact_kinds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Schreiben Sie an max.mustermann@beispiel.de.", "Schreiben Sie an <EMAIL>."),
        ("Écrivez à jean-luc.o'brien+tag@mail.example.fr, merci", "Écrivez à <EMAIL>, merci"),
        ("Napisz: zażółć@gęślą.pl lub info@firma.com.pl", "Napisz: <EMAIL> lub <EMAIL>"),
        ("Στείλτε στο info@example.gr (mailto:anna_k@uni.ac.cy)", "Στείλτε στο <EMAIL> (mailto:<EMAIL>)"),
    ],
)
def test_email_addresses(text, expected):
    assert redact(text)[0] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("IBAN: DE89 3704 0044 0532 0130 00, BIC COBADEFFXXX", "IBAN: <IBAN>, BIC COBADEFFXXX"),
        ("IBAN DE89370400440532013000 BIC COBADEFFXXX", "IBAN <IBAN> BIC COBADEFFXXX"),
        ("Compte FR76 3000 6000 0112 3456 7890 189 merci", "Compte <IBAN> merci"),
        ("Rekening NL91ABNA0417164300.", "Rekening <IBAN>."),
        ("Konto: PL61 1090 1014 0000 0712 1981 2874", "Konto: <IBAN>"),
        ("Cuenta ES91 2100 0418 4502 0005 1332 y más", "Cuenta <IBAN> y más"),
        ("Sort GB82 WEST 1234 5698 7654 32 now", "Sort <IBAN> now"),
    ],
)
def test_ibans(text, expected):
    assert redact(text)[0] == expected


def test_iban_with_a_wrong_checksum_is_kept():
    for text in ("Falsch: DE89 3704 0044 0532 0130 01", "NL91ABNA0417164301", "FR77 3000 6000 0112 3456 7890 189"):
        assert redact(text) == (text, 0)


def test_iban_checksum():
    assert iban_is_valid("DE89 3704 0044 0532 0130 00")
    assert not iban_is_valid("DE88 3704 0044 0532 0130 00")
    assert not iban_is_valid("DE89-3704")


@pytest.mark.parametrize(
    "phone",
    [
        "030 1234567",
        "030-12345678",
        "089/1234567",
        "+49 (0)89 123 45 67",
        "+49 30 1234567",
        "0049 30 1234567",
        "06 12 34 56 78",
        "06.12.34.56.78",
        "+33 6 12 34 56 78",
        "(0)89-123 45 67",
        "(030) 1234567",
        "+44 20 7946 0958",
        "+48 123 456 789",
        "+420 777 123 456",
        "+358 40 1234567",
        "+30 210 1234567",
        "08-123 456 78",
        "0470 12 34 56",
    ],
)
def test_phone_numbers(phone):
    assert redact(f"Ruf an: {phone}, danke.") == ("Ruf an: <PHONE>, danke.", 1)


def test_numbers_without_prefix_count_only_after_a_phone_word():
    assert redact("Tel.: 612 34 56 78")[0] == "Tel.: <PHONE>"
    assert redact("Telefon: 912 345 678")[0] == "Telefon: <PHONE>"
    assert redact("τηλ. 210 1234567")[0] == "τηλ. <PHONE>"
    assert redact("teléfono 612345678")[0] == "teléfono <PHONE>"
    assert redact("Número 612 34 56 78 sin palabra clave.")[1] == 0


def test_bracket_before_a_number_stays_with_the_sentence():
    assert redact("Rufnummer (030 1234567).")[0] == "Rufnummer (<PHONE>)."


@pytest.mark.parametrize(
    "text",
    [
        "Im Jahr 1999 und 2024 stieg die Zahl auf 1234.",
        "Am 2024-05-01, am 01.05.2024, am 01/05/2024 und am 01.05.2024 12:00 Uhr.",
        "Vom 01.05.-15.05.2024 geschlossen.",
        "Preis: 1.234.567,89 € oder 12 345 678 EUR, 0,99 €.",
        "ISBN 978-3-16-148410-0, ISBN 0-306-40615-2 und ISBN 0306406152.",
        "Produkt ABC0123456789 und ID 0123456789012345678.",
        "Version 1.2.3.4, v10.0.19041.1234, Python 3.11.4 und 0.12345678.",
        "Um 12:30:45 Uhr, std::vector und cafe::babe.",
        "Nicht 999.1.1.1 und nicht 1.2.3.4.5.",
        "Seite 12, Kapitel 3, 45 Minuten, 100 000 Einwohner.",
        "Geöffnet 08.00-12.00 und 13.00 - 16.30 Uhr.",
        "Siehe Abschnitt 2.1.3.4 und den DNS-Server 8.8.8.8.",
    ],
)
def test_false_positives_are_left_alone(text):
    assert redact(text) == (text, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Server 192.168.1.20 antwortet.", "Server <IP_ADDRESS> antwortet."),
        ("Proxy 10.0.0.1:8080", "Proxy <IP_ADDRESS>:8080"),
        ("IPv6 2001:db8::1.", "IPv6 <IP_ADDRESS>."),
        ("Full 2001:0db8:85a3:0000:0000:8a2e:0370:7334 here", "Full <IP_ADDRESS> here"),
        ("Mapped ::ffff:192.0.2.1 and link fe80::1", "Mapped <IP_ADDRESS> and link <IP_ADDRESS>"),
    ],
)
def test_ip_addresses(text, expected):
    assert redact(text)[0] == expected


def test_replacements_are_counted_across_types():
    text = "Mail a@b.eu, Tel. +49 30 1234567, IBAN DE89370400440532013000, IP 192.0.2.1."
    assert redact(text) == ("Mail <EMAIL>, Tel. <PHONE>, IBAN <IBAN>, IP <IP_ADDRESS>.", 4)


def test_clean_text_is_unchanged():
    assert redact("Nothing personal here.") == ("Nothing personal here.", 0)


def test_malformed_addresses_are_kept():
    text = "x..y@z.fr, trail.@x.de, @handle, name@, a@localhost"
    assert redact(text) == (text, 0)


def test_every_string_of_a_json_value_is_redacted_and_counted():
    from annotation.ingest.pii import redact_data

    meta = {
        "author_email": "anna.schulz@beispiel-firma.de",
        "contacts": [{"phone": "+49 40 5550123"}, "IBAN DE89 3704 0044 0532 0130 00", 7, None, True],
        "max@beispiel.de": "key",
        "pages": 12,
    }

    redacted, count = redact_data(meta)

    assert redacted == {
        "author_email": "<EMAIL>",
        "contacts": [{"phone": "<PHONE>"}, "IBAN <IBAN>", 7, None, True],
        "<EMAIL>": "key",
        "pages": 12,
    }
    assert count == 4
    assert redact_data("kontakt-anna.schulz@beispiel-firma.de") == ("<EMAIL>", 1)


def test_a_quote_before_an_address_is_kept():
    assert redact("field 'role' is 'anna@beispiel.de'")[0] == "field 'role' is '<EMAIL>'"


def test_a_message_keeps_its_template_and_redacts_what_it_quotes():
    from annotation.ingest.messages import Message

    inner = Message("field 'role' is %(role)s", {"role": "'anna@beispiel.de'"})
    message = Message("%(name)s: line %(line)s: %(problem)s", {"name": "an +49 40 5550123.txt", "line": 3, "problem": inner})

    assert str(message.redacted()) == "an <PHONE>.txt: line 3: field 'role' is '<EMAIL>'"
    assert message.redacted().template == message.template


def test_redactions_are_counted_per_kind():
    text = "Mail a@b.de or c@d.org, call +49 40 5550101, pay DE89 3704 0044 0532 0130 00 from 192.168.1.20 or ::1."
    redacted, counts = redact_kinds(text)
    assert counts == {"email": 2, "phone": 1, "iban": 1, "ip_address": 2}
    assert redact(text) == (redacted, 6)
    assert redact_kinds("Nothing personal here.") == ("Nothing personal here.", {})
