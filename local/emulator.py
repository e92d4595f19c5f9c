"""sparkplug's local AWS: moto in server mode, plus a small extension that closes the gaps sparkplug needs.

Written for moto 5.2.5 (pinned in dev/requirements-local.txt; `install` refuses another version). What it adds:

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
  function errors, and state-change events dropped, delayed, duplicated or reordered.

Faults are keyed by run name (the EMR cluster's Name — or, for a step named `<run>: <step>` on a shared cluster, that
run —, the Glue run's `--sparkplug_run` argument, the EMR Serverless job run's `name`, the plan's `run_name` in a
Lambda payload), so concurrent tests do not disturb each other. They are set through the control API (see
`ControlHandler`).
"""

from __future__ import annotations

import fnmatch
import io
import itertools
import json
import re
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import delivery
import moto

MOTO_VERSION = "5.2.5"


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
# run name -> fault spec (see ControlHandler)
FAULTS: dict[str, dict[str, Any]] = {}
# function → its Timeout in seconds (template.yaml); an invocation that takes longer fails as Lambda.Unknown
TIMEOUTS: dict[str, float] = {}
_SEQUENCE = [0]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _fault(run: str | None) -> dict[str, Any]:
    with LOCK:
        return FAULTS.get(run or "", {})


def _take_api_error(run: str | None, action: str, after_call: bool) -> dict[str, Any] | None:
    """The next queued API error of `action` for this run, if any (and counts it down)."""
    with LOCK:
        for error in FAULTS.get(run or "", {}).get("api_errors", []):
            if (
                error.get("action") == action
                and bool(error.get("after_call")) == after_call
                and error.get("times", 1) > 0
            ):
                error["times"] = error.get("times", 1) - 1
                return error
    return None


def _service_error(service: str, error: dict[str, Any]) -> Exception:
    """An AWS error answer of `service`: moto serializes an exception by the service its class belongs to."""
    from moto.core.exceptions import ServiceException

    code = error.get("code", "ThrottlingException")
    module = f"moto.{service.replace('-', '')}.exceptions"  # emr-serverless is moto.emrserverless
    cls = type(code, (ServiceException,), {"code": code, "__module__": module})
    return cls(error.get("message", "injected by the local emulator"))


# --------------------------------------------------------------------------------------------------------------- EMR


def _patch_emr() -> None:
    from moto.emr import models, responses

    cluster_init = models.Cluster.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        cluster_init(self, *args, **kwargs)
        # moto makes clusters WAITING at once: start them for real.
        self._sp_started = time.monotonic()
        self._sp_ready = False
        self._sp_reason: dict[str, str] = {}
        self.state = "STARTING"
        self.ready_datetime = None
        for step in self.steps:
            step.state = "PENDING"
            step.start_date_time = None

    models.Cluster.__init__ = init

    def cluster_status(self: Any) -> dict[str, Any]:
        reason = dict(getattr(self, "_sp_reason", {}) or {})
        return {
            "State": self.state,
            "StateChangeReason": reason,
            "Timeline": {
                "CreationDateTime": self.creation_datetime,
                "EndDateTime": self.end_datetime,
                "ReadyDateTime": self.ready_datetime,
            },
        }

    models.Cluster.status = property(cluster_status)

    def step_status(self: Any) -> dict[str, Any]:
        status: dict[str, Any] = {
            "State": self.state,
            "StateChangeReason": {"Message": getattr(self, "last_state_change_reason", None)},
            "Timeline": {
                "CreationDateTime": self.creation_date_time,
                "EndDateTime": self.end_date_time,
                "StartDateTime": self.start_date_time,
            },
        }
        if getattr(self, "_sp_failure", None):
            status["FailureDetails"] = self._sp_failure
        return status

    models.Step.status = property(step_status)

    add_steps = models.Cluster.add_steps

    def add(self: Any, steps: list[dict[str, Any]]) -> list[Any]:
        # EMR API, StepConfig.ActionOnFailure: with StepConcurrencyLevel > 1, a step with CANCEL_AND_WAIT or
        # TERMINATE_CLUSTER "is not submitted and the action fails".
        # (moto adds a request's initial steps before it sets the level.)
        if (getattr(self, "step_concurrency_level", 1) or 1) > 1:
            for step in steps:
                action = step.get("action_on_failure") or step.get("ActionOnFailure")
                if action in ("CANCEL_AND_WAIT", "TERMINATE_CLUSTER", "TERMINATE_JOB_FLOW"):
                    raise _service_error(
                        "emr",
                        {
                            "code": "ValidationException",
                            "message": f"ActionOnFailure {action} is not valid when StepConcurrencyLevel is "
                            f"{self.step_concurrency_level}: use CONTINUE",
                        },
                    )
        state = getattr(self, "state", None)
        added = add_steps(self, steps)
        for step in added:
            step.state = "PENDING"
            step.start_date_time = None
        self.state = state
        _tick(self)
        _announce_cluster(self)
        return added

    models.Cluster.add_steps = add

    terminate = models.Cluster.terminate

    def end(self: Any) -> None:
        if self.state in ("TERMINATED", "TERMINATED_WITH_ERRORS"):
            return
        _cancel_unfinished(self, "the cluster was terminated")
        if not getattr(self, "_sp_reason", None):
            self._sp_reason = {"Code": "USER_REQUEST", "Message": "Terminated by user request"}
        terminate(self)
        _announce_cluster(self)

    models.Cluster.terminate = end

    def ticking(method: Any) -> Any:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            with LOCK:
                for cluster in list(self.clusters.values()):
                    _tick(cluster)
            return method(self, *args, **kwargs)

        return wrapper

    backend = models.ElasticMapReduceBackend
    for name in ("describe_cluster", "list_clusters", "list_steps", "describe_step", "describe_job_flows"):
        if hasattr(backend, name):
            setattr(backend, name, ticking(getattr(backend, name)))

    # API faults, by the run they concern: the cluster's run (`_cluster_run`), or a pooled run's for calls about its own steps.
    response = responses.ElasticMapReduceResponse

    def cluster_names(self: Any, ids: list[str]) -> list[str]:
        clusters = self.backend.clusters
        return [_cluster_run(clusters[i]) for i in ids if i in clusters]

    def faulty(action: str, method: Any, runs_of: Any) -> Any:
        def wrapper(self: Any) -> Any:
            runs = runs_of(self)
            for run in runs:
                error = _take_api_error(run, action, after_call=False)
                if error:
                    raise _service_error("emr", error)
            result = method(self)
            for run in runs:
                error = _take_api_error(run, action, after_call=True)
                if error:
                    raise _service_error("emr", error)
            return result

        return wrapper

    from moto.core.responses import ActionResult

    def list_clusters(self: Any) -> Any:
        # EMR API, ListClusters: 50 clusters a page and an opaque Marker. moto's generic paginator refuses a marker
        # whose cluster left the filtered list (it changed state between two pages) with InvalidToken, which AWS
        # does not do: here the marker is a position in the id order, valid whatever changed since.
        clusters = self.backend.list_clusters(
            self._get_param("ClusterStates", []), self._get_param("CreatedAfter"), self._get_param("CreatedBefore")
        )
        marker = self._get_param("Marker")
        if marker:
            clusters = [c for c in clusters if c.id > marker]
        page = clusters[:50]
        result: dict[str, Any] = {"Clusters": page}
        if len(clusters) > len(page):
            result["Marker"] = page[-1].id
        return ActionResult(result)

    response.list_clusters = list_clusters

    def step_runs(self: Any, cluster_id: str, names: list[str]) -> list[str]:
        # The runs whose steps a call concerns (see `_step_run`): api_errors of a pooled run's own steps are its own.
        cluster = self.backend.clusters.get(cluster_id)
        if cluster is None:
            return []
        runs = {_step_run(cluster, name) for name in names}
        return sorted(runs) or [_cluster_run(cluster)]

    run_job_flow = response.run_job_flow

    def run_job_flow_with_policy(self: Any) -> Any:
        # RunJobFlow's AutoTerminationPolicy (moto drops it): the cluster terminates once idle that long.
        result = run_job_flow(self)
        policy = self._get_param("AutoTerminationPolicy")
        if policy and policy.get("IdleTimeout") is not None:
            cluster = self.backend.clusters[result.result["JobFlowId"]]
            cluster._sp_auto_termination = {"IdleTimeout": int(policy.get("IdleTimeout"))}
        return result

    def run_of_request(self: Any) -> list[str]:
        # The run a RunJobFlow is keyed by, as `_cluster_run` keys the cluster it makes: its `sparkplug:run` tag.
        tags = {tag.get("Key"): tag.get("Value") for tag in self._get_param("Tags") or []}
        return [tags.get("sparkplug:run") or self._get_param("Name")]

    response.run_job_flow = faulty("RunJobFlow", run_job_flow_with_policy, run_of_request)
    response.add_job_flow_steps = faulty(
        "AddJobFlowSteps",
        response.add_job_flow_steps,
        lambda self: step_runs(
            self, self._get_param("JobFlowId"), [step.get("Name") or "" for step in self._get_param("Steps") or []]
        ),
    )

    def cancel_steps(self: Any) -> Any:
        # EMR API, CancelSteps (moto has none): "CancelSteps is idempotent but asynchronous". A PENDING step is
        # cancelled; a RUNNING one (EMR 5.28.0 and later; earlier releases cancel only PENDING steps) goes
        # CANCEL_PENDING, and CANCELLED once EMR has signalled it (StepCancellationOption SEND_INTERRUPT, the
        # default, or TERMINATE_PROCESS). A step that has ended, or that the cluster does not have, is answered
        # Status FAILED with the reason.
        from moto.emr.utils import ReleaseLabel

        cluster = self.backend.describe_cluster(self._get_param("ClusterId"))
        release = getattr(cluster, "release_label", None)
        interruptible = not release or ReleaseLabel(release) >= ReleaseLabel("emr-5.28.0")
        infos = []
        with LOCK:
            _tick(cluster)
            for step_id in self._get_param("StepIds") or []:
                step = next((s for s in cluster.steps if s.id == step_id), None)
                info: dict[str, str] = {"StepId": step_id, "Status": "SUBMITTED"}
                if step is None:
                    info.update(Status="FAILED", Reason=f"Step {step_id} is not a step of cluster {cluster.id}")
                elif step.state == "PENDING":
                    step.state = "CANCELLED"
                    step.last_state_change_reason = "Cancelled by user request"
                    step.end_date_time = _now()
                elif step.state == "RUNNING" and interruptible:
                    step.state = "CANCEL_PENDING"
                    step.last_state_change_reason = "Cancelled by user request"
                elif step.state == "RUNNING":
                    info.update(Status="FAILED", Reason=f"Release {release} can cancel only PENDING steps")
                elif step.state != "CANCEL_PENDING":
                    info.update(Status="FAILED", Reason=f"Step {step_id} is {step.state}: it cannot be cancelled")
                infos.append(info)
            _announce_cluster(cluster)
        return ActionResult({"CancelStepsInfoList": infos})

    response.cancel_steps = faulty(
        "CancelSteps",
        cancel_steps,
        lambda self: step_runs(
            self,
            self._get_param("ClusterId"),
            [
                s.name
                for s in getattr(self.backend.clusters.get(self._get_param("ClusterId")), "steps", [])
                if s.id in (self._get_param("StepIds") or [])
            ],
        ),
    )

    from moto.core.responses import EmptyResult

    def put_auto_termination_policy(self: Any) -> Any:
        # EMR API, PutAutoTerminationPolicy: creates or updates the cluster's policy.
        cluster = self.backend.describe_cluster(self._get_param("ClusterId"))
        policy = self._get_param("AutoTerminationPolicy") or {}
        with LOCK:
            cluster._sp_auto_termination = (
                {"IdleTimeout": int(policy.get("IdleTimeout"))} if policy.get("IdleTimeout") is not None else None
            )
        return EmptyResult()

    def get_auto_termination_policy(self: Any) -> Any:
        cluster = self.backend.describe_cluster(self._get_param("ClusterId"))
        policy = getattr(cluster, "_sp_auto_termination", None)
        return ActionResult({"AutoTerminationPolicy": policy} if policy else {})

    def remove_auto_termination_policy(self: Any) -> Any:
        cluster = self.backend.describe_cluster(self._get_param("ClusterId"))
        with LOCK:
            cluster._sp_auto_termination = None
        return EmptyResult()

    response.put_auto_termination_policy = put_auto_termination_policy
    response.get_auto_termination_policy = get_auto_termination_policy
    response.remove_auto_termination_policy = remove_auto_termination_policy
    response.terminate_job_flows = faulty(
        "TerminateJobFlows",
        response.terminate_job_flows,
        lambda self: cluster_names(self, self._get_param("JobFlowIds") or []),
    )


