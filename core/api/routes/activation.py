"""POST /api/v1/activate: a box on site trades a one-time activation code for sensor credentials."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field

from core.fleet import activation
from core.api.deps import DB, SettingsDep
from core.api.models import Out, refusals

router = APIRouter(tags=["activation"])

STATUS = {
    "malformed": status.HTTP_400_BAD_REQUEST,
    "unknown": status.HTTP_404_NOT_FOUND,
    "used": status.HTTP_409_CONFLICT,
    "expired": status.HTTP_410_GONE,
}


class ActivationRequest(BaseModel):
    code: str = Field(max_length=64)


class Activated(Out):
    """What the box needs to run as the sensor the code was issued for."""

    sensor_id: int
    serial: str = Field(description="the box's serial number the code was issued for")
    name: str = Field(description="the sensor's name; may be empty")
    token: str = Field(description="the sensor's bearer token; shown only in this reply")
    ca_pem: str | None = Field(description="the CA certificate (PEM) to pin for the core, when configured")


@router.post("/api/v1/activate", responses=refusals({
    400: "not an activation code", 404: "unknown code", 409: "code already used", 410: "code expired"}))
def activate(body: ActivationRequest, db: DB, settings: SettingsDep) -> Activated:
    """The sensor's id, serial and bearer token (shown once), and the CA PEM to pin when set."""
    try:
        sensor, token = activation.redeem(db, body.code)
    except activation.ActivationError as exc:
        raise HTTPException(STATUS[exc.kind], str(exc)) from None
    ca = settings.ca_cert_file
    return {
        "sensor_id": sensor.id,
        "serial": sensor.serial,
        "name": sensor.name,
        "token": token,
        "ca_pem": ca.read_text() if ca else None,
    }
