"""Forwarding alerts to the tenant's SIEM: destinations, the outbox, message formats and the worker.

``outbox.enqueue`` is called by alert detection in the caller's transaction; ``worker`` drains the
outbox in the background, per destination in order, with backoff while a receiver is down.
"""