def _step_log_dir(cluster: Any, step: Any) -> str | None:
    """`<LogUri><cluster-id>/steps/<step-id>/`, where EMR archives a step's logs, when the cluster has a log URI."""
    log_uri = getattr(cluster, "log_uri", None)
    if not log_uri:
        return None
    return f"{log_uri.rstrip('/')}/{cluster.id}/steps/{step.id}/"


def _cluster_mode(step: Any) -> bool:
    """Whether the step is `spark-submit --deploy-mode cluster` (its driver runs in a YARN container)."""
    args = [str(a) for a in (getattr(step, "args", None) or [])]
    return "spark-submit" in args and any(a == "--deploy-mode" and b == "cluster" for a, b in itertools.pairwise(args))


def _write_step_stderr_later(cluster: Any, step: Any, failing: dict[str, Any]) -> None:
    """The failed step's logs, written to S3 after `step_log_delay_seconds`, as EMR's log archiving does. A step in
    client mode (or not Spark) has the driver's last words in its own stderr.gz. A `spark-submit --deploy-mode
    cluster` step's stderr.gz holds only the YARN client's lines — the application it submitted, its reports while
    it runs, and "finished with failed status" — while the driver's exception is in the application master's
    container log, `<LogUri><cluster-id>/containers/application_<stamp>_<n>/container_<stamp>_<n>_01_000001/stderr.gz`
    (EMR Management Guide, "View log files archived to Amazon S3"; YARN aggregates it when the application ends)."""
    account = cluster.emr_backend.account_id
    step_dir = _step_log_dir(cluster, step) or ""
    if not _cluster_mode(step) or not step_dir:
        _write_stderr_later(account, step_dir, failing, f"step {step.id}")
        return
    stamp = int(cluster.creation_datetime.timestamp() * 1000)
    sequence = 1 + next((i for i, s in enumerate(cluster.steps) if s.id == step.id), 0)
    application = f"application_{stamp}_{sequence:04d}"
    container = f"container_{stamp}_{sequence:04d}_01_000001"
    client = "\n".join(
        [
            f"26/11/27 06:00:00 INFO Client: Submitting application {application} to ResourceManager",
            f"26/11/27 06:00:01 INFO YarnClientImpl: Submitted application {application}",
        ]
        + [
            f"26/11/27 06:00:{i:02d} INFO Client: Application report for {application} (state: RUNNING)"
            for i in range(2, 40)
        ]
        + [
            f"26/11/27 06:00:40 INFO Client: Application report for {application} (state: FINISHED)",
            (
                f'Exception in thread "main" org.apache.spark.SparkException: Application {application} finished with '
                "failed status"
            ),
            "\tat org.apache.spark.deploy.yarn.Client.run(Client.scala:1342)",
        ]
    )
    _write_stderr_later(account, step_dir, {"stderr": client}, f"step {step.id}")
    container_dir = f"{step_dir.split('/steps/')[0]}/containers/{application}/{container}/"
    _write_stderr_later(account, container_dir, failing, f"the driver of step {step.id}")


def _write_stderr_later(account: str, log_dir: str, failing: dict[str, Any], what: str) -> None:
    """A failed Spark driver's last words as `<log_dir>stderr.gz` (log_dir: s3://bucket/prefix/), written after
    `step_log_delay_seconds`: the fault's `stderr`, or some 60 INFO lines and a stack trace made of its message."""
    import gzip

    bucket, _, prefix = log_dir.removeprefix("s3://").partition("/")
    message = failing.get("message", "the step failed")
    text = failing.get("stderr") or "\n".join(
        [f"26/11/27 06:00:{i:02d} INFO SparkContext: Running Spark job, stage {i}" for i in range(60)]
        + [
            f'Exception in thread "main" {message}',
            "\tat org.apache.spark.deploy.SparkSubmit.runMain(SparkSubmit.scala:1034)",
            "\tat org.apache.spark.deploy.SparkSubmit.main(SparkSubmit.scala)",
        ]
    )

    def write() -> None:
        from moto.s3.models import s3_backends

        try:
            s3_backends[account]["aws"].put_object(bucket, f"{prefix}stderr.gz", gzip.compress(text.encode()))
        except Exception as error:  # noqa: BLE001 - no log bucket: the service would write nothing either
            print(f"emulator: no log for {what}: {error}", flush=True)

    timer = threading.Timer(SETTINGS.step_log_delay_seconds, write)
    timer.daemon = True
    timer.start()


def _cancel_unfinished(cluster: Any, why: str) -> None:
    for step in cluster.steps:
        if step.state in ("PENDING", "RUNNING", "CANCEL_PENDING"):
            step.state = "CANCELLED"
            step.last_state_change_reason = why
            step.end_date_time = _now()


def _die(cluster: Any, code: str, message: str) -> None:
    cluster._sp_reason = {"Code": code, "Message": message}
    _cancel_unfinished(cluster, message)
    cluster.end_datetime = _now()
    cluster.state = "TERMINATED_WITH_ERRORS"


V2_TAG = "for-use-with-amazon-emr-managed-policies"


def _v2_managed_without_tag(cluster: Any) -> str | None:
    """EMR's v2 managed policy (AmazonEMRServicePolicy_v2, the role EMR_DefaultRole_V2) lets EMR launch EC2 instances
    only for a request tagged for-use-with-amazon-emr-managed-policies=true (EMR Management Guide, "Service role for
    Amazon EMR (EMR role)", managed policy v2): without it the cluster fails as it starts. The reason, or None."""
    if cluster._tags.get(V2_TAG) == "true":
        return None
    role = (cluster.service_role or "").rsplit("/", 1)[-1]
    v2 = role == "EMR_DefaultRole_V2"
    if not v2:
        try:
            from moto.iam.models import iam_backends

            iam = iam_backends[cluster.account_id]["global"]
            attached = iam.get_role(role).managed_policies
            v2 = any(arn.endswith("/AmazonEMRServicePolicy_v2") for arn in attached)
        except Exception:  # noqa: BLE001 - a role the emulator does not know is not a v2 one
            v2 = False
    if not v2:
        return None
    return (
        f"The service role {role} uses AmazonEMRServicePolicy_v2, which lets EMR launch instances only for a "
        f"cluster tagged {V2_TAG}=true; the request has no such tag."
    )


def _tick(cluster: Any) -> None:
    """Moves a cluster and its steps on to where they are by now, and announces every state change (EventBridge)."""
    _advance(cluster)
    _announce_cluster(cluster)


def _step_run(cluster: Any, step_name: str) -> str:
    """The run a step's faults (and its events' faults) are keyed by. sparkplug names the steps of a run on a shared
    (pool) cluster `<run name>: <step name>` (run names have no ':'): such a step belongs to that run when the run has
    faults; any other step to the cluster's run (`_cluster_run`)."""
    run, separator, _ = (step_name or "").partition(": ")
    if separator:
        with LOCK:
            if run in FAULTS:
                return run
    return _cluster_run(cluster)


def _cluster_run(cluster: Any) -> str:
    """The run a cluster's faults and events are keyed by: the run its `sparkplug:run` tag names (a run's own cluster
    is named `sparkplug-<env>-<run>`), else its name (a pool's cluster, which no one run owns)."""
    return cluster._tags.get("sparkplug:run") or cluster.name


def _own_name(cluster: Any, step: Any) -> str:
    """The step's name within its run (what `fail_step.name` is matched against)."""
    if _step_run(cluster, step.name) != _cluster_run(cluster):
        return step.name.partition(": ")[2]
    return step.name


# Steps that hold one of the cluster's StepConcurrencyLevel slots
ACTIVE_STEP_STATES = ("RUNNING", "CANCEL_PENDING")


def _advance(cluster: Any) -> None:
    """Moves a cluster and its steps on. EMR runs up to the cluster's StepConcurrencyLevel steps at once (EMR API,
    RunJobFlow/ModifyCluster StepConcurrencyLevel; Management Guide, "Considerations for running multiple steps in
    parallel"): pending steps start in the order they were submitted as slots free up, each running step ends on its
    own time, and a step that fails with CONTINUE affects no other step."""
    if not hasattr(cluster, "_sp_started") or cluster.state in ("TERMINATING", "TERMINATED", "TERMINATED_WITH_ERRORS"):
        return
    elapsed = time.monotonic() - cluster._sp_started
    if not cluster._sp_ready:
        if elapsed < SETTINGS.cluster_start_seconds:
            cluster.state = "STARTING"
            return
        untagged = _v2_managed_without_tag(cluster)
        if untagged:
            _die(cluster, "VALIDATION_ERROR", untagged)
            return
        if elapsed < SETTINGS.cluster_start_seconds + SETTINGS.bootstrap_seconds:
            cluster.state = "BOOTSTRAPPING"
            return
        cluster._sp_ready = True
        cluster._sp_idle_since = time.monotonic()
        cluster.ready_datetime = _now()
    level = max(1, int(getattr(cluster, "step_concurrency_level", 1) or 1))
    progressed = True
    while progressed and cluster.state not in ("TERMINATED", "TERMINATED_WITH_ERRORS"):
        progressed = False
        running = [s for s in cluster.steps if s.state == "RUNNING"]
        kill = _fault(_cluster_run(cluster)).get("kill_cluster")
        if running and kill:
            _die(cluster, kill.get("code", "INSTANCE_FAILURE"), kill.get("message", "The cluster was lost."))
            return
        for step in cluster.steps:
            if step.state == "CANCEL_PENDING":
                # CancelSteps on a running step (EMR 5.28.0+): the step is signalled, and ends CANCELLED.
                step.state = "CANCELLED"
                step.end_date_time = _now()
                progressed = True
        for step in running:
            fault = _fault(_step_run(cluster, step.name))
            if step.state != "RUNNING":
                continue  # cancelled by a step that failed before it, in this same pass
            if time.monotonic() - step._sp_started < fault.get("step_seconds", SETTINGS.step_seconds):
                continue
            step.end_date_time = _now()
            progressed = True
            failing = fault.get("fail_step")
            if not (failing and failing.get("name") == _own_name(cluster, step)):
                step.state = "COMPLETED"
                continue
            step.state = "FAILED"
            log_dir = _step_log_dir(cluster, step)
            step._sp_failure = {
                "Reason": failing.get("reason", "Unknown Error."),
                "Message": failing.get("message", "the step failed"),
                "LogFile": failing.get("log_file", log_dir or f"s3://logs/{cluster.id}/steps/{step.id}/"),
            }
            if log_dir and not failing.get("no_log"):
                _write_step_stderr_later(cluster, step, failing)
            if step.action_on_failure in ("TERMINATE_CLUSTER", "TERMINATE_JOB_FLOW"):
                _die(cluster, "STEP_FAILURE", f"Shut down as step failed: {step.name}")
                return
            if step.action_on_failure == "CANCEL_AND_WAIT":
                _cancel_unfinished(cluster, f"cancelled: step {step.name} failed")
        free = level - sum(1 for s in cluster.steps if s.state in ACTIVE_STEP_STATES)
        # cluster.steps is in submission order.
        for step in [s for s in cluster.steps if s.state == "PENDING"][: max(0, free)]:
            step.state = "RUNNING"
            step.start_date_time = _now()
            step._sp_started = time.monotonic()
            progressed = True
        if progressed:
            if any(s.state in ACTIVE_STEP_STATES for s in cluster.steps):
                cluster.state = "RUNNING"
            _announce_cluster(cluster)
    if cluster.state in ("TERMINATED", "TERMINATED_WITH_ERRORS"):
        return
    busy = any(s.state in ("PENDING", *ACTIVE_STEP_STATES) for s in cluster.steps)
    cluster.state = "RUNNING" if any(s.state in ACTIVE_STEP_STATES for s in cluster.steps) else "WAITING"
    _auto_terminate_when_idle(cluster, busy)


