"""What one Parquet column chunk can decode to, read from its page headers.

The footer's sizes are the writer's word; the page headers (Thrift compact
protocol) are what a reader decompresses and decodes by, so they are read
here, without decoding any page: per data page its value count and
encoding, and the dictionary page's longest value. A value count times the
longest value it may stand for bounds what a page decodes to, however few
bytes its run-length encoded indices take.
"""

from dataclasses import dataclass

import pyarrow as pa

DICTIONARY_PAGE = 2
DATA_PAGES = (0, 3)  # v1 and v2
PLAIN_DICTIONARY, RLE_DICTIONARY, DELTA_BYTE_ARRAY = 2, 8, 7
FIXED_WIDTHS = {"BOOLEAN": 1, "INT32": 4, "FLOAT": 4, "INT64": 8, "DOUBLE": 8, "INT96": 12}
OFFSET_BYTES = 4  # what Arrow keeps per string besides its bytes
CODECS = {"LZ4": "lz4_raw"}
# A dictionary page larger than this is not decompressed to find its longest
# value: the page's size stands for it.
LONGEST_READ_BYTES = 16 * 1024**2


@dataclass(frozen=True)
class ChunkBound:
    """The most a column chunk decodes to: ``plain`` from values stored as
    they are, ``dictionary`` from dictionary-encoded ones; ``stored`` is its
    dictionary page's own size; ``widest`` the most one value may take where
    a few stored bytes can stand for it (a fixed width, a delta-encoded
    string), else 0.

    Delta-encoded strings (each the end of the one before it plus its own
    bytes) count their pages' size here: what they decode to is charged as
    they are read, in batches that ``widest`` keeps small."""

    plain: int
    dictionary: int
    stored: int
    widest: int


@dataclass(frozen=True)
class _Page:
    kind: int
    uncompressed: int
    compressed: int
    values: int
    encoding: int
    body: int  # where the page's bytes start, after its header


def chunk_bound(stream, chunk, width: int | None) -> ChunkBound:
    """``chunk`` (a ColumnChunkMetaData) of the file ``stream``; ``width`` for fixed-width values, else None."""
    pages = _pages(stream, chunk)
    dictionary = next((page for page in pages if page.kind == DICTIONARY_PAGE), None)
    longest = width or (_longest_value(stream, dictionary, chunk.compression) if dictionary else 0)
    plain = encoded = 0
    widest = width or 0
    for page in (page for page in pages if page.kind in DATA_PAGES):
        if page.encoding in (PLAIN_DICTIONARY, RLE_DICTIONARY):
            encoded += page.values * (longest + (0 if width else OFFSET_BYTES))
        elif width:
            plain += page.values * width
        else:
            plain += page.uncompressed + page.values * OFFSET_BYTES
            if page.encoding == DELTA_BYTE_ARRAY:
                widest = max(widest, page.uncompressed)
    return ChunkBound(plain, encoded, dictionary.uncompressed if dictionary else 0, widest)


def _pages(stream, chunk) -> list[_Page]:
    start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
    end, position, pages = start + chunk.total_compressed_size, start, []
    while position < end:
        stream.seek(position)
        header = _Compact(stream).struct()
        detail = header.get(5) or header.get(7) or header.get(8) or {}
        page = _Page(kind=header.get(1), uncompressed=header.get(2), compressed=header.get(3),
                     values=detail.get(1, 0), encoding=detail.get(4 if 8 in header else 2), body=stream.tell())  # fmt: skip
        if not all(isinstance(n, int) and n >= 0 for n in (page.uncompressed, page.compressed, page.values)):
            raise ValueError(f"a damaged page header at byte {position}")
        pages.append(page)
        position = page.body + page.compressed
    return pages


def _longest_value(stream, page: _Page, codec: str) -> int:
    """The longest value of a dictionary page of strings (PLAIN: 4-byte length, bytes)."""
    if max(page.uncompressed, page.compressed) > LONGEST_READ_BYTES:
        return page.uncompressed
    stream.seek(page.body)
    data = stream.read(page.compressed)
    if codec != "UNCOMPRESSED":
        try:
            # pyarrow names LZ4_RAW, what it writes, "LZ4"; the Hadoop-framed LZ4 of old writers fails and is not read.
            data = pa.decompress(data, decompressed_size=page.uncompressed, codec=CODECS.get(codec, codec.lower()))
            data = data.to_pybytes()
        except (OSError, ValueError, NotImplementedError, pa.ArrowException):
            return page.uncompressed
    longest, position = 0, 0
    for _ in range(min(page.values, len(data) // 4)):  # the header's count is no reason to loop past the data
        size = int.from_bytes(data[position:position + 4], "little")
        longest, position = max(longest, size), position + 4 + size
    return min(longest, page.uncompressed)


class _Compact:
    """Just enough of Thrift's compact protocol to read a struct, binary fields skipped unread."""

    def __init__(self, stream):
        self._stream = stream

    def _byte(self) -> int:
        data = self._stream.read(1)
        if not data:
            raise ValueError("a page header ends early")
        return data[0]

    def _varint(self) -> int:
        value, shift = 0, 0
        while True:
            byte = self._byte()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
            if shift > 63:
                raise ValueError("a page header holds an overlong number")

    def _zigzag(self) -> int:
        value = self._varint()
        return (value >> 1) ^ -(value & 1)

    def struct(self) -> dict:
        fields, last = {}, 0
        while head := self._byte():
            last = last + (head >> 4) if head >> 4 else self._zigzag()
            fields[last] = self._value(head & 0x0F)
        return fields

    def _value(self, kind: int):
        if kind in (1, 2):  # a field's boolean lives in its type
            return kind == 1
        if kind == 3:
            return self._byte()
        if kind in (4, 5, 6):
            return self._zigzag()
        if kind == 7:
            return len(self._stream.read(8))
        if kind == 8:
            self._stream.seek(self._varint(), 1)
            return None
        if kind in (9, 10):
            head = self._byte()
            size = self._varint() if head >> 4 == 15 else head >> 4
            for _ in range(size):
                self._byte() if head & 0x0F in (1, 2) else self._value(head & 0x0F)
            return None
        if kind == 11:
            size = self._varint()
            kinds = self._byte() if size else 0
            for _ in range(size):
                self._value(kinds >> 4), self._value(kinds & 0x0F)
            return None
        if kind == 12:
            return self.struct()
        raise ValueError(f"a page header holds an unknown Thrift type {kind}")
