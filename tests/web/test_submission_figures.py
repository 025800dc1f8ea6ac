"""The submission page's figures open onto the lines behind them, and lines can be withdrawn from there."""

import pytest
from django.urls import reverse

from annotation.figure_selectors import outlier_signals, submission_lines
from annotation.models.records import quality_columns
from annotation.models import Record, Submission
from tests.annotation.ingest_helpers import ingest_now, jsonl, submit
from tests.annotation.texts import documents
from tests.web.conftest import add_record, make_submission
from training.models import Withdrawal

pytestmark = pytest.mark.django_db

GOOD = {"words": 120, "mean_word_length": 5.1, "stop_words": 30, "digit_ratio": 0.0, "symbol_word_ratio": 0.0}


def lines_of(response):
    """The lines the page's list shows, in order."""
    return [row.line for row in response.context["lines"].rows]


def page(client, submission, language="en", **query):
    return client.get(reverse("submission_detail", args=[submission.pk]), query, HTTP_ACCEPT_LANGUAGE=language)


@pytest.fixture
def flagged(partner_a, member_a, german, partner_b, member_b):
    """A submission with one line per figure, and a record of partner B's that one of them nearly repeats."""
    other = make_submission(partner=partner_b, uploader=member_b, language=german)
    original = add_record(other, 3, "Urtext", origin="b.jsonl:3")
    submission = make_submission(
        partner=partner_a, uploader=member_a, language=german, records_read=6, records_accepted=4,
        records_rejected=2, exact_duplicates=1, near_duplicates=1, language_mismatches=1, pii_redactions=2,
        rejection_reasons={"unreadable": 1, "exact_duplicate": 1},
        errors=[{"line": 2, "reason": "unreadable", "message": "invalid JSON: Expecting value (column 1)",
                 "template": "invalid JSON: %(detail)s (column %(column)s)",
                 "params": {"detail": "Expecting value", "column": 1}},
                {"line": 5, "reason": "exact_duplicate", "message": f"exact duplicate of line b.jsonl:3 of submission #{other.pk}",
                 "template": "exact duplicate of line %(line)s of submission #%(submission)s",
                 "params": {"line": "b.jsonl:3", "submission": other.pk}}],
    )  # fmt: skip
    add_record(submission, 1, "Bonjour", language_mismatch=True, detected_language="fr", **quality_columns(GOOD))
    add_record(submission, 3, "Fast Urtext", near_duplicate_of=original, **quality_columns(GOOD))
    add_record(submission, 4, "Mail <EMAIL>, Tel <PHONE>", pii_redactions=2, **quality_columns(GOOD))
    add_record(submission, 6, "ja", **quality_columns({**GOOD, "words": 1}))
    return submission


@pytest.mark.parametrize(
    "figure, lines",
    [("language_mismatches", ["1"]), ("near_duplicates", ["3"]), ("pii_redactions", ["4"]),
     ("low_quality", ["6"]), ("records_rejected", ["2", "5"]), ("exact_duplicates", ["5"])],
)  # fmt: skip
def test_each_figure_lists_the_lines_behind_it(login, member_a, flagged, figure, lines):
    response = page(login(member_a), flagged, figure=figure)
    assert response.status_code == 200
    assert lines_of(response) == lines


def test_a_duplicate_names_the_line_it_repeats_and_links_only_what_the_reader_may_open(
    login, member_a, partner_b, staff, flagged
):
    other = Submission.objects.get(partner=partner_b)
    html = page(login(member_a), flagged, figure="near_duplicates").content.decode()
    assert f"line b.jsonl:3 of submission #{other.pk}" in html
    assert reverse("submission_detail", args=[other.pk]) not in html  # partner B's: the number only
    assert other.partner.name not in html
    html = page(login(staff), flagged, figure="exact_duplicates").content.decode()
    assert f'<a href="{reverse("submission_detail", args=[other.pk])}">line b.jsonl:3 of submission #{other.pk}</a>' in html


def test_the_lines_speak_the_readers_language(login, member_a, flagged):
    client = login(member_a)
    html = page(client, flagged, figure="exact_duplicates", language="de").content.decode()
    assert "Zeilen hinter den Kennzahlen" in html and "Ausreißer geringer Qualität" in html
    assert "Zeile b.jsonl:3 der Einreichung #" in html
    html = page(client, flagged, figure="records_rejected", language="fr").content.decode()
    assert "Lignes derrière les chiffres" in html and "ligne 5" not in html


def test_lines_are_paged_by_a_cursor_on_the_line(partner_a, member_a, german):
    submission = make_submission(partner=partner_a, uploader=member_a, language=german)
    for line in range(1, 8):
        add_record(submission, line, f"Text {line}", pii_redactions=line % 2)
    first = submission_lines(submission, figure="pii_redactions", limit=2)
    assert ([row.line for row in first.rows], first.next_after) == (["1", "3"], 3)
    second = submission_lines(submission, figure="pii_redactions", after=first.next_after, limit=2)
    assert ([row.line for row in second.rows], second.next_after) == (["5", "7"], None)


