"""Batches → crash-safe spool → uplink to the core, within the monthly data budget; the box's health."""
