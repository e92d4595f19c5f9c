"""Glue, over time: job runs go STARTING → RUNNING → SUCCEEDED (moto's succeed at once) and can be made to FAIL, with
the driver's errors in the log group and stream Glue writes them to; BatchStopJobRun (moto has none) stops a run
(STOPPING → STOPPED); UpdateJob is implemented; CreateJob of an existing name is refused, as Glue refuses it. Every
final state is announced as "Glue Job State Change". A run's faults are keyed by its `--sparkplug_run` argument."""

from __future__ import annotations

import time
from typing import Any

from moto.core.responses import ActionResult
from moto.glue import models, responses

from . import quotas
from .events import emit, state_event
from .faults import fault_of, faulty, service_error
from .state import ANNOUNCED, LOCK, SETTINGS, now, original, replace

# Glue Developer Guide, "Automating AWS Glue with EventBridge": "Glue Job State Change" for SUCCEEDED, FAILED, TIMEOUT,
# STOPPED.
EVENT_STATES = ("SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED")
SEVERITY = {"FAILED": "ERROR", "TIMEOUT": "WARN", "STOPPED": "INFO", "SUCCEEDED": "INFO"}
# JobUpdate members → the attribute moto keeps each in
JOB_FIELDS = {
    "Description": "description",
    "LogUri": "log_uri",
    "Role": "role",
    "ExecutionProperty": "execution_property",
    "Command": "command",
    "DefaultArguments": "default_arguments",
    "NonOverridableArguments": "non_overridable_arguments",
    "Connections": "connections",
    "MaxRetries": "max_retries",
    "AllocatedCapacity": "allocated_capacity",
    "Timeout": "timeout",
    "MaxCapacity": "max_capacity",
    "WorkerType": "worker_type",
    "NumberOfWorkers": "number_of_workers",
    "SecurityConfiguration": "security_configuration",
    "NotificationProperty": "notification_property",
    "GlueVersion": "glue_version",
    "ExecutionClass": "execution_class",
}


def run_of(job_run: Any) -> str | None:
    """The sparkplug run a Glue job run belongs to: its `--sparkplug_run` argument."""
    return (job_run.arguments or {}).get("--sparkplug_run")


def announce(job_run: Any, account: str, region: str) -> None:
    """The run's "Glue Job State Change" event, once it has reached a final state (once)."""
    state = job_run.as_dict()["JobRunState"]
    if state not in EVENT_STATES or ANNOUNCED.get(("glue", job_run.job_run_id)) == state:
        return
    ANNOUNCED[("glue", job_run.job_run_id)] = state
    detail = {
        "jobName": job_run.job_name,
        "severity": SEVERITY[state],
        "state": state,
        "jobRunId": job_run.job_run_id,
        "message": f"Job run {state.lower()}",
    }
    emit(run_of(job_run), state_event("Glue Job State Change", "aws.glue", account, region, detail))


def announced_final(job_run: Any) -> bool:
    """Whether the run has ended and its end was announced: nothing about it changes any more."""
    return ANNOUNCED.get(("glue", job_run.job_run_id)) in EVENT_STATES


def _run_init(self: Any, *args: Any, **kwargs: Any) -> None:
    original(models.FakeJobRun, "__init__")(self, *args, **kwargs)
    self._sp_started = time.monotonic()
    self.completed_on = None


def _run_as_dict(self: Any) -> dict[str, Any]:
    result = original(models.FakeJobRun, "as_dict")(self)
    elapsed = time.monotonic() - getattr(self, "_sp_started", 0)
    run = run_of(self)
    failing = fault_of(run).get("fail_glue_run")
    stopped_at = getattr(self, "_sp_stopped_at", None)
    if stopped_at is not None:
        # BatchStopJobRun: STOPPING, then STOPPED (AWS Glue API, JobRun.JobRunState).
        state = "STOPPING" if time.monotonic() - stopped_at < SETTINGS.glue_stop_seconds else "STOPPED"
        if state == "STOPPED" and self.completed_on is None:
            self.completed_on = now()
        result["CompletedOn"] = self.completed_on
        result["JobRunState"] = state
        result["LogGroupName"] = "/aws-glue/jobs"
        return result
    if elapsed < SETTINGS.glue_start_seconds:
        state = "STARTING"
    elif elapsed < SETTINGS.glue_start_seconds + fault_of(run).get("glue_run_seconds", SETTINGS.glue_run_seconds):
        state = "RUNNING"
    else:
        state = failing.get("state", "FAILED") if failing else "SUCCEEDED"
        if self.completed_on is None:
            self.completed_on = now()
            if failing:
                _write_glue_error_log(self, failing)
        result["CompletedOn"] = self.completed_on
        result["ExecutionTime"] = int(SETTINGS.glue_run_seconds)
        if failing:
            result["ErrorMessage"] = failing.get("message", "the job failed")
    if state in ("STARTING", "RUNNING"):
        result.pop("CompletedOn", None)
        result["ExecutionTime"] = 0
    result["JobRunState"] = state
    result["LogGroupName"] = "/aws-glue/jobs"
    return result


def _update_job(self: Any) -> Any:
    name = self._get_param("JobName")
    update = self._get_param("JobUpdate") or {}
    job = self.glue_backend.get_job(name)
    for key, value in update.items():
        if key in JOB_FIELDS:
            setattr(job, JOB_FIELDS[key], value)
    job.last_modified_on = now()
    return ActionResult({"JobName": name})


