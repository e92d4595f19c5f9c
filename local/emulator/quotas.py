"""AWS's quotas, enforced as AWS documents them — so that sparkplug is tested where it meets them.

- API rate limits are token buckets (a bucket of `size` tokens refilled at `rate` a second; a call takes one, a call
  that finds none is throttled), one per account, Region and API:
  - Step Functions, Standard workflows (Developer Guide, "Step Functions service quotas", "Quotas related to API
    action throttling"), with two sets of numbers: us-east-1, us-west-2 and eu-west-1, and every other Region;
  - EMR (Management Guide, "What are the limits on API calls to Amazon EMR?": a burst and a refill per API, and one
    bucket for all of the account's EMR calls) and EMR Serverless (User Guide, "Endpoints and quotas": StartJobRun
    1 per second, burst 25; GetJobRun 10, burst 50; ListJobRuns and CancelJobRun 1, burst 25);
  - Glue, which publishes none: one conservative bucket per API, settable.
  A throttled call is answered as the service does: `ThrottlingException`, HTTP 400, "Rate exceeded" (EMR's as the
  Knowledge Center quotes it; Glue's model has the shape; Step Functions' and EMR Serverless's models have none,
  and the SDKs retry the code as a throttle whichever status comes with it).
- Step Functions' state transitions (same page, "Quotas related to state throttling"): an execution whose next state
  finds the bucket empty waits for a token — AWS slows a throttled Standard execution down, it does not fail it.
- Lambda's concurrency (Lambda Developer Guide, "Lambda quotas": 1,000 concurrent executions per Region by default;
  "Configuring reserved concurrency": what functions reserve is theirs alone, and at least 100 stay unreserved for
  the rest): a function with reserved concurrency runs at most that many at once, any other shares what is left.
  `delivery` throttles an asynchronous invocation beyond it (the event goes back to Lambda's queue); a synchronous
  Invoke (a state machine's Lambda task) is refused with `TooManyRequestsException`, HTTP 429, its `Reason` and
  `Retry-After` (botocore's lambda model).
- Glue's concurrent job runs per account ("Max concurrent job runs per account", 2,000 by default in Service
  Quotas): a StartJobRun beyond it is refused with `ConcurrentRunsExceededException` ("Too many jobs are being run
  concurrently", the model's own text; which of it and ResourceNumberLimitExceededException AWS sends for the account
  quota is not documented).

Off until `POST /quotas`. `scale` K runs every bucket (size and refill) and the account's concurrency limits at 1/K
of AWS's numbers, so that a test saturates them with 1/K of the load (a K below 1 raises them: the end-to-end suite
runs fifty tests' traffic at once in one account); `apis` sets any bucket as given, unscaled (`"emr:RunJobFlow":
[size, rate]`). A function's reserved concurrency is its configuration, not a quota: never scaled. Only the stack's own traffic counts — its functions' calls (their name in the User-Agent)
and its executions' — not the tests' or the CLI's: they stand for an operator at the console, and counting them
would make a test measure its own polling. `GET /quotas` says what was throttled.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

LOCK = threading.Lock()

# Regions with Step Functions' higher quotas.
HIGH_REGIONS = ("us-east-1", "us-west-2", "eu-west-1")

# Step Functions, Standard workflows: (size, refill per second) in HIGH_REGIONS, and in every other Region.
STEP_FUNCTIONS = {
    "StartExecution": ((1300, 300), (800, 150)),
    "DescribeExecution": ((300, 15), (250, 10)),
    "ListExecutions": ((200, 5), (100, 2)),
    "GetExecutionHistory": ((400, 20), (400, 20)),
    "SendTaskSuccess": ((3000, 500), (1500, 300)),
    "SendTaskFailure": ((3000, 500), (1500, 300)),
    "SendTaskHeartbeat": ((3000, 500), (1500, 300)),
    "StopExecution": ((1000, 200), (500, 25)),
    "DescribeStateMachine": ((200, 20), (200, 20)),
}
STATE_TRANSITIONS = ((5000, 1500), (800, 500))
# Any other Step Functions API (the page lists each; ListStateMachines' is the lowest sparkplug calls).
STEP_FUNCTIONS_OTHER = (100, 5)

# EMR: RunJobFlow's own bucket, and the account's bucket of every EMR call (Service Quotas: 25 burst, 5 a second).
EMR = {"RunJobFlow": (10, 0.5)}
EMR_ALL = (25, 5)
# EMR Serverless, per API; others as ListJobRuns.
SERVERLESS = {"StartJobRun": (25, 1), "GetJobRun": (50, 10), "ListJobRuns": (25, 1), "CancelJobRun": (25, 1)}
SERVERLESS_OTHER = (25, 1)
# Glue publishes no API rate: conservative.
GLUE_PER_API = (10, 5)

LAMBDA_CONCURRENCY = 1000
LAMBDA_UNRESERVED_MINIMUM = 100
GLUE_CONCURRENT_RUNS = 2000


@dataclass
class Bucket:
    size: float
    rate: float
    tokens: float
    stamp: float
    # Calls it let through and calls it throttled: a benchmark's achieved rate while the bucket is empty.
    taken: int = 0
    refused: int = 0

    @classmethod
    def full(cls, size: float, rate: float) -> Bucket:
        return cls(size, rate, size, time.monotonic())

    def take(self) -> float:
        """Takes a token: 0 when there was one, else the seconds until there is."""
        now = time.monotonic()
        self.tokens = min(self.size, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.taken += 1
            return 0.0
        self.refused += 1
        return (1 - self.tokens) / self.rate if self.rate > 0 else 60.0


@dataclass
class Quotas:
    scale: float = 0.0
    region: str = "eu-west-1"
    overrides: dict[str, tuple[float, float]] | None = None
    # The services whose quotas the scale applies to (None: every one); the others keep AWS's own numbers.
    scaled_services: frozenset[str] | None = None
    # The account's concurrent Glue job runs when a test sets it (an account whose quota differs from the default).
    glue_concurrent_runs: int | None = None

    @property
    def on(self) -> bool:
        return self.scale > 0

    def factor(self, service: str) -> float:
        return self.scale if self.scaled_services is None or service in self.scaled_services else 1.0

    def scaled(self, size: float, rate: float, service: str) -> tuple[float, float]:
        # A bucket holds at least one token: at any scale a call can go through.
        factor = self.factor(service)
        return max(1.0, size / factor), rate / factor

    def limit(self, number: int, service: str) -> int:
        return max(1, int(number / self.factor(service)))


QUOTAS = Quotas()
BUCKETS: dict[str, Bucket] = {}
# What was throttled: "<service>:<action>" → count; state transitions delayed and for how long.
THROTTLED: dict[str, int] = {}
DELAYED = {"transitions": 0, "seconds": 0.0}
# Every state transition the stack's executions made while the quotas were on: a benchmark's achieved rate.
TRANSITIONS = {"taken": 0}


def configure(spec: dict[str, Any]) -> dict[str, Any]:
    """`POST /quotas {"scale": K, "region": …, "apis": {"<service>:<action>": [size, rate]}, "scaled_services":
    ["stepfunctions", "lambda", …]}`; `{"scale": 0}` turns them off. `scaled_services` (every service when absent)
    names the services K applies to: the others keep AWS's numbers — a burst benchmark scales Step Functions and
    Lambda down to meet them, while each run's own EMR, Glue and EMR Serverless calls meet AWS's.
    `"glue_concurrent_runs": N` sets the account's concurrent Glue job runs as such (unscaled), as Service Quotas
    would after an increase or for an account below the default. Buckets start full."""
    scale = float(spec.get("scale", 1))
    if scale < 0:
        raise ValueError("quotas: scale is 0 (off) or more")
    overrides = {}
    for name, pair in (spec.get("apis") or {}).items():
        size, rate = float(pair[0]), float(pair[1])
        if size < 1 or rate <= 0:
            raise ValueError(f"quotas: {name} needs a size of at least 1 and a rate above 0")
        overrides[name] = (size, rate)
    services = spec.get("scaled_services")
    glue_runs = spec.get("glue_concurrent_runs")
    if glue_runs is not None and int(glue_runs) < 1:
        raise ValueError("quotas: glue_concurrent_runs is at least 1")
    with LOCK:
        QUOTAS.scale = scale
        QUOTAS.region = str(spec.get("region", QUOTAS.region))
        QUOTAS.overrides = overrides
        QUOTAS.scaled_services = frozenset(services) if services is not None else None
        QUOTAS.glue_concurrent_runs = int(glue_runs) if glue_runs is not None else None
        BUCKETS.clear()
        THROTTLED.clear()
        DELAYED.update(transitions=0, seconds=0.0)
        TRANSITIONS["taken"] = 0
    return report()


def report() -> dict[str, Any]:
    with LOCK:
        return {
            "scale": QUOTAS.scale,
            "region": QUOTAS.region,
            "throttled": dict(THROTTLED),
            "transitions": TRANSITIONS["taken"],
            "buckets": {
                name: {"size": b.size, "rate": b.rate, "taken": b.taken, "refused": b.refused}
                for name, b in BUCKETS.items()
            },
            "transitions_delayed": DELAYED["transitions"],
            "transition_delay_seconds": round(DELAYED["seconds"], 3),
            "scaled_services": sorted(QUOTAS.scaled_services) if QUOTAS.scaled_services is not None else "all",
            "lambda_concurrency": QUOTAS.limit(LAMBDA_CONCURRENCY, "lambda") if QUOTAS.on else None,
            "glue_concurrent_runs": glue_concurrent_runs() if QUOTAS.on else None,
        }


def _buckets_of(service: str, action: str) -> list[tuple[str, tuple[float, float]]]:
    """The buckets a call takes a token from, unscaled: the API's own, and first, for EMR, the account's."""
    group = 0 if QUOTAS.region in HIGH_REGIONS else 1
    overrides = QUOTAS.overrides or {}
    name = f"{service}:{action}"
    if service == "stepfunctions":
        documented = STEP_FUNCTIONS[action][group] if action in STEP_FUNCTIONS else STEP_FUNCTIONS_OTHER
        return [(name, overrides.get(name, documented))]
    if service == "emr":
        buckets = [("emr:*", overrides.get("emr:*", EMR_ALL))]
        own = overrides.get(name, EMR.get(action))
        return [*buckets, (name, own)] if own else buckets
    if service == "emr-serverless":
        return [(name, overrides.get(name, SERVERLESS.get(action, SERVERLESS_OTHER)))]
    if service == "glue":
        return [(name, overrides.get(name, GLUE_PER_API))]
    return []


def throttle(service: str, action: str) -> bool:
    """Whether this call of the stack's is throttled (its tokens taken when it is not)."""
    if not QUOTAS.on:
        return False
    with LOCK:
        for name, (size, rate) in _buckets_of(service, action):
            bucket = BUCKETS.get(name)
            if bucket is None:
                given = name in (QUOTAS.overrides or {})
                bucket = BUCKETS[name] = Bucket.full(*((size, rate) if given else QUOTAS.scaled(size, rate, service)))
            if bucket.take() > 0:
                key = f"{service}:{action}"
                THROTTLED[key] = THROTTLED.get(key, 0) + 1
                return True
    return False


