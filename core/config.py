"""Every core knob, read from ``MIERUKA_*`` environment variables (or a ``.env`` file)."""

from __future__ import annotations

import json
import tomllib
from functools import cached_property
from pathlib import Path

from pydantic import SecretStr
import limits
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.access import throttle


class RiskWeights(BaseModel):
    """The device risk formula's points, caps and multipliers (``core.analytics.risk``; docs/risk.md).

    A table given in configuration is merged over its defaults, so ``{"alert": {"critical": 40}}``
    changes one severity only.
    """

    model_config = ConfigDict(extra="forbid")

    alert: dict[str, float] = {"critical": 30, "high": 20, "medium": 10, "low": 3, "info": 0}  # per open alert
    alerts_cap: float = 40
    cvss: float = 4  # per CVSS point of the worst known vulnerability
    family_share: float = 0.5  # share counted of a match on vendor + product family only
    vulns_cap: float = 40
    internet_inbound: float = 25  # a public host reached the device
    internet_outbound: float = 15  # the device reached a public host
    remote_access: float = 15  # it accepts RDP, VNC, SSH, Telnet, TeamViewer or AnyDesk
    exposure_cap: float = 30
    insecure: dict[str, float] = {"telnet": 10, "ftp": 8, "http": 5, "smbv1": 10, "snmp": 5,
                                  "default_credentials": 20, "cleartext_credentials": 5}
    insecure_cap: float = 30
    unauthorized: float = 25  # the analyst marked it unauthorised
    unapproved_new: float = 10  # appeared after learning (open new-device alert), never authorised
    zone: float = 5  # per other zone it talks with
    zones_cap: float = 15
    role: dict[str, float] = {"plc": 1.5, "engineering_workstation": 1.4, "hmi": 1.2, "server": 1.1}
    importance: dict[str, float] = {"critical": 1.5, "high": 1.3, "medium": 1.1, "low": 0.9}
    high: int = 70  # a score from here is "high"
    medium: int = 40  # from here "medium", below "low"
    site_top: int = 5  # the site score is the mean of this many highest device scores
    days: float = 30  # pairs (internet peers, zone links) counted over this many days back

    @field_validator("alert", "insecure", "role", "importance", mode="before")
    @classmethod
    def _over_defaults(cls, value, info):
        return {**cls.model_fields[info.field_name].default, **value}

    @classmethod
    def load(cls, path: Path) -> RiskWeights:
        """Weights from a TOML or JSON file (by its suffix)."""
        text = path.read_text(encoding="utf-8")
        return cls.model_validate(json.loads(text) if path.suffix == ".json" else tomllib.loads(text))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MIERUKA_", env_file=".env", extra="ignore"
    )

    data_dir: Path = Path("./data")
    # chdb:///<dir> runs ClickHouse in-process; http(s)://host:8123/db talks to a server.
    clickhouse_url: str | None = None
    # Set to a cluster name to create Replicated + Distributed tables ON CLUSTER.
    clickhouse_cluster: str | None = None
    database_url: str | None = None  # SQLAlchemy URL of the control plane

    host: str = "127.0.0.1"
    port: int = 8000
    chromium: Path = Path("/usr/bin/chromium")  # prints the assessment report to PDF (core.report)
    max_batch_bytes: int = 32 * 1024 * 1024  # compressed request body limit for ingest
    # Batches whose interval or rows lie further ahead of the core's clock than this, or further
    # back than the oldest age, are refused with 400 (a sensor clock gone wrong, or a forged date).
    ingest_max_future_s: float = Field(300.0, ge=0)
    # at most what a row's retention (UInt16 days) can say
    ingest_max_age_days: float = Field(3650.0, gt=0, le=65535)
    session_hours: float = 12.0  # login session lifetime
    # Where login throttling (core.access.throttle) counts attempts: memory:// is per process; give a
    # shared storage URI (redis://host:6379) when several API processes serve logins.
    rate_limit_storage: str = "memory://"
    # Login attempts allowed (``limits`` notation; README "Login protection" explains the policy).
    login_limit_per_account_source: str = throttle.PER_ACCOUNT_FROM_SOURCE
    login_limit_per_source: str = throttle.PER_SOURCE

    @field_validator("login_limit_per_account_source", "login_limit_per_source")
    @classmethod
    def _limits(cls, value: str) -> str:
        limits.parse_many(value)  # ValueError names the bad part
        return value
    activation_code_days: float = 14.0  # how long a sensor activation code stays valid
    # The provider's own tenant: its billing users see every tenant's contracts (core.billing.contracts).
    provider_tenant: str = "provider"
    # Cross-tenant statistics (core/stats): a cell is published only when it aggregates at least
    # stats_k tenants and stats_m devices (sensors, for fleet health); otherwise it is suppressed.
    stats_k: int = Field(3, ge=2)
    stats_m: int = Field(10, ge=1)
    # Deletion (core.export.purge): a tenant's data goes this many days after its last contract ends.
    purge_grace_days: float = Field(30.0, ge=0)
    # Retention (core.export.retention): raw records per tenant (its own setting, else this; 0: kept),
    # rollups for every tenant — by default longer than the oldest data ingest accepts
    # (ingest_max_age_days), so no accepted batch's rollups expire on arrival.
    retention_raw_days: int = Field(400, ge=0, le=65535)
    retention_rollup_days: int = Field(3660, ge=1, le=65535)
    # Batches arriving while others are stored are stored together, up to this many rows per group
    # (core/ingest/group.py); 1 stores each batch on its own.
    ingest_group_rows: int = Field(500_000, ge=1)
    # Detection works out at most this many new things of each kind a batch shows one by one (new
    # devices, links, OT functions, device facts; new alerts of a kind); the rest are counted in one
    # new_flood alert (core/detect/budget.py). Real sites' first batches hold at most 76 of a kind.
    detect_new_per_batch: int = Field(2000, ge=100, le=100_000)
    # Tests of crash safety only: the core process exits at this ingest step (core.ingest.STEPS).
    ingest_crash_at: str = ""
    # PEM of the CA behind the core's TLS certificate; handed to sensors at activation, which pin it.
    ca_cert_file: Path | None = None
    # /metrics needs ``Authorization: Bearer <token>`` when set; unset, only loopback clients
    # reaching the core directly (no proxy headers) may read it.
    metrics_token: SecretStr | None = None
    docs: bool = True  # false: no /docs, /redoc or /openapi.json
    # Device risk weights: MIERUKA_RISK as JSON ({"alert": {"critical": 40}}), or a TOML/JSON file
    # (MIERUKA_RISK_FILE) that replaces them; docs/risk.md explains each.
    risk: RiskWeights = RiskWeights()
    risk_file: Path | None = None

    @cached_property
    def risk_weights(self) -> RiskWeights:
        return RiskWeights.load(self.risk_file) if self.risk_file else self.risk

    @cached_property
    def clickhouse_dsn(self) -> str:
        return (
            self.clickhouse_url or f"chdb://{(self.data_dir / 'clickhouse').resolve()}"
        )

    @cached_property
    def database_dsn(self) -> str:
        return (
            self.database_url or f"sqlite:///{(self.data_dir / 'control.db').resolve()}"
        )
