"""The Python + boto3 baseline of emr-sense: DescribeCluster + ListSteps, the same state map, the next wait."""

import boto3

EMR = boto3.client("emr")
RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"
STEP = {
    "PENDING": RUNNING,
    "CANCEL_PENDING": RUNNING,
    "RUNNING": RUNNING,
    "COMPLETED": SUCCEEDED,
    "CANCELLED": FAILED,
    "FAILED": FAILED,
    "INTERRUPTED": FAILED,
}


def handler(event, _context):
    cluster = EMR.describe_cluster(ClusterId=event["cluster_id"])["Cluster"]
    steps = {s["Id"]: s for s in EMR.list_steps(ClusterId=event["cluster_id"])["Steps"]}
    states = [STEP[steps[i]["Status"]["State"]] for i in event["step_ids"]]
    state = cluster["Status"]["State"]
    if FAILED in states:
        status = FAILED
    elif all(s == SUCCEEDED for s in states):
        status = SUCCEEDED
    elif state.startswith("TERMINAT"):
        status = FAILED
    else:
        status = RUNNING
    poll = event.get("poll", {})
    wait = (
        int(poll.get("starting_seconds", 120))
        if state in ("STARTING", "BOOTSTRAPPING")
        else int(poll.get("running_seconds", 30))
    )
    return {"status": status, "wait_seconds": wait if status == RUNNING else 0, "state": state}
