"""Bad input ends with a clear message and never loses what was accepted."""

import io
import tarfile
import zipfile

import pytest
from django.core.exceptions import ValidationError

from annotation.ingest.schemas import RecordError, validate
from annotation.models import Record, Submission

from .ingest_helpers import english, jsonl, submit, zipped
from .test_ingest_formats import tarred
from .texts import documents

GOOD = jsonl({"text": t} for t in documents(3))


def failed_with(submission, *fragments):
    assert submission.status == Submission.Status.FAILED
    for fragment in fragments:
        assert fragment in submission.failure, submission.failure
    assert not Record.objects.filter(submission=submission).exists()
    return True


def test_empty_file_is_refused_at_upload(member_a, partner_a, german):
    with pytest.raises(ValidationError, match="empty"):
        submit(user=member_a, partner=partner_a, language=german, content=b"")


def test_file_over_the_size_limit_is_refused(member_a, partner_a, german, settings):
    settings.INGEST = {**settings.INGEST, "MAX_UPLOAD_BYTES": 100}
    with pytest.raises(ValidationError, match="limit is 100 bytes"):
        submit(user=member_a, partner=partner_a, language=german, content=GOOD)


def test_whitespace_only_file_fails(submit_de):
    assert failed_with(submit_de("\n \n\n"), "no records")


def test_wrong_schema_for_the_kind_fails_with_the_first_error(submit_de):
    submission = submit_de(GOOD, kind="instruction")
    assert failed_with(submission, "line 1", "missing field 'prompt'")
    assert submission.records_rejected == 3


def test_binary_file_renamed_jsonl(submit_de):
    assert failed_with(submit_de(b'{"text": "ok"}\n' + bytes(range(256)) * 4), "binary data", "line 2")


def test_latin1_is_refused_with_the_first_bad_byte(submit_de):
    content = GOOD.encode() + "{\"text\": \"Straße\"}\n".encode("latin-1")
    offset = len(GOOD.encode()) + len('{"text": "Stra')
    assert failed_with(submit_de(content), "invalid byte 0xDF", f"byte {offset:,}", "line 4")


@pytest.mark.parametrize(
    "line,message",
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"text": ' + "9" * 100_000 + "}", "invalid JSON: Exceeds the limit"),
        ('{"text": 12}', "field 'text' must be a string"),
        ('["text"]', "expected a JSON object"),
    ],
    ids=["deep-nesting", "huge-number", "not-a-string", "not-an-object"],
)
def test_bad_lines_give_one_precise_error(submit_de, line, message):
    submission = submit_de(GOOD + line + "\n" + jsonl([{"text": documents(1, seed=5)[0]}]))
    assert submission.status == Submission.Status.READY
    assert (submission.records_accepted, submission.records_rejected) == (4, 1)
    assert submission.errors[0]["line"] == 4 and message in submission.errors[0]["message"]


def test_zip_bomb(submit_de):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.jsonl", b"\n" * 50_000_000)
    assert failed_with(submit_de(buffer.getvalue(), "bomb.zip"), "archive bomb")


def test_gzip_bomb(submit_de):
    import gzip

    assert failed_with(submit_de(gzip.compress(b" " * 50_000_000), "bomb.jsonl.gz"), "archive bomb")


@pytest.mark.parametrize("name", ["../../etc/passwd.jsonl", "/etc/passwd.jsonl"])
def test_member_paths_outside_the_archive(submit_de, name):
    assert failed_with(submit_de(zipped({"ok.jsonl": GOOD, name: GOOD}), "docs.zip"), "outside the archive")
    assert failed_with(submit_de(tarred({name: GOOD.encode()}), "docs.tar.gz"), "outside the archive")