def test_the_lines_page_costs_the_same_however_many_lines(login, member_a, flagged, django_assert_max_num_queries):
    client = login(member_a)
    page(client, flagged, figure="near_duplicates")  # session and the like, once
    with django_assert_max_num_queries(9):
        page(client, flagged, figure="near_duplicates")
    for line in range(100, 160):
        add_record(flagged, line, f"Text {line}", language_mismatch=True, detected_language="fr")
    with django_assert_max_num_queries(9):
        response = page(client, flagged, figure="language_mismatches")
    assert len(response.context["lines"].rows) == 50 and response.context["lines"].next_after == 148


def test_someone_elses_submission_shows_no_lines(login, member_b, flagged):
    assert page(login(member_b), flagged, figure="near_duplicates").status_code == 404


def test_outliers_are_the_charts_outer_bars():
    assert outlier_signals(GOOD) == []
    assert outlier_signals({"words": 3, "digit_ratio": 0.6, "stop_words": None, "symbol_word_ratio": 0.0}) == [
        "words", "digit_ratio"]


def test_partner_withdraws_lines_ticked_in_a_list(login, member_a, flagged):
    client = login(member_a)
    response = client.post(reverse("submission_withdraw", args=[flagged.pk]),
                           {"picked": "1", "lines": ["1", "4"], "reason": "Rights ended."})
    assert response.status_code == 302
    assert sorted(w.record.line for w in Withdrawal.objects.all()) == [1, 4]
    assert set(flagged.records.filter(status=Record.Status.WITHDRAWN).values_list("line", flat=True)) == {1, 4}


def test_ticking_nothing_withdraws_nothing(login, member_a, flagged):
    response = login(member_a).post(reverse("submission_withdraw", args=[flagged.pk]), {"picked": "1"}, follow=True)
    assert not Withdrawal.objects.exists()
    assert "Tick at least one line to withdraw." in response.content.decode()


def test_a_line_without_a_record_withdraws_nothing_and_says_which(login, member_a, flagged):
    response = login(member_a).post(reverse("submission_withdraw", args=[flagged.pk]),
                                    {"picked": "1", "lines": ["1", "2"]}, follow=True)
    assert not Withdrawal.objects.exists()
    assert "Line 2 holds no record of this submission." in response.content.decode()


def test_a_repeated_upload_fails_and_links_the_submission_it_repeats(login, member_a, member_b, partner_a, partner_b, german):
    docs = documents(3)
    first = ingest_now(submit(user=member_a, partner=partner_a, language=german, content=jsonl({"text": t} for t in docs)))
    again = ingest_now(submit(user=member_a, partner=partner_a, language=german, content=jsonl({"text": t} for t in docs)))
    assert again.status == Submission.Status.FAILED
    html = page(login(member_a), again).content.decode()
    assert f"All 3 records were already in the portal (submission #{first.pk})." in html
    assert f'href="{reverse("submission_detail", args=[first.pk])}"' in html
    elsewhere = ingest_now(submit(user=member_b, partner=partner_b, language=german, content=jsonl({"text": t} for t in docs)))
    html = page(login(member_b), elsewhere).content.decode()
    assert f"(submission #{first.pk})" in html
    assert f'href="{reverse("submission_detail", args=[first.pk])}"' not in html and partner_a.name not in html


def test_redacted_records_are_listed_by_kind(login, member_a, partner_a, german):
    submission = make_submission(partner=partner_a, uploader=member_a, language=german, pii_redactions=4)
    add_record(submission, 1, "<EMAIL> <PHONE>", pii_redactions=2, redactions={"email": 1, "phone": 1})
    add_record(submission, 2, "<IBAN>", pii_redactions=1, redactions={"iban": 1})
    add_record(submission, 3, "Older: no kinds", pii_redactions=1)
    client = login(member_a)
    assert lines_of(page(client, submission, figure="pii_redactions")) == ["1", "2", "3"]
    response = page(client, submission, figure="pii_redactions", redaction="email")
    assert lines_of(response) == ["1"]
    assert "2 redactions: E-mail addresses 1, Phone numbers 1" in " ".join(response.content.decode().split())
    assert lines_of(page(client, submission, figure="pii_redactions", redaction="iban")) == ["2"]


def test_problem_lines_kept_before_reasons_were_still_say_what_was_wrong(login, member_a, submission_a):
    response = page(login(member_a), submission_a, figure="records_rejected")
    assert lines_of(response) == ["7"]
    listed = response.content.decode().split("data-lines>")[1].split("</section>")[0]
    assert "line 7 is not valid JSON: Expecting value" in listed
