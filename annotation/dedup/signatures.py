"""MinHash signatures as zstd-compressed Parquet: one file per ingest chunk, the truth the band index is built from.

A file holds ``line`` (uint32) and ``band_0`` … ``band_<n-1>`` (int64, the
signed band hashes of annotation.ingest.minhash) for the records one chunk
stored. Files are bytes in, bytes out: where they live is the caller's
business (Django's default storage in the portal).
"""

import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def signatures_encode(lines: list[int] | np.ndarray, bands: list[list[int]] | np.ndarray) -> bytes:
    """The Parquet bytes of ``bands[i]`` (one row of band hashes) for record ``lines[i]``."""
    matrix = np.asarray(bands, dtype=np.int64).reshape(len(lines), -1)
    columns = {"line": pa.array(np.asarray(lines, dtype=np.uint32))}
    columns |= {f"band_{b}": pa.array(matrix[:, b]) for b in range(matrix.shape[1])}
    out = io.BytesIO()
    pq.write_table(pa.table(columns), out, compression="zstd")
    return out.getvalue()


def signatures_decode(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """``(lines, bands)``: uint32 lines and an int64 matrix of one row of band hashes per line."""
    # ParquetFile, not read_table: read_table goes through pyarrow.dataset, a second import for nothing.
    table = pq.ParquetFile(io.BytesIO(data)).read()
    lines = table.column("line").to_numpy().astype(np.uint32)
    names = sorted((n for n in table.column_names if n.startswith("band_")), key=lambda n: int(n[5:]))
    bands = np.column_stack([table.column(n).to_numpy() for n in names]) if names else np.empty((len(lines), 0))
    return lines, bands.astype(np.int64).reshape(len(lines), len(names))