@pytest.mark.parametrize("link_type", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_links_in_tar_archives(submit_de, link_type):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo("link.jsonl")
        info.type, info.linkname = link_type, "/etc/passwd"
        archive.addfile(info)
    assert failed_with(submit_de(buffer.getvalue(), "docs.tar.gz"), "is a link")


def test_symlink_in_zip(submit_de):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("link.jsonl")
        info.external_attr = (0o120777 << 16)
        archive.writestr(info, "/etc/passwd")
    assert failed_with(submit_de(buffer.getvalue(), "docs.zip"), "symbolic link")


def test_too_many_members(submit_de):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(100_000):
            archive.writestr(f"d{i}.txt", "x")
    assert failed_with(submit_de(buffer.getvalue(), "many.zip"), "100,000 members", "limit is 10,000")


def test_nested_archive(submit_de):
    inner = zipped({"a.jsonl": GOOD})
    assert failed_with(submit_de(zipped({"inner.zip": inner}), "outer.zip"), "nested archives are refused")


def test_unsupported_type(submit_de):
    assert failed_with(submit_de(GOOD, "data.docx"), "Unsupported file type")


def test_an_endless_text_document_is_one_error_not_a_memory_spike(submit_de, settings):
    settings.INGEST = {**settings.INGEST, "MAX_RECORD_BYTES": 10_000}
    endless = "Ein Satz ohne Ende.\n" * 2_000
    submission = submit_de("\n\n".join([documents(1)[0], endless, documents(1, seed=2)[0]]), name="docs.txt")
    assert (submission.records_accepted, submission.records_rejected) == (2, 1)
    assert english(submission.errors) == [{"line": 3, "message": "the document is longer than the 10,000-byte limit for one record"}]


USER = {"role": "user", "content": "Wie spät ist es?"}
ASSISTANT = {"role": "assistant", "content": "Es ist halb drei."}
CONVERSATION = 'conversations are {"messages": [{"role": …, "content": …}, …]}'
ITEM = 'evaluation items are {"question": …, "choices": […], "answer": i}'
QUESTION = "Welche Farbe hat der Himmel?"


@pytest.mark.parametrize(
    "kind,data,message",
    [
        ("pretraining", {}, 'missing field \'text\' (pretraining documents are {"text": …})'),
        ("pretraining", {"text": None}, 'field \'text\' is null (pretraining documents are {"text": …})'),
        ("pretraining", {"text": " "}, "field 'text' is empty"),
        ("conversation", {}, f"missing field 'messages' ({CONVERSATION})"),
        ("conversation", {"messages": "Hallo"}, "field 'messages' must be a list of turns, not str"),
        ("conversation", {"messages": [USER]}, "a conversation needs at least two turns (a user turn and an assistant reply); this one has 1"),
        ("conversation", {"messages": [USER, "Hallo"]}, "message 2 must be an object with 'role' and 'content', not str"),
        ("conversation", {"messages": [USER, {"content": "Hallo"}]}, "message 2: missing field 'role' (one of system, user, assistant)"),
        ("conversation", {"messages": [USER, {"role": "human", "content": "Hallo"}]}, "message 2: field 'role' is 'human'; use one of system, user, assistant"),
        ("conversation", {"messages": [USER, {"role": "x" * 40, "content": "Hallo"}]}, "message 2: field 'role' must be one of system, user, assistant"),
        ("conversation", {"messages": [USER, {"role": "assistant"}]}, "message 2: missing field 'content' (the text of the turn)"),
        ("conversation", {"messages": [USER, {"role": "assistant", "content": ""}]}, "message 2: field 'content' is empty"),
        ("conversation", {"messages": [USER, USER]}, "a conversation needs a user turn and an assistant turn; this one has no assistant turn"),
        ("conversation", {"messages": [ASSISTANT, ASSISTANT]}, "a conversation needs a user turn and an assistant turn; this one has no user turn"),
        ("evaluation", {"question": QUESTION, "answer": 0}, f"missing field 'choices' ({ITEM})"),
        ("evaluation", {"question": QUESTION, "choices": "blau", "answer": 0}, "field 'choices' must be a list of answers, not str"),
        ("evaluation", {"question": QUESTION, "choices": ["blau"], "answer": 0}, "field 'choices' needs at least two answers; this one has 1"),
        ("evaluation", {"question": QUESTION, "choices": ["blau", 7], "answer": 0}, "the choice at index 1 must be a string, not int"),
        ("evaluation", {"question": QUESTION, "choices": ["blau", " "], "answer": 0}, "the choice at index 1 is empty"),
        ("evaluation", {"question": QUESTION, "choices": ["blau", "rot", "blau "], "answer": 0}, "the choices at index 0 and 2 are the same"),
        ("evaluation", {"question": QUESTION, "choices": ["blau", "rot"]}, "missing field 'answer' (the 0-based index of the correct choice)"),
        ("evaluation", {"question": QUESTION, "choices": ["blau", "rot"], "answer": "0"}, "field 'answer' must be a whole number (the 0-based index of the correct choice), not str"),
        ("evaluation", {"question": QUESTION, "choices": ["blau", "rot"], "answer": True}, "field 'answer' must be a whole number (the 0-based index of the correct choice), not bool"),
        ("evaluation", {"question": QUESTION, "choices": ["blau", "rot"], "answer": 2}, "field 'answer' is 2, but the 2 choices have indexes 0 to 1"),
        ("evaluation", {"question": QUESTION, "choices": ["blau", "rot"], "answer": -1}, "field 'answer' is -1, but the 2 choices have indexes 0 to 1"),
        ("pretraining", {"text": "Hallo", "id": 1.5}, "field 'id' must be a string or a whole number, not float"),
        ("pretraining", {"text": "Hallo", "meta": []}, "field 'meta' must be a JSON object, not list"),
    ],
)
def test_each_schema_problem_has_its_own_message(kind, data, message):
    with pytest.raises(RecordError) as raised:
        validate(kind, data)
    assert str(raised.value) == message


def test_a_one_turn_conversation_is_rejected_for_its_turns_not_a_missing_field(submit_de):
    lines = jsonl([{"messages": [USER]}, {"messages": [USER, ASSISTANT]}])
    submission = submit_de(lines, "chat.jsonl", kind="conversation")
    assert (submission.records_accepted, submission.records_rejected) == (1, 1)
    assert english(submission.errors) == [{"line": 1, "message": "a conversation needs at least two turns (a user turn and an assistant reply); this one has 1"}]
