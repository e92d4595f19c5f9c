"""Step Functions, as AWS documents it where moto's interpreter differs: an execution's end is announced as
"Step Functions Execution Status Change"; StopExecution ends an execution ABORTED at once, whatever its task waits
on; an execution fails at its history quota (25,000 events) and times out at its TimeoutSeconds; task tokens are
answered as the API Reference has them (SendTaskFailure keeps its cause, a second answer is refused)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from moto.core.responses import EmptyResult
from moto.stepfunctions import responses
from moto.stepfunctions.parser import models as parser_models
from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, ExecutionStatus, HistoryEventType
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda
from moto.stepfunctions.parser.asl.eval import environment
from moto.stepfunctions.parser.asl.eval.callback import callback
from moto.stepfunctions.parser.asl.eval.event import event_manager
from moto.stepfunctions.parser.backend import execution as executions

from . import delivery, quotas
from .faults import event_fault, fault_of, service_error
from .state import FORWARDER, original, replace

# Step Functions' hard quota of execution history events (Developer Guide, "Avoid reaching the history quota").
HISTORY_LIMIT = 25_000


def execution_status_change_event(execution: Any) -> dict[str, Any]:
    """A "Step Functions Execution Status Change" event as AWS documents it (Step Functions Developer Guide,
    "Automating Step Functions event delivery with EventBridge"): dates in epoch milliseconds, input as a string, and
    a succeeded execution's output as a string (`outputDetails.included`; null for any other status)."""

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
            **_output_of(execution),
        },
    }


def _output_of(execution: Any) -> dict[str, Any]:
    output = getattr(execution, "output", None)
    if execution.exec_status.value != "SUCCEEDED" or output is None:
        return {"output": None, "outputDetails": None}
    text = output if isinstance(output, str) else json.dumps(output, separators=(",", ":"))
    return {"output": text, "outputDetails": {"included": True}}


# ------------------------------------------------------------------ the history quota and TimeoutSeconds (faults)


def _tracked_environment(self: Any, *args: Any, **kwargs: Any) -> None:
    original(environment.Environment, "__init__")(self, *args, **kwargs)
    self.event_manager._sp_environment = self
    self._sp_started = time.monotonic()


def _counted_event(self: Any, context: Any, event_type: Any, *args: Any, **kwargs: Any) -> int:
    """At its 25,000th history event an execution that has not succeeded fails (Developer Guide, "Avoid reaching the
    history quota"), past every Catch. A `history_limit` fault lowers the quota for one run; a `timeout_seconds` fault
    times it out as its TimeoutSeconds would (ExecutionTimedOut, no Catch)."""
    # Each state entered is a state transition: it waits for its token when the quota's bucket is empty.
    if str(event_type.value).endswith("StateEntered"):
        quotas.wait_for_transition()
    event_id = original(event_manager.EventManager, "add_event")(self, context, event_type, *args, **kwargs)
    env = getattr(self, "_sp_environment", None)
    if env is None or event_type == HistoryEventType.ExecutionSucceeded or not env.is_running():
        return event_id
    name = env.states.context_object.context_object_data.get("Execution", {}).get("Name")
    limit = fault_of(name).get("history_limit", HISTORY_LIMIT)
    # The interpreter can end a program only between states: the failure lands at the first state exit at or past the
    # quota (a few events late at most).
    at_exit = str(event_type.value).endswith("StateExited")
    # A `timeout_seconds` fault stands for the execution's TimeoutSeconds (the template's is 8 days).
    timeout = fault_of(name).get("timeout_seconds")
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


# ---------------------------------------------------------------------------------------- an execution's end


def _stop(self: Any, *args: Any, **kwargs: Any) -> None:
    self._sp_stop_requested = True
    original(executions.Execution, "stop")(self, *args, **kwargs)


def _terminated(self: Any) -> None:
    original(executions.BaseExecutionWorkerCommunication, "terminated")(self)
    # StopExecution ends an execution ABORTED (Step Functions API Reference, StopExecution). moto's interpreter can
    # instead fail it when the stop lands while a Lambda task is in flight: the stop wins, as on AWS.
    if getattr(self.execution, "_sp_stop_requested", False) and self.execution.exec_status == ExecutionStatus.FAILED:
        self.execution.exec_status = ExecutionStatus.ABORTED
        self.execution.error = None
        self.execution.cause = None
    event = execution_status_change_event(self.execution)
    name = self.execution.name
    if FORWARDER:
        delivery.deliver(FORWARDER[0], event, run=name, fault=event_fault(name, event))


def _releasing(method: Any) -> Any:
    """StopExecution ends an execution at once, ABORTED, whatever its task waits on (API Reference, StopExecution); so
    do its TimeoutSeconds and its history quota. moto's waiting task blocks until its own timeout instead: every task
    token of the execution is released when the execution is stopped, timed out or failed."""

    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        pool = getattr(self, "callback_pool_manager", None)
        for endpoint in list(getattr(pool, "_pool", {}).values()):
            endpoint.interrupt_all()
        return result

    return wrapper


