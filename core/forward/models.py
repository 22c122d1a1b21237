"""Control-plane tables of forwarding: a tenant's destinations and the outbox (one row per alert
change × destination). Registered on the control plane's ``Base``, so ``create_schema`` makes them
once this module is imported (the API app and the CLI import it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.store.controlplane import Base, utcnow


class Destination(Base):
    __tablename__ = "forward_destinations"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # udp://, tcp:// or tls://host:port (syslog), http(s)://... (webhook)
    url: Mapped[str] = mapped_column(String(2000))
    format: Mapped[str] = mapped_column(String(10))  # cef, leef (syslog) or json (webhook)
    min_severity: Mapped[str] = mapped_column(String(10), default="info")
    secret: Mapped[str | None] = mapped_column(String(200))  # webhook HMAC key; never shown back
    ca_file: Mapped[str | None] = mapped_column(String(1000))  # TLS: CA bundle (default: system CAs)
    cert_file: Mapped[str | None] = mapped_column(String(1000))  # TLS: client certificate
    key_file: Mapped[str | None] = mapped_column(String(1000))
    verify: Mapped[bool] = mapped_column(default=True)  # TLS/HTTPS: check the receiver's certificate
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_success: Mapped[datetime | None]
    last_failure: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    failures: Mapped[int] = mapped_column(Integer, default=0)  # in a row; sets the backoff
    next_attempt: Mapped[datetime | None]  # no delivery before this (backoff)
    # A worker holds the destination until then, so two core processes never send the same row.
    lease_until: Mapped[datetime | None]


class OutboxEntry(Base):
    __tablename__ = "forward_outbox"
    __table_args__ = (Index("ix_forward_outbox_pending", "destination_id", "delivered_at", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)  # delivery order within a destination
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id"), index=True)
    destination_id: Mapped[int] = mapped_column(ForeignKey("forward_destinations.id", ondelete="CASCADE"))
    alert_id: Mapped[str] = mapped_column(String(100))
    alert: Mapped[dict] = mapped_column(JSON)  # the alert as given to enqueue
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    delivered_at: Mapped[datetime | None] = mapped_column(index=True)
