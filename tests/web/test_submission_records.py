"""The submission page's first records say where each came from, as its problem lines do."""

import re

import pytest
from django.urls import reverse

from annotation.web.presenters import record_rows
from tests.annotation.ingest_helpers import ingest_now, jsonl, submit, zipped
from tests.annotation.texts import documents
from tests.web.conftest import add_record, make_submission

pytestmark = pytest.mark.django_db


def line_cells(html):
    """The first records table's line cells, tags stripped, spaces squeezed."""
    table = html.split('id="records-title"')[1].split("</table>")[0]
    cells = re.findall(r'<td class="num"[^>]*>(.*?)</td>', table, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in cells]


def test_records_of_an_archive_show_their_member_and_line(login, member_a, partner_a, german):
    one, two = documents(2, seed=11), documents(1, seed=12)
    content = zipped({"one.jsonl": jsonl({"text": t} for t in one),
                      "two.jsonl": jsonl([{"text": two[0]}]) + "{oops\n"})
    submission = ingest_now(submit(user=member_a, partner=partner_a, language=german, content=content, name="docs.zip"))
    assert submission.records_accepted == 3
    assert [(e["file"], e["line"]) for e in submission.errors] == [("two.jsonl", 2)]

    html = login(member_a).get(reverse("submission_detail", args=[submission.pk])).content.decode()

    assert line_cells(html) == ["one.jsonl: 1", "one.jsonl: 2", "two.jsonl: 1"]


def test_records_of_a_plain_file_show_their_line(login, member_a, partner_a, german):
    submission = make_submission(partner=partner_a, uploader=member_a, language=german, records_accepted=2)
    add_record(submission, 1, "Erster Datensatz.")
    add_record(submission, 2, "Zweiter Datensatz.", origin="5")  # a CSV row: its own numbering

    html = login(member_a).get(reverse("submission_detail", args=[submission.pk])).content.decode()

    assert line_cells(html) == ["1", "5"]


def test_record_rows_split_the_origin(partner_a, member_a, german):
    submission = make_submission(partner=partner_a, uploader=member_a, language=german)
    records = [
        add_record(submission, 1, "a", origin="dir/two.jsonl:1"),
        add_record(submission, 2, "b", origin="weird:name.jsonl:14"),
        add_record(submission, 3, "c"),
    ]
    rows = record_rows(records)
    assert [(row["file"], row["line"]) for row in rows] == [("dir/two.jsonl", 1), ("weird:name.jsonl", 14), ("", 3)]