def _auto_terminate_when_idle(cluster: Any, busy: bool) -> None:
    """AutoTerminationPolicy (EMR API, RunJobFlow/PutAutoTerminationPolicy; Management Guide, "Using an
    auto-termination policy"): a cluster idle — no pending or active step, the emulator's stand-in for "no active YARN
    applications, no pending steps" — for IdleTimeout seconds (× `idle_timeout_scale`) terminates itself. AWS documents
    no state-change reason for it; the emulator uses the only ClusterStateChangeReasonCode that stands for a
    termination that is neither an error nor a user's request, ALL_STEPS_COMPLETED, and says why in the message."""
    now = time.monotonic()
    if busy or not hasattr(cluster, "_sp_idle_since"):
        cluster._sp_idle_since = now
        return
    timeout = (getattr(cluster, "_sp_auto_termination", None) or {}).get("IdleTimeout")
    if not timeout or now - cluster._sp_idle_since < timeout * SETTINGS.idle_timeout_scale:
        return
    cluster._sp_reason = {
        "Code": "ALL_STEPS_COMPLETED",
        "Message": f"Terminated by the auto-termination policy: the cluster was idle for {timeout} seconds",
    }
    cluster.terminate()


# --------------------------------------------------------------------------------------------- state-change events

# (kind, id) → the state last announced, so that each change is announced once
_ANNOUNCED: dict[tuple[str, str], str] = {}
# Clusters that ended and whose every change was announced: nothing about them can change any more (the clock skips
# them, so that its work does not grow with every cluster a long session has made)
_SETTLED: set[str] = set()
# The forwarder the events go through (set by `install`)
_FORWARDER: list[Any] = []
# How often the clock moves clusters and Glue runs on when nobody asks (seconds)
TICK_SECONDS = 0.05

# EMR Management Guide, "Amazon EMR events" (severity per state); Glue Developer Guide, "Automating AWS Glue with
# EventBridge" ("Glue Job State Change" for SUCCEEDED, FAILED, TIMEOUT, STOPPED).
STEP_SEVERITY = {"FAILED": "ERROR", "CANCELLED": "WARN", "CANCEL_PENDING": "WARN", "INTERRUPTED": "WARN"}
CLUSTER_SEVERITY = {"TERMINATED_WITH_ERRORS": "CRITICAL"}
GLUE_EVENT_STATES = ("SUCCEEDED", "FAILED", "TIMEOUT", "STOPPED")
GLUE_SEVERITY = {"FAILED": "ERROR", "TIMEOUT": "WARN", "STOPPED": "INFO", "SUCCEEDED": "INFO"}


def _state_event(detail_type: str, source: str, account: str, region: str, detail: dict[str, Any]) -> dict[str, Any]:
    with LOCK:
        _SEQUENCE[0] += 1
        number = _SEQUENCE[0]
    return {
        "version": "0",
        "id": f"{time.time_ns():x}-{number}",
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [],
        "detail": detail,
    }


def _announce_cluster(cluster: Any) -> None:
    """The "EMR Step Status Change" and "EMR Cluster State Change" events of every change since the last call, steps
    first (a dying cluster cancels its steps before it is TERMINATED_WITH_ERRORS), with `detail` as AWS documents it:
    stateChangeReason is a JSON-encoded string."""
    account, region = cluster.emr_backend.account_id, cluster.emr_backend.region_name
    for step in sorted(cluster.steps, key=lambda s: s.creation_date_time):
        if _ANNOUNCED.get(("step", step.id)) == step.state:
            continue
        _ANNOUNCED[("step", step.id)] = step.state
        detail = {
            "severity": STEP_SEVERITY.get(step.state, "INFO"),
            "actionOnFailure": step.action_on_failure,
            "stepId": step.id,
            "name": step.name,
            "clusterId": cluster.id,
            "state": step.state,
            "message": f"Step {step.id} ({step.name}) in Amazon EMR cluster {cluster.id} ({cluster.name}) is "
            f"{step.state}.",
        }
        _emit(_step_run(cluster, step.name), _state_event("EMR Step Status Change", "aws.emr", account, region, detail))
    if _ANNOUNCED.get(("cluster", cluster.id)) != cluster.state:
        _ANNOUNCED[("cluster", cluster.id)] = cluster.state
        reason = getattr(cluster, "_sp_reason", {}) or {}
        detail = {
            "severity": CLUSTER_SEVERITY.get(cluster.state, "INFO"),
            "stateChangeReason": json.dumps({k.lower(): v for k, v in reason.items()}),
            "name": cluster.name,
            "clusterId": cluster.id,
            "state": cluster.state,
            "message": f"Amazon EMR cluster {cluster.id} ({cluster.name}) is {cluster.state}.",
        }
        _emit(_cluster_run(cluster), _state_event("EMR Cluster State Change", "aws.emr", account, region, detail))


def _announce_glue_run(run: Any, account: str, region: str) -> None:
    state = run.as_dict()["JobRunState"]
    if state not in GLUE_EVENT_STATES or _ANNOUNCED.get(("glue", run.job_run_id)) == state:
        return
    _ANNOUNCED[("glue", run.job_run_id)] = state
    detail = {
        "jobName": run.job_name,
        "severity": GLUE_SEVERITY[state],
        "state": state,
        "jobRunId": run.job_run_id,
        "message": f"Job run {state.lower()}",
    }
    name = (run.arguments or {}).get("--sparkplug_run")
    _emit(name, _state_event("Glue Job State Change", "aws.glue", account, region, detail))


def _event_fault(run: str | None, event: dict[str, Any]) -> dict[str, Any] | None:
    """The next `events` fault of this run that matches the event (by detail-type and state), counted down."""
    with LOCK:
        for fault in FAULTS.get(run or "", {}).get("events", []):
            if fault.get("detail_type", event["detail-type"]) != event["detail-type"]:
                continue
            # EMR, Glue and EMR Serverless events carry `state`, the execution status change `status`.
            state = event["detail"].get("state", event["detail"].get("status"))
            if fault.get("state", state) != state:
                continue
            if fault.get("times", 1) > 0:
                fault["times"] = fault.get("times", 1) - 1
                return fault
    return None


def _emit(run: str | None, event: dict[str, Any]) -> None:
    """Puts a state-change event on the default bus (`delivery.deliver`: this run's faults, or the chaos, may drop,
    delay, duplicate or reorder it)."""
    if not _FORWARDER:
        return
    delivery.deliver(_FORWARDER[0], event, run=run, fault=_event_fault(run, event))


def _clock() -> None:
    """Moves every cluster, Glue run, EMR Serverless application and job run on as time passes, so that their events
    come when their states change (on AWS nobody has to ask first)."""
    from moto.emr.models import emr_backends
    from moto.emrserverless.models import emrserverless_backends
    from moto.glue.models import glue_backends

    while True:
        time.sleep(TICK_SECONDS)
        try:
            with LOCK:
                for regions in emr_backends.values():
                    for backend in regions.values():
                        for cluster in list(backend.clusters.values()):
                            if cluster.id in _SETTLED:
                                continue
                            _tick(cluster)
                            if cluster.state in ("TERMINATED", "TERMINATED_WITH_ERRORS"):
                                _SETTLED.add(cluster.id)
                for account, regions in glue_backends.items():
                    for region, backend in regions.items():
                        for job in list(backend.jobs.values()):
                            for run in list(job.job_runs):
                                if _ANNOUNCED.get(("glue", run.job_run_id)) in GLUE_EVENT_STATES:
                                    continue  # ended and announced: final
                                run._sp_account, run._sp_region = account, region
                                _announce_glue_run(run, account, region)
                for regions in emrserverless_backends.values():
                    for backend in regions.values():
                        _advance_serverless(backend)
            _announce_serverless()
        except Exception as error:  # noqa: BLE001 - the clock must keep ticking
            print(f"emulator clock: {type(error).__name__}: {error}", flush=True)


# ------------------------------------------------------------------------------------------- AWS's rules, enforced


# The services whose every request is checked against its botocore service model (the one the AWS CLI uses).
VALIDATED_SERVICES = {"emr", "emr-serverless", "glue", "stepfunctions", "dynamodb", "logs", "events"}
# Those of them whose requests carry members in the URI and query string too (the rest-json protocol)
REST_SERVICES = {"emr-serverless"}


def check_against_model(value: Any, shape: Any, path: str = "") -> list[str]:
    """What AWS's request validation would refuse in `value` (a JSON protocol request body) by the botocore `shape`:
    unknown and missing required members, wrong types, values outside an enum, lengths and numbers outside min/max,
    strings that do not match their `pattern`. moto checks none of this; AWS answers ValidationException."""
    where = path or "the request"
    kind = shape.type_name
    problems: list[str] = []
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{where}: expected an object, found {type(value).__name__}"]
        for name in value:
            if name not in shape.members:
                problems.append(f"{where}: unknown field {name}")
        for name in shape.required_members:
            if name not in value:
                problems.append(f"{where}: missing required field {name}")
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                problems += check_against_model(value[name], member, f"{path}.{name}" if path else name)
    elif kind == "list":
        if not isinstance(value, list):
            return [f"{where}: expected a list, found {type(value).__name__}"]
        problems += _bounds(len(value), shape, where, "items")
        for index, item in enumerate(value):
            problems += check_against_model(item, shape.member, f"{path}[{index}]")
    elif kind == "map":
        if not isinstance(value, dict):
            return [f"{where}: expected a map, found {type(value).__name__}"]
        for key, item in value.items():
            problems += check_against_model(key, shape.key, f"{where} key")
            problems += check_against_model(item, shape.value, f"{path}.{key}")
    elif kind == "string":
        if not isinstance(value, str):
            return [f"{where}: expected a string, found {type(value).__name__}"]
        if shape.enum and value not in shape.enum:
            problems.append(f"{where}: `{value}` is not one of {', '.join(shape.enum)}")
        problems += _bounds(len(value), shape, where, "characters")
        pattern = _pattern(shape.metadata.get("pattern"))
        if pattern is not None and not pattern.fullmatch(value):
            problems.append(f"{where}: `{value}` does not match the pattern {pattern.pattern}")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{where}: expected an integer, found {value!r}"]
        problems += _bounds(value, shape, where, "")
    elif kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return [f"{where}: expected a number, found {value!r}"]
    elif kind == "boolean":
        if not isinstance(value, bool):
            return [f"{where}: expected true or false, found {value!r}"]
    elif kind == "timestamp" and (isinstance(value, bool) or not isinstance(value, (int, float, str, datetime))):
        return [f"{where}: expected a timestamp, found {value!r}"]
    return problems


_PATTERNS: dict[str, re.Pattern[str] | None] = {}


def _pattern(text: str | None) -> re.Pattern[str] | None:
    """A model's string `pattern`, compiled once, matched against the whole value as AWS's services do: they answer
    "Value '…' at '…' failed to satisfy constraint: Member must satisfy regular expression pattern: [A-Za-z0-9 …]*"
    for patterns that an unanchored search could never fail. One Python's `re` cannot read is not checked."""
    if not text:
        return None
    if text not in _PATTERNS:
        try:
            _PATTERNS[text] = re.compile(text)
        except re.error:
            _PATTERNS[text] = None
    return _PATTERNS[text]


