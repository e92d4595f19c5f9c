"""How events reach sparkplug's functions in the local emulator — and how they get lost, as on AWS.

Every event the emulator delivers goes through `deliver`: S3 "Object Created", EventBridge Scheduler's schedules
("Scheduled Event"), "Step Functions Execution Status Change", and the EMR, Glue and EMR Serverless state changes.
AWS promises none of them exactly once: EventBridge delivers at least once and the Step Functions status change best
effort (EventBridge User Guide, "Events from AWS services": delivery types), and EventBridge may deliver out of order.
So each can be dropped, delayed, duplicated or reordered — by a fault set for one run (the emulator's `events`
faults), or at a seeded rate across everything (`POST /faults {"chaos": …}`, see `Chaos`).

EventBridge (and Scheduler) invoke a Lambda target asynchronously (Lambda Developer Guide, "Invoking a Lambda
function asynchronously"): a function error is retried twice by default, about a minute and then two minutes later
(here `retry_seconds` and twice that), and an event that still fails goes to the function's on-failure destination
with the record Lambda writes ("Capturing records of asynchronous invocations": version, timestamp, requestContext
{requestId, functionArn, condition RetriesExhausted, approximateInvokeCount}, requestPayload, responseContext,
responsePayload). Each function's retry count and destination come from its `EventInvokeConfig` in template.yaml.

The scheduler fires the template's `ScheduleV2` schedules (`rate(N minute[s])`) on a simulated clock that runs
`60 / seconds_per_minute` times faster than real time, with `<aws.scheduler.scheduled-time>` in their input replaced
by the scheduled minute (EventBridge Scheduler User Guide, "Context attributes"). It is off until `POST /scheduler`.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from . import quotas

LOCK = threading.RLock()

# (function, event pattern) of every EventBridge rule of the template
RULES: list[tuple[str, dict[str, Any]]] = []
# function → {"retries": N, "on_failure": queue ARN or None} (its EventInvokeConfig), and "reserved": its
# ReservedConcurrentExecutions when it has one
ASYNC: dict[str, dict[str, Any]] = {}
# the template's schedules: {"name", "function", "expression", "input"}
SCHEDULES: list[dict[str, Any]] = []
# Events delivered to functions, with each function's answer; and each as JSON text, for filtering
EVENTS: list[dict[str, Any]] = []
EVENT_TEXTS: list[str] = []
# run → events held back by a `reorder`, delivered right after that run's next event (or after HOLD_SECONDS)
_HELD: dict[str, list[tuple[dict[str, Any], list[str] | None, Any]]] = {}
# How long a reordered event waits for one to overtake it before it goes anyway (an event is never held forever:
# EventBridge reorders, it does not lose what it reorders)
HOLD_SECONDS = 3.0


@dataclass
class Chaos:
    """Faults at a seeded rate across every event (or the `detail_types` named): each event is dropped with
    probability `drop`, else delivered twice with `duplicate`, else held back behind the next one with `reorder`;
    every delivered event waits `delay_seconds` (a uniform draw in [low, high]) with probability `delay`; and an
    asynchronous invocation fails before the function runs with probability `async_failure` (Lambda then retries it,
    and hands it to the on-failure destination once its retries are spent). A kind AWS delivers durably (`DURABLE`)
    is dropped only with `drop_durable`. `seed` makes a run repeatable."""

    drop: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    delay_seconds: tuple[float, float] = (0.0, 0.0)
    delay: float = 1.0
    detail_types: set[str] | None = None
    async_failure: float = 0.0
    drop_durable: bool = False
    seed: int = 0
    rng: random.Random = field(default_factory=random.Random)
    counts: dict[str, int] = field(default_factory=dict)
    last_fault: float | None = None

    KEYS = (
        "drop",
        "duplicate",
        "reorder",
        "delay_seconds",
        "delay",
        "detail_types",
        "async_failure",
        "drop_durable",
        "seed",
    )

    @classmethod
    def parse(cls, spec: dict[str, Any]) -> Chaos:
        unknown = set(spec) - set(cls.KEYS)
        if unknown:
            raise ValueError(f"chaos: unknown fields {sorted(unknown)} (known: {', '.join(cls.KEYS)})")
        chaos = cls(
            drop=float(spec.get("drop", 0)),
            duplicate=float(spec.get("duplicate", 0)),
            reorder=float(spec.get("reorder", 0)),
            delay=float(spec.get("delay", 1.0)),
            async_failure=float(spec.get("async_failure", 0)),
            drop_durable=bool(spec.get("drop_durable", False)),
            seed=int(spec.get("seed", 0)),
        )
        low, high = spec.get("delay_seconds", [0, 0])
        chaos.delay_seconds = (float(low), float(high))
        if spec.get("detail_types") is not None:
            chaos.detail_types = set(spec["detail_types"])
        for name in ("drop", "duplicate", "reorder", "delay", "async_failure"):
            if not 0 <= getattr(chaos, name) <= 1:
                raise ValueError(f"chaos: {name} is a probability, between 0 and 1")
        if chaos.drop + chaos.duplicate + chaos.reorder > 1:
            raise ValueError("chaos: drop + duplicate + reorder is more than 1")
        chaos.rng = random.Random(chaos.seed)
        return chaos

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1
        self.last_fault = time.time()

    def decide(self, detail_type: str) -> tuple[str | None, float]:
        """(action, delay in seconds) for one event of this detail-type."""
        if self.detail_types is not None and detail_type not in self.detail_types:
            return None, 0.0
        draw = self.rng.random()
        action = None
        if draw < self.drop:
            action = "drop" if self.drop_durable or detail_type not in DURABLE else None
        elif draw < self.drop + self.duplicate:
            action = "duplicate"
        elif draw < self.drop + self.duplicate + self.reorder:
            action = "reorder"
        delay = 0.0
        low, high = self.delay_seconds
        if action != "drop" and high > 0 and self.rng.random() < self.delay:
            delay = self.rng.uniform(low, high)
        if action:
            self.count(action)
        if delay:
            self.count("delay")
        return action, delay

    def fails_invocation(self) -> bool:
        if self.async_failure and self.rng.random() < self.async_failure:
            self.count("async_failure")
            return True
        return False

    def report(self) -> dict[str, Any]:
        return {
            "drop": self.drop,
            "duplicate": self.duplicate,
            "reorder": self.reorder,
            "delay_seconds": list(self.delay_seconds),
            "delay": self.delay,
            "detail_types": sorted(self.detail_types) if self.detail_types is not None else None,
            "async_failure": self.async_failure,
            "drop_durable": self.drop_durable,
            "seed": self.seed,
            "counts": dict(self.counts),
            "last_fault": self.last_fault,
        }


# Kinds AWS delivers durably, at least once (EventBridge events reference, Amazon S3 events: "Delivery type: Durable"):
# the chaos duplicates, delays and reorders them but drops them only with `drop_durable`. The others — the Step
# Functions status change, EMR's, Glue's and EMR Serverless's state changes, Scheduler's invocations — may be lost.
DURABLE = {"Object Created"}

CHAOS: list[Chaos | None] = [None]
# Invocations that went to an on-failure destination, and the time of the last one (for the soak's settle time)
STATS: dict[str, Any] = {"on_failure": 0, "retries": 0, "throttled": 0}
# function → asynchronous invocations running now, and the most that ran at once
IN_FLIGHT: dict[str, int] = {}
PEAK: dict[str, int] = {}
# Settings the emulator shares (seconds before Lambda's first async retry; the second waits twice as long)
# `throttle_scale`: a throttled event's wait (1 s doubling to 5 min on AWS) times this
ASYNC_SETTINGS = {"retry_seconds": 1.0, "throttle_scale": 0.1}


def set_chaos(spec: dict[str, Any] | None) -> dict[str, Any] | None:
    with LOCK:
        CHAOS[0] = Chaos.parse(spec) if spec else None
        return CHAOS[0].report() if CHAOS[0] else None


def chaos_report() -> dict[str, Any]:
    with LOCK:
        return {"chaos": CHAOS[0].report() if CHAOS[0] else None, **STATS, "peak_concurrency": dict(PEAK)}


def _later(seconds: float, action: Callable[..., None], *args: Any) -> None:
    timer = threading.Timer(seconds, action, args)
    timer.daemon = True
    timer.start()


def record(entry: dict[str, Any]) -> None:
    text = json.dumps(entry, default=str)
    with LOCK:
        EVENTS.append(entry)
        EVENT_TEXTS.append(text)


def detail_type_of(event: dict[str, Any]) -> str:
    return str(event.get("detail-type", ""))


def deliver(
    forwarder: Any,
    event: dict[str, Any],
    run: str | None = None,
    fault: dict[str, Any] | None = None,
    targets: list[str] | None = None,
    payload: Any = None,
) -> None:
    """Puts an event on its way to the functions whose rules match it (or to `targets`, with `payload` as what they
    receive: a schedule's input), unless a fault — this run's, or the chaos — drops, delays, duplicates or reorders
    it."""
    action, delay = (fault.get("action"), float(fault.get("seconds", 2))) if fault else (None, 0.0)
    if fault and action != "delay":
        delay = 0.0
    if not fault:
        with LOCK:
            chaos = CHAOS[0]
            if chaos is not None:
                action, delay = chaos.decide(detail_type_of(event))
    if action == "drop":
        record({"function": None, "event": event, "dropped": True, "run": run})
        return
    key = run or detail_type_of(event)
    if action == "reorder":
        with LOCK:
            _HELD.setdefault(key, []).append((event, targets, payload))
        _later(HOLD_SECONDS, _release_held, forwarder, key)
        return
    with LOCK:
        held = _HELD.pop(key, [])
    if delay:
        _later(delay, publish, forwarder, event, targets, payload)
    else:
        publish(forwarder, event, targets, payload)
    if action == "duplicate":
        publish(forwarder, event, targets, payload)
    for late_event, late_targets, late_payload in held:
        # After the event that overtook it, as EventBridge may deliver them.
        _later(0.2, publish, forwarder, late_event, late_targets, late_payload)


def _release_held(forwarder: Any, key: str) -> None:
    with LOCK:
        held = _HELD.pop(key, [])
    for event, targets, payload in held:
        publish(forwarder, event, targets, payload)


def matches(pattern: dict[str, Any], event: Any) -> bool:
    """Whether `event` matches an EventBridge event pattern ("Amazon EventBridge event patterns", EventBridge User
    Guide): every field the pattern names must be in the event; a list of values matches when the event's value (or,
    for an array, one of its items) equals one of them; an object recurses. Only exact values are emulated: the
    template uses nothing else, and a content filter such as `prefix` is refused rather than guessed at."""
    if not isinstance(event, dict):
        return False
    for key, expected in pattern.items():
        if key not in event:
            return False
        value = event[key]
        if isinstance(expected, dict):
            if not matches(expected, value):
                return False
        elif isinstance(expected, list):
            if any(isinstance(item, dict) for item in expected):
                raise ValueError(f"event pattern field {key}: content filters are not emulated: {expected}")
            values = value if isinstance(value, list) else [value]
            if not any(v in expected for v in values):
                return False
        else:
            raise TypeError(f"event pattern field {key} must be a list or an object, found {expected!r}")
    return True


def publish(forwarder: Any, event: dict[str, Any], targets: list[str] | None = None, payload: Any = None) -> None:
    """Each function whose rule matches the event (or each of `targets`) gets it, asynchronously, the way
    EventBridge and Scheduler invoke Lambda targets."""
    if targets is None:
        with LOCK:
            targets = [function for function, pattern in RULES if matches(pattern, event)]
    body = json.dumps(event if payload is None else payload).encode()
    for function in targets:
        threading.Thread(
            target=invoke_async, args=(forwarder, function, body, event, 1, str(uuid.uuid4())), daemon=True
        ).start()


def invoke_async(
    forwarder: Any, function: str, body: bytes, event: dict[str, Any], attempt: int, request: str, throttles: int = 0
) -> None:
    """One attempt of an asynchronous invocation; a failed one is retried, then handed to the on-failure destination.

    A function with reserved concurrency (`ReservedConcurrentExecutions`) runs at most that many at once: an event
    beyond it is throttled and goes back to Lambda's queue, retried "for up to 6 hours. The retry interval increases
    exponentially from 1 second after the first attempt to a maximum of 5 minutes" — a throttle is not one of the
    function's retry attempts (Lambda Developer Guide, "How Lambda handles errors and retries with asynchronous
    invocation"; "Configuring reserved concurrency")."""
    if _enter(function) is not None:
        wait = min(2.0**throttles, 300.0) * ASYNC_SETTINGS["throttle_scale"]
        _later(wait, invoke_async, forwarder, function, body, event, attempt, request, throttles + 1)
        return
    try:
        answer = _invoke_once(forwarder, function, body)
    finally:
        with LOCK:
            IN_FLIGHT[function] -= 1
    error = "FunctionError" in answer
    response = json.loads(answer["Payload"].read() or b"null")
    record({"function": function, "event": event, "error": error, "answer": response, "attempt": attempt})
    if not error:
        return
    with LOCK:
        config = ASYNC.get(function, {})
    retries = int(config.get("retries", 2))
    if attempt <= retries:
        with LOCK:
            STATS["retries"] += 1
        # About a minute before the first retry, two before the second (Lambda Developer Guide), scaled.
        _later(
            ASYNC_SETTINGS["retry_seconds"] * attempt,
            invoke_async,
            forwarder,
            function,
            body,
            event,
            attempt + 1,
            request,
        )
        return
    destination = config.get("on_failure")
    if destination:
        _to_on_failure_destination(destination, function, body, response, attempt, request)


