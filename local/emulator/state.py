"""What every part of the emulator shares: the simulated durations, the faults set for runs, the lock that guards
them, and the way a moto method is replaced while moto's own stays reachable."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

MOTO_VERSION = "5.2.5"

# A function of another environment's stack is named `<binary>--<env>` (see local/stack.py).
ENV_SEPARATOR = "--"


@dataclass
class Settings:
    """Simulated durations, in seconds."""

    cluster_start_seconds: float = 2.0
    bootstrap_seconds: float = 1.0
    step_seconds: float = 2.0
    glue_start_seconds: float = 1.0
    glue_run_seconds: float = 3.0
    glue_stop_seconds: float = 1.0
    # EMR copies a step's logs to the cluster's log URI minutes after the step ends (EMR Management Guide, "View log
    # files archived to Amazon S3": "every five minutes"); here, seconds. EMR Serverless's driver logs likewise.
    step_log_delay_seconds: float = 2.0
    # An EMR cluster's AutoTerminationPolicy.IdleTimeout (seconds) is multiplied by this: 1.0 is real time.
    idle_timeout_scale: float = 1.0
    # EMR Serverless (User Guide, "Application states", "Job run states"): an application goes CREATING → CREATED,
    # STARTING → STARTED (its pre-initialized capacity provisioned), STOPPING → STOPPED; a job run SCHEDULED →
    # RUNNING takes `serverless_warm_start_seconds` on pre-initialized workers, else `serverless_worker_start_seconds`
    # (on-demand workers provisioned), then runs `serverless_run_seconds`; CANCELLING → CANCELLED takes
    # `serverless_cancel_seconds`.
    serverless_app_create_seconds: float = 0.5
    serverless_app_start_seconds: float = 2.0
    serverless_app_stop_seconds: float = 1.0
    serverless_warm_start_seconds: float = 0.2
    serverless_worker_start_seconds: float = 3.0
    serverless_run_seconds: float = 2.0
    serverless_cancel_seconds: float = 1.0
    # Seconds per minute of autoStopConfiguration.idleTimeoutMinutes: 60 is real time.
    serverless_idle_scale: float = 60.0
    # Lambda retries a failed asynchronous invocation about a minute later, then two minutes after that (Lambda
    # Developer Guide, "Invoking a Lambda function asynchronously"): here, this many seconds and twice as many.
    async_retry_seconds: float = 1.0


SETTINGS = Settings()
LOCK = threading.RLock()
# run name -> fault spec (see control.ControlHandler)
FAULTS: dict[str, dict[str, Any]] = {}
# function → its Timeout in seconds (template.yaml); an invocation that takes longer fails as Lambda.Unknown
TIMEOUTS: dict[str, float] = {}
# (kind, id) → the state last announced, so that each change is announced once
ANNOUNCED: dict[tuple[str, str], str] = {}
# Clusters and EMR Serverless job runs that ended and whose every change was announced: nothing about them can change
# any more (the clock skips them, so that its work does not grow with every cluster a long session has made)
SETTLED: set[str] = set()
# The Lambda forwarder events go through (set by `install`)
FORWARDER: list[Any] = []
_SEQUENCE = [0]
# (owner, attribute) → moto's own, before `replace`
_ORIGINALS: dict[tuple[Any, str], Any] = {}


def now() -> datetime:
    """UTC now without a zone, as moto dates its resources."""
    return datetime.now(UTC).replace(tzinfo=None)


def next_sequence() -> int:
    """A number that grows with every call: event ids and S3 sequencers."""
    with LOCK:
        _SEQUENCE[0] += 1
        return _SEQUENCE[0]


def replace(owner: Any, name: str, replacement: Any) -> None:
    """Sets `owner.name` to `replacement`, keeping moto's own for `original` (the first one, if installed twice)."""
    _ORIGINALS.setdefault((owner, name), getattr(owner, name, None))
    setattr(owner, name, replacement)


def original(owner: Any, name: str) -> Any:
    """moto's own `owner.name`, as it was before `replace`."""
    return _ORIGINALS[(owner, name)]
