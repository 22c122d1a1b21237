"""CSRF protection for the dashboard's forms (double-submit, bound to the session).

The browser holds a random HttpOnly seed cookie; every form carries
``HMAC(seed, session cookie)``. A cross-site page can read neither cookie, so it cannot produce
the field, and a token stops working when the session it was issued for ends.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request, Response

from core.access.auth import SESSION_COOKIE
from dashboard.cookies import set_cookie

CSRF_COOKIE = "mieruka_csrf"


def seed(request: Request) -> str:
    """The browser's seed, or a fresh one to hand out with this response."""
    return request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)


def token(request: Request, seed_value: str) -> str:
    session = request.cookies.get(SESSION_COOKIE, "")
    return hmac.new(seed_value.encode(), session.encode(), hashlib.sha256).hexdigest()


def keep_seed(request: Request, response: Response, seed_value: str) -> None:
    if request.cookies.get(CSRF_COOKIE) != seed_value:
        set_cookie(request, response, CSRF_COOKIE, seed_value)


def is_valid(request: Request, submitted: str) -> bool:
    seed_value = request.cookies.get(CSRF_COOKIE)
    if not seed_value or not submitted:
        return False
    return hmac.compare_digest(token(request, seed_value), submitted)