def _reserved() -> dict[str, int]:
    return {name: int(config["reserved"]) for name, config in ASYNC.items() if config.get("reserved") is not None}


def _enter(function: str) -> str | None:
    """One more instance of `function` running, if its concurrency allows (`quotas.lambda_limit`); else why not (the
    `Reason` of a throttle), and it does not run."""
    with LOCK:
        reason = quotas.lambda_limit(function, _reserved(), IN_FLIGHT)
        if reason is not None:
            STATS["throttled"] += 1
            return reason
        IN_FLIGHT[function] = IN_FLIGHT.get(function, 0) + 1
        PEAK[function] = max(PEAK.get(function, 0), IN_FLIGHT[function])
        return None


def invoke_sync(forwarder: Any, function: str, payload: Any) -> dict[str, Any]:
    """A synchronous Invoke (a state machine's Lambda task), counted in the function's and the account's concurrency:
    beyond it, Lambda's TooManyRequestsException (HTTP 429, with its Reason and Retry-After: botocore's lambda model),
    which the task sees as Lambda.TooManyRequestsException."""
    reason = _enter(function)
    if reason is not None:
        from botocore.exceptions import ClientError

        raise ClientError(
            {
                "Error": {"Code": "TooManyRequestsException", "Message": "Rate Exceeded."},
                "Reason": reason,
                "ResponseMetadata": {
                    "HTTPStatusCode": 429,
                    "HTTPHeaders": {"retry-after": "1"},
                    "RequestId": uuid.uuid4().hex,
                },
            },
            "Invoke",
        )
    try:
        return forwarder.invoke(FunctionName=function, Payload=payload)
    finally:
        with LOCK:
            IN_FLIGHT[function] -= 1


