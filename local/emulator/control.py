"""The control API, for tests, the demo and the benchmarks: JSON in, JSON out (see `ControlHandler`)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import delivery, iam, quotas, sns, xray
from .events import BUS
from .state import FAULTS, FORWARDER, LOCK, SETTINGS


class ControlHandler(BaseHTTPRequestHandler):
    """The control API, for tests and the demo (JSON in, JSON out):

    GET  /health                       → {"ok": true}
    GET  /events[?function=F&text=T]   → the events the rules delivered, with each function's answer (only those
                                         delivered to F whose JSON contains T)
    GET  /sns                          → every message published to an SNS topic: [{"topic", "subject", "message"}]
    GET  /bus                          → every event a function put on an EventBridge bus (PutEvents entries)
    GET  /xray[?run=R]                 → the segment documents the functions sent the X-Ray daemon (those annotated
                                         with run R), and what X-Ray would have refused: {"segments", "refused"}
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
                     "kill_cluster": {"code", "message", "times"},   (a cluster of the run dies mid-step, with this
                                         reason; `times`: that many clusters, every one when unset)
                     "interrupt_spot": {"times"},   (EC2 reclaims the Spot instances of a cluster of the run mid-step:
                                         it dies INSTANCE_FAILURE if its primary or core nodes are on Spot)
                     "no_capacity": [{"instance_type", "subnet"}],   (EC2 has no capacity for that type in that
                                         subnet — any, without `subnet`: a cluster of the run asking for it ends
                                         TERMINATED_WITH_ERRORS before it is ready, with EMR's ErrorDetail
                                         INTERNAL_ERROR_EC2_INSUFFICIENT_CAPACITY_AZ)
                     "fail_glue_run": {"message"}, "glue_run_seconds": N,
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
                    The run of an EMR step named `<run>: <step>` (sparkplug's steps on a pool cluster) is
                    <run> when <run> has faults: its `fail_step.name` is matched against <step>, and its
                    `step_seconds` and step `events` apply; otherwise the cluster's `sparkplug:run` tag (else its
                    name) is the run (`kill_cluster` always). The run of an EMR Serverless job run is its StartJobRun `name` (its `api_errors` by
                    action: StartJobRun, GetJobRun, CancelJobRun; an application's calls are keyed by its name).
                    An SNS `Publish` whose message names the run (its alert) takes the run's `Publish` api_errors.
    POST /put-object {"bucket", "key", "body"}   an S3 PutObject through the emulator's own endpoint
    POST /quotas    {"scale": K, "region", "apis": {"<service>:<action>": [size, rate]}}   AWS's quotas at 1/K
                                         (see quotas.py; {"scale": 0} turns them off)
    GET  /quotas                         → the quotas' scale, and what was throttled
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
        elif self.path.split("?")[0] == "/xray":
            # ?run=NAME: the segments the functions sent the X-Ray daemon annotated with that run.
            run = (parse_qs(urlsplit(self.path).query).get("run") or [None])[0]
            self._reply(200, xray.report(run))
        elif self.path == "/iam":
            self._reply(200, iam.iam_report())
        elif self.path == "/chaos":
            self._reply(200, delivery.chaos_report())
        elif self.path == "/scheduler":
            self._reply(200, delivery.scheduler_report())
        elif self.path == "/sns":
            self._reply(200, sns.messages())
        elif self.path == "/quotas":
            self._reply(200, quotas.report())
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
                self._reply(200, delivery.start_scheduler(FORWARDER[0], body))
            elif self.path == "/quotas":
                self._reply(200, quotas.configure(body))
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


def serve_control(host: str, port: int, moto_endpoint: str) -> ThreadingHTTPServer:
    ControlHandler.endpoint = moto_endpoint
    server = ThreadingHTTPServer((host, port), ControlHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
