"""The sensor's calls to the core other than batch upload: activation, clock, completion dates and
health reports. Every failure is a CoreError whose one-line message says what went wrong."""

from __future__ import annotations

import ssl
import time
from datetime import datetime

import httpx

from sensor.errors import Problem
from sensor.ship.uplink import response_detail

UNREACHABLE = "check the LTE dongle or network cable, and the core URL in the config"


class CoreError(Problem):
    """The core could not be reached or refused the request."""


class TokenRefused(CoreError):
    """The core does not accept this sensor's token (revoked, or the sensor was replaced)."""

    REMEDY = ("the token was revoked or the sensor replaced: ask the operator for a new "
              "activation code and run mieruka-sensor activate again")


def _caused_by(exc: BaseException | None, kind: type) -> bool:
    while exc is not None and not isinstance(exc, kind):
        exc = exc.__cause__ or exc.__context__
    return exc is not None


def _send(client: httpx.Client, method: str, url: str, **kw) -> httpx.Response:
    try:
        return client.request(method, url, **kw)
    except httpx.ConnectError as exc:
        if _caused_by(exc, ssl.SSLCertVerificationError):
            raise CoreError(f"the core's TLS certificate at {url} is not trusted: {exc}",
                            "ask the operator for the core's CA certificate (activate --ca)") from None
        raise CoreError(f"cannot reach the core at {url}: {exc}", UNREACHABLE) from None
    except httpx.HTTPError as exc:
        raise CoreError(f"no answer from the core at {url}: {type(exc).__name__}: {exc}",
                        UNREACHABLE) from None


def _request(client: httpx.Client, method: str, url: str, **kw) -> dict:
    resp = _send(client, method, url, **kw)
    if resp.status_code == 401:
        raise TokenRefused(f"the core refused this sensor's token: {response_detail(resp)}",
                           TokenRefused.REMEDY)
    if resp.status_code >= 400:
        raise CoreError(f"the core answered {resp.status_code}: {response_detail(resp)}")
    try:
        return resp.json()
    except ValueError:
        raise CoreError(f"{url} answered {resp.status_code} but not as a mieruka core: {resp.text[:200]!r}",
                        "check the core URL in the config") from None


def activate(core_url: str, code: str, verify: ssl.SSLContext | bool = True, timeout: float = 30.0) -> dict:
    """Redeem an activation code: {sensor_id, serial, name, token, ca_pem}."""
    with httpx.Client(timeout=timeout, verify=verify) as client:
        return _request(client, "POST", core_url.rstrip("/") + "/api/v1/activate", json={"code": code})


class CoreClient:
    """Calls made with the sensor's bearer token."""

    def __init__(self, core_url: str, token: str, verify: ssl.SSLContext | bool = True, timeout: float = 15.0):
        self.base = core_url.rstrip("/")
        self.client = httpx.Client(timeout=timeout, verify=verify,
                                   headers={"Authorization": f"Bearer {token}"})

    def close(self) -> None:
        self.client.close()

    def call(self, method: str, path: str, **kw) -> dict:
        return _request(self.client, method, self.base + path, **kw)

    def healthz(self) -> int:
        """The status code of the core's /healthz: any answer means the core is reachable."""
        return _send(self.client, "GET", self.base + "/healthz").status_code

    def clock_skew(self) -> float:
        """Seconds the core's clock is ahead of ours (negative: behind), corrected for the round trip."""
        sent = time.time()
        utc = datetime.fromisoformat(self.call("GET", "/api/v1/sensor/clock")["utc"])
        received = time.time()
        return utc.timestamp() - (sent + received) / 2

    def installation(self) -> dict:
        return self.call("POST", "/api/v1/sensor/installation")

    def opening_test(self, batch_id: str, checks: list[dict]) -> dict:
        return self.call("POST", "/api/v1/sensor/opening-test",
                         json={"batch_id": batch_id, "checks": checks})

    def health(self, report: dict) -> None:
        self.call("POST", "/api/v1/sensor/health", json=report)