def wait_for_transition() -> None:
    """A Standard execution's next state: it waits for a state-transition token."""
    if not QUOTAS.on:
        return
    waited = 0.0
    while True:
        with LOCK:
            bucket = BUCKETS.get("states:transition")
            if bucket is None:
                group = 0 if QUOTAS.region in HIGH_REGIONS else 1
                bucket = BUCKETS["states:transition"] = Bucket.full(
                    *QUOTAS.scaled(*STATE_TRANSITIONS[group], "stepfunctions")
                )
            wait = bucket.take()
            if wait == 0:
                TRANSITIONS["taken"] += 1
                if waited:
                    DELAYED["transitions"] += 1
                    DELAYED["seconds"] += waited
                return
        time.sleep(min(wait, 1.0))
        waited += min(wait, 1.0)


def lambda_limit(function: str, reserved: dict[str, int], in_flight: dict[str, int]) -> str | None:
    """Why `function` cannot start one more instance now (a `Reason` of TooManyRequestsException), else None. A
    function's reserved concurrency is its own; the others share the account's limit less what is reserved (at least
    100 of AWS's 1,000 stay unreserved)."""
    own = reserved.get(function)
    if own is not None:
        return "ReservedFunctionConcurrentInvocationLimitExceeded" if in_flight.get(function, 0) >= own else None
    if not QUOTAS.on:
        return None
    account = LAMBDA_CONCURRENCY
    unreserved = max(LAMBDA_UNRESERVED_MINIMUM, account - sum(reserved.values()))
    shared = sum(count for name, count in in_flight.items() if name not in reserved)
    if shared >= QUOTAS.limit(unreserved, "lambda"):
        with LOCK:
            THROTTLED["lambda:Invoke"] = THROTTLED.get("lambda:Invoke", 0) + 1
        return "ConcurrentInvocationLimitExceeded"
    return None


def glue_concurrent_runs() -> int:
    """The account's concurrent Glue job runs: as set, else AWS's default at the scale."""
    return QUOTAS.glue_concurrent_runs or QUOTAS.limit(GLUE_CONCURRENT_RUNS, "glue")


def glue_runs_exceeded(running: int) -> bool:
    """Whether one more Glue job run would pass the account's concurrent job runs."""
    if not QUOTAS.on or running < glue_concurrent_runs():
        return False
    with LOCK:
        THROTTLED["glue:ConcurrentRuns"] = THROTTLED.get("glue:ConcurrentRuns", 0) + 1
    return True
