"""EMR Serverless over time, as its User Guide has it ("Application states", "Job run states", "Understanding
application behavior"), where moto creates applications STARTED and job runs SUCCESS at once: applications go
CREATING → CREATED, STARTING → STARTED, STOPPING → STOPPED, auto-start on a job run and auto-stop when idle; job runs
SUBMITTED → PENDING → SCHEDULED → RUNNING → SUCCESS, warm on pre-initialized capacity, and can be made to FAIL (with
the driver's stderr in the run's S3 log location) or be cancelled (CANCELLING → CANCELLED). A job run is accepted only
on an application that is STARTED or can auto-start. Every change is announced as AWS documents it.

A job run's faults are keyed by its StartJobRun `name` (sparkplug's run name), an application's calls by its name."""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime
from typing import Any

from botocore import xform_name
from moto.emrserverless import models, responses
from moto.emrserverless.exceptions import ResourceNotFoundException, ValidationException

from .events import emit, state_event
from .faults import fault_of, faulty
from .iam import caller
from .s3 import write_stderr_later
from .state import LOCK, SETTINGS, SETTLED, now, original, replace

# EMR Serverless User Guide, "Job run states": the states in which a job run holds its application busy, and the
# final ones.
SERVERLESS_ACTIVE = ("SUBMITTED", "QUEUED", "PENDING", "SCHEDULED", "RUNNING", "CANCELLING")
SERVERLESS_ENDED = ("SUCCESS", "FAILED", "CANCELLED")
# Every application and job run state change not yet announced, in the order they happened:
# (kind, application or job run, previous state, state, when)
_SERVERLESS_CHANGES: list[tuple[str, Any, str | None, str, datetime]] = []
# CreateApplication/StartJobRun members moto drops, kept so that GetApplication/GetJobRun return them
APPLICATION_EXTRAS = (
    "architecture",
    "imageConfiguration",
    "workerTypeSpecifications",
    "runtimeConfiguration",
    "monitoringConfiguration",
    "diskEncryptionConfiguration",
    "interactiveConfiguration",
    "schedulerConfiguration",
    "identityCenterConfiguration",
    "jobLevelCostAllocationConfiguration",
)
JOB_RUN_EXTRAS = ("executionIamPolicy", "mode", "retryPolicy", "flexExecution")


def _set_state(item: Any, kind: str, state: str, details: str | None = None) -> None:
    """Moves an application or a job run (`kind`) to `state`, for the clock to announce (call with LOCK held)."""
    previous = getattr(item, "state", None)
    if previous == state:
        return
    item.state = state
    item.updated_at = now()
    item._sp_since = time.monotonic()
    if details is not None:
        item.state_details = details
    if kind == "job_run":
        item.attempt_updated_at = item.updated_at
    _SERVERLESS_CHANGES.append((kind, item, previous, state, item.updated_at))


# ------------------------------------------------------------------------------------------ moto's models, replaced


def _new_application(self: Any, *args: Any, **kwargs: Any) -> None:
    original(models.Application, "__init__")(self, *args, **kwargs)
    self.state, self.created_at = None, now()
    self._sp_busy = time.monotonic()
    with LOCK:
        _set_state(self, "application", "CREATING")


def _new_job_run(self: Any, *args: Any, **kwargs: Any) -> None:
    original(models.JobRun, "__init__")(self, *args, **kwargs)
    self.state, self.state_details, self.created_at = None, "", now()
    # API reference, JobRun: attempt 1 unless a retry policy retries it; totalExecutionDurationSeconds and the
    # resource utilization are there once the job run has ended.
    self.attempt, self.attempt_created_at, self.mode = 1, self.created_at, "BATCH"
    self.started_at = self.ended_at = None
    self.total_execution_duration_seconds = None
    self.total_resource_utilization = self.billed_resource_utilization = None
    self._sp_started = None
    with LOCK:
        _set_state(self, "job_run", "SUBMITTED")


def _ticking(method: Any) -> Any:
    """A backend call that first moves the region's applications and job runs on to where they are by now."""

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with LOCK:
            advance(self)
            return method(self, *args, **kwargs)

    return wrapper


def _create_application(self: Any, *args: Any, **kwargs: Any) -> Any:
    # API reference, CreateApplication clientToken: "The client idempotency token of the application to create".
    token = kwargs.get("client_token")
    for application in self.applications.values():
        if token and application.client_token == token and application.state != "TERMINATED":
            return application
    return original(models.EMRServerlessBackend, "create_application")(self, *args, **kwargs)


