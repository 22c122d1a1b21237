"""A tenant's forwarding destinations: add (validated), list with their state, remove."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.detect.kinds import SEVERITIES
from core.forward import outbox
from core.forward.models import Destination, OutboxEntry

SYSLOG_SCHEMES = ("udp", "tcp", "tls")
WEBHOOK_SCHEMES = ("http", "https")


class DestinationError(ValueError):
    """A destination that cannot be added; the message names the field."""


def check(url: str, fmt: str, min_severity: str, secret: str | None, files: dict[str, str | None]) -> None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DestinationError(f"bad url {url!r}: {exc}") from None
    if parts.scheme in SYSLOG_SCHEMES:
        if fmt not in ("cef", "leef"):
            raise DestinationError(f"a syslog destination's format is cef or leef, not {fmt!r}")
        if not parts.hostname or not port or parts.path not in ("", "/"):
            raise DestinationError(f"bad url {url!r}: want {parts.scheme}://host:port")
    elif parts.scheme in WEBHOOK_SCHEMES:
        if fmt != "json":
            raise DestinationError(f"a webhook's format is json, not {fmt!r}")
        if not parts.hostname:
            raise DestinationError(f"bad url {url!r}: no host")
        if not secret:
            raise DestinationError("a webhook needs a secret (the HMAC key)")
    else:
        raise DestinationError(f"bad url {url!r}: scheme must be one of "
                               + ", ".join(SYSLOG_SCHEMES + WEBHOOK_SCHEMES))
    if min_severity not in SEVERITIES:
        raise DestinationError(f"min severity must be one of {', '.join(SEVERITIES)}, not {min_severity!r}")
    for name, path in files.items():
        if path and not Path(path).is_file():
            raise DestinationError(f"{name} {path!r} is not a readable file")


def add(db: Session, tenant_id: int, name: str, url: str, fmt: str, min_severity: str = "info",
        secret: str | None = None, ca_file: str | None = None, cert_file: str | None = None,
        key_file: str | None = None, verify: bool = True) -> Destination:
    if not name or len(name) > 100:
        raise DestinationError("a destination needs a name of 1-100 characters")
    check(url, fmt, min_severity, secret, {"ca": ca_file, "cert": cert_file, "key": key_file})
    if db.scalar(select(Destination.id).where(Destination.tenant_id == tenant_id, Destination.name == name)):
        raise DestinationError(f"destination {name!r} exists")
    destination = Destination(tenant_id=tenant_id, name=name, url=url, format=fmt, min_severity=min_severity,
                              secret=secret, ca_file=ca_file, cert_file=cert_file, key_file=key_file,
                              verify=verify)
    db.add(destination)
    db.flush()
    return destination


def named(db: Session, tenant_id: int, name: str) -> Destination:
    destination = db.scalar(select(Destination).where(Destination.tenant_id == tenant_id,
                                                      Destination.name == name))
    if destination is None:
        raise DestinationError(f"no destination {name!r}")
    return destination


def remove(db: Session, destination: Destination) -> None:
    """The destination goes with its queue (undelivered rows are dropped: nobody will take them)."""
    db.execute(delete(OutboxEntry).where(OutboxEntry.destination_id == destination.id))
    db.delete(destination)


def masked_url(url: str) -> str:
    """The URL without user information, query, or more than the start of its path (webhook URLs
    often carry a token there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    path = parts.path if len(parts.path) <= 12 else parts.path[:12] + "…"
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{path}"


@dataclass(frozen=True)
class State:
    """What the page, the API and `forward list` show of a destination; secrets never in full."""

    id: int
    name: str
    url: str
    format: str
    min_severity: str
    secret: bool  # whether an HMAC key is set
    tls_files: tuple[str, ...]  # the TLS files' base names
    verify: bool
    last_success: datetime | None
    last_failure: datetime | None
    last_error: str | None
    failures: int
    next_attempt: datetime | None
    queued: int
    oldest_queued: datetime | None


def states(db: Session, tenant_id: int | None) -> list[tuple[int, State]]:
    """(tenant id, state) of every destination, or of one tenant's."""
    query = select(Destination).order_by(Destination.tenant_id, Destination.name)
    if tenant_id is not None:
        query = query.where(Destination.tenant_id == tenant_id)
    result = []
    for d in db.scalars(query):
        queued, oldest = outbox.queue_state(db, d.id)
        files = tuple(Path(f).name for f in (d.ca_file, d.cert_file, d.key_file) if f)
        result.append((d.tenant_id, State(
            d.id, d.name, masked_url(d.url), d.format, d.min_severity, bool(d.secret), files, d.verify,
            d.last_success, d.last_failure, d.last_error, d.failures, d.next_attempt, queued, oldest)))
    return result
