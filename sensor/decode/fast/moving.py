"""What the kernels of TCP protocols framed by a length header share (``sensor.decode.fast.framed``
scans them): their per-flow state, the scan's verdicts and counters (laid out as the Modbus kernel's)."""

from sensor.decode.fast.modbus import C_DROPPED, C_ERRORS, C_EVENTS, C_JOBS, C_MAX_EVENTS, C_PENDING, COUNTERS  # noqa: F401

# per-flow state: next sequence number per direction (-1: none yet), services (bit 1: the one
# service), whether the responder served it this interval and when, requests pending, the
# flow-table slot, whether the flow went on in Python; (not read here) the services told
F_SEQ, F_SERVICES, F_SERVED, F_SERVED_AT, F_PENDING, F_SLOT, F_MOVED, F_TOLD = 0, 2, 3, 4, 5, 6, 7, 8
FLOW_COLS = 9
INITIAL = (-1, -1, 0, 0, 0, 0, 0, 0, 0)  # a new flow's state (its slot set apart)
SERVICE = 1
JOB_COLS = 1  # (no jobs for Python)
DONE, MOVE, GROW, PIECE = 0, 1, 2, 3  # scan results (PIECE: a segment for Python to put together)
NOT_TAKEN, TAKEN, PIECES = 0, 1, 2  # what a kernel's takes() says of a frame
INCOMPLETE, BAD = -1, -2