def _start_application(self: Any, application_id: str) -> None:
    # StartApplication: CREATED or STOPPED → STARTING → STARTED, its pre-initialized capacity provisioned.
    application = self.get_application(application_id)
    if application.state in ("CREATED", "STOPPED"):
        _set_state(application, "application", "STARTING")
    elif application.state not in ("STARTING", "STARTED"):
        raise ValidationException(
            f"Application {application_id} must be in one of the following statuses [CREATED, STOPPED]. "
            f"Current status: {application.state}"
        )


def _stop_application(self: Any, application_id: str) -> None:
    # API reference, StopApplication: "All scheduled and running jobs must be completed or cancelled before
    # stopping an application." STARTED → STOPPING → STOPPED.
    application = self.get_application(application_id)
    active = [r.id for r in self.job_runs.get(application_id, []) if r.state in SERVERLESS_ACTIVE]
    if active:
        raise ValidationException(
            f"Application {application_id} has job runs that are not done ({', '.join(active)}): all scheduled "
            "and running jobs must be completed or cancelled before stopping an application"
        )
    if application.state in ("STARTING", "STARTED"):
        _set_state(application, "application", "STOPPING")
    elif application.state not in ("CREATED", "STOPPING", "STOPPED"):
        raise ValidationException(
            f"Application {application_id} cannot be stopped. Current status: {application.state}"
        )


def _delete_application(self: Any, application_id: str) -> None:
    application = self.get_application(application_id)
    if application.state not in ("CREATED", "STOPPED"):
        raise ValidationException(
            f"Application {application_id} must be in one of the following statuses [CREATED, STOPPED]. "
            f"Current status: {application.state}"
        )
    _set_state(application, "application", "TERMINATED")


def _listed_applications(self: Any, states: list[str] | None) -> list[Any]:
    # User Guide, "Application states": a TERMINATED application "doesn't appear on your application list".
    found = original(models.EMRServerlessBackend, "list_applications")(self, states)
    return found if states else [a for a in found if a.state != "TERMINATED"]


def _start_job_run(self: Any, application_id: str, client_token: str, *args: Any, **kwargs: Any) -> Any:
    application = self.get_application(application_id)
    # API reference, StartJobRun clientToken: "The client idempotency token of the job run to start": the same
    # token starts nothing new and answers the job run it started.
    for run in self.job_runs.get(application_id, []):
        if client_token and run.client_token == client_token:
            return run
    state = application.state
    auto_start = (application.auto_start_configuration or {}).get("enabled", True)
    if state == "TERMINATED":
        raise ValidationException(f"Application {application_id} is terminated. Cannot start job run.")
    # User Guide, "Application states": an application "only accepts jobs" when STARTED; "Understanding
    # application behavior": by default it auto-starts on job submission (autoStartConfiguration).
    if state not in ("STARTING", "STARTED") and not (state in ("CREATED", "STOPPED") and auto_start):
        raise ValidationException(
            f"Application {application_id} is {state}"
            + ("" if state in ("CREATING", "STOPPING") else " and its auto-start is disabled")
            + ": an application accepts job runs only when it is STARTED"
        )
    run = original(models.EMRServerlessBackend, "start_job_run")(self, application_id, client_token, *args, **kwargs)
    if state in ("CREATED", "STOPPED"):
        _set_state(application, "application", "STARTING")
    return run


def _cancel_job_run(self: Any, application_id: str, job_run_id: str) -> tuple[str, str]:
    # User Guide, "Job run states": CancelJobRun → CANCELLING ("trying to cancel the job in the application and
    # release the resources") → CANCELLED. A job run that has succeeded or failed cannot be cancelled.
    run = self.get_job_run(application_id, job_run_id)
    if run.state in ("SUCCESS", "FAILED"):
        raise ValidationException(f"Job run {job_run_id} is {run.state}: it cannot be cancelled")
    if run.state != "CANCELLED":
        _set_state(run, "job_run", "CANCELLING")
    return application_id, job_run_id


def _get_job_run(self: Any, application_id: str, job_run_id: str) -> Any:
    # An unknown job run of an application that has none is not an unknown application (as moto has it).
    self.get_application(application_id)
    for run in self.job_runs.get(application_id, []):
        if run.id == job_run_id:
            return run
    raise ResourceNotFoundException(job_run_id, "JobRun")


