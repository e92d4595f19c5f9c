"""The Python + boto3 baseline of notify: the same event handling, token-table look-up, EMR look and answer."""

import json
import os

import boto3

DYNAMODB = boto3.client("dynamodb")
EMR = boto3.client("emr")
SFN = boto3.client("stepfunctions")
TABLE = os.environ["TOKEN_TABLE"]
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
    detail = event["detail"]
    if event["detail-type"] != "EMR Step Status Change" or STEP[detail["state"]] == RUNNING:
        return {"dropped": ["not an end"]}
    key = f"emr#{detail['clusterId']}"
    item = DYNAMODB.get_item(TableName=TABLE, Key={"key": {"S": key}}, ConsistentRead=True).get("Item")
    if item is None:
        return {"dropped": [f"{key}: no task waits on it"]}
    work = json.loads(item["work"]["S"])
    steps = {s["Id"]: s for s in EMR.list_steps(ClusterId=work["cluster_id"])["Steps"]}
    cluster = EMR.describe_cluster(ClusterId=work["cluster_id"])["Cluster"]
    states = [STEP[steps[i]["Status"]["State"]] for i in work["step_ids"]]
    if FAILED in states or cluster["Status"]["State"].startswith("TERMINAT"):
        status = FAILED
    elif all(s == SUCCEEDED for s in states):
        status = SUCCEEDED
    else:
        return {"dropped": ["not ended yet"]}
    token = item["token"]["S"]
    try:
        SFN.send_task_success(taskToken=token, output=json.dumps({"status": status}))
    except (SFN.exceptions.TaskTimedOut, SFN.exceptions.TaskDoesNotExist, SFN.exceptions.InvalidToken):
        pass
    DYNAMODB.delete_item(
        TableName=TABLE,
        Key={"key": {"S": key}},
        ConditionExpression="#token = :token",
        ExpressionAttributeNames={"#token": "token"},
        ExpressionAttributeValues={":token": {"S": token}},
    )
    return {"answered": [status]}
