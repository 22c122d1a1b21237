"""`mieruka-sensor activate` and `test` against a core serving HTTPS: the core's CA certificate is
pinned at activation and checked by the opening test. (A module of its own: its core has its own
chDB directory, and one process hosts one at a time.)"""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from coretest import LiveServer
from installtest import ETH0_MAC, PEER, SAMPLE, frames, interfaces, one_line, sensor, ship
from storetemplate import migrated

from core.api.app import create_app
from core.config import Settings


@pytest.fixture
def site(tmp_path) -> Path:
    return interfaces(tmp_path / "ifaces", frames(PEER, ETH0_MAC, 5), frames("00:1b:1b:00:00:01", PEER, 5))


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that is its own CA, and its key."""
    if not shutil.which("openssl"):
        pytest.skip("openssl not installed")
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    f"/CN={name}", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    return cert, key


def test_tls_core_certificate_is_pinned_at_activation(site, tmp_path):
    cert, key = self_signed(tmp_path, "core")
    settings = Settings(data_dir=migrated(tmp_path / "core"), ca_cert_file=cert)
    with LiveServer(create_app(settings), certfile=cert, keyfile=key) as tls_core:
        code = ship(tls_core, "SN-tls")
        config = tmp_path / "etc" / "sensor.toml"
        args = ("activate", "--core", tls_core.url, "--code", code, "--spool", tmp_path / "spool",
                "--sample-seconds", SAMPLE, "--no-service")
        res = sensor(*args, config=config, capture=site)  # the system CAs do not know this core
        assert res.returncode == 1 and "the core's TLS certificate at https://127.0.0.1:" in one_line(res)
        res = sensor(*args, "--ca", cert, config=config, capture=site)
        assert res.returncode == 0, res.stderr
        pinned = Path(tomllib.loads(config.read_text())["ca_file"])
        assert pinned == config.parent / "core-ca.pem" and pinned.read_text() == cert.read_text()
        res = sensor("test", "--sample-seconds", SAMPLE, config=config, capture=site)
        assert res.returncode == 0, res.stdout
        assert f"{tls_core.url} over TLS, certificate checked against {pinned}" in res.stdout
        pinned.write_text(self_signed(tmp_path, "impostor")[0].read_text())
        res = sensor("test", "--sample-seconds", SAMPLE, config=config, capture=site)
        fails = [line for line in res.stdout.splitlines() if line.startswith("FAIL")]
        assert res.returncode == 1 and len(fails) == 1 and "TLS certificate" in fails[0], res.stdout
        assert "ask the operator for the core's CA certificate" in fails[0]
