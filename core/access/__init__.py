"""Accounts and access: tenants, users, sensors' and API tokens, passwords, sessions, throttling, audit log."""