def _invoke_once(forwarder: Any, function: str, body: bytes) -> dict[str, Any]:
    with LOCK:
        chaos = CHAOS[0]
        injected = chaos is not None and chaos.fails_invocation()
    if injected:
        return {
            "FunctionError": "Unhandled",
            "Payload": _payload({"errorType": "Lambda.ServiceException", "errorMessage": "injected by the chaos"}),
        }
    return forwarder.invoke(FunctionName=function, Payload=body)


def _payload(value: Any) -> Any:
    import io

    return io.BytesIO(json.dumps(value).encode())


def on_failure_record(function_arn: str, body: bytes, response: Any, attempts: int, request: str) -> dict[str, Any]:
    """The record Lambda sends to an on-failure destination (Lambda Developer Guide, "Capturing records of Lambda
    asynchronous invocations")."""
    return {
        "version": "1.0",
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "requestContext": {
            "requestId": request,
            "functionArn": f"{function_arn}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": attempts,
        },
        "requestPayload": json.loads(body or b"null"),
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": response,
    }


def _to_on_failure_destination(
    queue_arn: str, function: str, body: bytes, response: Any, attempts: int, request: str
) -> None:
    from moto.sqs.models import sqs_backends

    _, _, _, region, account, name = queue_arn.split(":", 5)
    function_arn = f"arn:aws:lambda:{region}:{account}:function:{function}"
    message = on_failure_record(function_arn, body, response, attempts, request)
    sqs_backends[account][region].send_message(name, json.dumps(message))
    with LOCK:
        STATS["on_failure"] += 1
        STATS["last_on_failure"] = time.time()


