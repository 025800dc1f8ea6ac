"""Send a task once the transaction commits, and survive a broker that is away.

The row that asks for the work is committed first, so the request has
succeeded whether or not the message gets out: a broker that cannot be
reached is logged, not raised, and a sweeper sends again what was committed
and never sent. Submissions are swept by their status (``annotation.tasks.ingest_sweep``);
everything else marks its row unsent (a ``*_unsent_since`` time, cleared once
the broker took the message: ``send_marked_on_commit``) and its sweeper sends
again the rows marked for longer than ``UNSENT_GRACE_SECONDS`` (``unsent_resend``):
training jobs, snapshot builds, Hub pushes and withdrawals' follow-ups (``training.run_tasks.runs_sweep``),
the admin's Argilla pushes (``annotation.argilla_tasks.argilla_push_sweep``).
Tasks go by name, so no service imports a tasks module.
"""

import logging
from collections.abc import Callable
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

log = logging.getLogger(__name__)


def send_on_commit(
    name: str, *, args: list, kwargs: dict | None = None, queue: str | None = None,
    on_sent: Callable[[], None] | None = None,
) -> None:  # fmt: skip
    """Send task ``name`` after the commit; then call ``on_sent`` (outside the transaction) if it went out."""

    def send() -> None:
        try:
            current_app.send_task(name, args=args, kwargs=kwargs or {}, queue=queue)
        except OperationalError as error:
            log.warning("could not send %s%s to the broker (%s); the sweeper will send it", name, args, error)
            return
        if on_sent is not None:
            on_sent()

    transaction.on_commit(send)


def send_marked_on_commit(
    name: str, *, row: models.Model, field: str, args: list, kwargs: dict | None = None, queue: str | None = None,
) -> None:  # fmt: skip
    """``send_on_commit`` for work that ``row`` marks unsent: ``field`` (a time) is cleared once the broker took it.

    The caller has set ``field`` (usually to now) in the same transaction;
    the mark is cleared only if it is still that one, so a later request
    marked meanwhile stays marked until its own message went out.
    """
    marked = type(row).objects.filter(pk=row.pk, **{field: getattr(row, field)})
    send_on_commit(name, args=args, kwargs=kwargs, queue=queue, on_sent=lambda: marked.update(**{field: None}))


def unsent_resend(rows: models.QuerySet, *, field: str, send: Callable[[models.Model], None], now=None) -> int:
    """Call ``send(row)`` again for each of ``rows`` marked unsent (``field``) for longer than the grace; how many.

    The grace keeps a sweeper from racing the send right after the commit.
    Each row is taken with SKIP LOCKED and checked again under the lock, so
    two sweepers at once send it once; its mark moves to ``now``, so a broker
    still away is tried again after another grace. ``send`` runs inside the
    row's transaction and is expected to send on commit (``send_marked_on_commit``).
    Only a process that dies between the send and clearing the mark sends twice:
    the tasks are idempotent.
    """
    now = now or timezone.now()
    stale = rows.filter(**{f"{field}__lt": now - timedelta(seconds=settings.UNSENT_GRACE_SECONDS)})

    def again(row: models.Model) -> None:
        log.warning("%s %s: %s was never sent (marked since %s); sending it again",
                    row._meta.label, row.pk, field, getattr(row, field).isoformat(timespec="seconds"))  # fmt: skip
        setattr(row, field, now)
        row.save(update_fields=[field])
        send(row)

    return each_locked(stale, again)


def each_locked(rows: models.QuerySet, act: Callable[[models.Model], None]) -> int:
    """Call ``act(row)`` for each of ``rows``, each in its own transaction under its row's lock; how many.

    The lock is taken with SKIP LOCKED and the row read again under it, so two
    sweepers at once act on a row once, and a row that no longer matches is skipped.
    """
    done = 0
    for pk in rows.values_list("pk", flat=True):
        with transaction.atomic():
            row = rows.select_for_update(skip_locked=True).filter(pk=pk).first()
            if row is None:
                continue
            act(row)
            done += 1
    return done
