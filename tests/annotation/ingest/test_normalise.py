from annotation.ingest.normalise import normalise_text


def test_line_breaks_become_newlines():
    assert normalise_text("one\r\ntwo\rthree\x0cfour\u2028five") == "one\ntwo\nthree\nfour\nfive"


def test_paragraph_separator_becomes_a_blank_line():
    assert normalise_text("one\u2029two") == "one\n\ntwo"


def test_horizontal_whitespace_collapses_and_lines_are_stripped():
    text = "  Un\u00a0\u00a0paragraphe\u202f:\t\tavec   espaces  \n\t  deuxième\u3000ligne  "
    assert normalise_text(text) == "Un paragraphe : avec espaces\ndeuxième ligne"


def test_three_or_more_newlines_become_one_blank_line():
    assert normalise_text("a\n\n\n\n\nb\n \n \n \nc\n\nd") == "a\n\nb\n\nc\n\nd"


def test_invisible_characters_are_dropped():
    text = "\ufeffWei\u00adche\u200bSilbe\x00n\u200e und\x07 \ud800Ende\ufffe"
    assert normalise_text(text) == "WeicheSilben und Ende"


def test_joiners_are_kept():
    # ZWJ builds emoji sequences; ZWNJ blocks ligatures ("Auf\u200clage").
    assert normalise_text("👩\u200d💻 Auf\u200clage") == "👩\u200d💻 Auf\u200clage"


def test_text_is_nfc_composed_even_across_dropped_characters():
    assert normalise_text("Cafe\u0301 e\u200b\u0301") == "Café é"
    assert normalise_text("Τι κάνεις\u037e") == "Τι κάνεις;"


def test_tabs_do_not_survive_as_tabs():
    assert normalise_text("a\tb") == "a b"


def test_empty_and_blank_text():
    assert normalise_text("") == ""
    assert normalise_text(" \n\t\u00a0\n ") == ""


def test_normalising_twice_changes_nothing():
    messy = "\ufeff  Titel\r\n\r\n\r\n Absatz\u00a0eins \u200b zwei\u2029\u2029drei\t \n e\u0301 "
    once = normalise_text(messy)
    assert normalise_text(once) == once


def test_fenced_code_keeps_its_indentation_tabs_and_blank_lines():
    text = "Voici le code :\n\n```python\ndef f(x):\n    if x:  \n\n\n        return\tx\u200b\n```\n  Fin   du   texte."
    assert normalise_text(text) == (
        "Voici le code :\n\n```python\ndef f(x):\n    if x:\n\n\n        return\tx\n```\nFin du texte."
    )


def test_an_unclosed_fence_keeps_code_to_the_end_and_stays_a_fixed_point():
    text = "  ~~~\n\tmake all\n   ```  not the tilde fence's closer\n\t  done  "
    once = normalise_text(text)
    assert once == "~~~\n\tmake all\n   ```  not the tilde fence's closer\n\t  done"
    assert normalise_text(once) == once
