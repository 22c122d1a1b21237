"""The floor of any upload route in this stack: uvicorn + FastAPI, one POST route that reads the body
and answers as the ingest route does, storing nothing (``bench_ingest.py --modes floor``).

    .venv/bin/python bench/http_floor.py PORT
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI, Request

app = FastAPI()


@app.post("/api/v1/ingest")
async def ingest(request: Request) -> dict:
    await request.body()
    return {"status": "stored", "batch_id": "", "rows": {}}


@app.get("/readyz")
def ready() -> dict:
    return {"ready": True}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), workers=1, server_header=False, log_level="warning")
