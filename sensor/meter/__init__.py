"""Packets → flows (Zeek conn.log semantics, interval records), application events, observations."""
