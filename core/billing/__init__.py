"""Billing: stored contracts, completion dates from the sensors, invoice runs (with tariff/)."""
