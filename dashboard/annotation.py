"""The analyst's annotation form on an asset's page: read it, check it by the API's own rules
(``core.api.routes.assets.Annotation``), save it and leave a line in the audit log."""

from __future__ import annotations

import re

from pydantic import ValidationError
from sqlalchemy.orm import Session

from core.analytics import assets as ledger
from core.api.routes.assets import Annotation
from core.store.clickhouse import ClickHouseStore
from core.store.controlplane import User, audit
from dashboard.i18n import Translator

# Commas as typed on Western and Japanese keyboards.
TAG_SEPARATORS = re.compile(r"[,、，]")
FIELD_LABELS = {"authorized": "authorization", "importance": "importance", "tags": "tags", "notes": "notes",
                "zone": "zone", "purdue_level": "purdue_level"}


def parse(authorized: str, importance: str, tags: str, notes: str, zone: str = "",
          purdue_level: str = "") -> Annotation:
    """The submitted fields; raises ``ValidationError`` on a value the API would refuse."""
    tag_list = [tag.strip() for tag in TAG_SEPARATORS.split(tags) if tag.strip()]
    return Annotation(authorized=authorized, importance=importance, tags=tag_list, notes=notes, zone=zone,
                      purdue_level=purdue_level or None)


def error_message(exc: ValidationError, t: Translator) -> str:
    """Names the first field that was refused."""
    return t("annotation_invalid", field=t(FIELD_LABELS[exc.errors()[0]["loc"][0]]))


def save(ch: ClickHouseStore, db: Session, user: User, device: str, annotation: Annotation) -> None:
    ledger.annotate(ch, user.tenant_id, device, user.email, **annotation.model_dump())
    audit(db, user.email, "asset.annotate", user.tenant_id, f"{device}: {annotation.model_dump_json()}")
    db.commit()
