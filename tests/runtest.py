"""Helpers for tests of `mieruka-sensor run`: the sensor and the core as real processes (so either
can be stopped, killed and started again), the sensor's config and log, the core's view over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from coretest import Tenant, provision_in
from installtest import CLI, sensor_env
from pgtest import controlplane_env, controlplane_url
from storetemplate import migrated

from core.store.controlplane import ControlPlane
from sensor.site import config as sensor_config

CORE_CLI = str(Path(sys.executable).parent / "mieruka")
WIDE = {"start": "2000-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def eventually(check, timeout: float = 60.0, every: float = 0.2):
    """``check()``'s first truthy value within ``timeout`` seconds; AssertionError with the last value."""
    end = time.monotonic() + timeout
    while not (value := check()) and time.monotonic() < end:
        time.sleep(every)
    assert value, f"not within {timeout:g} s: last {value!r}"
    return value


class Process:
    """A child process whose stderr is collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        eventually(lambda: text in self.log or self.proc.poll() is not None, timeout)
        assert text in self.log, f"exit code {self.proc.returncode}; log:\n{self.log}"

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, then the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self.reader.join(timeout=5)
        return code

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.kill()


def api_get(core_url: str, tenant: Tenant, path: str, **params):
    """GET a core API path as the tenant's analyst, over all time unless ``params`` say otherwise."""
    r = httpx.get(core_url + path, params={**WIDE, **params},
                  headers={"Authorization": f"Bearer {tenant.api_token}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def sensor_run(config: Path, capture: Path | None = None, netns: str | None = None) -> Process:
    """`mieruka-sensor run` with ``config``, on stand-in interfaces if ``capture``, in network namespace
    ``netns`` if given."""
    prefix = ["ip", "netns", "exec", netns] if netns else []
    return Process([*prefix, CLI, "run", "--config", str(config)], sensor_env(config, capture))


def write_config(path: Path, core_url: str, tenant: Tenant, serial: str, **settings) -> Path:
    """An activated sensor's config (mirror port eth1, spool next to it unless ``settings`` say otherwise)."""
    settings = {"interface": "eth1", "spool": str(path.parent / "spool")} | settings
    cfg = sensor_config.SensorConfig(core_url=core_url, token=tenant.sensor_token, sensor_id=tenant.sensor_id,
                                     serial=serial, **settings)
    sensor_config.save(cfg, path)
    return path


class CoreProcess:
    """`mieruka serve` on a fixed port and data directory, restartable."""

    def __init__(self, data_dir: Path, host: str = "127.0.0.1"):
        """``data_dir`` gets a migrated store if it has none (tests/storetemplate.py)."""
        self.data_dir, self.host, self.port = data_dir, host, free_port(host)
        self.url = f"http://{host}:{self.port}"
        self.process: Process | None = None
        self.controlplane = ControlPlane(controlplane_url(migrated(data_dir)))

    def start(self, **settings: str) -> CoreProcess:
        """Start it; ``settings`` are more MIERUKA_* variables (``ingest_crash_at="after:flows"``)."""
        env = os.environ | controlplane_env(self.data_dir) | {
            "MIERUKA_DATA_DIR": str(self.data_dir), "MIERUKA_HOST": self.host, "MIERUKA_PORT": str(self.port)
        } | {f"MIERUKA_{k.upper()}": v for k, v in settings.items()}
        self.process = Process([CORE_CLI, "serve"], env)
        eventually(self._healthy, 180)  # a start takes 30-110 s at load 15-18 on 2 vCPUs
        return self

    def _healthy(self) -> bool:
        assert self.process.proc.poll() is None, self.process.log
        try:
            return httpx.get(self.url + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        """A graceful stop (uvicorn ends by re-raising the SIGTERM it handled)."""
        assert self.process.stop() in (0, -signal.SIGTERM), self.process.log

    def provision(self, name: str) -> Tenant:
        self.controlplane.create_schema()
        return provision_in(self.controlplane, name)

    def get(self, tenant: Tenant, path: str, **params):
        return api_get(self.url, tenant, path, **params)

    def metric(self, name: str) -> float:
        """A sample of the core's /metrics (0 if absent)."""
        text = httpx.get(self.url + "/metrics", timeout=10).text
        return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " "))
