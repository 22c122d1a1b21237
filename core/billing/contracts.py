"""Contracts in the control plane: contract files (specs/tariff.md §4) checked by the tariff engine and
stored per tenant, OsecT ones with the sensors whose completion dates feed the opening date; and who
may read them.

Billing staff are users with role ``billing``. Those of the provider's own tenant
(``MIERUKA_PROVIDER_TENANT``) see every tenant's contracts; those of a customer tenant see that
tenant's only. No other role sees contracts. Writes are audited under the contract's tenant.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.access.accounts import AccountError
from core.access.auth import Identity
from core.billing.invoices import derive
from core.store.controlplane import Contract, ContractSensor, Sensor, Tenant, audit
from tariff.contracts import parse_contract_json
from tariff.errors import InputError
from tariff.plans import osect

MAX_CONTRACT_ID = 100  # the width of the contract_id column
BY_SERIAL = attrgetter("serial")  # the order of a contract's sensors, as loaded from the database


@dataclass(frozen=True)
class Scope:
    """A billing caller and whose contracts it sees: one tenant's, or all (``tenant_id`` None)."""

    who: Identity
    tenant_id: int | None


def billing_scope(db: Session, who: Identity, provider_tenant: str) -> Scope | None:
    """The caller's scope, or None when it is not billing staff."""
    if who.role != "billing":
        return None
    provider = db.get(Tenant, who.tenant_id).name == provider_tenant
    return Scope(who, None if provider else who.tenant_id)


def list_contracts(db: Session, tenant_id: int | None) -> list[Contract]:
    """One tenant's contracts, or every tenant's when ``tenant_id`` is None."""
    query = select(Contract).join(Contract.tenant).order_by(Tenant.name, Contract.contract_id)
    if tenant_id is not None:
        query = query.where(Contract.tenant_id == tenant_id)
    return list(db.scalars(query))


def get_contract(db: Session, contract: int, tenant_id: int | None) -> Contract | None:
    """Contract ``contract`` if it is in scope (``tenant_id`` None: any tenant's)."""
    found = db.get(Contract, contract)
    return found if found and tenant_id in (None, found.tenant_id) else None


def add_contract(
    db: Session, tenant: Tenant, text: str, sensors: Sequence[Sensor] = (), actor: str = "cli"
) -> Contract:
    """Store a contract file for ``tenant``. A bad file raises ``InputError`` naming the field, a bad
    sensor ``AccountError``; nothing is written then."""
    document = _checked(db, text, tenant.id, sensors, None)
    contract = Contract(
        tenant=tenant, contract_id=document["contract_id"], plan=document["plan"], document=document,
        sensors=sorted(sensors, key=BY_SERIAL),
    )
    db.add(contract)
    db.flush()
    audit(db, actor, "contract.add", tenant.id, _summary(contract))
    db.commit()
    return contract


def update_contract(
    db: Session, contract: Contract, text: str, sensors: Sequence[Sensor] | None = None, actor: str = "cli"
) -> Contract:
    """Replace a contract's file (changes, termination, corrected dates) and, when given, its sensors.
    The contract keeps its number."""
    sensors = contract.sensors if sensors is None else sensors
    document = _checked(db, text, contract.tenant_id, sensors, contract)
    if document["contract_id"] != contract.contract_id:
        raise InputError("contract_id", f"is {document['contract_id']!r}, but contract {contract.id} is "
                                        f"{contract.contract_id!r} (a contract keeps its number)")
    contract.plan, contract.document = document["plan"], document
    contract.sensors = sorted(sensors, key=BY_SERIAL)
    audit(db, actor, "contract.update", contract.tenant_id, _summary(contract))
    db.commit()
    return contract


def _checked(
    db: Session, text: str, tenant_id: int, sensors: Sequence[Sensor], contract: Contract | None
) -> dict:
    """The file's JSON object once the tariff engine accepts it as written and with the dates the
    sensors reported filled in, its number is free and the sensors can be linked."""
    parse_contract_json(text)
    document = json.loads(text)
    number = document["contract_id"]
    if len(number) > MAX_CONTRACT_ID:
        raise InputError("contract_id", f"longer than {MAX_CONTRACT_ID} characters")
    taken = db.scalar(select(Contract).where(Contract.contract_id == number))
    if taken is not None and taken is not contract:
        raise InputError("contract_id", f"{number!r} already exists (contract {taken.id})")
    _check_sensors(db, document["plan"], tenant_id, sensors, contract)
    if error := derive(document, sensors).error:
        raise error
    return document


def _check_sensors(
    db: Session, plan: str, tenant_id: int, sensors: Sequence[Sensor], contract: Contract | None
) -> None:
    if sensors and plan != osect.PLAN:
        raise AccountError(f"only OsecT contracts have sensors, not {plan!r} ones")
    for sensor in sensors:
        if sensor.tenant_id != tenant_id:
            raise AccountError(f"sensor {sensor.serial!r} is not the contract's tenant's")
        link = db.get(ContractSensor, sensor.id)
        if link is not None and (contract is None or link.contract_id != contract.id):
            raise AccountError(f"sensor {sensor.serial!r} already belongs to contract {link.contract_id}")


def _summary(contract: Contract) -> str:
    serials = ", ".join(s.serial for s in contract.sensors)
    return f"contract {contract.id} {contract.contract_id} ({contract.plan})" + (
        f", sensors {serials}" if serials else ""
    )


def record_access(db: Session, scope: Scope, action: str, detail: str) -> None:
    """Audit a billing read. Reads by the provider's staff are kept apart from every tenant's records
    (tenant None; specs/rules.md, Secrecy of communications); the detail names what was read."""
    audit(db, scope.who.email, action, scope.tenant_id, detail)
    db.commit()
