"""Parse one member stream into items: (line, data) or (line, error).

Formats: JSONL, CSV/TSV with a header, plain text (documents separated by
blank lines; in an archive, one document per file) and Parquet. Every bad
line becomes an error item with its number; whole-file problems (encoding)
raise ``SubmissionRefused``.
"""

import codecs
import csv
import io
import json
from typing import Iterator

from .containers import Member
from .decoding import describe_bad_byte, stream_encoding
from .errors import SubmissionRefused
from .items import Item, too_long
from .messages import Message
from .messages import gettext_noop as _
from .parquet import parquet_items

JSON_FIELDS = ("choices", "messages", "meta", "responses", "ranking")

# The JSON decoder's common complaints, marked for translation as they are, so
# the English stays the decoder's and a translated page shows no English inside its sentence.
JSON_DETAILS = frozenset({
    _("Expecting value"),
    _("Expecting property name enclosed in double quotes"),
    _("Expecting ':' delimiter"),
    _("Expecting ',' delimiter"),
    _("Unterminated string starting at"),
    _("Invalid control character at"),
    _("Invalid \\escape"),
    _("Invalid \\uXXXX escape"),
    _("Extra data"),
})


def parse_json_line(raw: str, line: int) -> Item:
    """One JSONL line → an item. Error messages never quote the content."""
    try:
        value = json.loads(raw.rstrip("\r\n"))
    except json.JSONDecodeError as exc:
        return Item(line, error=Message(_("invalid JSON: %(detail)s (column %(column)s)"),
                                        {"detail": json_detail(exc.msg), "column": exc.colno}))
    except RecursionError:
        return Item(line, error=Message(_("invalid JSON: nested too deeply")))
    except ValueError as exc:  # e.g. an integer with more digits than Python allows
        return Item(line, error=Message(_("invalid JSON: %(detail)s"), {"detail": str(exc).split(";")[0]}))
    if not isinstance(value, dict):
        return Item(line, error=Message(_("expected a JSON object, found %(type)s"), {"type": type(value).__name__}))
    return Item(line, data=value)


def iter_items(member: Member, *, max_record_bytes: int) -> Iterator[Item]:
    parse = {"jsonl": _jsonl, "csv": _csv, "tsv": _csv, "text": _text, "parquet": parquet_items}[member.format]
    yield from parse(member, max_record_bytes)


def _binary_lines(stream, max_bytes: int, encoding: str) -> Iterator[tuple[int, str | None]]:
    """UTF-8 lines with their numbers; (n, None) for a line over the size limit."""
    offset, number = 0, 0
    if encoding == "utf-8-sig":
        offset = len(stream.read(3))
    while True:
        raw = stream.readline(max_bytes + 1)
        if not raw:
            return
        number += 1
        if len(raw) > max_bytes and not raw.endswith(b"\n"):
            offset += len(raw) + _skip_rest_of_line(stream)
            yield number, None
            continue
        nul = raw.find(b"\0")
        if nul != -1:
            raise SubmissionRefused(Message(
                _("The file holds binary data (a NUL byte at byte %(offset)s, line %(line)s)."),
                {"offset": f"{offset + nul:,}", "line": f"{number:,}"},
            ))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SubmissionRefused(describe_bad_byte(raw, exc.start, base_offset=offset, line=number)) from None
        offset += len(raw)
        yield number, text


def _skip_rest_of_line(stream) -> int:
    skipped = 0
    while True:
        piece = stream.readline(1 << 20)
        skipped += len(piece)
        if not piece or piece.endswith(b"\n"):
            return skipped


def _text_lines(member: Member, max_bytes: int) -> Iterator[tuple[int, str | None]]:
    encoding = stream_encoding(member.stream)
    if encoding.startswith("utf-8"):
        yield from _binary_lines(member.stream, max_bytes, encoding)
        return
    reader = codecs.getreader(encoding)(member.stream, errors="strict")
    number = 0
    try:
        for line in reader:
            number += 1
            yield number, (line if len(line) * 2 <= max_bytes else None)
    except UnicodeDecodeError:
        raise SubmissionRefused(Message(_("The file is not valid UTF-16: a bad byte sequence near line %(line)s."),
                                        {"line": f"{number + 1:,}"})) from None