def _bounds(size: float, shape: Any, where: str, unit: str) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    suffix = f" {unit}" if unit else ""
    if low is not None and size < low:
        return [f"{where}: {size}{suffix} is under the minimum of {low}"]
    if high is not None and size > high:
        return [f"{where}: {size}{suffix} is over the maximum of {high}"]
    return []


def _patch_model_validation() -> None:
    from moto.core import responses

    call_action = responses.BaseResponse.call_action

    def validated(self: Any) -> Any:
        if self.service_name == "sns":
            # SNS speaks the query protocol (no JSON body to check against the model); its calls are authorized all
            # the same, on the topic they name.
            action = self._get_action()
            topic = self._get_param("TopicArn") or self._get_param("TargetArn") or "*"
            denied = _authorize(self, "sns", action, {}, [(topic, {})])
            if denied:
                error = _service_error("sns", {"code": "AuthorizationError", "message": denied})
                return self.serialized(responses.ActionResult(error))
            if action == "Publish":
                # API faults of a run whose name the message carries (its alert: "run: <name>").
                message = self._get_param("Message") or ""
                with LOCK:
                    runs = [run for run in FAULTS if run and run in message]
                for run in runs:
                    injected = _take_api_error(run, "Publish", after_call=False)
                    if injected:
                        error = _service_error("sns", injected)
                        return self.serialized(responses.ActionResult(error))
            key = _topic_key_arn(topic, self.current_account, self.region) if action == "Publish" else None
            if key:
                # Publishing to a topic under a customer-managed key needs kms:GenerateDataKey and kms:Decrypt on
                # that key (SNS Developer Guide, "Encryption at rest": the publisher's permissions); SNS answers
                # KMSAccessDenied otherwise.
                for kms_action in ("GenerateDataKey", "Decrypt"):
                    denied = _authorize(self, "kms", kms_action, {}, [(key, {})])
                    if denied:
                        error = _service_error("sns", {"code": "KMSAccessDenied", "message": denied})
                        return self.serialized(responses.ActionResult(error))
        if self.service_name in VALIDATED_SERVICES and (self.body or self.service_name in REST_SERVICES):
            from moto.core.utils import get_service_model

            action = self._get_action()
            if not action:
                return call_action(self)  # no operation has this method and path: moto answers 404
            operation = get_service_model(self.boto3_service_name).operation_model(action)
            body = _request_input(self, operation)
            if body is None:
                problems = ["the body is not JSON"]
            elif operation.input_shape is None:
                problems = []
            else:
                problems = check_against_model(body, operation.input_shape)
            problems += _service_rules(self.service_name, operation.name, body or {})
            denied = _authorize(self, self.service_name, operation.name, body or {})
            if denied:
                error = _service_error(self.service_name, {"code": "AccessDeniedException", "message": denied})
                return self.serialized(responses.ActionResult(error))
            if problems:
                error = _service_error(
                    self.service_name, {"code": "ValidationException", "message": "; ".join(problems)}
                )
                return self.serialized(responses.ActionResult(error))
        return call_action(self)

    responses.BaseResponse.call_action = validated


def _topic_key_arn(topic_arn: str, account: str, region: str) -> str | None:
    """The ARN of the customer-managed KMS key a topic is encrypted with; None for an unencrypted topic or one under
    an AWS-managed key (`alias/aws/sns`, whose use needs no grant of the publisher's)."""
    from moto.kms.models import kms_backends
    from moto.sns.models import sns_backends

    topic = sns_backends[account][region].topics.get(topic_arn)
    key_id = (getattr(topic, "kms_master_key_id", None) or "") if topic else ""
    if not key_id or key_id.startswith("alias/aws/"):
        return None
    backend = kms_backends[account][region]
    try:
        return backend.describe_key(key_id).arn
    except Exception:  # noqa: BLE001 - a key SNS cannot find: AWS fails the publish the same way
        return f"arn:aws:kms:{region}:{account}:key/{key_id}"


def _request_input(handler: Any, operation: Any) -> Any:
    """The request as its operation's input shape has it: the JSON body (None when it is not JSON) and, for a REST
    service (EMR Serverless: `applicationId` and `jobRunId` are in the path, ListJobRuns' filters in the query string),
    the members the URI and query string carry, as moto has parsed them."""
    try:
        # DynamoDB's handler has parsed its body already.
        body = handler.body if isinstance(handler.body, dict) else json.loads(handler.body) if handler.body else {}
    except ValueError:
        return None
    if handler.service_name in REST_SERVICES and isinstance(body, dict) and operation.input_shape is not None:
        parsed = getattr(handler, "params", None) or {}
        for name, member in operation.input_shape.members.items():
            location = member.serialization.get("location")
            sent = location == "uri" or (
                location == "querystring" and member.serialization.get("name", name) in handler.querystring
            )
            if sent and name in parsed:  # (moto's parser has an empty list for a list the query string lacks)
                body[name] = parsed[name]
    return body


def _service_rules(service: str, action: str, body: dict[str, Any]) -> list[str]:
    """Rules AWS documents beyond the service model."""
    problems: list[str] = []
    if service == "emr" and action == "CancelSteps" and len(body.get("StepIds") or []) > 256:
        # EMR API, CancelSteps: "A maximum of 256 steps are allowed in each CancelSteps request."
        problems.append(f"StepIds: {len(body['StepIds'])} steps; at most 256 can be cancelled in one request")
    level = body.get("StepConcurrencyLevel")
    if service == "emr" and action == "RunJobFlow" and isinstance(level, int) and level > 1:
        # EMR API, StepConfig.ActionOnFailure: with StepConcurrencyLevel > 1, a step with CANCEL_AND_WAIT or
        # TERMINATE_CLUSTER is not submitted and the action fails (AddJobFlowSteps: see `_patch_emr`).
        for step in body.get("Steps") or []:
            if step.get("ActionOnFailure") in ("CANCEL_AND_WAIT", "TERMINATE_CLUSTER", "TERMINATE_JOB_FLOW"):
                problems.append(
                    f"Steps: ActionOnFailure {step['ActionOnFailure']} of step {step.get('Name')} is not valid when "
                    f"StepConcurrencyLevel is {level}: use CONTINUE"
                )
    if service == "emr" and action in ("RunJobFlow", "PutAutoTerminationPolicy"):
        # EMR API, AutoTerminationPolicy.IdleTimeout: "a minimum of 60 seconds and a maximum of 604800 seconds".
        idle = (body.get("AutoTerminationPolicy") or {}).get("IdleTimeout")
        if isinstance(idle, int) and not 60 <= idle <= 604800:
            problems.append(f"AutoTerminationPolicy.IdleTimeout: {idle} seconds; must be from 60 to 604800")
    if service == "glue" and action in ("CreateJob", "StartJobRun"):
        # Glue API, CreateJob/StartJobRun Timeout: "The maximum value is 10080 (7 days)"; Glue refuses it and more.
        timeout = body.get("Timeout")
        if isinstance(timeout, int) and timeout >= 10080:
            problems.append(f"Timeout: {timeout} minutes; a job run's Timeout must be under 10080 (7 days)")
    if service == "glue" and action == "UpdateJob":
        timeout = (body.get("JobUpdate") or {}).get("Timeout")
        if isinstance(timeout, int) and timeout >= 10080:
            problems.append(f"JobUpdate.Timeout: {timeout} minutes; must be under 10080 (7 days)")
    return problems


# ------------------------------------------------------------------------------------------- IAM, from the traffic

# function (its local name) → the IAM statements of its policy in template.yaml, as deployed
POLICIES: dict[str, list[dict[str, Any]]] = {}
# every call a function made: its function, IAM action, resources, and whether its policy allows it
CALLS: list[dict[str, Any]] = []
IAM_PREFIX = {
    "emr": "elasticmapreduce",
    "glue": "glue",
    "stepfunctions": "states",
    "dynamodb": "dynamodb",
    "logs": "logs",
    "events": "events",
    "sns": "sns",
    "emr-serverless": "emr-serverless",
    "s3": "s3",
    "kms": "kms",
}


def _caller(headers: Any) -> str | None:
    """The function that made a request: its name in the User-Agent (`app/<name>`, which sparkplug's SDK
    configuration sets from AWS_LAMBDA_FUNCTION_NAME) and its environment in the access key (`local-<env>`)."""
    agent = headers.get("x-amz-user-agent") or headers.get("User-Agent") or ""
    app = re.search(r"\bapp/(\S+)", agent)
    if not app:
        return None
    key = re.search(r"Credential=([^/]+)/", headers.get("Authorization") or "")
    env = key.group(1).removeprefix("local-") if key and key.group(1).startswith("local-") else "dev"
    return app.group(1) if env == "dev" else f"{app.group(1)}{ENV_SEPARATOR}{env}"


def _resources(service: str, action: str, body: dict[str, Any], region: str, account: str) -> list[tuple[str, dict]]:
    """The resources a call acts on, each with its condition context (Service Authorization Reference: resource
    types per action), for the actions sparkplug's functions call."""
    if service == "emr":
        ids = body.get("JobFlowIds") or [i for i in (body.get("ClusterId"), body.get("JobFlowId")) if i]
        if not ids:  # ListClusters, RunJobFlow: no resource-level permission
            tags = {f"aws:RequestTag/{t['Key']}": t.get("Value", "") for t in body.get("Tags") or []}
            return [("*", tags)]
        from moto.emr.models import emr_backends

        clusters = emr_backends[account][region].clusters
        return [
            (
                f"arn:aws:elasticmapreduce:{region}:{account}:cluster/{cluster_id}",
                {f"aws:ResourceTag/{k}": v for k, v in getattr(clusters.get(cluster_id), "_tags", {}).items()},
            )
            for cluster_id in ids
        ]
    if service == "emr-serverless":
        return _serverless_resources(body, region, account)
    if service == "glue":
        name = body.get("JobName") or body.get("Name")
        return [(f"arn:aws:glue:{region}:{account}:job/{name}", {})]
    if service == "stepfunctions":
        if "taskToken" in body:
            # SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat support no resource-level permissions (Service
            # Authorization Reference, "Actions defined by AWS Step Functions": no resource type): a policy allows
            # them only on "*", whatever state machine issued the token.
            return [("*", {})]
        return [(body.get("executionArn") or body.get("stateMachineArn") or "*", {})]
    if service == "dynamodb":
        return [(f"arn:aws:dynamodb:{region}:{account}:table/{body.get('TableName')}", {})]
    if service == "logs":
        group, stream = body.get("logGroupName"), body.get("logStreamName")
        return [(f"arn:aws:logs:{region}:{account}:log-group:{group}:log-stream:{stream or ''}", {})]
    if service == "events":
        buses = {entry.get("EventBusName") or "default" for entry in body.get("Entries") or [{}]}
        return [(f"arn:aws:events:{region}:{account}:event-bus/{bus}", {}) for bus in sorted(buses)]
    return [("*", {})]


