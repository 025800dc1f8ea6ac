"""Preference data: pairs and rankings in TRL's layout, through every check, the CLI and the API."""

import io
from io import StringIO

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from annotation.ingest.schemas import KINDS, RecordError, text_fields, validate
from annotation.models import Record, Submission
from annotation.models.submissions import Kind

from .ingest_helpers import english, jsonl
from .personal_data import email, phone
from .texts import GERMAN

PROMPT = "Wie komme ich am schnellsten vom Bahnhof zur Stadtbibliothek?"
TURNS = [
    {"role": "system", "content": "Du bist ein hilfsbereiter Stadtführer."},
    {"role": "user", "content": PROMPT},
]


def pair(n: int, **fields) -> dict:
    return {"prompt": f"{PROMPT} ({n})", "chosen": GERMAN[n % 20], "rejected": GERMAN[(n + 1) % 20], **fields}


def records(submission) -> list[dict]:
    return [r.content for r in Record.objects.filter(submission=submission).order_by("line")]


def test_the_kind_list_is_the_models_choices():
    assert tuple(Kind.values) == KINDS


def test_pairs_are_stored_in_trls_layout(submit_de):
    submission = submit_de(jsonl([pair(0), pair(2)]), kind="preference")

    assert submission.status == Submission.Status.READY, submission.failure
    assert submission.records_accepted == 2
    assert records(submission)[0] == {"prompt": f"{PROMPT} (0)", "chosen": GERMAN[0], "rejected": GERMAN[1]}
    assert submission.tokens > 0 and submission.language_mismatches == 0


def test_a_conversation_prompt_is_kept_as_its_turns(submit_de):
    submission = submit_de(jsonl([pair(0, prompt=TURNS)]), kind="preference")

    assert records(submission) == [{"prompt": TURNS, "chosen": GERMAN[0], "rejected": GERMAN[1]}]
    assert text_fields("preference", records(submission)[0]) == [TURNS[0]["content"], PROMPT, GERMAN[0], GERMAN[1]]


def test_a_ranking_is_stored_best_first_and_stands_for_best_against_each_worse(submit_de):
    line = {"prompt": PROMPT, "responses": GERMAN[:3], "ranking": [2, 0, 1]}

    submission = submit_de(jsonl([line]), kind="preference")

    assert records(submission) == [{"prompt": PROMPT, "chosen": GERMAN[2], "rejected": [GERMAN[0], GERMAN[1]]}]


@pytest.mark.parametrize(
    "line,message",
    [
        ({"chosen": "a", "rejected": "b"}, "missing field 'prompt'"),
        ({"prompt": "p", "rejected": "b"}, "missing field 'chosen'"),
        ({"prompt": "p", "chosen": "a"}, "missing field 'rejected'"),
        ({"prompt": "p", "chosen": "Gleich  ", "rejected": "Gleich"}, "fields 'chosen' and 'rejected' are the same text"),
        ({"prompt": 3, "chosen": "a", "rejected": "b"}, "field 'prompt' must be a string or a list of turns, not int"),
        ({"prompt": [], "chosen": "a", "rejected": "b"}, "field 'prompt' is an empty list of turns"),
        ({"prompt": TURNS[:1], "chosen": "a", "rejected": "b"}, "must end with a user turn"),
        ({"prompt": [{"role": "human", "content": "x"}], "chosen": "a", "rejected": "b"}, "message 1: field 'role'"),
        ({"prompt": "p", "responses": ["a", "b"]}, "missing field 'ranking'"),
        ({"prompt": "p", "responses": ["a"], "ranking": [0]}, "needs at least two answers; this one has 1"),
        ({"prompt": "p", "responses": ["a", "b"], "ranking": [0, 0]}, "each index of the 2 responses (0 to 1) once"),
        ({"prompt": "p", "responses": ["a", "b"], "ranking": [1, 2]}, "each index of the 2 responses (0 to 1) once"),
        ({"prompt": "p", "responses": ["a", "b"], "ranking": [True, 0]}, "each index of the 2 responses"),
        ({"prompt": "p", "responses": ["a", "b", "a "], "ranking": [0, 1, 2]}, "responses at index 0 and 2 are the same"),
        ({"prompt": "p", "responses": ["a", 5], "ranking": [0, 1]}, "the response at index 1 must be a string, not int"),
    ],
)
def test_each_problem_names_its_field(line, message):
    with pytest.raises(RecordError) as error:
        validate("preference", line)

    assert message in str(error.value)
    assert error.value.message.template  # translatable: the template travels with its parameters


def test_problem_lines_are_rejected_with_their_line_and_the_rest_kept(submit_de):
    lines = [pair(0), {"prompt": PROMPT, "chosen": GERMAN[3], "rejected": GERMAN[3]}]

    submission = submit_de(jsonl(lines), kind="preference")

    assert submission.records_accepted == 1
    assert english(submission.errors) == [
        {"line": 2, "message": "fields 'chosen' and 'rejected' are the same text; a preference needs two different answers"}
    ]


