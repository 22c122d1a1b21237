"""The sensor's configuration file, written by `mieruka-sensor activate` and read by every command.

TOML (JSON when the name ends in ``.json``), mode 0600 since it holds the bearer token. The path is
``--config``, else ``$MIERUKA_SENSOR_CONFIG``, else /etc/mieruka/sensor.toml.
"""

from __future__ import annotations

import dataclasses
import json
import os
import ssl
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from sensor.active.settings import ActiveSettings, SettingError, parse_table
from sensor.errors import Problem

DEFAULT_PATH = Path("/etc/mieruka/sensor.toml")
ENV = "MIERUKA_SENSOR_CONFIG"
MIB = 1024 * 1024
CAPTURES = ("scapy", "dumpcap", "tpacket")


class ConfigError(Problem):
    """No usable configuration."""


class BadSetting(ConfigError):
    """A value the config may not hold (a usage error: exit code 2)."""

    exit_code = 2


@dataclass
class SensorConfig:
    core_url: str
    token: str
    sensor_id: int
    serial: str
    interface: str  # the mirror (SPAN) port
    spool: str = "/var/lib/mieruka/spool"  # queue of batches; health state files live here too
    spool_max_mb: int = 2048
    ca_file: str = ""  # PEM the core's certificate must chain to; "" = the system's trust store
    monthly_budget_mb: int = 3000  # LTE data allowance per month
    modem: str = ""  # "" = none (wired uplink), "mmcli" (ModemManager), or an AT port like /dev/ttyUSB2
    # `mieruka-sensor run`
    # "tpacket" (the kernel's mmap ring read in blocks: no loss at 200k frames/s in bench_live, least CPU),
    # "dumpcap" (kernel ring → rotating files; a backlog of minutes on disk) or "scapy" (AF_PACKET
    # socket, one read per frame: lost 6–40 % at 100k frames/s)
    capture: str = "tpacket"
    bpf_filter: str = ""  # tcpdump filter syntax; "" = every frame
    capture_buffer_mb: int = 64  # kernel buffer of the capture socket (tpacket: its ring)
    ring_dir: str = "/var/lib/mieruka/ring"  # dumpcap's rotating files
    ring_seconds: int = 10  # one file per this many seconds
    ring_files: int = 60  # files dumpcap keeps at most (unread ones included)
    interval_s: float = 60.0  # batch interval
    # flows kept open at once (~620 bytes each); beyond it the longest-quiet flows are reported
    # early and counted (the batches' evicted_flows) rather than the sensor running out of memory
    max_flows: int = 500_000
    heartbeat_s: float = 60.0  # health report period
    upload_timeout_s: float = 30.0  # per request to the core
    retry_max_s: float = 300.0  # longest wait between upload attempts (exponential backoff with jitter)
    economy_interval_s: float = 900.0  # near the data budget: flows summarised over this period
    # [active]: optional active identification, off unless its mode says otherwise (sensor/active/settings.py)
    active: ActiveSettings = field(default_factory=ActiveSettings)

    def __post_init__(self) -> None:
        self.active = parse_table(self.active)
        if self.capture not in CAPTURES:
            raise ValueError(f"capture must be one of {', '.join(CAPTURES)}, not {self.capture!r}")
        for name in ("interval_s", "heartbeat_s", "upload_timeout_s", "retry_max_s", "economy_interval_s",
                     "ring_seconds", "ring_files", "max_flows"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")

    @property
    def verify(self) -> ssl.SSLContext | bool:
        return trust(self.ca_file)


def trust(ca_file: str | Path | None) -> ssl.SSLContext | bool:
    """httpx ``verify`` for the core: only ``ca_file``'s CA (pinned), or the system's when none."""
    if not ca_file:
        return True
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot load the CA certificate {ca_file}: {exc}",
                          "ask the operator for the core's CA certificate and activate again") from None


def resolve(path: Path | None) -> Path:
    return path or Path(os.environ.get(ENV) or DEFAULT_PATH)


def load(path: Path) -> SensorConfig:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"no sensor config at {path}",
                          "activate first: mieruka-sensor activate --core URL --code CODE") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}",
                          "run as root (the config holds the token, so only its owner may read it)") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        return SensorConfig(**data)
    except SettingError as exc:
        raise BadSetting(f"{path}: {exc}", "fix the [active] table of the config") from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path} is not a valid sensor config: {exc}",
                          "fix the file, or activate again with a new code") from None


def save(config: SensorConfig, path: Path) -> None:
    """Write ``config`` atomically, readable by its owner only."""
    data = dataclasses.asdict(config)
    text = json.dumps(data, indent=2) if path.suffix == ".json" else tomli_w.dumps(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        os.fchmod(f.fileno(), 0o600)  # O_CREAT's mode does not apply to an existing file
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