def _serverless_resources(body: dict[str, Any], region: str, account: str) -> list[tuple[str, dict]]:
    """EMR Serverless's resources (Service Authorization Reference, "Actions, resources, and condition keys for Amazon
    EMR Serverless"): `applications` arn:aws:emr-serverless:<region>:<account>:/applications/<id> and `jobRun`
    …/applications/<id>/jobruns/<jobRunId>, with aws:ResourceTag/… from their tags and aws:RequestTag/… from the
    request's `tags`. CreateApplication and ListApplications act on no existing resource (`*`)."""
    from moto.emrserverless.models import emrserverless_backends

    backend = emrserverless_backends[account][region]
    request_tags = {f"aws:RequestTag/{k}": v for k, v in (body.get("tags") or {}).items()}
    if body.get("resourceArn"):  # TagResource, UntagResource, ListTagsForResource
        arn = body["resourceArn"]
        found = [a for a in backend.applications.values() if a.arn == arn] + [
            r for runs in backend.job_runs.values() for r in runs if r.arn == arn
        ]
        tags = (found[0].tags or {}) if found else {}
        return [(arn, {**{f"aws:ResourceTag/{k}": v for k, v in tags.items()}, **request_tags})]
    application_id, run_id = body.get("applicationId"), body.get("jobRunId")
    if not application_id:
        return [("*", request_tags)]
    application = backend.applications.get(application_id)
    arn = f"arn:aws:emr-serverless:{region}:{account}:/applications/{application_id}"
    tags = getattr(application, "tags", None) or {}
    if run_id:
        run = next((r for r in backend.job_runs.get(application_id, []) if r.id == run_id), None)
        arn, tags = f"{arn}/jobruns/{run_id}", getattr(run, "tags", None) or {}
    return [(arn, {**{f"aws:ResourceTag/{k}": v for k, v in tags.items()}, **request_tags})]


# A call about nothing that exists (a task token no execution issued): no policy is consulted; the service refuses it.
NO_RESOURCE = "(no such resource)"


def _matches(patterns: Any, value: str) -> bool:
    patterns = patterns if isinstance(patterns, list) else [patterns]
    return any(fnmatch.fnmatchcase(value.lower(), str(p).lower()) for p in patterns)


def _condition_holds(condition: dict[str, Any], context: dict[str, str]) -> bool:
    """IAM condition operators the template uses: StringEquals, StringLike (`*` and `?` wildcards, case-sensitive) and
    their IfExists forms (IAM User Guide, "IAM JSON policy elements: Condition operators"). Any other operator is
    refused rather than guessed at."""
    for operator, keys in condition.items():
        for key, expected in keys.items():
            expected = [str(e) for e in (expected if isinstance(expected, list) else [expected])]
            if key not in context:
                if operator.endswith("IfExists"):
                    continue
                return False
            match operator.removesuffix("IfExists"):
                case "StringEquals":
                    if context[key] not in expected:
                        return False
                case "StringLike":
                    if not any(fnmatch.fnmatchcase(context[key], pattern) for pattern in expected):
                        return False
                case _:
                    raise ValueError(f"condition operator {operator} is not emulated")
    return True


def _allowed(function: str, action: str, resource: str, context: dict[str, str]) -> bool:
    return any(
        statement.get("Effect") == "Allow"
        and _matches(statement.get("Action", []), action)
        and _matches(statement.get("Resource", []), resource)
        and _condition_holds(statement.get("Condition") or {}, context)
        for statement in POLICIES.get(function, [])
    )


def _authorize(
    handler: Any,
    service: str,
    action: str,
    body: dict[str, Any],
    resources: list[tuple[str, dict]] | None = None,
) -> str | None:
    """Checks a function's call against its policy, as IAM would, and records it; the AccessDenied message when the
    policy does not allow it (IAM: an action is denied unless a statement allows it for every resource)."""
    function = _caller(handler.headers)
    if function is None or not POLICIES:
        return None
    iam_action = f"{IAM_PREFIX[service]}:{action}"
    denied = None
    if resources is None:
        resources = _resources(service, action, body, handler.region, handler.current_account)
    for resource, context in resources:
        allowed = resource == NO_RESOURCE or _allowed(function, iam_action, resource, context)
        with LOCK:
            CALLS.append(
                {
                    "function": function,
                    "action": iam_action,
                    "resource": resource,
                    "context": context,
                    "allowed": allowed,
                }
            )
        if not allowed:
            denied = (
                f"User: {function} is not authorized to perform: {iam_action} on resource: {resource} because no "
                f"identity-based policy allows the {iam_action} action"
            )
    return denied