def _list_job_runs(
    self: Any, application_id: str, created_at_after: Any, created_at_before: Any, states: list[str] | None
) -> list[Any]:
    # An application with no job run yet lists none (moto answers ResourceNotFoundException); dates compare
    # in UTC, newest first.
    self.get_application(application_id)

    def naive(moment: Any) -> Any:
        return moment.astimezone(UTC).replace(tzinfo=None) if getattr(moment, "tzinfo", None) else moment

    after, before = naive(created_at_after), naive(created_at_before)
    return [
        run
        for run in sorted(self.job_runs.get(application_id, []), key=lambda r: r.created_at, reverse=True)
        if (not states or run.state in states)
        and (after is None or run.created_at > after)
        and (before is None or run.created_at < before)
    ]


# --------------------------------------------------------------------------------------- moto's handlers, replaced


def _keep(handler: Any, item: Any, extras: tuple[str, ...]) -> None:
    """The members moto drops, kept on the application or job run the call made or changed (call with LOCK held)."""
    for member in extras:
        value = handler._get_param(member)
        if value is not None:
            setattr(item, xform_name(member), value)


def _application_of(self: Any, result: Any) -> Any:
    return self.emrserverless_backend.applications[result.get("applicationId") or result["application"].id]


def _created_application(self: Any) -> Any:
    with LOCK:
        result = original(responses.EMRServerlessResponse, "create_application")(self)
        application = _application_of(self, result.result)
        _keep(self, application, APPLICATION_EXTRAS)
        if getattr(application, "architecture", None) is None:
            application.architecture = "X86_64"  # API reference, CreateApplication architecture: the default
    return result


def _updated_application(self: Any) -> Any:
    with LOCK:
        result = original(responses.EMRServerlessResponse, "update_application")(self)
        application = _application_of(self, result.result)
        _keep(self, application, APPLICATION_EXTRAS)
        application.updated_at = now()  # moto dates it midnight
    return result


def _started_job_run(self: Any) -> Any:
    with LOCK:
        result = original(responses.EMRServerlessResponse, "start_job_run")(self)
        run = self.emrserverless_backend.get_job_run(result.result["applicationId"], result.result["jobRunId"])
        _keep(self, run, JOB_RUN_EXTRAS)
        if run.created_by is None:
            # API reference, JobRun createdBy: "The user who created the job run" (the caller's role session).
            function = caller(self.headers) or "local"
            run.created_by = f"arn:aws:sts::{self.current_account}:assumed-role/{function}/{function}"
    return result


def _runs_of_request(handler: Any) -> list[str]:
    """The runs a call concerns: a job run's `name` (sparkplug's run name), an application's name."""
    found = handler.emrserverless_backend
    application_id, run_id = handler._get_param("applicationId"), handler._get_param("jobRunId")
    if run_id:
        runs = [r.name for r in found.job_runs.get(application_id, []) if r.id == run_id]
        return [r for r in runs if r]
    if handler._get_action() == "StartJobRun" or not application_id:
        return [handler._get_param("name")] if handler._get_param("name") else []
    application = found.applications.get(application_id)
    return [application.name] if application is not None and application.name else []


FAULTY_ACTIONS = (
    "CreateApplication",
    "GetApplication",
    "ListApplications",
    "StartApplication",
    "StopApplication",
    "UpdateApplication",
    "DeleteApplication",
    "StartJobRun",
    "GetJobRun",
    "ListJobRuns",
    "CancelJobRun",
)


def patch() -> None:
    replace(models.Application, "__init__", _new_application)
    replace(models.JobRun, "__init__", _new_job_run)
    backend = models.EMRServerlessBackend
    replace(backend, "create_application", _ticking(_create_application))
    for name, method in (
        ("start_application", _start_application),
        ("stop_application", _stop_application),
        ("delete_application", _delete_application),
        ("list_applications", _listed_applications),
        ("start_job_run", _start_job_run),
        ("cancel_job_run", _cancel_job_run),
        ("list_job_runs", _list_job_runs),
        ("get_application", backend.get_application),
        ("get_job_run", _get_job_run),
        ("update_application", backend.update_application),
    ):
        replace(backend, name, _ticking(method))

    response = responses.EMRServerlessResponse
    replace(response, "create_application", _created_application)
    replace(response, "update_application", _updated_application)
    replace(response, "start_job_run", _started_job_run)
    for action in FAULTY_ACTIONS:
        name = re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower()
        replace(response, name, faulty("emr-serverless", action, _runs_of_request, getattr(response, name)))


# ------------------------------------------------------------------------------------------------------ over time


