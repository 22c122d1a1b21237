"""A TCP proxy that misbehaves on command: the faults an LTE uplink shows a sensor, between the
sensor and a real core.

``proxy.mode`` may change at any moment and applies to the bytes forwarded from then on:

- ``pass``: forward both ways;
- ``blackhole``: forward nothing and answer nothing, like a dead radio link (the sender times out);
  a connection that saw it is reset once the mode changes;
- ``cut``: forward, but reset each connection with probability ``p`` at a random byte of what it
  carries up (batches of a few KiB) or down (answers of ~200 B), seeded: the core may or may
  not have stored the batch whose answer is lost;
- ``slow``: forward, each response chunk ``delay`` seconds late;
- ``hold``: forward requests, keep every response until the mode changes.
"""

from __future__ import annotations

import random
import select
import socket
import struct
import threading
import time

CHUNK = 65536


def _reset(sock: socket.socket) -> None:
    """Drop the connection (RST), waking the thread that reads it."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class FaultProxy:
    def __init__(self, upstream_port: int, host: str = "127.0.0.1", seed: int = 7, p: float = 1.0,
                 delay: float = 0.3):
        self.upstream = ("127.0.0.1", upstream_port)
        self.mode = "pass"
        self.rng = random.Random(seed)
        self.p, self.delay = p, delay
        self.cuts = 0
        self.listener = socket.create_server((host, 0))
        self.url = f"http://{host}:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.upstream, timeout=5)
        except OSError:  # the core is down: the sensor sees its connection reset
            _reset(client)
            return
        server.settimeout(None)
        way = self.rng.choice(["up", "down"])
        at = self.rng.randrange(4000 if way == "up" else 1000)
        link = {"dead": False, "cut": {way: at} if self.rng.random() < self.p else {}}
        threading.Thread(target=self._pump, args=(client, server, "up", link), daemon=True).start()
        self._pump(server, client, "down", link)

    def _pump(self, src: socket.socket, dst: socket.socket, way: str, link: dict) -> None:
        sent = 0
        try:
            readable = select.poll()  # not select.select: it fails on descriptors past 1023, and a long
            readable.register(src, select.POLLIN)  # test session holds more than that open by now
            while True:
                if not readable.poll(100):
                    if link["dead"] and self.mode != "blackhole":
                        break  # the link is back, but (as an LTE carrier's NAT) it forgot the connections
                    continue
                if not (data := src.recv(CHUNK)):
                    break
                if self.mode == "blackhole" or link["dead"]:
                    link["dead"] = True
                    continue
                if self.mode == "cut" and way in link["cut"] and sent + len(data) > link["cut"][way]:
                    dst.sendall(data[: link["cut"][way] - sent])
                    self.cuts += 1
                    break
                if way == "down":
                    while self.mode == "hold":
                        time.sleep(0.05)
                    if self.mode == "slow":
                        time.sleep(self.delay)
                dst.sendall(data)
                sent += len(data)
        except (OSError, ValueError):  # ValueError: a socket the other direction closed
            pass
        _reset(src)
        _reset(dst)
