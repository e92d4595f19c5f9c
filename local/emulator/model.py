"""AWS's request validation, which moto does not do: every request of the JSON services sparkplug calls is checked
against botocore's service model (the one the AWS CLI uses) and the rules the services document beyond it, and
authorized against the calling function's policy (`iam`), before moto handles it; a refused one is answered as AWS
answers it (ValidationException, AccessDeniedException)."""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import datetime
from typing import Any

from moto.core import responses
from moto.core.utils import get_service_model

from . import iam, quotas, sns
from .faults import service_error
from .state import original, replace

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


def request_input(handler: Any, operation: Any) -> Any:
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


def service_rules(service: str, action: str, body: dict[str, Any]) -> list[str]:
    """Rules AWS documents beyond the service model."""
    problems: list[str] = []
    if service == "emr" and action == "CancelSteps" and len(body.get("StepIds") or []) > 256:
        # EMR API, CancelSteps: "A maximum of 256 steps are allowed in each CancelSteps request."
        problems.append(f"StepIds: {len(body['StepIds'])} steps; at most 256 can be cancelled in one request")
    level = body.get("StepConcurrencyLevel")
    if service == "emr" and action == "RunJobFlow" and isinstance(level, int) and level > 1:
        # EMR API, StepConfig.ActionOnFailure: with StepConcurrencyLevel > 1, a step with CANCEL_AND_WAIT or
        # TERMINATE_CLUSTER is not submitted and the action fails (AddJobFlowSteps: see `emr._add_steps`).
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


def _refusal(handler: Any, code: str, message: str) -> Any:
    return handler.serialized(
        responses.ActionResult(service_error(handler.service_name, {"code": code, "message": message}))
    )


# DynamoDB applies each write whole — an UpdateItem's ADD to a number or a set, a conditional write — whatever else
# writes the item meanwhile (Developer Guide, "Working with items": atomic counters, conditional writes; a
# TransactWriteItems all or nothing). moto's handlers read, change and store an item without a lock, so two requests
# at once could lose one's change: the emulator runs DynamoDB's requests one at a time.
DYNAMODB_LOCK = threading.Lock()


# A global secondary index is eventually consistent: "changes to the table data are propagated to the global secondary
# indexes within a fraction of a second, under normal conditions" (DynamoDB Developer Guide, "Using Global Secondary
# Indexes in DynamoDB": reading from an index), and a Query of an index cannot ask for a consistent read. moto's
# index is the table read at once: here an item written less than INDEX_LAG_SECONDS ago shows in an index's Query as
# the index last showed it; one created less than that ago is not shown at all; an older item no Query of the index
# showed yet shows as it is now (the index has it, perhaps one write older than that: its older copy is not kept); an
# item deleted leaves the index at once (its stale copy is not emulated).
INDEX_LAG_SECONDS = 0.5
# (table, hash key value as JSON) → when it was last written, and first
WRITTEN: dict[tuple[str, str], float] = {}
CREATED: dict[tuple[str, str], float] = {}
# (table, index, hash key value as JSON) → the item as an index's Query last showed it
INDEXED: dict[tuple[str, str, str], dict[str, Any]] = {}
WRITES = {"PutItem": ("Item",), "UpdateItem": ("Key",), "DeleteItem": ("Key",)}


def _hash_key(self: Any, table: str) -> str | None:
    from moto.dynamodb.models import dynamodb_backends

    try:
        return dynamodb_backends[self.current_account][self.region].get_table(table).hash_key_attr
    except Exception:  # noqa: BLE001 - no such table: the call itself says so
        return None


def _written_keys(self: Any, action: str, body: dict[str, Any]) -> list[tuple[str, str]]:
    writes = [(action, body)] if action in WRITES else []
    if action == "TransactWriteItems":
        writes = [
            (f"{kind}Item", item[kind])
            for item in body.get("TransactItems") or []
            for kind in ("Put", "Update", "Delete")
            if kind in item
        ]
    keys = []
    for name, write in writes:
        table = write.get("TableName", "")
        hash_key = _hash_key(self, table)
        fields = WRITES[name]
        value = (write.get(fields[0]) or {}).get(hash_key) if hash_key else None
        if value is not None:
            keys.append((table, json.dumps(value, sort_keys=True)))
    return keys


def _index_lagged(self: Any, result: Any) -> Any:
    target = (self.headers.get("X-Amz-Target") or "").rpartition(".")[2]
    if target not in (*WRITES, "TransactWriteItems", "Query"):
        return result
    try:
        # moto's DynamoDB handler has parsed its JSON body already.
        body = self.body if isinstance(self.body, dict) else json.loads(self.body or "{}")
    except ValueError:
        return result
    status, headers, answer = result
    now = time.monotonic()
    if status == 200 and target in (*WRITES, "TransactWriteItems"):
        for key in _written_keys(self, target, body):
            WRITTEN[key] = now
            if target == "DeleteItem":
                CREATED.pop(key, None)
            else:
                CREATED.setdefault(key, now)
    if status == 200 and target == "Query" and body.get("IndexName"):
        table = body.get("TableName", "")
        hash_key = _hash_key(self, table)
        data = json.loads(answer) if isinstance(answer, (str, bytes)) else answer
        index = body["IndexName"]
        shown, lagged = [], False
        for item in data.get("Items", []):
            key = json.dumps(item.get(hash_key), sort_keys=True)
            if now - WRITTEN.get((table, key), 0.0) < INDEX_LAG_SECONDS:
                lagged = True
                previous = INDEXED.get((table, index, key))
                if previous is not None:
                    shown.append(previous)
                elif now - CREATED.get((table, key), now) >= INDEX_LAG_SECONDS:
                    shown.append(item)
                continue
            INDEXED[(table, index, key)] = item
            shown.append(item)
        if lagged:
            data["Items"] = shown
            data["Count"] = len(shown)
            answer = json.dumps(data)
            headers = {name: value for name, value in headers.items() if name.lower() != "content-length"}
    return status, headers, answer


def _validated_call_action(self: Any) -> Any:
    if self.service_name == "dynamodb":
        with DYNAMODB_LOCK:
            return _index_lagged(self, _checked_call_action(self))
    return _checked_call_action(self)


def _checked_call_action(self: Any) -> Any:
    call_action = original(responses.BaseResponse, "call_action")
    if self.service_name == "sns":
        refused = sns.refusal(self)
        if refused is not None:
            return self.serialized(responses.ActionResult(refused))
    if self.service_name in VALIDATED_SERVICES and (self.body or self.service_name in REST_SERVICES):
        action = self._get_action()
        if not action:
            return call_action(self)  # no operation has this method and path: moto answers 404
        operation = get_service_model(self.boto3_service_name).operation_model(action)
        body = request_input(self, operation)
        if body is None:
            problems = ["the body is not JSON"]
        elif operation.input_shape is None:
            problems = []
        else:
            problems = check_against_model(body, operation.input_shape)
        problems += service_rules(self.service_name, operation.name, body or {})
        denied = iam.authorize(self, self.service_name, operation.name, body or {})
        if denied:
            return _refusal(self, "AccessDeniedException", denied)
        # The stack's own calls take a token of the API's bucket (quotas.py); a call that finds none is throttled.
        if iam.caller(self.headers) is not None and quotas.throttle(self.service_name, operation.name):
            return _refusal(self, "ThrottlingException", "Rate exceeded")
        if problems:
            return _refusal(self, "ValidationException", "; ".join(problems))
    return call_action(self)


def patch() -> None:
    replace(responses.BaseResponse, "call_action", _validated_call_action)
