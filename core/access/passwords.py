"""Password policy: at least 8 characters, no reuse of the e-mail address or its user name, and
zxcvbn's strength estimate (which knows common passwords, repeats and sequences) of at least
MIN_SCORE, judged against the user's own e-mail, user name and tenant name."""

from __future__ import annotations

from typing import NamedTuple

from zxcvbn import zxcvbn

MIN_LENGTH = 8
MAX_LENGTH = 200  # argon2 would take more, but a pass phrase needs no more
ZXCVBN_MAX = 72
MIN_SCORE = 3  # zxcvbn: 0 too guessable … 4 very unguessable; 3 resists offline slow-hash attacks


class Weakness(NamedTuple):
    code: str  # too_short, too_long, contains_email, guessable: for translated messages
    message: str  # one line, starting with "password"


def weakness(password: str, email: str, tenant: str) -> Weakness | None:
    """None if ``password`` passes, else why not."""
    if len(password) < MIN_LENGTH:
        return Weakness("too_short", f"password must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        return Weakness("too_long", f"password must be at most {MAX_LENGTH} characters")
    email = email.strip().lower()
    local = email.partition("@")[0]
    folded = password.casefold()
    if email in folded or (len(local) >= 3 and local in folded):
        return Weakness("contains_email", "password must not contain the e-mail address or user name")
    # zxcvbn judges at most 72 characters (it raises beyond): longer pass phrases by their start.
    verdict = zxcvbn(password[:ZXCVBN_MAX], user_inputs=[email, local, tenant], max_length=ZXCVBN_MAX)
    if verdict["score"] < MIN_SCORE:
        hint = verdict["feedback"]["warning"] or " ".join(verdict["feedback"]["suggestions"])
        return Weakness("guessable", f"password is too easy to guess{': ' + hint if hint else ''}")
    return None
