"""The signature store: each ingest chunk's MinHash signatures as Parquet in the portal's file storage.

``signatures/<band scheme>/<submission>/<part>.parquet``: a part is an
ingest chunk's index, ``w<line>`` for a record written on the portal,
``reband-<n>`` for re-banded records, ``legacy`` for bands moved out of the
database. A part is written whole by the one step that made it; the store is
the truth, and the band index (``band_index()``) a cache rebuilt from it.
"""

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from annotation.dedup.index import BandIndex, band_keys, owner_keys
from annotation.dedup.signatures import signatures_decode, signatures_encode
from annotation.ingest.minhash import BAND_SCHEME

ROOT = "signatures"


def band_index(scheme: str = BAND_SCHEME) -> BandIndex:
    """The band index of ``scheme``, under NEAR_DUPLICATE_INDEX_DIR."""
    return BandIndex(settings.NEAR_DUPLICATE_INDEX_DIR / scheme)


def signatures_save(
    *, submission_id: int, part: str, lines: list[int] | np.ndarray, bands: list[list[int]] | np.ndarray,
    scheme: str = BAND_SCHEME,
) -> str:
    """Write one part's signatures (replacing a partial file an interrupted run of the same step left); its tag."""
    name = f"{ROOT}/{scheme}/{submission_id}/{part}.parquet"
    if default_storage.exists(name):
        default_storage.delete(name)
    default_storage.save(name, ContentFile(signatures_encode(lines, bands)))
    return f"{submission_id}/{part}"


def signature_parts(*, submission_id: int, scheme: str = BAND_SCHEME) -> list[str]:
    """The parts stored for a submission, as index tags ``<submission>/<part>``."""
    folder = f"{ROOT}/{scheme}/{submission_id}"
    if not default_storage.exists(folder):
        return []
    _folders, files = default_storage.listdir(folder)
    return sorted(f"{submission_id}/{name.removesuffix('.parquet')}" for name in files if name.endswith(".parquet"))


def signatures_submissions(*, scheme: str = BAND_SCHEME) -> list[int]:
    """Every submission with signatures of ``scheme``."""
    folder = f"{ROOT}/{scheme}"
    if not default_storage.exists(folder):
        return []
    folders, _files = default_storage.listdir(folder)
    return sorted(int(name) for name in folders if name.isdigit())


def signatures_keys(tags: list[str], scheme: str = BAND_SCHEME) -> tuple[np.ndarray, np.ndarray]:
    """``(keys, owners)`` of the parts ``tags`` (``<submission>/<part>``), one key per band of each record."""
    keys, owners = [np.empty(0, dtype=np.uint64)], [np.empty(0, dtype=np.uint64)]
    for tag in tags:
        with default_storage.open(f"{ROOT}/{scheme}/{tag}.parquet", "rb") as stream:
            lines, bands = signatures_decode(stream.read())
        keys.append(band_keys(bands))
        owners.append(np.repeat(owner_keys(int(tag.split("/")[0]), lines), bands.shape[1]))
    return np.concatenate(keys), np.concatenate(owners)


def signatures_index(tags: list[str], scheme: str = BAND_SCHEME) -> None:
    """Add the parts ``tags`` the index lacks, as one run; call inside ``band_index().locked()``.

    The parts are read one at a time and sorted in bounded spills: memory
    follows the largest part (an ingest chunk), not the submission.
    """
    index = band_index(scheme)
    missing = sorted(set(tags) - index.tags())
    if missing:
        index.add((signatures_keys([tag], scheme) for tag in missing), missing)


def index_rebuild(*, scheme: str = BAND_SCHEME) -> int:
    """Rebuild the band index of ``scheme`` from the signature store; returns how many keys it holds."""
    index = band_index(scheme)
    with index.locked():
        index.clear()
        for submission_id in signatures_submissions(scheme=scheme):
            signatures_index(signature_parts(submission_id=submission_id, scheme=scheme), scheme)
        return index.size()
