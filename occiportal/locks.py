"""PostgreSQL session advisory locks: one worker at a time on an object, across processes and hosts."""

from contextlib import contextmanager

from django.db import transaction


@contextmanager
def advisory_lock(namespace: int, key: int):
    """Yield whether this session got the lock on (namespace, key); ``False`` while another session holds it.

    A session lock, not a transaction lock: it is held across the commits a
    long task makes and let go when the block ends (or the connection dies
    with its worker). Elsewhere than PostgreSQL it always yields ``True``: the
    embedded SQLite set-up runs a single worker.
    """
    connection = transaction.get_connection()
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [namespace, key])
        mine = cursor.fetchone()[0]
    try:
        yield mine
    finally:
        if mine:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [namespace, key])
