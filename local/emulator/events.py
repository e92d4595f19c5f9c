"""State-change events on the default bus: each is made as AWS documents its shape (`state_event`) and put on its way
to the functions whose template rules match it (`emit`, through `delivery`, where faults and the chaos may drop,
delay, duplicate or reorder it). Entries the functions themselves put on a bus (PutEvents) are kept for GET /bus."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from moto.events import models

from . import delivery
from .faults import event_fault
from .state import FORWARDER, LOCK, next_sequence, original, replace

# Entries functions put on EventBridge buses (PutEvents), for the tests to read
BUS: list[dict[str, Any]] = []


def state_event(detail_type: str, source: str, account: str, region: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": f"{time.time_ns():x}-{next_sequence()}",
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [],
        "detail": detail,
    }


def emit(run: str | None, event: dict[str, Any]) -> None:
    """Puts a state-change event on the default bus (`delivery.deliver`: this run's faults, or the chaos, may drop,
    delay, duplicate or reorder it)."""
    if not FORWARDER:
        return
    delivery.deliver(FORWARDER[0], event, run=run, fault=event_fault(run, event))


def _recorded_put_events(self: Any, events: list[dict[str, Any]]) -> Any:
    with LOCK:
        BUS.extend(events)
    return original(models.EventsBackend, "put_events")(self, events)


def patch() -> None:
    """PutEvents entries are kept (moto delivers only to its own targets), for GET /bus."""
    replace(models.EventsBackend, "put_events", _recorded_put_events)
