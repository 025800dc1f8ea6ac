"""An idle timeout for signed-in sessions that costs one write every few minutes, not one per request."""

import time

RENEWED_AT = "_renewed_at"
RENEW_AFTER_SECONDS = 300


class IdleSessionMiddleware:
    """Push a signed-in session's expiry on while it is in use, so ``SESSION_COOKIE_AGE`` is an idle timeout.

    Django's SESSION_SAVE_EVERY_REQUEST would do the same with a database
    write on every request. Here a session is saved (and its expiry moved to
    SESSION_COOKIE_AGE from now) when it was last saved over
    RENEW_AFTER_SECONDS ago; a session already being saved (a sign-in) is
    stamped for free. Requests that never read the session are left alone.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        session = getattr(request, "session", None)
        if session is None or not session.accessed or "_auth_user_id" not in session:
            return response
        now = int(time.time())
        if session.modified or now - session.get(RENEWED_AT, now) >= RENEW_AFTER_SECONDS:
            session[RENEWED_AT] = now
        return response
