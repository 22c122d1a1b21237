"""Every core knob, read from ``MIERUKA_*`` environment variables (or a ``.env`` file)."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import SecretStr
import limits
from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.access import throttle


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
    max_batch_bytes: int = 32 * 1024 * 1024  # compressed request body limit for ingest
    # Batches whose interval or rows lie further ahead of the core's clock than this, or further
    # back than the oldest age, are refused with 400 (a sensor clock gone wrong, or a forged date).
    ingest_max_future_s: float = 300.0
    ingest_max_age_days: float = 3650.0
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
    # PEM of the CA behind the core's TLS certificate; handed to sensors at activation, which pin it.
    ca_cert_file: Path | None = None
    # /metrics needs ``Authorization: Bearer <token>`` when set; unset, only loopback clients
    # reaching the core directly (no proxy headers) may read it.
    metrics_token: SecretStr | None = None
    docs: bool = True  # false: no /docs, /redoc or /openapi.json

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