# ---------------------------------------------------------------------------------------------------- the scheduler


RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours)\)$")


def rate_minutes(expression: str) -> int:
    """The period of a `rate(...)` schedule in minutes (EventBridge Scheduler User Guide, "Rate-based schedules")."""
    found = RATE.match(expression.strip())
    if not found:
        raise ValueError(f"the local scheduler runs rate(N minutes|hours) schedules only, not {expression}")
    value, unit = int(found.group(1)), found.group(2)
    return value * 60 if unit.startswith("hour") else value


@dataclass
class Scheduler:
    seconds_per_minute: float
    start: datetime
    names: set[str] | None
    inputs: dict[str, Any]
    started: float = field(default_factory=time.monotonic)
    stopped: threading.Event = field(default_factory=threading.Event)
    fired: list[dict[str, Any]] = field(default_factory=list)

    def now(self) -> datetime:
        elapsed = (time.monotonic() - self.started) / self.seconds_per_minute
        return self.start + timedelta(minutes=elapsed)


SCHEDULER: list[Scheduler | None] = [None]


def start_scheduler(forwarder: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """`{"seconds_per_minute": S, "start": "<RFC 3339 minute>", "schedules": [names] (default: all),
    "inputs": {name: input}}` starts the scheduler (replacing a running one); `{"off": true}` stops it."""
    with LOCK:
        running = SCHEDULER[0]
        SCHEDULER[0] = None
    if running:
        running.stopped.set()
    if spec.get("off"):
        return {"scheduler": None, "fired": len(running.fired) if running else 0}
    with LOCK:
        known = {s["name"] for s in SCHEDULES}
    names = set(spec["schedules"]) if spec.get("schedules") is not None else None
    if names and names - known:
        raise ValueError(f"no such schedules: {sorted(names - known)} (the template has {sorted(known)})")
    start = datetime.fromisoformat(str(spec.get("start") or datetime.now(UTC).isoformat()))
    scheduler = Scheduler(
        seconds_per_minute=float(spec.get("seconds_per_minute", 60)),
        start=start.astimezone(UTC).replace(second=0, microsecond=0),
        names=names,
        inputs=dict(spec.get("inputs") or {}),
    )
    with LOCK:
        SCHEDULER[0] = scheduler
    threading.Thread(target=_run_scheduler, args=(forwarder, scheduler), daemon=True).start()
    return {"scheduler": {"start": scheduler.start.isoformat(), "schedules": sorted(names or known)}}


def scheduler_report() -> dict[str, Any]:
    with LOCK:
        scheduler = SCHEDULER[0]
        return {
            "running": scheduler is not None,
            "now": scheduler.now().isoformat() if scheduler else None,
            "fired": list(scheduler.fired) if scheduler else [],
        }


def _run_scheduler(forwarder: Any, scheduler: Scheduler) -> None:
    with LOCK:
        schedules = [s for s in SCHEDULES if scheduler.names is None or s["name"] in scheduler.names]
    due = {s["name"]: scheduler.start for s in schedules}
    while not scheduler.stopped.is_set():
        now = scheduler.now()
        for schedule in schedules:
            while due[schedule["name"]] <= now and not scheduler.stopped.is_set():
                _fire(forwarder, scheduler, schedule, due[schedule["name"]])
                due[schedule["name"]] += timedelta(minutes=rate_minutes(schedule["expression"]))
        time.sleep(0.05)


def _fire(forwarder: Any, scheduler: Scheduler, schedule: dict[str, Any], at: datetime) -> None:
    name = schedule["name"]
    text = json.dumps(scheduler.inputs[name]) if name in scheduler.inputs else schedule["input"]
    payload = json.loads(text.replace("<aws.scheduler.scheduled-time>", at.strftime("%Y-%m-%dT%H:%M:%SZ")))
    with LOCK:
        scheduler.fired.append({"schedule": name, "time": at.isoformat()})
    # What the chaos and the records see: the schedule's firing as an event of its own kind.
    event = {
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "resources": [f"schedule/{name}"],
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "detail": payload,
    }
    deliver(forwarder, event, run=name, targets=[schedule["function"]], payload=payload)
