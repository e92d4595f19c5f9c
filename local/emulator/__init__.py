"""sparkplug's local AWS: moto in server mode, plus a small extension that closes the gaps sparkplug needs.

Written for moto 5.2.5 (pinned in dev/requirements-local.txt; importing it with another version fails). What it adds,
one module per service (emr, glue, serverless, awslambda, s3, sns, stepfunctions) over the shared parts — `state`
(settings, faults table, lock), `faults`, `events` and `delivery` (state changes and how they reach the functions),
`clock`, `model` (botocore model checks), `iam` and `control` (the control API):

- Step Functions executes state machines (moto's own switch), and its Lambda tasks are forwarded to a real Lambda
  runtime emulator (`cargo lambda watch`'s Invoke API) instead of moto's Docker-less echo.
- EMR clusters start (STARTING → BOOTSTRAPPING → WAITING), and their steps run up to StepConcurrencyLevel at a
  time, in submission order (PENDING → RUNNING → COMPLETED), over configurable times. A step can be made to FAIL
  (with FailureDetails), a cluster to die mid-step (TERMINATED_WITH_ERRORS with a reason); a cluster terminated with
  unfinished steps cancels them, and ActionOnFailure is applied. CancelSteps (moto has none) cancels pending steps
  and running ones (CANCEL_PENDING → CANCELLED); an AutoTerminationPolicy terminates a cluster left idle.
- EMR Serverless over time (moto's applications are STARTED and its job runs SUCCESS at once): applications go
  CREATING → CREATED, STARTING → STARTED, STOPPING → STOPPED, auto-start on a job run and auto-stop when idle; job
  runs SUBMITTED → PENDING → SCHEDULED → RUNNING → SUCCESS, warm on pre-initialized capacity, and can be made to
  FAIL (with the driver's stderr in the run's S3 log location) or be cancelled (CANCELLING → CANCELLED).
- Glue job runs take time (STARTING → RUNNING → SUCCEEDED) and can be made to FAIL; UpdateJob is implemented.
- EventBridge rules as the template declares them (each function's `EventBridgeRule` events, matched by their
  patterns): S3 "Object Created" events, with a real per-PUT sequencer, and "Step Functions Execution Status
  Change" events when an execution ends, go to the functions whose rules match them, asynchronously.
- Glue BatchStopJobRun (moto has none): the run goes STOPPING, then STOPPED.
- IAM, per function: each call a function makes (its name in the User-Agent, its environment in the access key)
  is checked against its policy in template.yaml — actions, resource ARNs, StringEquals conditions on request and
  resource tags — and refused with AccessDeniedException when the policy does not allow it; every call is recorded
  (GET /iam), so that a test can hold the policies to what the functions do.
- AWS's rules, enforced where moto does not: every EMR, EMR Serverless, Glue and Step Functions request is checked
  against botocore's service model (unknown or missing fields, types, enums, min/max; for EMR Serverless, a REST
  service, the members in its URI and query string too) and refused with ValidationException as AWS would; a cluster
  whose v2-managed service role lacks the for-use-with-amazon-emr-managed-policies tag ends TERMINATED_WITH_ERRORS;
  RunJobFlow and AddJobFlowSteps refuse CANCEL_AND_WAIT/TERMINATE_CLUSTER when StepConcurrencyLevel > 1; Glue
  refuses a Timeout of 10080 minutes or more; EMR Serverless accepts a job run only on an application that is
  STARTED or can auto-start.
- State-change events as AWS documents them, at the moment the state changes (a clock moves clusters, Glue runs and
  EMR Serverless applications and job runs on without being asked): "EMR Step Status Change", "EMR Cluster State
  Change", "Glue Job State Change", "EMR Serverless Application State Change", "EMR Serverless Job Run State
  Change", to the functions whose template rules match. Task tokens: SendTaskFailure keeps its cause, a second
  answer is refused.
- API faults on demand: an error for the next N calls of an action (before or after the call takes effect), Lambda
  function errors, and state-change events dropped, delayed, duplicated or reordered (`faults`, `delivery`).

Faults are keyed by run name (the run's `sparkplug:run` tag on its EMR cluster — or, for a step named `<run>: <step>`
on a pool's cluster, that run —, the Glue run's `--sparkplug_run` argument, the EMR Serverless job run's `name`, the
plan's `run_name` in a Lambda payload), so concurrent tests do not disturb each other. They are set through the
control API (see `control.ControlHandler`).
"""

from __future__ import annotations

from typing import Any

import moto

from .state import MOTO_VERSION

if moto.__version__ != MOTO_VERSION:
    raise SystemExit(f"the local emulator extension is written for moto {MOTO_VERSION}, found {moto.__version__}")

from . import awslambda, clock, delivery, emr, events, glue, model, s3, serverless, stepfunctions, xray
from .control import serve_control
from .iam import CALLS, POLICIES
from .model import check_against_model
from .state import ENV_SEPARATOR, FAULTS, FORWARDER, LOCK, SETTINGS, TIMEOUTS

__all__ = [
    "CALLS",
    "ENV_SEPARATOR",
    "FAULTS",
    "LOCK",
    "SETTINGS",
    "check_against_model",
    "install",
    "route",
    "serve_control",
    "xray",
]


def install(lambda_endpoints: dict[str, str]) -> None:
    """Patches moto; `lambda_endpoints` are the Invoke APIs of each environment's functions."""
    import warnings

    from moto.core.config import default_user_config

    # Injected error codes that the service model does not list (ThrottlingException) are meant.
    warnings.filterwarnings("ignore", message=r"Exception\(.*\) with code .* does not match an error shape")
    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    default_user_config.setdefault("lambda", {})["use_docker"] = False
    forwarder = awslambda.LambdaForwarder(lambda_endpoints)
    FORWARDER[:] = [forwarder]
    model.patch()
    emr.patch()
    glue.patch()
    serverless.patch()
    awslambda.patch(forwarder)
    s3.patch()
    stepfunctions.patch()
    events.patch()
    clock.start()


def route(
    rules: list[tuple[str, dict[str, Any]]],
    timeouts: dict[str, float] | None = None,
    policies: dict[str, list[dict[str, Any]]] | None = None,
    invoke_configs: dict[str, dict[str, Any]] | None = None,
    schedules: list[dict[str, Any]] | None = None,
) -> None:
    """The template's EventBridge rules, as (function, pattern) pairs, its functions' timeouts, IAM statements and
    asynchronous invocation configs (retries, on-failure queue), and its schedules."""
    with LOCK:
        TIMEOUTS.clear()
        TIMEOUTS.update(timeouts or {})
        POLICIES.clear()
        POLICIES.update(policies or {})
    with delivery.LOCK:
        delivery.RULES[:] = rules
        delivery.ASYNC.clear()
        delivery.ASYNC.update(invoke_configs or {})
        delivery.SCHEDULES[:] = schedules or []