def _pre_initialized(application: Any) -> bool:
    """Whether the application's initialCapacity has workers for the driver and the executors (User Guide,
    "Configuring pre-initialized capacity"): a job run then starts on them, warm, instead of waiting for on-demand
    workers."""
    capacity = application.initial_capacity or {}
    return all(((capacity.get(kind) or {}).get("workerCount") or 0) >= 1 for kind in ("DRIVER", "EXECUTOR"))


def advance(backend: Any) -> None:
    """Moves a region's applications and job runs on to where they are by now (call with LOCK held)."""
    moment = time.monotonic()
    for application in list(backend.applications.values()):
        elapsed = moment - application._sp_since
        if application.state == "CREATING" and elapsed >= SETTINGS.serverless_app_create_seconds:
            _set_state(application, "application", "CREATED")
        elif application.state == "STARTING" and elapsed >= SETTINGS.serverless_app_start_seconds:
            _set_state(application, "application", "STARTED")
            application._sp_busy = moment
        elif application.state == "STOPPING" and elapsed >= SETTINGS.serverless_app_stop_seconds:
            _set_state(application, "application", "STOPPED")
    for application_id, runs in list(backend.job_runs.items()):
        application = backend.applications[application_id]
        for run in runs:
            if run.arn in SETTLED:
                continue
            _advance_job_run(run, application, backend.account_id)
            if run.state in SERVERLESS_ENDED:
                SETTLED.add(run.arn)  # a job run that has ended changes no more
            else:
                application._sp_busy = moment
    for application in list(backend.applications.values()):
        # User Guide, "Understanding application behavior": "an application by default is configured to auto-stop
        # when idle for 15 minutes" (autoStopConfiguration), releasing its pre-initialized capacity.
        auto_stop = application.auto_stop_configuration or {}
        minutes = auto_stop.get("idleTimeoutMinutes", 15)
        idle = moment - application._sp_busy
        if (
            application.state == "STARTED"
            and auto_stop.get("enabled", True)
            and idle >= minutes * SETTINGS.serverless_idle_scale
        ):
            _set_state(application, "application", "STOPPING")


def _advance_job_run(run: Any, application: Any, account: str) -> None:
    """SUBMITTED → PENDING (until the application is STARTED) → SCHEDULED → RUNNING → SUCCESS or FAILED, and
    CANCELLING → CANCELLED (User Guide, "Job run states"), each change recorded for the clock to announce."""
    moved = True
    while moved:
        moved = True
        elapsed = time.monotonic() - run._sp_since
        fault = fault_of(run.name)
        if run.state == "SUBMITTED":
            _set_state(run, "job_run", "PENDING")
        elif run.state == "PENDING" and application.state == "STARTED":
            run._sp_warm = _pre_initialized(application)
            _set_state(run, "job_run", "SCHEDULED")
        elif run.state == "SCHEDULED" and elapsed >= (
            SETTINGS.serverless_warm_start_seconds if run._sp_warm else SETTINGS.serverless_worker_start_seconds
        ):
            run.started_at, run._sp_started = now(), time.monotonic()
            _set_state(run, "job_run", "RUNNING")
        elif run.state == "RUNNING" and elapsed >= fault.get("job_run_seconds", SETTINGS.serverless_run_seconds):
            failing = fault.get("fail_job_run")
            _end_job_run(run, application, account, "FAILED" if failing else "SUCCESS", failing)
        elif run.state == "CANCELLING" and elapsed >= SETTINGS.serverless_cancel_seconds:
            _end_job_run(run, application, account, "CANCELLED", None)
        else:
            moved = False


def _end_job_run(run: Any, application: Any, account: str, state: str, failing: dict[str, Any] | None) -> None:
    """A job run's end: its duration and resource use (API reference, JobRun), stateDetails from a failure, and
    the failed driver's stderr in the run's S3 log location."""
    run.ended_at = now()
    seconds = math.ceil(time.monotonic() - run._sp_started) if run._sp_started is not None else 0
    run.total_execution_duration_seconds = seconds
    run.total_resource_utilization, run.billed_resource_utilization = _utilization(application, seconds)
    _set_state(run, "job_run", state, failing.get("message", "the job run failed") if failing else None)
    log_uri = _serverless_log_uri(run, application)
    if failing and log_uri and not failing.get("no_log"):
        # User Guide, "Storing logs" (Amazon S3): the driver's logs are under
        # <logUri>/applications/<application-id>/jobs/<job-id>/SPARK_DRIVER/.
        log_dir = f"{log_uri.rstrip('/')}/applications/{application.id}/jobs/{run.id}/SPARK_DRIVER/"
        write_stderr_later(account, log_dir, failing, f"job run {run.id}")


