"""Send a task once the transaction commits, and survive a broker that is away.

The row that asks for the work is committed first, so the request has
succeeded whether or not the message gets out: a broker that cannot be
reached is logged, not raised, and the sweepers (``annotation.tasks.ingest_sweep``,
``training.tasks.runs_sweep``, named ``training.run_tasks.runs_sweep``) send again what was committed and never sent.
Tasks go by name, so no service imports a tasks module.
"""

import logging
from collections.abc import Callable

from celery import current_app
from django.db import transaction
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
