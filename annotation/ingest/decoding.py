"""Text encodings: UTF-8 (with or without BOM) and UTF-16; nothing else.

A file that is neither is refused with the position of its first bad byte.
"""

import codecs

from .errors import SubmissionRefused
from .messages import Message
from .messages import gettext_noop as _

UTF8_BOM = codecs.BOM_UTF8
BLOCK = 1 << 20
HEAD = 4096


def read_head(stream, size: int = HEAD) -> bytes:
    """The first ``size`` bytes of ``stream``, left unread for the parser.

    Archive members are buffered readers and can peek; a plain upload is a
    Django storage file, which cannot, so it is read and rewound instead.
    """
    if hasattr(stream, "peek"):
        return stream.peek(size)[:size]
    start = stream.tell()
    head = stream.read(size)
    stream.seek(start)
    return head


def stream_encoding(stream) -> str:
    """The encoding of a text stream not yet read from; see ``sniff_encoding``."""
    return sniff_encoding(read_head(stream))


def sniff_encoding(head: bytes) -> str:
    """'utf-8-sig', 'utf-16' (with BOM), 'utf-16-le'/'utf-16-be' (no BOM) or 'utf-8'."""
    if head.startswith(UTF8_BOM):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    # UTF-16 without a BOM: text in Latin scripts has a NUL in every other byte.
    sample = head[:4096]
    if len(sample) >= 4:
        even_nuls = sample[0::2].count(0) / len(sample[0::2])
        odd_nuls = sample[1::2].count(0) / len(sample[1::2])
        if odd_nuls > 0.4 and even_nuls < 0.05:
            return "utf-16-le"
        if even_nuls > 0.4 and odd_nuls < 0.05:
            return "utf-16-be"
    return "utf-8"


def describe_bad_byte(data: bytes, offset: int, *, base_offset: int = 0, line: int | None = None) -> Message:
    byte = data[offset] if offset < len(data) else 0
    params = {"byte": f"0x{byte:02X}", "offset": f"{base_offset + offset:,}"}
    if line is None:
        template = _("The file is not UTF-8 or UTF-16 text: invalid byte %(byte)s at byte %(offset)s. "
                     "Save it as UTF-8 and upload it again.")
    else:
        template = _("The file is not UTF-8 or UTF-16 text: invalid byte %(byte)s at byte %(offset)s (line %(line)s). "
                     "Save it as UTF-8 and upload it again.")
        params["line"] = f"{line:,}"
    return Message(template, params)


class Utf8Validator:
    """Feed blocks of bytes; raises ``SubmissionRefused`` at the first bad one.

    Also counts newlines, so the error can name the line, and refuses NUL
    bytes, which no text file holds (a binary file renamed .jsonl).
    """

    def __init__(self):
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self.offset = 0
        self.newlines = 0

    def feed(self, block: bytes, final: bool = False) -> None:
        pending = self._decoder.getstate()[0]
        nul = block.find(b"\0")
        try:
            self._decoder.decode(block, final)
        except UnicodeDecodeError as exc:
            # exc.start counts from the bytes held back from the last block.
            bad = exc.start - len(pending)
            if nul == -1 or nul > bad:
                data = pending + block
                line = self.newlines + block.count(b"\n", 0, max(bad, 0)) + 1
                raise SubmissionRefused(
                    describe_bad_byte(data, exc.start, base_offset=self.offset - len(pending), line=line)
                ) from None
        if nul != -1:
            line = self.newlines + block.count(b"\n", 0, nul) + 1
            raise SubmissionRefused(Message(
                _("The file holds binary data (a NUL byte at byte %(offset)s, line %(line)s); "
                  "upload UTF-8 or UTF-16 text, or a supported archive or Parquet file."),
                {"offset": f"{self.offset + nul:,}", "line": f"{line:,}"},
            ))
        self.newlines += block.count(b"\n")
        self.offset += len(block)
