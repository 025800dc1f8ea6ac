"""The helpers that keep the benchmarks honest: a port nobody else holds, errors that fail the run, rows the schema accepts."""

import json
import socket

import pytest

from annotation.models import Record
from bench.copy_rows import copy_rows
from bench.gunicorn_server import free_socket
from bench.outcome import Errors, finish

from ..annotation.conftest import bare_submission


def test_free_socket_listens_on_a_port_of_its_own():
    with free_socket() as first, free_socket() as second:
        port = first.getsockname()[1]
        assert port and port != second.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # already listening: no other server can take the port before gunicorn does


@pytest.mark.parametrize("status", [200, 201, 204])
def test_a_2xx_answer_is_no_error(status):
    errors = Errors()
    assert errors.status("claim", status)
    assert not errors


def test_other_answers_and_no_answer_are_counted_by_what_and_status():
    errors = Errors()
    for status in (401, 401, 500, None):
        assert not errors.status("claim", status)
    assert errors == {"claim: HTTP 401": 2, "claim: HTTP 500": 1, "claim: no answer": 1}


def test_finish_prints_the_json_line_last_then_fails_naming_the_errors(capsys):
    errors = Errors()
    errors.status("baseline", 401)
    with pytest.raises(SystemExit) as exit_:
        finish({"requests": 3}, errors, smoke=True)
    assert "baseline: HTTP 401 (×1)" in str(exit_.value.code)
    last = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert last == {"requests": 3, "smoke": True, "errors": {"baseline: HTTP 401": 1}}


def test_finish_without_errors_returns(capsys):
    finish({"requests": 3}, Errors(), smoke=False)
    assert json.loads(capsys.readouterr().out) == {"requests": 3, "errors": {}}


def test_copy_rows_fills_every_column_the_rows_leave_out_from_the_model(partner_a, member_a, german):
    submission = bare_submission(partner=partner_a, uploader=member_a, language=german, kind="pretraining")
    rows = [{"submission_id": submission.pk, "line": line, "language_id": german.pk, "kind": "pretraining",
             "content": {"text": f"Satz {line}."}, "content_hash": f"{line:032x}"} for line in (1, 2)]  # fmt: skip

    assert copy_rows(Record, rows) == 2

    record = Record.objects.get(submission=submission, line=2)
    assert record.content == {"text": "Satz 2."}
    assert (record.status, record.meta, record.quality, record.tokens) == ("pending", {}, {}, 0)
    assert record.created_at is not None and record.language_score is None


def test_copy_rows_names_a_not_null_field_without_default_the_rows_leave_out(partner_a, member_a, german):
    submission = bare_submission(partner=partner_a, uploader=member_a, language=german, kind="pretraining")
    rows = [{"submission_id": submission.pk, "line": 1, "language_id": german.pk, "kind": "pretraining"}]

    with pytest.raises(ValueError, match="content"):
        copy_rows(Record, rows)
