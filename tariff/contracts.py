"""Contract files (spec §4): JSON objects validated into plan contracts. Any missing, mistyped, unknown
or contradictory field raises ``InputError`` naming it; nothing is guessed."""

from __future__ import annotations

import json

from tariff.calendar import JAPAN, BusinessCalendar
from tariff.errors import InputError
from tariff.fields import Fields
from tariff.invoice import Contract
from tariff.plans import PARSERS


def parse_contract(data: object, calendar: BusinessCalendar = JAPAN) -> Contract:
    fields = Fields(data)
    contract_id = fields.text("contract_id")
    plan = fields.choice("plan", PARSERS)
    contract = PARSERS[plan](fields, contract_id, calendar)
    fields.done()
    return contract


def parse_contract_json(text: str, calendar: BusinessCalendar = JAPAN) -> Contract:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError("contract", f"not valid JSON: {exc}") from None
    return parse_contract(data, calendar)
