"""Tariff engine: opening dates, monthly invoices, late-payment interest and damages caps for OsecT,
Secure Camera Cloud, dot-i, CTS and Ciero contracts. A pure library (the CLI in ``tariff.cli`` is its only
I/O); the readings of the terms it relies on are in ``tariff.decisions``."""