def json_detail(decoder_message: str) -> Message | str:
    """The decoder's message as a translatable phrase; a rare one stays the decoder's English (it names no content)."""
    return Message(decoder_message) if decoder_message in JSON_DETAILS else decoder_message


def _jsonl(member: Member, max_bytes: int) -> Iterator[Item]:
    for number, text in _text_lines(member, max_bytes):
        if text is None:
            yield too_long(number, max_bytes)
        elif text.strip():
            yield parse_json_line(text, number)


def _text(member: Member, max_bytes: int) -> Iterator[Item]:
    """Documents separated by blank lines; in an archive, each text file is one."""
    start, buffer, size = None, [], 0
    for number, text in _text_lines(member, max_bytes):
        blank = text is not None and not text.strip()
        if blank and not member.in_archive:
            if buffer or size:
                yield _document(start, buffer, size, max_bytes)
            start, buffer, size = None, [], 0
            continue
        start = start or number
        size += max_bytes + 1 if text is None else len(text)
        if size <= max_bytes:
            buffer.append(text)
        else:
            buffer = []  # too long already: keep counting, hold nothing
    if buffer or size:
        yield _document(start, buffer, size, max_bytes)


def _document(start: int, buffer: list[str], size: int, max_bytes: int) -> Item:
    if size > max_bytes:
        return Item(start, error=Message(_("the document is longer than the %(limit)s-byte limit for one record"),
                                         {"limit": f"{max_bytes:,}"}))
    return Item(start, data={"text": "".join(buffer)})


def _csv(member: Member, max_bytes: int) -> Iterator[Item]:
    text = io.TextIOWrapper(member.stream, encoding=stream_encoding(member.stream), errors="strict", newline="")
    csv.field_size_limit(max_bytes)
    reader = csv.reader(text, delimiter="\t" if member.format == "tsv" else ",")
    try:
        header = next(reader, None)
        if not header:
            return
        header = [h.strip() for h in header]
        # Decoding drops the BOM; a second one, from a tool that adds its own on re-saving, would stay.
        header[0] = header[0].lstrip("\ufeff")
        previous = reader.line_num
        for row in _rows(reader):
            line, previous = previous + 1, reader.line_num
            if isinstance(row, Exception):
                yield Item(line, error=Message(_("bad CSV row: %(detail)s"), {"detail": str(row)}))
            elif not any(cell.strip() for cell in row):
                continue
            elif len(row) != len(header):
                yield Item(line, error=Message(_("the row has %(fields)s fields; the header has %(header)s"),
                                               {"fields": len(row), "header": len(header)}))
            else:
                yield _coerce_csv_row(dict(zip(header, row)), line)
    except UnicodeDecodeError:
        raise SubmissionRefused(Message(
            _("The file is not UTF-8 or UTF-16 text: an invalid byte near line %(line)s."),
            {"line": f"{reader.line_num + 1:,}"},
        )) from None


def _rows(reader):
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield exc


def _coerce_csv_row(row: dict, line: int) -> Item:
    """CSV cells are strings: decode the JSON-valued columns and the answer index."""
    for key in JSON_FIELDS:
        value = row.get(key)
        if value is None:
            continue
        if not value.strip():
            row.pop(key)
        elif value.strip()[0] in "[{":
            try:
                row[key] = json.loads(value)
            except (ValueError, RecursionError):
                return Item(line, error=Message(_("column %(column)s is not valid JSON"), {"column": repr(key)}))
        elif key == "choices":
            row[key] = [choice.strip() for choice in value.split("|")]
    if isinstance(row.get("answer"), str):
        try:
            row["answer"] = int(row["answer"].strip())
        except ValueError:
            return Item(line, error=Message(_("column 'answer' is not a whole number")))
    return Item(line, data=row)
