"""Many sensors' uploads at once from one asyncio process: bench_ingest.py's client.

    .venv/bin/python bench/fleet_client.py PORT BODIES CONNECTIONS

BODIES is a pickle of [(token, [body, ...]), ...]: each sensor posts its batches in order, every sensor
at once, at most CONNECTIONS of them at a time, each over a keep-alive connection of its own
(httpx.AsyncClient); a batch whose connection
failed is sent again, as a sensor does. Prints the seconds it took, this process's CPU seconds and the
resends as JSON; exits 1 if any batch was not stored.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import sys
import time

import httpx

RESENDS = 3


async def post_all(port: int, sensors: list[tuple[str, list[bytes]]], connections: int) -> tuple[list[str], int]:
    """Errors (batches not stored) and resends: a connection that failed is resent on another, as a
    sensor resends (a batch is stored once however often it is sent). Each sensor has a client and a
    keep-alive connection of its own, as a sensor does (one pool of hundreds of connections costs
    httpx far more CPU a request); at most ``connections`` sensors send at once."""
    errors: list[str] = []
    resent = 0
    sending = asyncio.Semaphore(connections)

    async def sensor(token: str, bodies: list[bytes]) -> None:
        nonlocal resent
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=300,
                                     headers={"Authorization": f"Bearer {token}"}) as client:
            for body in bodies:
                async with sending:
                    for attempt in range(RESENDS + 1):
                        try:
                            r = await client.post("/api/v1/ingest", content=body)
                            break
                        except httpx.TransportError as error:
                            if attempt == RESENDS:
                                errors.append(repr(error))
                                return
                            resent += 1
                if r.status_code != 200 or r.json()["status"] not in ("stored", "duplicate"):
                    errors.append(f"{r.status_code} {r.text[:200]}")
    await asyncio.gather(*(sensor(token, bodies) for token, bodies in sensors))
    return errors, resent


def main() -> None:
    port, path, connections = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    with open(path, "rb") as f:
        sensors = pickle.load(f)
    began, cpu = time.perf_counter(), time.process_time()
    errors, resent = asyncio.run(post_all(port, sensors, connections))
    print(json.dumps({"seconds": time.perf_counter() - began, "cpu": time.process_time() - cpu,
                      "resent": resent, "errors": len(errors), "example": errors[:1]}))
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
