"""EMR, over time: clusters start (STARTING → BOOTSTRAPPING → WAITING) and their steps run up to StepConcurrencyLevel
at a time, in submission order (PENDING → RUNNING → COMPLETED), over configurable times (moto makes a cluster WAITING
at once and never runs a step). A step can be made to FAIL (with FailureDetails and its logs where EMR archives them),
a cluster to die mid-step (TERMINATED_WITH_ERRORS with a reason); a cluster terminated with unfinished steps cancels
them, and ActionOnFailure is applied. CancelSteps (moto has none) cancels pending and running steps; an
AutoTerminationPolicy terminates a cluster left idle; a v2-managed service role without its tag fails the cluster.
Every change is announced as AWS documents it ("EMR Step Status Change", "EMR Cluster State Change").

A cluster's faults and events are keyed by its run (`cluster_run`); a step named `<run>: <step>` (sparkplug's steps
on a pool's cluster, `pooled_step`) by that run when it has faults (`step_run`)."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.emr import models, responses
from moto.emr.utils import ReleaseLabel

from .events import emit, state_event
from .faults import fault_of, faulty, service_error
from .s3 import write_stderr_later
from .state import ANNOUNCED, FAULTS, LOCK, SETTINGS, now, original, replace

# Steps that hold one of the cluster's StepConcurrencyLevel slots
ACTIVE_STEP_STATES = ("RUNNING", "CANCEL_PENDING")
ENDED_CLUSTER_STATES = ("TERMINATED", "TERMINATED_WITH_ERRORS")
# EMR Management Guide, "Amazon EMR events" (severity per state)
STEP_SEVERITY = {"FAILED": "ERROR", "CANCELLED": "WARN", "CANCEL_PENDING": "WARN", "INTERRUPTED": "WARN"}
CLUSTER_SEVERITY = {"TERMINATED_WITH_ERRORS": "CRITICAL"}
V2_TAG = "for-use-with-amazon-emr-managed-policies"


# ------------------------------------------------------------------------------------------ which run is concerned


def pooled_step(step_name: str) -> tuple[str, str] | None:
    """sparkplug names a run's steps on a pool's cluster `<run name>: <step name>` (run names have no ':'): that run
    and step, or None for any other name."""
    run, separator, step = (step_name or "").partition(": ")
    return (run, step) if separator else None


def cluster_run(cluster: Any) -> str:
    """The run a cluster's faults and events are keyed by: the run its `sparkplug:run` tag names (a run's own cluster
    is named `sparkplug-<env>-<run>`), else its name (a pool's cluster, which no one run owns)."""
    return cluster._tags.get("sparkplug:run") or cluster.name


def step_run(cluster: Any, step_name: str) -> str:
    """The run a step's faults (and its events' faults) are keyed by: the run of a pooled step's name when that run
    has faults, else the cluster's run."""
    pooled = pooled_step(step_name)
    if pooled:
        with LOCK:
            if pooled[0] in FAULTS:
                return pooled[0]
    return cluster_run(cluster)


def _own_name(cluster: Any, step: Any) -> str:
    """The step's name within its run (what `fail_step.name` is matched against)."""
    pooled = pooled_step(step.name)
    if pooled and step_run(cluster, step.name) != cluster_run(cluster):
        return pooled[1]
    return step.name


# ------------------------------------------------------------------------------------------------------ over time


def tick(cluster: Any) -> None:
    """Moves a cluster and its steps on to where they are by now, and announces every state change (EventBridge)."""
    _advance(cluster)
    _announce(cluster)


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
        short = _no_capacity_for(cluster)
        if short:
            _die_without_capacity(cluster, *short)
            return
        if elapsed < SETTINGS.cluster_start_seconds + SETTINGS.bootstrap_seconds:
            cluster.state = "BOOTSTRAPPING"
            return
        cluster._sp_ready = True
        cluster._sp_idle_since = time.monotonic()
        cluster.ready_datetime = now()
    level = max(1, int(getattr(cluster, "step_concurrency_level", 1) or 1))
    progressed = True
    while progressed and cluster.state not in ENDED_CLUSTER_STATES:
        progressed = False
        running = [s for s in cluster.steps if s.state == "RUNNING"]
        kill = _take_kill(cluster) if running else None
        if kill:
            _die(cluster, kill.get("code", "INSTANCE_FAILURE"), kill.get("message", "The cluster was lost."))
            return
        for step in cluster.steps:
            if step.state == "CANCEL_PENDING":
                # CancelSteps on a running step (EMR 5.28.0+): the step is signalled, and ends CANCELLED.
                step.state = "CANCELLED"
                step.end_date_time = now()
                progressed = True
        for step in running:
            fault = fault_of(step_run(cluster, step.name))
            if step.state != "RUNNING":
                continue  # cancelled by a step that failed before it, in this same pass
            if time.monotonic() - step._sp_started < fault.get("step_seconds", SETTINGS.step_seconds):
                continue
            step.end_date_time = now()
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
            step.start_date_time = now()
            step._sp_started = time.monotonic()
            progressed = True
        if progressed:
            if any(s.state in ACTIVE_STEP_STATES for s in cluster.steps):
                cluster.state = "RUNNING"
            _announce(cluster)
    if cluster.state in ENDED_CLUSTER_STATES:
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


def _cancel_unfinished(cluster: Any, why: str) -> None:
    for step in cluster.steps:
        if step.state in ("PENDING", "RUNNING", "CANCEL_PENDING"):
            step.state = "CANCELLED"
            step.last_state_change_reason = why
            step.end_date_time = now()


def _die(cluster: Any, code: str, message: str) -> None:
    cluster._sp_reason = {"Code": code, "Message": message}
    _cancel_unfinished(cluster, message)
    cluster.end_datetime = now()
    cluster.state = "TERMINATED_WITH_ERRORS"


def _take_kill(cluster: Any) -> dict[str, Any] | None:
    """The fault that ends this cluster mid-step, if its run has one left: `kill_cluster` (any cluster, with the
    given reason), or `interrupt_spot` — EC2 reclaiming Spot instances (EC2 User Guide, "Spot Instance
    interruptions"), which ends a cluster only when its primary or core nodes are on Spot (task nodes hold no HDFS
    and no primary: EMR goes on without them). Each counts down its `times` (every cluster, when unset)."""
    with LOCK:
        faults = FAULTS.get(cluster_run(cluster), {})
        for name in ("kill_cluster", "interrupt_spot"):
            fault = faults.get(name)
            if not fault or fault.get("times", 1) <= 0:
                continue
            if name == "interrupt_spot" and not _spot_primary_or_core(cluster):
                continue
            if "times" in fault:
                fault["times"] -= 1
            if name == "kill_cluster":
                return fault
            return {
                "code": "INSTANCE_FAILURE",
                "message": "The cluster lost its primary or core instances: EC2 reclaimed Spot capacity "
                "(Server.SpotInstanceTermination).",
            }
    return None


def _requested_instances(cluster: Any) -> dict[str, Any]:
    return getattr(cluster, "_sp_instances", None) or {}


def _spot_primary_or_core(cluster: Any) -> bool:
    """Whether the cluster's request runs its primary or core nodes on Spot (RunJobFlow Instances: an instance
    group's Market, an instance fleet's TargetSpotCapacity)."""
    instances = _requested_instances(cluster)
    roles = ("MASTER", "CORE")
    groups = instances.get("InstanceGroups") or []
    fleets = instances.get("InstanceFleets") or []
    return any(g.get("InstanceRole") in roles and g.get("Market") == "SPOT" for g in groups) or any(
        f.get("InstanceFleetType") in roles and int(f.get("TargetSpotCapacity") or 0) > 0 for f in fleets
    )


def _no_capacity_for(cluster: Any) -> tuple[str, str] | None:
    """(instance type, subnet) of the first instance group the run's `no_capacity` fault says EC2 has no capacity
    for in the request's subnet (an entry without `subnet`: in any), or None. Instance fleets pick among their types
    and subnets: one is short only when every one of its types is short in every one of its subnets."""
    shortages = fault_of(cluster_run(cluster)).get("no_capacity") or []
    if not shortages:
        return None
    instances = _requested_instances(cluster)

    def short(kind: str, subnet: str) -> bool:
        return any(entry.get("instance_type") == kind and entry.get("subnet") in (None, subnet) for entry in shortages)

    subnet = instances.get("Ec2SubnetId") or ""
    for group in instances.get("InstanceGroups") or []:
        if short(group.get("InstanceType"), subnet):
            return group.get("InstanceType"), subnet
    subnets = instances.get("Ec2SubnetIds") or [subnet]
    for fleet in instances.get("InstanceFleets") or []:
        kinds = [spec.get("InstanceType") for spec in fleet.get("InstanceTypeConfigs") or []]
        if kinds and all(short(kind, net) for kind in kinds for net in subnets):
            return kinds[0], subnets[0]
    return None


def _die_without_capacity(cluster: Any, kind: str, subnet: str) -> None:
    """EC2 had no capacity for an instance type in the subnet's Availability Zone: the cluster ends
    TERMINATED_WITH_ERRORS before it is ready, with the ErrorDetail EMR documents for it (Management Guide, "Error
    codes with ErrorDetail information" → INTERNAL_ERROR_EC2_INSUFFICIENT_CAPACITY_AZ, whose ErrorData are
    instance-type, availability-zone and public-doc)."""
    zone = f"{cluster.emr_backend.region_name}a"
    doc = "https://docs.aws.amazon.com/emr/latest/ManagementGuide/INTERNAL_ERROR_EC2_INSUFFICIENT_CAPACITY_AZ.html"
    message = (
        f"The requested instance type {kind} has insufficient capacity in the Availability Zone {zone} of subnet "
        f"{subnet or '(default)'}. See {doc}"
    )
    _die(cluster, "INTERNAL_ERROR", message)
    cluster._sp_error_details = [
        {
            "ErrorCode": "INTERNAL_ERROR_EC2_INSUFFICIENT_CAPACITY_AZ",
            "ErrorData": [{"instance-type": kind, "availability-zone": zone, "public-doc": doc}],
            "ErrorMessage": message,
        }
    ]


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
        write_stderr_later(account, step_dir, failing, f"step {step.id}")
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
    write_stderr_later(account, step_dir, {"stderr": client}, f"step {step.id}")
    container_dir = f"{step_dir.split('/steps/')[0]}/containers/{application}/{container}/"
    write_stderr_later(account, container_dir, failing, f"the driver of step {step.id}")


def _announce(cluster: Any) -> None:
    """The "EMR Step Status Change" and "EMR Cluster State Change" events of every change since the last call, steps
    first (a dying cluster cancels its steps before it is TERMINATED_WITH_ERRORS), with `detail` as AWS documents it:
    stateChangeReason is a JSON-encoded string."""
    account, region = cluster.emr_backend.account_id, cluster.emr_backend.region_name
    for step in sorted(cluster.steps, key=lambda s: s.creation_date_time):
        if ANNOUNCED.get(("step", step.id)) == step.state:
            continue
        ANNOUNCED[("step", step.id)] = step.state
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
        emit(step_run(cluster, step.name), state_event("EMR Step Status Change", "aws.emr", account, region, detail))
    if ANNOUNCED.get(("cluster", cluster.id)) != cluster.state:
        ANNOUNCED[("cluster", cluster.id)] = cluster.state
        reason = getattr(cluster, "_sp_reason", {}) or {}
        detail = {
            "severity": CLUSTER_SEVERITY.get(cluster.state, "INFO"),
            "stateChangeReason": json.dumps({k.lower(): v for k, v in reason.items()}),
            "name": cluster.name,
            "clusterId": cluster.id,
            "state": cluster.state,
            "message": f"Amazon EMR cluster {cluster.id} ({cluster.name}) is {cluster.state}.",
        }
        emit(cluster_run(cluster), state_event("EMR Cluster State Change", "aws.emr", account, region, detail))


# ------------------------------------------------------------------------------------------ moto's models, replaced


def _cluster_init(self: Any, *args: Any, **kwargs: Any) -> None:
    original(models.Cluster, "__init__")(self, *args, **kwargs)
    # moto makes clusters WAITING at once: start them for real.
    self._sp_started = time.monotonic()
    self._sp_ready = False
    self._sp_reason: dict[str, str] = {}
    self.state = "STARTING"
    self.ready_datetime = None
    for step in self.steps:
        step.state = "PENDING"
        step.start_date_time = None


def _cluster_status(self: Any) -> dict[str, Any]:
    reason = dict(getattr(self, "_sp_reason", {}) or {})
    status: dict[str, Any] = {
        "State": self.state,
        "StateChangeReason": reason,
        "Timeline": {
            "CreationDateTime": self.creation_datetime,
            "EndDateTime": self.end_datetime,
            "ReadyDateTime": self.ready_datetime,
        },
    }
    details = getattr(self, "_sp_error_details", None)
    if details:
        status["ErrorDetails"] = details
    return status


def _step_status(self: Any) -> dict[str, Any]:
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


def _add_steps(self: Any, steps: list[dict[str, Any]]) -> list[Any]:
    # EMR API, StepConfig.ActionOnFailure: with StepConcurrencyLevel > 1, a step with CANCEL_AND_WAIT or
    # TERMINATE_CLUSTER "is not submitted and the action fails".
    # (moto adds a request's initial steps before it sets the level.)
    if (getattr(self, "step_concurrency_level", 1) or 1) > 1:
        for step in steps:
            action = step.get("action_on_failure") or step.get("ActionOnFailure")
            if action in ("CANCEL_AND_WAIT", "TERMINATE_CLUSTER", "TERMINATE_JOB_FLOW"):
                raise service_error(
                    "emr",
                    {
                        "code": "ValidationException",
                        "message": f"ActionOnFailure {action} is not valid when StepConcurrencyLevel is "
                        f"{self.step_concurrency_level}: use CONTINUE",
                    },
                )
    state = getattr(self, "state", None)
    added = original(models.Cluster, "add_steps")(self, steps)
    for step in added:
        step.state = "PENDING"
        step.start_date_time = None
    self.state = state
    tick(self)
    _announce(self)
    return added


def _terminate(self: Any) -> None:
    if self.state in ENDED_CLUSTER_STATES:
        return
    _cancel_unfinished(self, "the cluster was terminated")
    if not getattr(self, "_sp_reason", None):
        self._sp_reason = {"Code": "USER_REQUEST", "Message": "Terminated by user request"}
    original(models.Cluster, "terminate")(self)
    _announce(self)


def _ticking(method: Any) -> Any:
    """A backend read that first moves every cluster on to where it is by now."""

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with LOCK:
            for cluster in list(self.clusters.values()):
                tick(cluster)
        return method(self, *args, **kwargs)

    return wrapper


# --------------------------------------------------------------------------------------- moto's handlers, replaced


def _runs_of_clusters(handler: Any, ids: list[str]) -> list[str]:
    clusters = handler.backend.clusters
    return [cluster_run(clusters[i]) for i in ids if i in clusters]


def _runs_of_steps(handler: Any, cluster_id: str, names: list[str]) -> list[str]:
    """The runs whose steps a call concerns (see `step_run`): api_errors of a pooled run's own steps are its own."""
    cluster = handler.backend.clusters.get(cluster_id)
    if cluster is None:
        return []
    runs = {step_run(cluster, name) for name in names}
    return sorted(runs) or [cluster_run(cluster)]


def _runs_of_run_job_flow(handler: Any) -> list[str]:
    """The run a RunJobFlow is keyed by, as `cluster_run` keys the cluster it makes: its `sparkplug:run` tag."""
    tags = {tag.get("Key"): tag.get("Value") for tag in handler._get_param("Tags") or []}
    return [tags.get("sparkplug:run") or handler._get_param("Name")]


def _runs_of_added_steps(handler: Any) -> list[str]:
    names = [step.get("Name") or "" for step in handler._get_param("Steps") or []]
    return _runs_of_steps(handler, handler._get_param("JobFlowId"), names)


def _runs_of_cancelled_steps(handler: Any) -> list[str]:
    cluster_id, step_ids = handler._get_param("ClusterId"), handler._get_param("StepIds") or []
    steps = getattr(handler.backend.clusters.get(cluster_id), "steps", [])
    return _runs_of_steps(handler, cluster_id, [s.name for s in steps if s.id in step_ids])


def _runs_of_terminated(handler: Any) -> list[str]:
    return _runs_of_clusters(handler, handler._get_param("JobFlowIds") or [])


def _list_clusters(self: Any) -> Any:
    # EMR API, ListClusters: 50 clusters a page and an opaque Marker. moto's generic paginator refuses a marker whose
    # cluster left the filtered list (it changed state between two pages) with InvalidToken, which AWS does not do:
    # here the marker is a position in the id order, valid whatever changed since.
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


def _run_job_flow(self: Any) -> Any:
    # RunJobFlow's AutoTerminationPolicy (moto drops it): the cluster terminates once idle that long.
    result = original(responses.ElasticMapReduceResponse, "run_job_flow")(self)
    cluster = self.backend.clusters[result.result["JobFlowId"]]
    # The request's instances as sent (moto keeps no Market per group nor fleet capacities): what EC2 capacity and
    # Spot interruptions are judged on.
    cluster._sp_instances = self._get_param("Instances") or {}
    policy = self._get_param("AutoTerminationPolicy")
    if policy and policy.get("IdleTimeout") is not None:
        cluster._sp_auto_termination = {"IdleTimeout": int(policy.get("IdleTimeout"))}
    return result


def _cancel_steps(self: Any) -> Any:
    # EMR API, CancelSteps (moto has none): "CancelSteps is idempotent but asynchronous". A PENDING step is cancelled;
    # a RUNNING one (EMR 5.28.0 and later; earlier releases cancel only PENDING steps) goes CANCEL_PENDING, and
    # CANCELLED once EMR has signalled it (StepCancellationOption SEND_INTERRUPT, the default, or TERMINATE_PROCESS).
    # A step that has ended, or that the cluster does not have, is answered Status FAILED with the reason.
    cluster = self.backend.describe_cluster(self._get_param("ClusterId"))
    release = getattr(cluster, "release_label", None)
    interruptible = not release or ReleaseLabel(release) >= ReleaseLabel("emr-5.28.0")
    infos = []
    with LOCK:
        tick(cluster)
        for step_id in self._get_param("StepIds") or []:
            step = next((s for s in cluster.steps if s.id == step_id), None)
            info: dict[str, str] = {"StepId": step_id, "Status": "SUBMITTED"}
            if step is None:
                info.update(Status="FAILED", Reason=f"Step {step_id} is not a step of cluster {cluster.id}")
            elif step.state == "PENDING":
                step.state = "CANCELLED"
                step.last_state_change_reason = "Cancelled by user request"
                step.end_date_time = now()
            elif step.state == "RUNNING" and interruptible:
                step.state = "CANCEL_PENDING"
                step.last_state_change_reason = "Cancelled by user request"
            elif step.state == "RUNNING":
                info.update(Status="FAILED", Reason=f"Release {release} can cancel only PENDING steps")
            elif step.state != "CANCEL_PENDING":
                info.update(Status="FAILED", Reason=f"Step {step_id} is {step.state}: it cannot be cancelled")
            infos.append(info)
        _announce(cluster)
    return ActionResult({"CancelStepsInfoList": infos})


def _put_auto_termination_policy(self: Any) -> Any:
    # EMR API, PutAutoTerminationPolicy: creates or updates the cluster's policy.
    cluster = self.backend.describe_cluster(self._get_param("ClusterId"))
    policy = self._get_param("AutoTerminationPolicy") or {}
    with LOCK:
        cluster._sp_auto_termination = (
            {"IdleTimeout": int(policy.get("IdleTimeout"))} if policy.get("IdleTimeout") is not None else None
        )
    return EmptyResult()


def _get_auto_termination_policy(self: Any) -> Any:
    cluster = self.backend.describe_cluster(self._get_param("ClusterId"))
    policy = getattr(cluster, "_sp_auto_termination", None)
    return ActionResult({"AutoTerminationPolicy": policy} if policy else {})


def _remove_auto_termination_policy(self: Any) -> Any:
    cluster = self.backend.describe_cluster(self._get_param("ClusterId"))
    with LOCK:
        cluster._sp_auto_termination = None
    return EmptyResult()


def patch() -> None:
    replace(models.Cluster, "__init__", _cluster_init)
    replace(models.Cluster, "status", property(_cluster_status))
    replace(models.Step, "status", property(_step_status))
    replace(models.Cluster, "add_steps", _add_steps)
    replace(models.Cluster, "terminate", _terminate)
    backend = models.ElasticMapReduceBackend
    for name in ("describe_cluster", "list_clusters", "list_steps", "describe_step", "describe_job_flows"):
        if hasattr(backend, name):
            replace(backend, name, _ticking(getattr(backend, name)))

    response = responses.ElasticMapReduceResponse
    replace(response, "list_clusters", _list_clusters)
    replace(response, "run_job_flow", faulty("emr", "RunJobFlow", _runs_of_run_job_flow, _run_job_flow))
    added = faulty("emr", "AddJobFlowSteps", _runs_of_added_steps, response.add_job_flow_steps)
    replace(response, "add_job_flow_steps", added)
    replace(response, "cancel_steps", faulty("emr", "CancelSteps", _runs_of_cancelled_steps, _cancel_steps))
    replace(response, "put_auto_termination_policy", _put_auto_termination_policy)
    replace(response, "get_auto_termination_policy", _get_auto_termination_policy)
    replace(response, "remove_auto_termination_policy", _remove_auto_termination_policy)
    terminated = faulty("emr", "TerminateJobFlows", _runs_of_terminated, response.terminate_job_flows)
    replace(response, "terminate_job_flows", terminated)