def _serverless_log_uri(run: Any, application: Any) -> str | None:
    """The S3 log location of a job run: its configurationOverrides' monitoringConfiguration, else the
    application's (User Guide, "Storing logs": a job run's configuration overrides the application's)."""
    for monitoring in (
        (run.configuration_overrides or {}).get("monitoringConfiguration"),
        getattr(application, "monitoring_configuration", None),
    ):
        log_uri = ((monitoring or {}).get("s3MonitoringConfiguration") or {}).get("logUri")
        if log_uri:
            return log_uri
    return None


def _utilization(application: Any, seconds: int) -> tuple[dict[str, float], dict[str, float]]:
    """totalResourceUtilization and billedResourceUtilization of a job run that ran `seconds` (API reference,
    JobRun): an estimate, as the emulator runs no Spark. Its workers are a driver and the pre-initialized executors
    (initialCapacity), else EMR Serverless's Spark defaults — 3 initial executors, 4 vCPU, 16 GB and 20 GB disk a
    worker. Billing counts "a 1-minute minimum usage for workers, plus additional storage over 20 GB per worker"."""
    capacity = application.initial_capacity or {}

    def size(kind: str) -> tuple[float, float, float]:
        config = (capacity.get(kind) or {}).get("workerConfiguration") or {}

        def number(text: Any, default: float) -> float:
            found = re.match(r"\s*([\d.]+)", str(text or ""))
            return float(found.group(1)) if found else default

        return number(config.get("cpu"), 4), number(config.get("memory"), 16), number(config.get("disk"), 20)

    executors = (capacity.get("EXECUTOR") or {}).get("workerCount") or 3
    workers = [(1, size("DRIVER")), (executors, size("EXECUTOR"))]
    hours, billed = seconds / 3600, (max(seconds, 60) / 3600 if seconds else 0)
    total = {
        "vCPUHour": round(sum(n * cpu * hours for n, (cpu, _, _) in workers), 3),
        "memoryGBHour": round(sum(n * memory * hours for n, (_, memory, _) in workers), 3),
        "storageGBHour": round(sum(n * disk * hours for n, (_, _, disk) in workers), 3),
    }
    charged = {
        "vCPUHour": round(sum(n * cpu * billed for n, (cpu, _, _) in workers), 3),
        "memoryGBHour": round(sum(n * memory * billed for n, (_, memory, _) in workers), 3),
        "storageGBHour": round(sum(n * max(0.0, disk - 20) * billed for n, (_, _, disk) in workers), 3),
    }
    return total, charged


def announce() -> None:
    """The "EMR Serverless Application State Change" and "EMR Serverless Job Run State Change" events of every state
    change since the last call, in order, with `detail` as the User Guide has it ("Automating EMR Serverless with
    Amazon EventBridge"): dates in ISO 8601 with microseconds."""

    def iso(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    with LOCK:
        changes = list(_SERVERLESS_CHANGES)
        _SERVERLESS_CHANGES.clear()
    for kind, item, previous, state, at in changes:
        region, account = item.arn.split(":")[3], item.arn.split(":")[4]
        if kind == "application":
            auto_stop = item.auto_stop_configuration or {}
            detail: dict[str, Any] = {
                "applicationId": item.id,
                "applicationName": item.name,
                "arn": item.arn,
                "releaseLabel": item.release_label,
                "state": state,
                "type": (item.type or "").upper(),
                "createdAt": iso(item.created_at),
                "updatedAt": iso(at),
                "autoStopConfig": {
                    "enabled": auto_stop.get("enabled", True),
                    "idleTimeout": auto_stop.get("idleTimeoutMinutes", 15),
                },
                "autoStartConfig": {"enabled": (item.auto_start_configuration or {}).get("enabled", True)},
            }
            detail_type = "EMR Serverless Application State Change"
        else:
            detail = {
                "jobRunId": item.id,
                "applicationId": item.application_id,
                "arn": item.arn,
                "releaseLabel": item.release_label,
                "state": state,
                **({"previousState": previous} if previous else {}),
                "createdBy": item.created_by,
                "updatedAt": iso(at),
                "createdAt": iso(item.created_at),
            }
            detail_type = "EMR Serverless Job Run State Change"
        emit(item.name, state_event(detail_type, "aws.emr-serverless", account, region, detail))
