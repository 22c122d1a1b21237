"""Compiled (numba) decoders for the hot polling protocols.

Each module here decodes what the Python decoder beside it (``sensor.decode.<name>``) decodes for
the common PDUs, into event columns rather than one Python object per PDU, with the same results:
``sensor.meter`` compares both paths on the simulated plant, the corpus and random payloads. Rare
or rich PDUs (identification answers) are handed back to the Python decoder's parsers.
"""