# ------------------------------------------------------------------------------------------------------ task tokens
# An answer to a token as the API Reference has it (SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat): a task that
# closed is refused with TaskTimedOut ("the task associated with the token has already been closed"; moto takes a
# second answer silently), one no longer active with TaskDoesNotExist, an unknown token with InvalidToken.
# SendTaskFailure carries `error` and `cause` (moto drops the cause). moto 5.2.5 misreads its own consumer error
# (every dead token became TaskDoesNotExist, raised without the message its exception requires: an HTTP 500), and
# stumbles on a RUNNING execution whose worker is not (or no longer) there.


def _send_task_failure_request(self: Any) -> Any:
    self.stepfunction_backend.send_task_failure(
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
    )
    return EmptyResult()


def _notify_once(self: Any, callback_id: str, outcome: Any) -> bool:
    endpoint = self._pool.get(callback_id)
    if endpoint is not None and endpoint.get_outcome() is not None:
        raise callback.CallbackNotifyConsumerError(callback_consumer_error=callback.CallbackConsumerTimeout())
    return original(callback.CallbackPoolManager, "notify")(self, callback_id, outcome)


def _refused(code: str, message: str) -> Exception:
    return service_error("stepfunctions", {"code": code, "message": message})


def _answer_token(backend: Any, token: str, outcome: Any, status: Any, heartbeat: bool = False) -> None:
    for running in backend._get_executions(status):
        env = getattr(getattr(running, "exec_worker", None), "env", None)
        if env is None:
            continue
        pool = env.callback_pool_manager
        try:
            if pool.heartbeat(callback_id=token) if heartbeat else pool.notify(callback_id=token, outcome=outcome):
                return
        except callback.CallbackNotifyConsumerError as error:
            if isinstance(error.callback_consumer_error, callback.CallbackConsumerTimeout):
                raise _refused("TaskTimedOut", "the task of this token has already been closed") from None
            raise _refused("TaskDoesNotExist", "the task of this token is no longer active") from None
    raise _refused("InvalidToken", "no task waits on this token")


def _send_task_success(self: Any, task_token: str, outcome: str) -> None:
    success = callback.CallbackOutcomeSuccess(callback_id=task_token, output=outcome)
    _answer_token(self, task_token, success, ExecutionStatus.RUNNING)


def _send_task_failure(self: Any, task_token: str, error: Any = None, cause: Any = None) -> None:
    failure = callback.CallbackOutcomeFailure(callback_id=task_token, error=error, cause=cause)
    _answer_token(self, task_token, failure, None)


def _send_task_heartbeat(self: Any, task_token: str) -> None:
    _answer_token(self, task_token, None, ExecutionStatus.RUNNING, heartbeat=True)


def _lambda_task_failure(self: Any, env: Any, ex: Exception) -> Any:
    """A Lambda task named by its function's ARN fails as the `lambda:invoke` integration does when Lambda itself
    refuses the Invoke: `Lambda.<its error code>` — `Lambda.TooManyRequestsException` for a throttle (Step Functions
    Developer Guide, "Handling Lambda service exceptions": the same errors for either form of the task). moto names
    them all `Exception`, which no Retry matches."""
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.api import HistoryEventType, LambdaFunctionFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    if isinstance(ex, ClientError):
        error = f"Lambda.{ex.response['Error']['Code']}"
        return FailureEvent(
            env=env,
            error_name=CustomErrorName(error),
            event_type=HistoryEventType.LambdaFunctionFailed,
            event_details=EventDetails(
                lambdaFunctionFailedEventDetails=LambdaFunctionFailedEventDetails(
                    error=error, cause=ex.response["Error"]["Message"]
                )
            ),
        )
    return original(state_task_lambda.StateTaskLambda, "_from_error")(self, env, ex)


def patch() -> None:
    replace(state_task_lambda.StateTaskLambda, "_from_error", _lambda_task_failure)
    replace(environment.Environment, "__init__", _tracked_environment)
    replace(event_manager.EventManager, "add_event", _counted_event)
    replace(executions.Execution, "stop", _stop)
    replace(executions.BaseExecutionWorkerCommunication, "terminated", _terminated)
    replace(responses.StepFunctionResponse, "send_task_failure", _send_task_failure_request)
    replace(callback.CallbackPoolManager, "notify", _notify_once)
    for name in ("set_stop", "set_timed_out", "set_error"):
        replace(environment.Environment, name, _releasing(getattr(environment.Environment, name)))
    backend = parser_models.StepFunctionsParserBackend
    replace(backend, "send_task_success", _send_task_success)
    replace(backend, "send_task_failure", _send_task_failure)
    replace(backend, "send_task_heartbeat", _send_task_heartbeat)