def iam_report() -> dict[str, Any]:
    """What the functions called, what their policies refused, and what each policy grants."""
    with LOCK:
        calls = list(CALLS)
    used: dict[str, set[str]] = {}
    for call in calls:
        used.setdefault(call["function"], set()).add(call["action"])
    granted = {
        function: sorted(
            {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
        )
        for function, statements in POLICIES.items()
    }
    return {
        "denied": [c for c in calls if not c["allowed"]],
        "used": {function: sorted(actions) for function, actions in used.items()},
        "granted": granted,
        "calls": len(calls),
    }


# -------------------------------------------------------------------------------------------------------------- Glue


def _patch_glue() -> None:
    from moto.glue import models, responses

    run_init = models.FakeJobRun.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        run_init(self, *args, **kwargs)
        self._sp_started = time.monotonic()
        self.completed_on = None

    models.FakeJobRun.__init__ = init
    as_dict = models.FakeJobRun.as_dict

    def run_as_dict(self: Any) -> dict[str, Any]:
        result = as_dict(self)
        elapsed = time.monotonic() - getattr(self, "_sp_started", 0)
        run = (self.arguments or {}).get("--sparkplug_run")
        failing = _fault(run).get("fail_glue_run")
        stopped_at = getattr(self, "_sp_stopped_at", None)
        if stopped_at is not None:
            # BatchStopJobRun: STOPPING, then STOPPED (AWS Glue API, JobRun.JobRunState).
            state = "STOPPING" if time.monotonic() - stopped_at < SETTINGS.glue_stop_seconds else "STOPPED"
            if state == "STOPPED" and self.completed_on is None:
                self.completed_on = _now()
            result["CompletedOn"] = self.completed_on
            result["JobRunState"] = state
            result["LogGroupName"] = "/aws-glue/jobs"
            return result
        if elapsed < SETTINGS.glue_start_seconds:
            state = "STARTING"
        elif elapsed < SETTINGS.glue_start_seconds + _fault(run).get("glue_run_seconds", SETTINGS.glue_run_seconds):
            state = "RUNNING"
        else:
            state = failing.get("state", "FAILED") if failing else "SUCCEEDED"
            if self.completed_on is None:
                self.completed_on = _now()
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

    models.FakeJobRun.as_dict = run_as_dict

    from moto.core.responses import ActionResult

    fields = {
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

    def update_job(self: Any) -> Any:
        name = self._get_param("JobName")
        update = self._get_param("JobUpdate") or {}
        job = self.glue_backend.get_job(name)
        for key, value in update.items():
            if key in fields:
                setattr(job, fields[key], value)
        job.last_modified_on = _now()
        return ActionResult({"JobName": name})

    responses.GlueResponse.update_job = update_job

    def batch_stop_job_run(self: Any) -> Any:
        # AWS Glue API, BatchStopJobRun: JobName and 1-25 JobRunIds; each run is either a SuccessfulSubmission or an
        # Error (an unknown run, or one that has ended, cannot be stopped).
        name = self._get_param("JobName")
        run_ids = self._get_param("JobRunIds") or []
        if not name or not 1 <= len(run_ids) <= 25:
            raise _service_error(
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

    responses.GlueResponse.batch_stop_job_run = batch_stop_job_run

    # API faults for StartJobRun, by the run (its --sparkplug_run argument) they concern.
    start_job_run = responses.GlueResponse.start_job_run

    def faulty_start(self: Any) -> Any:
        run = (self._get_param("Arguments") or {}).get("--sparkplug_run")
        error = _take_api_error(run, "StartJobRun", after_call=False)
        if error:
            raise _service_error("glue", error)
        result = start_job_run(self)
        error = _take_api_error(run, "StartJobRun", after_call=True)
        if error:
            raise _service_error("glue", error)
        return result

    responses.GlueResponse.start_job_run = faulty_start

    # CreateJob of a name that exists answers AlreadyExistsException (Glue API Reference, CreateJob, Errors); moto
    # replaces the job, and with it the runs of the job it replaced — a run racing another's first CreateJob lost its
    # Glue run there ("Job run … not found") as it never would on AWS.
    create_job = responses.GlueResponse.create_job

    def create_job_once(self: Any) -> Any:
        name = self._get_param("Name")
        if name in self.glue_backend.jobs:
            raise _service_error("glue", {"code": "AlreadyExistsException", "message": f"Job {name} already exists."})
        return create_job(self)

    responses.GlueResponse.create_job = create_job_once


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


# ---------------------------------------------------------------------------------------------------- EMR Serverless

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
    item.updated_at = _now()
    item._sp_since = time.monotonic()
    if details is not None:
        item.state_details = details
    if kind == "job_run":
        item.attempt_updated_at = item.updated_at
    _SERVERLESS_CHANGES.append((kind, item, previous, state, item.updated_at))


def _patch_emr_serverless() -> None:
    """EMR Serverless over time, as its User Guide has it ("Application states", "Job run states", "Understanding
    application behavior"), where moto creates applications STARTED and job runs SUCCESS at once."""
    from moto.emrserverless import models, responses
    from moto.emrserverless.exceptions import ResourceNotFoundException, ValidationException

    application_init = models.Application.__init__

    def new_application(self: Any, *args: Any, **kwargs: Any) -> None:
        application_init(self, *args, **kwargs)
        self.state, self.created_at = None, _now()
        self._sp_busy = time.monotonic()
        with LOCK:
            _set_state(self, "application", "CREATING")

    models.Application.__init__ = new_application
    run_init = models.JobRun.__init__

    def new_job_run(self: Any, *args: Any, **kwargs: Any) -> None:
        run_init(self, *args, **kwargs)
        self.state, self.state_details, self.created_at = None, "", _now()
        # API reference, JobRun: attempt 1 unless a retry policy retries it; totalExecutionDurationSeconds and the
        # resource utilization are there once the job run has ended.
        self.attempt, self.attempt_created_at, self.mode = 1, self.created_at, "BATCH"
        self.started_at = self.ended_at = None
        self.total_execution_duration_seconds = None
        self.total_resource_utilization = self.billed_resource_utilization = None
        self._sp_started = None
        with LOCK:
            _set_state(self, "job_run", "SUBMITTED")

    models.JobRun.__init__ = new_job_run
    backend = models.EMRServerlessBackend

    def ticking(method: Any) -> Any:
        # Every call sees the region's applications and job runs where they are by now.
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            with LOCK:
                _advance_serverless(self)
                return method(self, *args, **kwargs)

        return wrapper

    create_application = backend.create_application

    def create(self: Any, *args: Any, **kwargs: Any) -> Any:
        # API reference, CreateApplication clientToken: "The client idempotency token of the application to create".
        token = kwargs.get("client_token")
        for application in self.applications.values():
            if token and application.client_token == token and application.state != "TERMINATED":
                return application
        return create_application(self, *args, **kwargs)

    backend.create_application = ticking(create)

    def start_application(self: Any, application_id: str) -> None:
        # StartApplication: CREATED or STOPPED → STARTING → STARTED, its pre-initialized capacity provisioned.
        application = self.get_application(application_id)
        if application.state in ("CREATED", "STOPPED"):
            _set_state(application, "application", "STARTING")
        elif application.state not in ("STARTING", "STARTED"):
            raise ValidationException(
                f"Application {application_id} must be in one of the following statuses [CREATED, STOPPED]. "
                f"Current status: {application.state}"
            )

    def stop_application(self: Any, application_id: str) -> None:
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

    def delete_application(self: Any, application_id: str) -> None:
        application = self.get_application(application_id)
        if application.state not in ("CREATED", "STOPPED"):
            raise ValidationException(
                f"Application {application_id} must be in one of the following statuses [CREATED, STOPPED]. "
                f"Current status: {application.state}"
            )
        _set_state(application, "application", "TERMINATED")

    list_applications = backend.list_applications

    def listed_applications(self: Any, states: list[str] | None) -> list[Any]:
        # User Guide, "Application states": a TERMINATED application "doesn't appear on your application list".
        found = list_applications(self, states)
        return found if states else [a for a in found if a.state != "TERMINATED"]

    start_job_run = backend.start_job_run

    def start(self: Any, application_id: str, client_token: str, *args: Any, **kwargs: Any) -> Any:
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
        run = start_job_run(self, application_id, client_token, *args, **kwargs)
        if state in ("CREATED", "STOPPED"):
            _set_state(application, "application", "STARTING")
        return run

    def cancel_job_run(self: Any, application_id: str, job_run_id: str) -> tuple[str, str]:
        # User Guide, "Job run states": CancelJobRun → CANCELLING ("trying to cancel the job in the application and
        # release the resources") → CANCELLED. A job run that has succeeded or failed cannot be cancelled.
        run = self.get_job_run(application_id, job_run_id)
        if run.state in ("SUCCESS", "FAILED"):
            raise ValidationException(f"Job run {job_run_id} is {run.state}: it cannot be cancelled")
        if run.state != "CANCELLED":
            _set_state(run, "job_run", "CANCELLING")
        return application_id, job_run_id

    def get_job_run(self: Any, application_id: str, job_run_id: str) -> Any:
        # An unknown job run of an application that has none is not an unknown application (as moto has it).
        self.get_application(application_id)
        for run in self.job_runs.get(application_id, []):
            if run.id == job_run_id:
                return run
        raise ResourceNotFoundException(job_run_id, "JobRun")

    def list_job_runs(
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

    for name, method in (
        ("start_application", start_application),
        ("stop_application", stop_application),
        ("delete_application", delete_application),
        ("list_applications", listed_applications),
        ("start_job_run", start),
        ("cancel_job_run", cancel_job_run),
        ("list_job_runs", list_job_runs),
        ("get_application", backend.get_application),
        ("get_job_run", get_job_run),
        ("update_application", backend.update_application),
    ):
        setattr(backend, name, ticking(method))

    response = responses.EMRServerlessResponse

    def kept(method: Any, extras: tuple[str, ...], find: Any) -> Any:
        # The members moto drops, kept on the application or job run the call made or changed.
        from botocore import xform_name

        def wrapper(self: Any) -> Any:
            with LOCK:
                result = method(self)
                item = find(self, result.result)
                for member in extras:
                    value = self._get_param(member)
                    if value is not None:
                        setattr(item, xform_name(member), value)
                return result

        return wrapper

    def application_of(self: Any, result: Any) -> Any:
        return self.emrserverless_backend.applications[result.get("applicationId") or result["application"].id]

    def job_run_of(self: Any, result: Any) -> Any:
        run = self.emrserverless_backend.get_job_run(result["applicationId"], result["jobRunId"])
        if run.created_by is None:
            # API reference, JobRun createdBy: "The user who created the job run" (the caller's role session).
            function = _caller(self.headers) or "local"
            run.created_by = f"arn:aws:sts::{self.current_account}:assumed-role/{function}/{function}"
        return run

    create = kept(response.create_application, APPLICATION_EXTRAS, application_of)

    def created(self: Any) -> Any:
        result = create(self)
        application = application_of(self, result.result)
        if getattr(application, "architecture", None) is None:
            application.architecture = "X86_64"  # API reference, CreateApplication architecture: the default
        return result

    update = kept(response.update_application, APPLICATION_EXTRAS, application_of)

    def updated(self: Any) -> Any:
        result = update(self)
        application_of(self, result.result).updated_at = _now()  # moto dates it midnight
        return result

    response.create_application = created
    response.update_application = updated
    response.start_job_run = kept(response.start_job_run, JOB_RUN_EXTRAS, job_run_of)

    # API faults, by the run they concern: a job run's `name` (sparkplug's run name), an application's name.
    def runs_of(self: Any) -> list[str]:
        found = self.emrserverless_backend
        application_id, run_id = self._get_param("applicationId"), self._get_param("jobRunId")
        if run_id:
            runs = [r.name for r in found.job_runs.get(application_id, []) if r.id == run_id]
            return [r for r in runs if r]
        if self._get_action() == "StartJobRun" or not application_id:
            return [self._get_param("name")] if self._get_param("name") else []
        application = found.applications.get(application_id)
        return [application.name] if application is not None and application.name else []

    def faulty(action: str, method: Any) -> Any:
        def wrapper(self: Any) -> Any:
            runs = runs_of(self)
            for run in runs:
                error = _take_api_error(run, action, after_call=False)
                if error:
                    raise _service_error("emr-serverless", error)
            result = method(self)
            for run in runs:
                error = _take_api_error(run, action, after_call=True)
                if error:
                    raise _service_error("emr-serverless", error)
            return result

        return wrapper

    for action in (
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
    ):
        name = re.sub(r"(?<!^)(?=[A-Z])", "_", action).lower()
        setattr(response, name, faulty(action, getattr(response, name)))


def _pre_initialized(application: Any) -> bool:
    """Whether the application's initialCapacity has workers for the driver and the executors (User Guide,
    "Configuring pre-initialized capacity"): a job run then starts on them, warm, instead of waiting for on-demand
    workers."""
    capacity = application.initial_capacity or {}
    return all(((capacity.get(kind) or {}).get("workerCount") or 0) >= 1 for kind in ("DRIVER", "EXECUTOR"))


def _advance_serverless(backend: Any) -> None:
    """Moves a region's applications and job runs on to where they are by now (call with LOCK held)."""
    now = time.monotonic()
    for application in list(backend.applications.values()):
        elapsed = now - application._sp_since
        if application.state == "CREATING" and elapsed >= SETTINGS.serverless_app_create_seconds:
            _set_state(application, "application", "CREATED")
        elif application.state == "STARTING" and elapsed >= SETTINGS.serverless_app_start_seconds:
            _set_state(application, "application", "STARTED")
            application._sp_busy = now
        elif application.state == "STOPPING" and elapsed >= SETTINGS.serverless_app_stop_seconds:
            _set_state(application, "application", "STOPPED")
    for application_id, runs in list(backend.job_runs.items()):
        application = backend.applications[application_id]
        for run in runs:
            if run.arn in _SETTLED:
                continue
            _advance_job_run(run, application, backend.account_id)
            if run.state in SERVERLESS_ENDED:
                _SETTLED.add(run.arn)  # a job run that has ended changes no more
            else:
                application._sp_busy = now
    for application in list(backend.applications.values()):
        # User Guide, "Understanding application behavior": "an application by default is configured to auto-stop
        # when idle for 15 minutes" (autoStopConfiguration), releasing its pre-initialized capacity.
        auto_stop = application.auto_stop_configuration or {}
        minutes = auto_stop.get("idleTimeoutMinutes", 15)
        idle = now - application._sp_busy
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
        fault = _fault(run.name)
        if run.state == "SUBMITTED":
            _set_state(run, "job_run", "PENDING")
        elif run.state == "PENDING" and application.state == "STARTED":
            run._sp_warm = _pre_initialized(application)
            _set_state(run, "job_run", "SCHEDULED")
        elif run.state == "SCHEDULED" and elapsed >= (
            SETTINGS.serverless_warm_start_seconds if run._sp_warm else SETTINGS.serverless_worker_start_seconds
        ):
            run.started_at, run._sp_started = _now(), time.monotonic()
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
    import math

    run.ended_at = _now()
    seconds = math.ceil(time.monotonic() - run._sp_started) if run._sp_started is not None else 0
    run.total_execution_duration_seconds = seconds
    run.total_resource_utilization, run.billed_resource_utilization = _utilization(application, seconds)
    _set_state(run, "job_run", state, failing.get("message", "the job run failed") if failing else None)
    log_uri = _serverless_log_uri(run, application)
    if failing and log_uri and not failing.get("no_log"):
        # User Guide, "Storing logs" (Amazon S3): the driver's logs are under
        # <logUri>/applications/<application-id>/jobs/<job-id>/SPARK_DRIVER/.
        log_dir = f"{log_uri.rstrip('/')}/applications/{application.id}/jobs/{run.id}/SPARK_DRIVER/"
        _write_stderr_later(account, log_dir, failing, f"job run {run.id}")


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


def _announce_serverless() -> None:
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
        _emit(item.name, _state_event(detail_type, "aws.emr-serverless", account, region, detail))


# ------------------------------------------------------------------------------------------ Lambda and S3 → trigger


# A function of another environment's stack is named `<binary>--<env>` (see local/stack.py).
ENV_SEPARATOR = "--"


class LambdaForwarder:
    """A stand-in for a boto3 Lambda client whose `invoke` goes to `cargo lambda watch` (one per environment)."""

    def __init__(self, endpoints: dict[str, str]) -> None:
        self.endpoints = {env: endpoint.rstrip("/") for env, endpoint in endpoints.items()}

    def invoke(self, FunctionName: str, Payload: Any = None, **_: Any) -> dict[str, Any]:
        name = FunctionName.split(":function:")[-1].split(":")[0]
        body = Payload if isinstance(Payload, (bytes, bytearray)) else (Payload or "{}").encode()
        # The runs the payload concerns, read once for every fault of this invocation.
        try:
            runs, detail_type = _runs_of_payload(json.loads(body or b"{}"))
        except ValueError:
            runs, detail_type = [], None
        time.sleep(self._injected_delay(name, runs))
        error = self._injected_error(name, runs, detail_type)
        if error is None:
            status, answer = self._post(name, body)
            failed = status >= 400
        else:
            failed, answer = True, json.dumps(error).encode()
        result: dict[str, Any] = {"StatusCode": 200, "ExecutedVersion": "$LATEST", "Payload": io.BytesIO(answer)}
        if failed:
            result["FunctionError"] = "Unhandled"
        return result

    def _post(self, name: str, body: bytes) -> tuple[int, bytes]:
        binary, _, env = name.partition(ENV_SEPARATOR)
        endpoint = self.endpoints[env or "dev"]
        request = urllib.request.Request(
            f"{endpoint}/2015-03-31/functions/{binary}/invocations", data=body, method="POST"
        )
        timeout = TIMEOUTS.get(name, 300)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except TimeoutError:
            return 500, json.dumps(_timed_out(name, timeout)).encode()
        except OSError as error:
            return 502, json.dumps({"errorType": "Lambda.ServiceException", "errorMessage": str(error)}).encode()

    @staticmethod
    def _injected_delay(qualified: str, runs: list[str]) -> float:
        """Seconds a `lambda_delays` fault holds this invocation before the function runs (a slow start)."""
        name = qualified.partition(ENV_SEPARATOR)[0]
        with LOCK:
            for run in runs:
                for delay in FAULTS.get(run, {}).get("lambda_delays", []):
                    if delay.get("function") == name and delay.get("times", 1) > 0:
                        delay["times"] = delay.get("times", 1) - 1
                        return float(delay.get("seconds", 1))
        return 0.0

    @staticmethod
    def _injected_error(qualified: str, runs: list[str], detail_type: str | None) -> dict[str, str] | None:
        name = qualified.partition(ENV_SEPARATOR)[0]
        with LOCK:
            for run in runs:
                for timeout in FAULTS.get(run, {}).get("lambda_timeouts", []):
                    if timeout.get("function") == name and timeout.get("times", 1) > 0:
                        timeout["times"] = timeout.get("times", 1) - 1
                        return _timed_out(name, TIMEOUTS.get(qualified, 300))
                for error in FAULTS.get(run, {}).get("lambda_errors", []):
                    if error.get("function") != name or error.get("times", 1) <= 0:
                        continue
                    if error.get("detail_type", detail_type) != detail_type:
                        continue
                    error["times"] = error.get("times", 1) - 1
                    return {
                        "errorType": error.get("error_type", "Retryable"),
                        "errorMessage": error.get("message", f"{name} failed (injected by the local emulator)"),
                    }
        return None


def _runs_of_payload(payload: Any) -> tuple[list[str], str | None]:
    """The runs a function's payload concerns (a task's plan, an event's execution, cluster, Glue run or object, a
    named run's request), for its faults; and the event's detail-type, if it is an event."""
    if not isinstance(payload, dict):
        return [], None
    plan = payload.get("plan", payload)
    runs = [plan.get("run_name")] if isinstance(plan, dict) else []
    detail = payload.get("detail") if isinstance(payload.get("detail"), dict) else {}
    runs += [detail.get("name"), (detail.get("object") or {}).get("key")]
    if detail.get("clusterId") and detail.get("name"):
        runs.append(_step_run_of_name(detail["name"]))
    runs.append(payload.get("run_name"))
    return [run for run in runs if isinstance(run, str) and run], payload.get("detail-type")


def _step_run_of_name(step_name: str) -> str:
    """The run of a step named `<run>: <step>` (sparkplug's steps on a shared pool cluster)."""
    return step_name.split(": ", 1)[0]


def _timed_out(name: str, seconds: float) -> dict[str, str]:
    """A function past its Timeout (template.yaml), as a Step Functions Lambda task sees it: `Lambda.Unknown`
    (Step Functions Developer Guide, "Handling errors": timeouts, out-of-memory and crashes surface so)."""
    return {"errorType": "Lambda.Unknown", "errorMessage": f"{name}: Task timed out after {seconds:.2f} seconds"}


def _patch_lambda(forwarder: LambdaForwarder) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    original = lambda_eval_utils.boto_client_for

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        if service == "lambda":
            return forwarder
        return original(region=region, service=service, state_credentials=state_credentials)

    lambda_eval_utils.boto_client_for = client_for


def object_created_event(bucket: Any, key: Any, region: str, account: str) -> dict[str, Any]:
    """An EventBridge S3 "Object Created" event as AWS documents it (raw key, per-PUT sequencer)."""
    with LOCK:
        _SEQUENCE[0] += 1
        sequencer = f"{time.time_ns():016X}{_SEQUENCE[0]:04X}"
    detail_object: dict[str, Any] = {
        "key": key.name,
        "size": key.size,
        "etag": key.etag.replace('"', ""),
        "sequencer": sequencer,
    }
    if getattr(key, "version_id", None) and key.version_id != "null":
        detail_object["version-id"] = key.version_id
    return {
        "version": "0",
        "id": f"{time.time_ns():x}",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:s3:::{bucket.name}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket.name},
            "object": detail_object,
            "request-id": "LOCAL",
            "requester": account,
            "source-ip-address": "127.0.0.1",
            "reason": "PutObject",
        },
    }


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


def _patch_s3(forwarder: LambdaForwarder) -> None:
    from moto.core.responses import ActionResult
    from moto.s3 import notifications, responses

    reported = responses.S3Response.get_bucket_notification

    def get_bucket_notification(self: Any) -> Any:
        # moto leaves EventBridgeConfiguration out of GetBucketNotificationConfiguration; AWS returns it when it is on
        # (S3 API Reference, GetBucketNotificationConfiguration: EventBridgeConfiguration, an empty element).
        configuration = self.backend.get_bucket_notification_configuration(self.bucket_name)
        if configuration is None:
            # No configuration: S3 answers an empty NotificationConfiguration (moto answers another root element,
            # which the SDKs refuse).
            self.data["Action"] = "GetBucketNotificationConfiguration"
            return self.serialized(ActionResult({}))
        if configuration.event_bridge is None:
            return reported(self)
        result = {
            key: [_notification_item(item, arn) for item in getattr(configuration, attribute)]
            for key, attribute, arn in (
                ("TopicConfigurations", "topic", "TopicArn"),
                ("QueueConfigurations", "queue", "QueueArn"),
                ("LambdaFunctionConfigurations", "cloud_function", "LambdaFunctionArn"),
            )
        }
        result["EventBridgeConfiguration"] = {}
        self.data["Action"] = "GetBucketNotificationConfiguration"
        return self.serialized(ActionResult(result))

    responses.S3Response.get_bucket_notification = get_bucket_notification

    def send(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
        # moto calls this only for buckets whose notification configuration has EventBridgeConfiguration.
        name = str(getattr(event_name, "value", event_name))
        if name.startswith("s3:ObjectCreated"):
            event = object_created_event(bucket, key, bucket.region_name, account_id)
            delivery.deliver(forwarder, event, run=key.name, fault=_event_fault(key.name, event))

    notifications._send_event_bridge_message = send


def _notification_item(item: Any, arn_key: str) -> dict[str, Any]:
    config: dict[str, Any] = {"Id": item.id, arn_key: item.arn, "Events": item.events}
    if item.filters:
        config["Filter"] = {"Key": {"FilterRules": item.filters["S3Key"]["FilterRule"]}}
    return config


def execution_status_change_event(execution: Any) -> dict[str, Any]:
    """A "Step Functions Execution Status Change" event as AWS documents it (Step Functions Developer Guide,
    "Automating Step Functions event delivery with EventBridge"): dates in epoch milliseconds, input as a string."""

    def millis(moment: Any) -> int | None:
        return int(moment.timestamp() * 1000) if moment else None

    arn = execution.exec_arn
    region, account = arn.split(":")[3], arn.split(":")[4]
    data = execution.input_data
    return {
        "version": "0",
        "id": f"{time.time_ns():x}",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [arn],
        "detail": {
            "executionArn": arn,
            "stateMachineArn": execution.state_machine.arn,
            "name": execution.name,
            "status": execution.exec_status.value,
            "startDate": millis(execution.start_date),
            "stopDate": millis(execution.stop_date),
            "input": data if isinstance(data, str) else json.dumps(data),
            "inputDetails": {"included": True},
            "output": None,
            "outputDetails": None,
        },
    }


# Step Functions' hard quota of execution history events (Developer Guide, "Avoid reaching the history quota").
HISTORY_LIMIT = 25_000


def _patch_history_limit() -> None:
    """At its 25,000th history event an execution that has not succeeded fails (Step Functions Developer Guide,
    "Avoid reaching the history quota"), past every Catch. A `history_limit` fault lowers the quota for one run; a
    `timeout_seconds` fault times it out as its TimeoutSeconds would (ExecutionTimedOut, no Catch)."""
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.eval import environment
    from moto.stepfunctions.parser.asl.eval.event import event_manager

    init = environment.Environment.__init__

    def tracked(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.event_manager._sp_environment = self
        self._sp_started = time.monotonic()

    environment.Environment.__init__ = tracked
    add_event = event_manager.EventManager.add_event

    def counted(self: Any, context: Any, event_type: Any, *args: Any, **kwargs: Any) -> int:
        event_id = add_event(self, context, event_type, *args, **kwargs)
        env = getattr(self, "_sp_environment", None)
        if env is None or event_type == HistoryEventType.ExecutionSucceeded or not env.is_running():
            return event_id
        name = env.states.context_object.context_object_data.get("Execution", {}).get("Name")
        limit = _fault(name).get("history_limit", HISTORY_LIMIT)
        # The interpreter can end a program only between states: the failure lands at the first state exit at or
        # past the quota (a few events late at most).
        at_exit = str(event_type.value).endswith("StateExited")
        # A `timeout_seconds` fault stands for the execution's TimeoutSeconds (the template's is 8 days).
        timeout = _fault(name).get("timeout_seconds")
        if at_exit and timeout is not None and time.monotonic() - env._sp_started > timeout:
            env.set_timed_out()
            return event_id
        if event_id >= limit - 1 and at_exit:
            env.set_error(
                ExecutionFailedEventDetails(
                    error="States.Runtime",
                    cause=f"The execution reached the maximum number of history events ({limit}).",
                )
            )
        return event_id

    event_manager.EventManager.add_event = counted


def _patch_sfn_events(forwarder: LambdaForwarder) -> None:
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend import execution

    stop = execution.Execution.stop

    def stopped(self: Any, *args: Any, **kwargs: Any) -> None:
        self._sp_stop_requested = True
        stop(self, *args, **kwargs)

    execution.Execution.stop = stopped
    terminated = execution.BaseExecutionWorkerCommunication.terminated

    def ended(self: Any) -> None:
        terminated(self)
        # StopExecution ends an execution ABORTED (Step Functions API Reference, StopExecution). moto's interpreter
        # can instead fail it when the stop lands while a Lambda task is in flight: the stop wins, as on AWS.
        if (
            getattr(self.execution, "_sp_stop_requested", False)
            and self.execution.exec_status == ExecutionStatus.FAILED
        ):
            self.execution.exec_status = ExecutionStatus.ABORTED
            self.execution.error = None
            self.execution.cause = None
        event = execution_status_change_event(self.execution)
        name = self.execution.name
        delivery.deliver(forwarder, event, run=name, fault=_event_fault(name, event))

    execution.BaseExecutionWorkerCommunication.terminated = ended


# Entries functions put on EventBridge buses (PutEvents), for the tests to read
BUS: list[dict[str, Any]] = []


def _patch_s3_authorization() -> None:
    """GetObject is authorized like the JSON services' calls (the alert function reads EMR's step logs); bucket
    operations check ExpectedBucketOwner."""
    from moto.s3 import exceptions, responses

    get = responses.S3Response._key_response_get

    def checked(self: Any, query: dict[str, Any], key_name: str) -> Any:
        resource = f"arn:aws:s3:::{self.bucket_name}/{key_name}"
        if _authorize(self, "s3", "GetObject", {}, [(resource, {})]):
            raise exceptions.AccessDeniedByLock()
        return get(self, query, key_name)

    responses.S3Response._key_response_get = checked

    bucket_response = responses.S3Response._bucket_response

    def owner_checked(self: Any, request: Any, full_url: str) -> Any:
        # ExpectedBucketOwner (the `x-amz-expected-bucket-owner` header, every bucket operation): "If the account ID
        # that you provide does not match the actual owner of the bucket, the request fails with the HTTP status code
        # 403 Forbidden (access denied)" (S3 API Reference, e.g. GetBucketNotificationConfiguration). moto ignores it.
        expected = request.headers.get("x-amz-expected-bucket-owner")
        name = self.parse_bucket_name_from_url(request, full_url)
        bucket = self.backend.buckets.get(name) if name else None
        if expected and bucket is not None and expected != bucket.account_id:
            raise exceptions.S3AccessDeniedError()
        return bucket_response(self, request, full_url)

    responses.S3Response._bucket_response = owner_checked


def _patch_put_events() -> None:
    """PutEvents entries are kept (moto delivers only to its own targets), for GET /bus."""
    from moto.events import models

    put_events = models.EventsBackend.put_events

    def recorded(self: Any, events: list[dict[str, Any]]) -> Any:
        with LOCK:
            BUS.extend(events)
        return put_events(self, events)

    models.EventsBackend.put_events = recorded


def _patch_callbacks() -> None:
    """Task tokens as the Step Functions API Reference has them: SendTaskFailure carries `error` and `cause` (moto
    drops the cause), and a token whose task has closed — answered already — is refused with TaskTimedOut ("the task
    associated with the token has already been closed"; moto takes a second answer silently)."""
    from moto.stepfunctions import responses
    from moto.stepfunctions.parser.asl.eval.callback import callback

    def send_task_failure(self: Any) -> Any:
        from moto.core.responses import EmptyResult

        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    responses.StepFunctionResponse.send_task_failure = send_task_failure
    notify = callback.CallbackPoolManager.notify

    def notify_once(self: Any, callback_id: str, outcome: Any) -> bool:
        endpoint = self._pool.get(callback_id)
        if endpoint is not None and endpoint.get_outcome() is not None:
            raise callback.CallbackNotifyConsumerError(callback_consumer_error=callback.CallbackConsumerTimeout())
        return notify(self, callback_id, outcome)

    callback.CallbackPoolManager.notify = notify_once

    # StopExecution ends an execution at once, ABORTED, whatever its task waits on (Step Functions API Reference,
    # StopExecution); so do its TimeoutSeconds and its history quota. moto's waiting task blocks until its own timeout
    # instead: every task token of the execution is released when the execution is stopped, timed out or failed.
    from moto.stepfunctions.parser.asl.eval import environment

    def releasing(method: Any) -> Any:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = method(self, *args, **kwargs)
            pool = getattr(self, "callback_pool_manager", None)
            for endpoint in list(getattr(pool, "_pool", {}).values()):
                endpoint.interrupt_all()
            return result

        return wrapper

    for name in ("set_stop", "set_timed_out", "set_error"):
        setattr(environment.Environment, name, releasing(getattr(environment.Environment, name)))

    # An answer to a token as the API Reference has it (SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat): a task
    # that closed is refused with TaskTimedOut, one no longer active with TaskDoesNotExist, an unknown token with
    # InvalidToken. moto 5.2.5 misreads its own consumer error (every dead token became TaskDoesNotExist, raised without
    # the message its exception requires: an HTTP 500), and stumbles on a RUNNING execution whose worker is not
    # (or no longer) there.
    from moto.stepfunctions.parser import models as parser_models
    from moto.stepfunctions.parser.api import ExecutionStatus

    def refused(code: str, message: str) -> Exception:
        return _service_error("stepfunctions", {"code": code, "message": message})

    def deliver(backend: Any, token: str, outcome: Any, status: Any, heartbeat: bool = False) -> None:
        for execution in backend._get_executions(status):
            env = getattr(getattr(execution, "exec_worker", None), "env", None)
            if env is None:
                continue
            pool = env.callback_pool_manager
            try:
                if pool.heartbeat(callback_id=token) if heartbeat else pool.notify(callback_id=token, outcome=outcome):
                    return
            except callback.CallbackNotifyConsumerError as error:
                if isinstance(error.callback_consumer_error, callback.CallbackConsumerTimeout):
                    raise refused("TaskTimedOut", "the task of this token has already been closed") from None
                raise refused("TaskDoesNotExist", "the task of this token is no longer active") from None
        raise refused("InvalidToken", "no task waits on this token")

    def send_task_success(self: Any, task_token: str, outcome: str) -> None:
        success = callback.CallbackOutcomeSuccess(callback_id=task_token, output=outcome)
        deliver(self, task_token, success, ExecutionStatus.RUNNING)

    def send_task_failure(self: Any, task_token: str, error: Any = None, cause: Any = None) -> None:
        failure = callback.CallbackOutcomeFailure(callback_id=task_token, error=error, cause=cause)
        deliver(self, task_token, failure, None)

    def send_task_heartbeat(self: Any, task_token: str) -> None:
        deliver(self, task_token, None, ExecutionStatus.RUNNING, heartbeat=True)

    parser_models.StepFunctionsParserBackend.send_task_success = send_task_success
    parser_models.StepFunctionsParserBackend.send_task_failure = send_task_failure
    parser_models.StepFunctionsParserBackend.send_task_heartbeat = send_task_heartbeat


def install(lambda_endpoints: dict[str, str]) -> None:
    """Patches moto; `lambda_endpoints` are the Invoke APIs of each environment's functions."""
    import warnings

    # Injected error codes that the service model does not list (ThrottlingException) are meant.
    warnings.filterwarnings("ignore", message=r"Exception\(.*\) with code .* does not match an error shape")
    if moto.__version__ != MOTO_VERSION:
        raise SystemExit(f"the local emulator extension is written for moto {MOTO_VERSION}, found {moto.__version__}")
    from moto.core.config import default_user_config

    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    default_user_config.setdefault("lambda", {})["use_docker"] = False
    forwarder = LambdaForwarder(lambda_endpoints)
    _patch_model_validation()
    _patch_emr()
    _patch_glue()
    _patch_emr_serverless()
    _patch_lambda(forwarder)
    _patch_s3(forwarder)
    _patch_sfn_events(forwarder)
    _patch_history_limit()
    _patch_callbacks()
    _patch_put_events()
    _patch_s3_authorization()
    _FORWARDER[:] = [forwarder]
    threading.Thread(target=_clock, daemon=True).start()


# ----------------------------------------------------------------------------------------------------- control API


class ControlHandler(BaseHTTPRequestHandler):
    """The control API, for tests and the demo (JSON in, JSON out):

    GET  /health                       → {"ok": true}
    GET  /events[?function=F&text=T]   → the events the rules delivered, with each function's answer (only those
                                         delivered to F whose JSON contains T)
    GET  /sns                          → every message published to an SNS topic: [{"topic", "subject", "message"}]
    GET  /bus                          → every event a function put on an EventBridge bus (PutEvents entries)
    GET  /iam                          → every call a function made, checked against its policy in template.yaml:
                                         {"denied": [...], "used": {function: [actions]}, "granted": {...}}
    POST /settings  {"step_seconds": 1, …}   simulated durations (see Settings): cluster_start_seconds,
                                         bootstrap_seconds, step_seconds, glue_start_seconds, glue_run_seconds,
                                         glue_stop_seconds, step_log_delay_seconds, idle_timeout_scale (× an EMR
                                         AutoTerminationPolicy's IdleTimeout), serverless_app_create_seconds,
                                         serverless_app_start_seconds, serverless_app_stop_seconds,
                                         serverless_warm_start_seconds, serverless_worker_start_seconds,
                                         serverless_run_seconds, serverless_cancel_seconds, serverless_idle_scale
                                         (seconds per minute of an application's idleTimeoutMinutes)
    POST /faults    {"run": NAME, "fail_step": {"name", "reason", "message", "log_file", "stderr", "no_log"},
                     "kill_cluster": {"code", "message"}, "fail_glue_run": {"message"}, "glue_run_seconds": N,
                     "step_seconds": N,   (each of this run's EMR steps takes N seconds)
                     "fail_job_run": {"message", "stderr", "no_log"},   (this EMR Serverless job run ends FAILED,
                                         stateDetails = message, the driver's stderr in its S3 log location)
                     "job_run_seconds": N,   (this EMR Serverless job run is RUNNING N seconds)
                     "api_errors": [{"action", "code", "message", "times", "after_call"}],
                     "lambda_errors": [{"function", "error_type", "message", "times"}],
                     "lambda_delays": [{"function", "seconds", "times"}],   (the invocation waits before the
                                         function runs: a slow start, holding one of its concurrency)
                     "lambda_timeouts": [{"function", "times"}],   (the function runs past its Timeout)
                     "history_limit": N,   (this execution's history quota, instead of 25,000 events)
                     "timeout_seconds": N,   (this execution's TimeoutSeconds: it ends TIMED_OUT past it)
                     "events": [{"detail_type", "state", "action", "seconds", "times"}]}
                                         (events of the run — its EMR, Glue and EMR Serverless state changes, its
                                         execution's status change (`state` matches the status), an S3 arrival
                                         whose key is the "run": `drop`, `delay` by seconds, `duplicate`, or
                                         `reorder` — held until the run's next event has been delivered)
                    A `lambda_errors` entry may name a `detail_type`: it then fails only the function's invocations
                    for events of that type about the run (an execution's status change by its name, an S3 arrival
                    by its key, a task by its plan's run_name).
    POST /faults    {"chaos": {"drop", "duplicate", "reorder", "delay_seconds": [low, high], "delay",
                     "detail_types": [...], "async_failure", "seed"}}   faults at a seeded rate across every event
                                         kind (see delivery.Chaos); {"chaos": null} turns them off
    GET  /chaos                          → the chaos and what it did: counts per fault, invocations retried and
                                         handed to an on-failure destination, the time of the last fault,
                                         invocations throttled by a function's reserved concurrency, and the most
                                         asynchronous invocations each function ran at once (`peak_concurrency`)
    POST /scheduler {"seconds_per_minute", "start", "schedules": [names], "inputs": {name: input}}
                                         fires the template's schedules on a simulated clock ({"off": true} stops)
    GET  /scheduler                      → the simulated time and every firing
                    The run of an EMR step named `<run>: <step>` (sparkplug's steps on a shared pool cluster) is
                    <run> when <run> has faults: its `fail_step.name` is matched against <step>, and its
                    `step_seconds` and step `events` apply; otherwise the cluster's `sparkplug:run` tag (else its
                    name) is the run (`kill_cluster` always). The run of an EMR Serverless job run is its StartJobRun `name` (its `api_errors` by
                    action: StartJobRun, GetJobRun, CancelJobRun; an application's calls are keyed by its name).
                    An SNS `Publish` whose message names the run (its alert) takes the run's `Publish` api_errors.
    POST /put-object {"bucket", "key", "body"}   an S3 PutObject through the emulator's own endpoint
    """

    endpoint = ""

    def log_message(self, *_: Any) -> None:  # quiet
        pass

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body, default=str).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("content-length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def do_GET(self) -> None:
        if self.path == "/health":
            self._reply(200, {"ok": True})
        elif self.path.split("?")[0] == "/events":
            # ?function=NAME&text=TEXT: only the deliveries to that function whose JSON contains TEXT. A long session
            # delivers thousands of events: serializing them all for every look would stall the emulator.
            from urllib.parse import parse_qs, urlsplit

            query = parse_qs(urlsplit(self.path).query)
            function = (query.get("function") or [None])[0]
            text = (query.get("text") or [None])[0]
            with delivery.LOCK:
                records = list(zip(delivery.EVENTS, delivery.EVENT_TEXTS, strict=True))
            self._reply(
                200,
                [
                    record
                    for record, as_text in records
                    if (function is None or record["function"] == function) and (text is None or text in as_text)
                ],
            )
        elif self.path == "/iam":
            self._reply(200, iam_report())
        elif self.path == "/chaos":
            self._reply(200, delivery.chaos_report())
        elif self.path == "/scheduler":
            self._reply(200, delivery.scheduler_report())
        elif self.path == "/sns":
            self._reply(200, sns_messages())
        elif self.path == "/bus":
            with LOCK:
                entries = list(BUS)
            self._reply(200, entries)
        else:
            self._reply(404, {"error": f"no {self.path}"})

    def do_POST(self) -> None:
        try:
            body = self._body()
            if self.path == "/settings":
                with LOCK:
                    for key, value in body.items():
                        if not hasattr(SETTINGS, key):
                            raise ValueError(f"unknown setting {key}")
                        setattr(SETTINGS, key, float(value))
                    delivery.ASYNC_SETTINGS["retry_seconds"] = SETTINGS.async_retry_seconds
                self._reply(200, SETTINGS.__dict__)
            elif self.path == "/faults" and "chaos" in body:
                self._reply(200, {"chaos": delivery.set_chaos(body["chaos"])})
            elif self.path == "/faults":
                run = body.pop("run")
                with LOCK:
                    FAULTS[run] = body
                self._reply(200, {"run": run})
            elif self.path == "/scheduler":
                self._reply(200, delivery.start_scheduler(_FORWARDER[0], body))
            elif self.path == "/put-object":
                import boto3

                s3 = boto3.client(
                    "s3",
                    endpoint_url=self.endpoint,
                    region_name="us-east-1",
                    aws_access_key_id="local",
                    aws_secret_access_key="local",
                )
                answer = s3.put_object(Bucket=body["bucket"], Key=body["key"], Body=body.get("body", "").encode())
                self._reply(200, {"etag": answer.get("ETag")})
            else:
                self._reply(404, {"error": f"no {self.path}"})
        except Exception as error:  # noqa: BLE001 - report any bad request to the caller
            self._reply(400, {"error": f"{type(error).__name__}: {error}"})


def sns_messages() -> list[dict[str, Any]]:
    from moto.sns.models import sns_backends

    found = []
    for regions in sns_backends.values():
        for backend in regions.values():
            for arn, topic in backend.topics.items():
                for _, message, subject, *_ in topic.sent_notifications:
                    found.append({"topic": arn, "subject": subject, "message": message})
    return found


def serve_control(host: str, port: int, moto_endpoint: str) -> ThreadingHTTPServer:
    ControlHandler.endpoint = moto_endpoint
    server = ThreadingHTTPServer((host, port), ControlHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
