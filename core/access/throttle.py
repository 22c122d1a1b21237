"""Login throttling per source address and per (source address, account), with ``limits``.

Every attempt is counted before the password is checked (``hit`` is atomic in each storage), so
parallel guesses cannot slip past a limit. A success clears its (source, account) window. The
windows move (``MovingWindowRateLimiter``); storage is in memory unless MIERUKA_RATE_LIMIT_STORAGE
names a shared one (e.g. ``redis://host:6379``) for several API processes.
"""

from __future__ import annotations

import ipaddress
import math
import time

from limits import RateLimitItem, parse, parse_many, storage, strategies

# One address guessing one account: tight, yet it cannot hurt the owner on another address.
PER_ACCOUNT_FROM_SOURCE = "5/15 minutes"
# One address guessing across accounts (an office behind NAT shares an address: successes count).
PER_SOURCE = "10/minute;60/hour"
# Refusals go to the audit log at most this often per (source, account), so a flood cannot fill it.
AUDITED_REFUSALS = parse("1/minute")


class LoginThrottle:
    def __init__(self, storage_uri: str = "memory://", per_account_from_source: str = PER_ACCOUNT_FROM_SOURCE,
                 per_source: str = PER_SOURCE):
        """Limits in the ``limits`` notation, e.g. ``5/15 minutes`` or ``10/minute;60/hour``."""
        self.limiter = strategies.MovingWindowRateLimiter(storage.storage_from_string(storage_uri))
        self.per_pair = parse(per_account_from_source)
        self.per_source = parse_many(per_source)

    def admit(self, source: str, email: str) -> int | None:
        """Count an attempt: None if it may be checked, else the seconds until one may be."""
        source, email = source_key(source), email.strip().lower()
        windows: list[tuple[RateLimitItem, tuple[str, ...]]] = [
            (self.per_pair, ("login", source, email)),
            *((limit, ("login", source)) for limit in self.per_source),
        ]
        for limit, ids in windows:
            if not self.limiter.hit(limit, *ids):
                reset = self.limiter.get_window_stats(limit, *ids).reset_time
                return max(1, math.ceil(reset - time.time()))
        return None

    def worth_auditing(self, source: str, email: str) -> bool:
        """True for the first refusal of a (source, account) in AUDITED_REFUSALS' window."""
        return self.limiter.hit(AUDITED_REFUSALS, "login-refused", source_key(source), email.strip().lower())

    def unknown_account_paused(self, email: str, pause: float) -> int | None:
        """Seconds left of the pause ``unknown_account_failed`` put on an address, or None."""
        paused, key = _pause(pause), ("login-paused", email.strip().lower())
        if self.limiter.test(paused, *key):
            return None
        return max(1, math.ceil(self.limiter.get_window_stats(paused, *key).reset_time - time.time()))

    def unknown_account_failed(self, email: str, ceiling: int, pause: float) -> int | None:
        """Count a failure on an address that is no account, as core.access.auth counts one on an
        account: after ``ceiling`` failures it is paused ``pause`` seconds, so a locked account and an
        unknown address tried as often get the same answer. None, or the seconds until a retry."""
        email = email.strip().lower()
        if self.limiter.hit(parse(f"{ceiling}/{math.ceil(pause)} seconds"), "login-unknown", email):
            return None
        self.limiter.hit(_pause(pause), "login-paused", email)
        return self.unknown_account_paused(email, pause)

    def succeeded(self, source: str, email: str) -> None:
        self.limiter.clear(self.per_pair, "login", source_key(source), email.strip().lower())


def _pause(seconds: float) -> RateLimitItem:
    """One hit per pause: taken when an unknown address is paused, so its window is the pause."""
    return parse(f"1/{math.ceil(seconds)} seconds")


def source_key(address: str) -> str:
    """What a source is counted by: the IPv4 address, or the IPv6 /64 (one host usually holds a
    whole /64, so counting single IPv6 addresses would let it rotate past every limit)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)
