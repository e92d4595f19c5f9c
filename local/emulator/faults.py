"""Faults on demand, keyed by the run they concern (see control.ControlHandler for what can be set): a run's settings
(`fault_of`), the next injected API error of an action (`take_api_error`, and `faulty`, the one wrapper every
service's handlers use), and the next fault of a state-change event (`event_fault`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .state import FAULTS, LOCK


def fault_of(run: str | None) -> dict[str, Any]:
    """The faults set for a run ({} when none)."""
    with LOCK:
        return FAULTS.get(run or "", {})


def take_api_error(run: str | None, action: str, after_call: bool) -> dict[str, Any] | None:
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


def service_error(service: str, error: dict[str, Any]) -> Exception:
    """An AWS error answer of `service`: moto serializes an exception by the service its class belongs to."""
    from moto.core.exceptions import ServiceException

    code = error.get("code", "ThrottlingException")
    module = f"moto.{service.replace('-', '')}.exceptions"  # emr-serverless is moto.emrserverless
    cls = type(code, (ServiceException,), {"code": code, "__module__": module})
    return cls(error.get("message", "injected by the local emulator"))


def faulty(service: str, action: str, runs_of: Callable[[Any], list[str]], method: Any) -> Any:
    """A moto response handler method that first answers the `api_errors` queued for `action` by the runs the request
    concerns (`runs_of(handler)`), and, for those set `after_call`, answers them after the call has taken effect."""

    def wrapper(self: Any) -> Any:
        runs = runs_of(self)
        for run in runs:
            error = take_api_error(run, action, after_call=False)
            if error:
                raise service_error(service, error)
        result = method(self)
        for run in runs:
            error = take_api_error(run, action, after_call=True)
            if error:
                raise service_error(service, error)
        return result

    return wrapper


def event_fault(run: str | None, event: dict[str, Any]) -> dict[str, Any] | None:
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
