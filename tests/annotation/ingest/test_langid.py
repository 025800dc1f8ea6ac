import pytest

from annotation.ingest import langid
from annotation.ingest.langid import identify, is_mismatch, supported

SENTENCES = {
    "de": "Die Stadtbibliothek öffnet ab dem kommenden Montag wieder zu den gewohnten Zeiten, "
    "nachdem sie fast zwei Jahre lang renoviert wurde.",
    "fr": "La bibliothèque municipale rouvrira ses portes lundi prochain, après deux années de travaux "
    "qui ont transformé la salle de lecture.",
    "pl": "Biblioteka miejska zostanie ponownie otwarta w najbliższy poniedziałek, po dwóch latach "
    "remontu czytelni i działu dla dzieci.",
    "el": "Η δημοτική βιβλιοθήκη ανοίγει ξανά τη Δευτέρα, ύστερα από δύο χρόνια εργασιών ανακαίνισης "
    "της αίθουσας ανάγνωσης.",
    "fi": "Kaupunginkirjasto avataan jälleen ensi maanantaina, kun lukusalin ja lastenosaston "
    "remontti on vihdoin valmistunut.",
    "sv": "Stadsbiblioteket öppnar igen på måndag efter nästan två års renovering av läsesalen "
    "och barnavdelningen.",
}


@pytest.mark.parametrize("language", sorted(SENTENCES))
def test_identifies_eu_languages(language):
    detected, score = identify(SENTENCES[language])
    assert detected == language
    assert 0.5 < score <= 1.0


def test_long_texts_are_judged_on_samples():
    detected, score = identify((SENTENCES["sv"] + "\n") * 200)
    assert detected == "sv" and score > 0.9


def test_all_eu_official_languages_are_supported():
    from occiportal.eu_languages import EU_LANGUAGES

    assert {code for code, _, _ in EU_LANGUAGES} <= supported()


def test_mismatch_when_confidently_another_language():
    assert is_mismatch("de", "fr", 0.99, 500)
    assert is_mismatch("pt-BR", "es", 0.9, 500)


def test_region_subtags_are_ignored():
    assert not is_mismatch("pt-BR", "pt", 0.99, 500)
    assert not is_mismatch("de_AT", "de", 0.99, 500)


def test_no_verdict_on_short_text_or_low_confidence():
    assert not is_mismatch("de", "fr", 0.99, 39)
    assert not is_mismatch("de", "fr", 0.49, 500)


def test_no_verdict_for_languages_the_model_does_not_know():
    assert "csb" not in supported()
    assert not is_mismatch("csb", "pl", 0.99, 500)


@pytest.mark.parametrize(
    ("expected", "detected"), [("hr", "bs"), ("hr", "sr"), ("bs", "hr"), ("nb", "no"), ("nn", "no"), ("no", "nn")]
)
def test_interchangeable_languages_are_not_a_mismatch(expected, detected):
    assert not is_mismatch(expected, detected, 0.99, 500)


def test_bokmal_is_checked_like_norwegian():
    assert is_mismatch("nb", "da", 0.99, 500)


def test_language_id_reads_a_bounded_window():
    long = SENTENCES["fi"] + " " + SENTENCES["de"] * 100 + " " + SENTENCES["fi"]
    assert len(langid._sample(long, langid.WINDOW)) <= langid.WINDOW + 2
    assert langid._sample(SENTENCES["de"], langid.WINDOW) == SENTENCES["de"]
    # Only start, middle and end are read; the whole text is German but for its ends.
    assert identify(long) == identify(langid._sample(long, langid.WINDOW), window=None)
    assert identify(long, window=None)[0] == "de"
