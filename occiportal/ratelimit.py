"""Fixed-window counters in the cache: how often something happened this window, across web processes."""

import hashlib
import time

from django.core.cache import cache


def rate_limit_hit(*, scope: str, key: str, limit: int, window_seconds: int) -> bool:
    """Count one more hit for ``key`` in ``scope``; return whether this window now holds more than ``limit``.

    ``key`` is hashed, so an e-mail address is not kept in the cache as written.
    """
    window = int(time.time() // window_seconds)
    bucket = f"ratelimit:{scope}:{hashlib.sha256(key.encode()).hexdigest()}:{window}"
    cache.add(bucket, 0, timeout=window_seconds)
    return cache.incr(bucket) > limit
