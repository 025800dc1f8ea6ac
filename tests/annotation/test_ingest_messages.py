"""Ingest keeps its messages translatable: an English text, and the template and parameters it came from."""

import pytest
from django.utils import translation

from annotation.ingest.formats import parse_json_line
from annotation.ingest.messages import Message, gettext_noop
from annotation.models import Submission

from .ingest_helpers import jsonl
from .texts import documents

pytestmark = pytest.mark.django_db


def test_bad_lines_keep_the_template_and_parameters_of_their_english_text(submit_de):
    content = jsonl({"text": t} for t in documents(2)) + '{"text": "kein Ende"\n' + jsonl([{"txt": "falsches Feld"}])
    submission = submit_de(content)
    assert [(e["line"], e["message"]) for e in submission.errors] == [
        (3, "invalid JSON: Expecting ',' delimiter (column 21)"),
        (4, """missing field 'text' (pretraining documents are {"text": …})"""),
    ]
    for error in submission.errors:
        assert str(Message.from_dict(error)) == error["message"]
    assert submission.errors[0]["template"] == "invalid JSON: %(detail)s (column %(column)s)"
    assert submission.errors[0]["params"] == {"detail": {"template": "Expecting ',' delimiter", "params": {}}, "column": 21}
    assert submission.errors[1]["params"]["field"] == "'text'"


def test_a_spooled_format_keeps_templates_too(submit_de):
    submission = submit_de("text,meta\nEin Text.,{kaputt\n", name="data.csv")
    (error,) = submission.errors
    assert error["message"] == "column 'meta' is not valid JSON"
    assert error["template"] == "column %(column)s is not valid JSON" and error["params"] == {"column": "'meta'"}


@pytest.mark.parametrize("content, name, english", [
    (b"\n\n\n", "blank.jsonl", "The file holds no records."),
    (b'{"text": "a"}\n\x00\x01\x02binary', "data.jsonl", "The file holds binary data (a NUL byte at byte 14, line 2)"),
    (b"\xff\xfe\x00", "data.csv", "The file is not"),
])  # fmt: skip
def test_a_refused_file_keeps_its_failure_as_a_message(submit_de, content, name, english):
    submission = submit_de(content, name=name)
    assert submission.status == Submission.Status.FAILED
    assert english in submission.failure
    assert str(Message.from_dict(submission.failure_message)) == submission.failure


def test_no_accepted_record_names_the_first_problem_as_a_nested_message(submit_de):
    submission = submit_de(jsonl([{"txt": "a"}, {"txt": "b"}]))
    assert submission.failure == (
        "No record could be accepted: all 2 had errors. The first: line 1: "
        """missing field 'text' (pretraining documents are {"text": …})."""
    )
    message = Message.from_dict(submission.failure_message)
    assert str(message) == submission.failure and isinstance(message.params["problem"], Message)


def test_a_message_renders_its_template_and_nested_ones_through_the_translation():
    inner = Message("field %(field)s is empty", {"field": "'text'"})
    outer = Message("message %(number)s: %(problem)s", {"number": 2, "problem": inner})
    german = {"message %(number)s: %(problem)s": "Nachricht %(number)s: %(problem)s",
              "field %(field)s is empty": "Feld %(field)s ist leer"}
    assert outer.render(lambda t: german.get(t, t)) == "Nachricht 2: Feld 'text' ist leer"
    assert Message.from_dict(outer.as_dict()) == outer
    assert gettext_noop("100%% sure") == "100%% sure" and str(Message("100%% sure")) == "100% sure"


@pytest.mark.parametrize("raw, german", [
    ('{"text": "offen', "kein gültiges JSON: eine Zeichenkette ist nicht geschlossen (Spalte 10)"),
    ("{text: 1}", "kein gültiges JSON: ein Schlüssel muss in doppelten Anführungszeichen stehen (Spalte 2)"),
    ('{"a": 1 "b": 2}', "kein gültiges JSON: ein Komma fehlt (Spalte 9)"),
])
def test_the_json_decoders_complaint_is_translated_with_its_sentence(raw, german):
    with translation.override("de"):
        assert parse_json_line(raw, 1).error.render(translation.gettext) == german
