"""Login throttling per source address and per (source address, account), with ``limits``.

Every attempt is counted before the password is checked (``hit`` is atomic in each storage), so
parallel guesses cannot slip past a limit. A success clears its (source, account) window. The
windows move (``MovingWindowRateLimiter``); storage is in memory unless MIERUKA_RATE_LIMIT_STORAGE
names a shared one (e.g. ``redis://host:6379``) for several API processes.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse, storage, strategies

# One address guessing one account; tight, and it cannot hurt the owner on another address.
PER_ACCOUNT_FROM_SOURCE = parse("5/15 minutes")
# One address guessing across accounts (an office behind NAT shares an address: successes count).
PER_SOURCE = (parse("10/minute"), parse("60/hour"))


class LoginThrottle:
    def __init__(self, storage_uri: str = "memory://"):
        self.limiter = strategies.MovingWindowRateLimiter(storage.storage_from_string(storage_uri))

    def admit(self, source: str, email: str) -> int | None:
        """Count an attempt: None if it may be checked, else the seconds until one may be."""
        email = email.strip().lower()
        windows: list[tuple[RateLimitItem, tuple[str, ...]]] = [
            (PER_ACCOUNT_FROM_SOURCE, ("login", source, email)),
            *((limit, ("login", source)) for limit in PER_SOURCE),
        ]
        for limit, ids in windows:
            if not self.limiter.hit(limit, *ids):
                reset = self.limiter.get_window_stats(limit, *ids).reset_time
                return max(1, math.ceil(reset - time.time()))
        return None

    def succeeded(self, source: str, email: str) -> None:
        self.limiter.clear(PER_ACCOUNT_FROM_SOURCE, "login", source, email.strip().lower())
