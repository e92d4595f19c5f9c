"""Lambda, for Step Functions' Lambda tasks and the events' asynchronous invocations: an invocation goes to the real
function under a Lambda runtime emulator (`cargo lambda watch`'s Invoke API, one per environment) instead of moto's
Docker-less echo, within the function's Timeout from template.yaml, unless a fault of the run its payload concerns
holds it (`lambda_delays`), fails it (`lambda_errors`) or runs it past its Timeout (`lambda_timeouts`)."""

from __future__ import annotations

import io
import json
import time
import urllib.error
import urllib.request
from typing import Any

from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

from . import delivery
from .emr import pooled_step
from .state import ENV_SEPARATOR, FAULTS, LOCK, TIMEOUTS, original, replace


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
        pooled = pooled_step(detail["name"])
        runs.append(pooled[0] if pooled else detail["name"])
    runs.append(payload.get("run_name"))
    return [run for run in runs if isinstance(run, str) and run], payload.get("detail-type")


def _timed_out(name: str, seconds: float) -> dict[str, str]:
    """A function past its Timeout (template.yaml), as a Step Functions Lambda task sees it: `Lambda.Unknown`
    (Step Functions Developer Guide, "Handling errors": timeouts, out-of-memory and crashes surface so)."""
    return {"errorType": "Lambda.Unknown", "errorMessage": f"{name}: Task timed out after {seconds:.2f} seconds"}


def patch(forwarder: LambdaForwarder) -> None:
    """Step Functions' Lambda tasks call the forwarder."""

    class CountedInvoke:
        """The forwarder, its invocations counted in Lambda's concurrency (`delivery.invoke_sync`)."""

        def invoke(self, FunctionName: str, Payload: Any = None, **_: Any) -> dict[str, Any]:
            name = FunctionName.split(":function:")[-1].split(":")[0]
            return delivery.invoke_sync(forwarder, name, Payload)

    def client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        if service == "lambda":
            return CountedInvoke()
        moto_client_for = original(lambda_eval_utils, "boto_client_for")
        return moto_client_for(region=region, service=service, state_credentials=state_credentials)

    replace(lambda_eval_utils, "boto_client_for", client_for)