def test_personal_data_in_every_answer_is_redacted_and_counted(submit_de):
    line = {
        "prompt": f"{PROMPT} Meine Nummer: {phone(1)}",
        "responses": [f"{GERMAN[0]} Schreiben Sie an {email(1)}.", f"{GERMAN[1]} Oder an {email(2)}.", GERMAN[2]],
        "ranking": [1, 0, 2],
    }

    submission = submit_de(jsonl([line]), kind="preference")

    stored = str(records(submission))
    assert email(1) not in stored and email(2) not in stored and phone(1) not in stored
    assert stored.count("<EMAIL>") == 2 and "<PHONE>" in stored
    assert submission.pii_redactions == 3


def test_the_same_pair_again_is_an_exact_duplicate(submit_de):
    submission = submit_de(jsonl([pair(0), pair(0), pair(0, chosen=GERMAN[1], rejected=GERMAN[0])]), kind="preference")

    assert submission.records_accepted == 2  # the pair turned round is another judgement
    assert submission.exact_duplicates == 1


def test_csv_rankings_hold_their_lists_as_json(submit_de):
    content = 'prompt,responses,ranking\n"Frage?","[""Eins ist gut."", ""Zwei ist besser.""]","[1, 0]"\n'

    submission = submit_de(content, name="data.csv", kind="preference")

    assert records(submission) == [{"prompt": "Frage?", "chosen": "Zwei ist besser.", "rejected": ["Eins ist gut."]}]


def test_parquet_holds_pairs_and_rankings_side_by_side(submit_de):
    table = pa.Table.from_pylist([
        {"prompt": PROMPT, "chosen": GERMAN[0], "rejected": GERMAN[1], "responses": None, "ranking": None},
        {"prompt": PROMPT, "chosen": None, "rejected": None, "responses": GERMAN[2:4], "ranking": [1, 0]},
    ])
    buffer = io.BytesIO()
    pq.write_table(table, buffer)

    submission = submit_de(buffer.getvalue(), name="data.parquet", kind="preference")

    assert records(submission) == [
        {"prompt": PROMPT, "chosen": GERMAN[0], "rejected": GERMAN[1]},
        {"prompt": PROMPT, "chosen": GERMAN[3], "rejected": [GERMAN[2]]},
    ], submission.errors


def test_submit_command_takes_the_preference_kind(staff, partner_a, tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text(jsonl([pair(0)]), encoding="utf-8")

    call_command(
        "submit", str(path), "--partner=alpha", "--language=de", "--kind=preference", "--license=CC-BY-4.0",
        stdout=StringIO(),
    )

    assert Submission.objects.get().kind == "preference"


def test_the_api_takes_the_preference_kind(client, member_a, upload):
    client.force_login(member_a)
    data = {
        "file": upload(jsonl([pair(0)])), "partner": "alpha", "language": "de", "kind": "preference",
        "license": "CC-BY-4.0", "source": "Written by our annotators.", "consent": "true",
    }

    response = client.post("/api/submissions/", data)

    assert response.status_code == 201, response.json()
    assert response.json()["kind"] == "preference"


@pytest.mark.parametrize("code", ["de", "fr", "es", "it"])
def test_every_problem_is_translated(code):
    lines = [
        {"prompt": "p", "chosen": "a", "rejected": "a"}, {"prompt": 3}, {"prompt": []}, {"prompt": TURNS[:1]},
        {"prompt": "p", "responses": 1, "ranking": []}, {"prompt": "p", "responses": ["a"], "ranking": []},
        {"prompt": "p", "responses": ["a", 1], "ranking": []}, {"prompt": "p", "responses": ["a", " "], "ranking": []},
        {"prompt": "p", "responses": ["a", "a"], "ranking": []}, {"prompt": "p", "responses": ["a", "b"], "ranking": []},
        {"prompt": "p", "chosen": "a"}, {"prompt": "p", "responses": ["a", "b"]},
    ]
    templates = set()
    for line in lines:
        with pytest.raises(RecordError) as error:
            validate("preference", line)
        templates.add(error.value.message.template)
        templates |= {p.template for p in error.value.message.params.values() if hasattr(p, "template")}

    with translation.override(code):
        untranslated = [t for t in templates if translation.gettext(t) == t]
        label = str(Kind.PREFERENCE.label)

    assert len(templates) == 13 and not untranslated
    assert label != "Preference pairs and rankings"


def test_the_upload_form_offers_the_preference_kind(client, member_a):
    client.force_login(member_a)

    page = client.get("/submissions/new/", HTTP_ACCEPT_LANGUAGE="de")

    assert page.status_code == 200
    assert '<option value="preference">Präferenzpaare und Rangfolgen</option>' in page.content.decode()


def test_a_problem_line_shows_in_the_readers_language(submit_de, client, member_a):
    bad = {"prompt": PROMPT, "responses": GERMAN[:2], "ranking": [0, 2]}
    submission = submit_de(jsonl([pair(0), bad]), kind="preference")
    client.force_login(member_a)

    page = client.get(reverse("submission_detail", args=[submission.pk]), HTTP_ACCEPT_LANGUAGE="fr").content.decode()

    assert "le champ &#x27;ranking&#x27; doit donner une fois chaque indice des 2 réponses (0 à 1)" in page
