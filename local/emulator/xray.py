"""X-Ray's daemon, as Lambda's active tracing runs it beside a function: the function sends segment documents over UDP
to `AWS_XRAY_DAEMON_ADDRESS` (Lambda Developer Guide, "Defined runtime environment variables"). A datagram is the
header `{"format": "json", "version": 1}`, a newline, then one segment or subsegment document (X-Ray Developer Guide,
"Sending segment documents to the X-Ray daemon"). What X-Ray would refuse is counted, not kept: a document missing a
required field, or a malformed id, trace id or annotation key (X-Ray Developer Guide, "AWS X-Ray segment
documents")."""

from __future__ import annotations

import json
import re
import socket
import threading
from typing import Any

HEADER = {"format": "json", "version": 1}
# Kept for the tests' looks: the newest first to go when a long session fills it.
KEPT = 20_000

_TRACE_ID = re.compile(r"^1-[0-9a-f]{8}-[0-9a-f]{24}$")
_ID = re.compile(r"^[0-9a-f]{16}$")
# Segment names: Unicode letters, numbers and whitespace, and _ . : / % & # = + \ - @ ; at most 200 characters.
_NAME = re.compile(r"^[\w\s.:/%&#=+\\\-@]{1,200}$")
_ANNOTATION_KEY = re.compile(r"^[A-Za-z0-9_]{1,500}$")

LOCK = threading.Lock()
SEGMENTS: list[dict[str, Any]] = []
REFUSED: list[str] = []


def problem(document: Any) -> str | None:
    """Why X-Ray would refuse this document, or None."""
    if not isinstance(document, dict):
        return "not a JSON object"
    subsegment = document.get("type") == "subsegment"
    required = ["name", "id", "trace_id", "start_time"] + (["parent_id"] if subsegment else [])
    missing = [field for field in required if field not in document]
    if missing:
        return f"missing {', '.join(missing)}"
    if "end_time" not in document and not document.get("in_progress"):
        return "neither end_time nor in_progress"
    if not isinstance(document["name"], str) or not _NAME.match(document["name"]):
        return f"bad name {document['name']!r}"
    if not isinstance(document["id"], str) or not _ID.match(document["id"]):
        return f"bad id {document['id']!r}"
    if not isinstance(document["trace_id"], str) or not _TRACE_ID.match(document["trace_id"]):
        return f"bad trace_id {document['trace_id']!r}"
    for key, value in (document.get("annotations") or {}).items():
        if not _ANNOTATION_KEY.match(key) or not isinstance(value, (str, int, float, bool)):
            return f"bad annotation {key!r}"
    return None


def receive(datagram: bytes) -> None:
    header, _, body = datagram.partition(b"\n")
    try:
        if json.loads(header) != HEADER:
            raise ValueError(f"header {header!r}")
        document = json.loads(body)
    except ValueError as error:
        with LOCK:
            REFUSED.append(f"unreadable datagram: {error}")
        return
    why = problem(document)
    with LOCK:
        if why:
            REFUSED.append(why)
        else:
            SEGMENTS.append(document)
            del SEGMENTS[:-KEPT]


def serve(host: str) -> int:
    """Listens on a free UDP port of `host`; returns the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 0))

    def loop() -> None:
        while True:
            datagram, _ = sock.recvfrom(65535)
            receive(datagram)

    threading.Thread(target=loop, name="xray-daemon", daemon=True).start()
    return int(sock.getsockname()[1])


def report(run: str | None = None) -> dict[str, Any]:
    """`GET /xray[?run=RUN]`: the documents received (those annotated with the run), and what was refused."""
    with LOCK:
        segments = [s for s in SEGMENTS if run is None or (s.get("annotations") or {}).get("run") == run]
        return {"segments": segments, "refused": list(REFUSED)}
