"""IAM, from the traffic: each call a function makes (its name in the User-Agent, its environment in the access key)
is checked against its policy in template.yaml — actions, resource ARNs, StringEquals and StringLike conditions on
request and resource tags — and refused when the policy does not allow it; every call is recorded (GET /iam), so that
a test can hold the policies to what the functions do."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from .state import ENV_SEPARATOR, LOCK

# function (its local name) → the IAM statements of its policy in template.yaml, as deployed
POLICIES: dict[str, list[dict[str, Any]]] = {}
# every call a function made: its function, IAM action, resources, and whether its policy allows it
CALLS: list[dict[str, Any]] = []
# A TransactWriteItems item's kind → the operation whose permission it needs.
TRANSACTION_WRITES = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
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


def caller(headers: Any) -> str | None:
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
        table = f"arn:aws:dynamodb:{region}:{account}:table/{body.get('TableName')}"
        # A Query or Scan of an index is authorized on the index (Service Authorization Reference, DynamoDB: the
        # `index` resource type, arn:…:table/<table>/index/<index>).
        index = body.get("IndexName") if action in ("Query", "Scan") else None
        return [(f"{table}/index/{index}" if index else table, {})]
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


def authorize(
    handler: Any,
    service: str,
    action: str,
    body: dict[str, Any],
    resources: list[tuple[str, dict]] | None = None,
) -> str | None:
    """Checks a function's call against its policy, as IAM would, and records it; the AccessDenied message when the
    policy does not allow it (IAM: an action is denied unless a statement allows it for every resource)."""
    function = caller(handler.headers)
    if function is None or not POLICIES:
        return None
    if service == "dynamodb" and action == "TransactWriteItems":
        # A transaction needs no permission of its own: each of its writes needs the permission of the operation it
        # stands for (DynamoDB Developer Guide, "Using IAM with DynamoDB transactions").
        for item in body.get("TransactItems") or []:
            for kind, operation in TRANSACTION_WRITES.items():
                if kind in item:
                    denied = authorize(handler, service, operation, item[kind])
                    if denied:
                        return denied
        return None
    iam_action = f"{IAM_PREFIX[service]}:{action}"
    denied = None
    if resources is None:
        resources = _resources(service, action, body, handler.region, handler.current_account)
    for resource, context in resources:
        allowed = _allowed(function, iam_action, resource, context)
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