def _batch_stop_job_run(self: Any) -> Any:
    # AWS Glue API, BatchStopJobRun: JobName and 1-25 JobRunIds; each run is either a SuccessfulSubmission or an
    # Error (an unknown run, or one that has ended, cannot be stopped).
    name = self._get_param("JobName")
    run_ids = self._get_param("JobRunIds") or []
    if not name or not 1 <= len(run_ids) <= 25:
        raise service_error(
            "glue", {"code": "InvalidInputException", "message": "JobName and 1 to 25 JobRunIds are required"}
        )
    job = self.glue_backend.get_job(name)
    submitted, errors = [], []
    with LOCK:
        for run_id in run_ids:
            run = next((r for r in job.job_runs if r.job_run_id == run_id), None)
            if run is None:
                errors.append(_stop_error(name, run_id, "EntityNotFoundException", "Job run not found"))
                continue
            state = run.as_dict()["JobRunState"]
            if state in ("SUCCEEDED", "FAILED", "TIMEOUT", "ERROR", "STOPPED", "EXPIRED"):
                errors.append(_stop_error(name, run_id, "InvalidInputException", f"Job run is {state}"))
                continue
            run._sp_stopped_at = time.monotonic()
            submitted.append({"JobName": name, "JobRunId": run_id})
    return ActionResult({"SuccessfulSubmissions": submitted, "Errors": errors})


def _within_account_runs(method: Any) -> Any:
    """StartJobRun refused past the account's concurrent job runs (quotas.py) — the runs not yet ended, of every job."""

    def start(self: Any) -> Any:
        running = sum(
            1
            for job in self.glue_backend.jobs.values()
            for run in job.job_runs
            if run.as_dict().get("JobRunState") in ("STARTING", "RUNNING", "STOPPING", "WAITING")
        )
        if quotas.glue_runs_exceeded(running):
            raise service_error(
                "glue",
                {"code": "ConcurrentRunsExceededException", "message": "Too many jobs are being run concurrently"},
            )
        return method(self)

    return start


def _runs_of_start(handler: Any) -> list[str]:
    run = (handler._get_param("Arguments") or {}).get("--sparkplug_run")
    return [run] if run else []


def _create_job_once(self: Any) -> Any:
    # CreateJob of a name that exists answers AlreadyExistsException (Glue API Reference, CreateJob, Errors); moto
    # replaces the job, and with it the runs of the job it replaced — a run racing another's first CreateJob lost its
    # Glue run there ("Job run … not found") as it never would on AWS.
    name = self._get_param("Name")
    if name in self.glue_backend.jobs:
        raise service_error("glue", {"code": "AlreadyExistsException", "message": f"Job {name} already exists."})
    return original(responses.GlueResponse, "create_job")(self)


def patch() -> None:
    replace(models.FakeJobRun, "__init__", _run_init)
    replace(models.FakeJobRun, "as_dict", _run_as_dict)
    replace(responses.GlueResponse, "update_job", _update_job)
    replace(responses.GlueResponse, "batch_stop_job_run", _batch_stop_job_run)
    started = faulty("glue", "StartJobRun", _runs_of_start, _within_account_runs(responses.GlueResponse.start_job_run))
    replace(responses.GlueResponse, "start_job_run", started)
    replace(responses.GlueResponse, "create_job", _create_job_once)


def _glue_driver_log(run: Any, account: str, region: str) -> tuple[str, str]:
    """Where Glue writes a run's driver errors (Glue Developer Guide, "Logging for AWS Glue jobs"): stream
    `<JobRunId>-driver` from Glue 5.0 on (executors `<JobRunId>-<n>`), `<JobRunId>` before; group
    /aws-glue/jobs/error, or /aws-glue/jobs/<configuration>-role/<role name>/error under a security configuration."""
    from moto.glue.models import glue_backends

    job = glue_backends[account][region].jobs.get(run.job_name)
    version = str(getattr(job, "glue_version", None) or "5.0")
    major = int(version.split(".")[0]) if version.split(".")[0].isdigit() else 5
    stream = f"{run.job_run_id}-driver" if major >= 5 else run.job_run_id
    configuration = getattr(job, "security_configuration", None)
    role = str(getattr(job, "role", "") or "").rsplit("/", 1)[-1]
    group = f"/aws-glue/jobs/{configuration}-role/{role}/error" if configuration else "/aws-glue/jobs/error"
    return group, stream


def _write_glue_error_log(run: Any, failing: dict[str, Any]) -> None:
    """A failed Glue run's driver errors, where Glue writes them (`_glue_driver_log`)."""
    from moto.logs.models import logs_backends

    message = failing.get("message", "the job failed")
    lines = failing.get("stderr", "").splitlines() or [
        *(f"26/11/27 06:00:{i:02d} WARN GlueJobRunner: retrying partition {i}" for i in range(10)),
        f"Exception in User Class: {message}",
    ]
    try:
        # The clock tells each run where it lives; moto's default account and region until it has.
        account = getattr(run, "_sp_account", "123456789012")
        region = getattr(run, "_sp_region", "us-east-1")
        backend = logs_backends[account][region]
        group, stream = _glue_driver_log(run, account, region)
        if group not in backend.groups:
            backend.create_log_group(group, {})
        backend.create_log_stream(group, stream)
        now_ms = int(time.time() * 1000)
        backend.put_log_events(group, stream, [{"timestamp": now_ms, "message": line} for line in lines])
    except Exception as error:  # noqa: BLE001 - a missing log only costs the alert its tail
        print(f"emulator: no Glue error log for {run.job_run_id}: {error}", flush=True)


def _stop_error(job: str, run_id: str, code: str, message: str) -> dict[str, Any]:
    return {"JobName": job, "JobRunId": run_id, "ErrorDetail": {"ErrorCode": code, "ErrorMessage": message}}
