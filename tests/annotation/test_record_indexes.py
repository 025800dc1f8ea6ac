"""The indexes of the record table: each serves a query, and pretraining's pending queue has a slim one."""

import pytest
from django.db import connection

from .conftest import bare_submission, make_records

pytestmark = pytest.mark.django_db


def _walk_plan(language_id: int, kind: str) -> str:
    """The plan of the claim's walk (a queue's pending records, oldest first) with scans forced onto an index."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute(
            "EXPLAIN SELECT r.id FROM annotation_record r WHERE r.language_id = %s AND r.kind = %s "
            "AND r.status = 'pending' ORDER BY r.id LIMIT 1",
            [language_id, kind],
        )
        return "\n".join(row[0] for row in cursor.fetchall())


def test_the_pending_pretraining_walk_uses_the_index_without_the_kind_and_other_kinds_theirs(
    partner_a, member_a, german
):
    for kind in ("pretraining", "instruction"):
        make_records(bare_submission(partner=partner_a, uploader=member_a, language=german, kind=kind), 3)

    assert "record_pending_pretraining" in _walk_plan(german.pk, "pretraining")
    assert "record_pending_queue_order" in _walk_plan(german.pk, "instruction")
