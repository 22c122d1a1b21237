"""Known vulnerabilities of the tenant's devices (advisories imported with ``mieruka advisories
import``), by CVE with the devices affected and by device."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query
from pydantic import Field

from core.analytics.vulnerabilities import SEVERITIES, tenant_vulnerabilities
from core.api.deps import ClickHouse, Principal
from core.api.models import NEEDS_LOGIN, Out, refusals
from core.vulns.match import CONFIDENCE

router = APIRouter(tags=["vulnerabilities"])

Severity = Literal[*(name for name, _ in SEVERITIES)]  # type: ignore[valid-type]
Confidence = Literal[*CONFIDENCE]  # type: ignore[valid-type]
CONFIDENCE_TEXT = ("exact: the model and the firmware are inside the advisory's product; family: the "
                   "device's product family is listed and its firmware is inside the range or unknown")


class Vulnerability(Out):
    """One CVE of one device, as an advisory states it."""

    cve: str = Field(examples=["CVE-2022-38465"])
    cvss: float = Field(description="CVSS v3 base score (the highest the advisory gives)", ge=0, le=10)
    severity: Severity = Field(description="CVSS v3 qualitative rating")
    advisory: str = Field(description="the advisory's tracking id", examples=["ICSA-22-286-04"])
    title: str = Field(description="the advisory's title")
    remediation: str = Field(description="what the advisory says to do for this product")
    product: str = Field(description="the advisory's product (and version condition) that matched")
    confidence: Confidence = Field(description=CONFIDENCE_TEXT)


class DeviceRef(Out):
    device: str = Field(description="the device's key (see /api/v1/assets/{device})")
    ip: str
    vendor: str
    model: str
    firmware: str
    role: str


class AffectedDevice(DeviceRef):
    confidence: Confidence = Field(description=CONFIDENCE_TEXT)
    product: str = Field(description="the advisory's product that matched")
    advisory: str
    remediation: str


class AdvisoryRef(Out):
    advisory: str
    title: str


class CveEntry(Out):
    cve: str
    cvss: float = Field(ge=0, le=10)
    severity: Severity
    advisories: list[AdvisoryRef]
    devices: list[AffectedDevice]


class VulnerableDevice(DeviceRef):
    max_cvss: float = Field(ge=0, le=10)
    vulnerabilities: list[Vulnerability] = Field(description="most severe first")


class SeverityCounts(Out):
    """CVEs affecting at least one device, by severity."""

    critical: int
    high: int
    medium: int
    low: int
    none: int


class Vulnerabilities(Out):
    counts: SeverityCounts
    devices_affected: int
    by_cve: list[CveEntry] = Field(description="most severe first")
    by_device: list[VulnerableDevice] = Field(description="highest CVSS first")


@router.get("/api/v1/vulnerabilities", responses=refusals({401: NEEDS_LOGIN, 422: "a bad filter"}))
def list_vulnerabilities(who: Principal, ch: ClickHouse,
                         min_cvss: float = Query(0, ge=0, le=10, description="leave out CVEs scored lower"),
                         confidence: Confidence | None = Query(None, description="only matches of this confidence"),
                         ) -> Vulnerabilities:
    """The tenant's devices matched against the imported advisories: by CVE and by device."""
    return tenant_vulnerabilities(ch, who.tenant_id, min_cvss, confidence)
