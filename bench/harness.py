"""sparkplug's benchmark harness (run through bench/run).

Every function's release binary runs under a local Lambda Runtime API of this harness, against the local AWS
emulator (moto + local/emulator/), exactly as Lambda runs it: the process starts, builds its SDK clients, asks
GET /runtime/invocation/next (init ends there), gets an event, answers. Python + boto3 baselines run under the same
harness and protocol (bench/baseline/). Every comparison is a ratio measured in the same run.

Measured: init (spawn → first /next), first-invocation and warm latency (event handed over → answer), peak RSS
(VmHWM), zip size, a burst through the trigger, and the control-plane cost of one local EMR run (state transitions
and Lambda invocations from its execution history), modelled for a 10-minute start and a 60-minute step.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "local"))

import emulator
import stack

FUNCTIONS = [
    "trigger",
    "resolve",
    "emr-create-cluster",
    "emr-add-steps",
    "emr-terminate",
    "glue-start-run",
    "glue-finish",
    "notify",
]
MEMORY_MB = 128  # template.yaml Globals


# --------------------------------------------------------------------------------------------- a Lambda Runtime API


class QuietServer(ThreadingHTTPServer):
    """A killed function process drops its connection: that is expected here, not an error to print."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class RuntimeApi:
    """The Runtime API one function process talks to: hands it events one at a time and times everything."""

    def __init__(self) -> None:
        self.events: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.answers: queue.Queue[tuple[str, float, bool, bytes]] = queue.Queue()
        self.first_next = threading.Event()
        self.first_next_at = 0.0
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: without this, Nagle + delayed ACK add 40 ms per answer.
            disable_nagle_algorithm = True

            def log_message(self, *_: Any) -> None:
                pass

            def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path.endswith("/invocation/next"):
                    if not api.first_next.is_set():
                        api.first_next_at = time.perf_counter()
                        api.first_next.set()
                    request_id, body = api.events.get()
                    deadline = str(int((time.time() + 30) * 1000))
                    self._send(
                        200,
                        body,
                        {
                            "Lambda-Runtime-Aws-Request-Id": request_id,
                            "Lambda-Runtime-Deadline-Ms": deadline,
                            "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:bench",
                            "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000",
                            "Content-Type": "application/json",
                        },
                    )
                else:
                    self._send(404)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                parts = self.path.split("/")
                if "invocation" in parts:
                    request_id = parts[parts.index("invocation") + 1]
                    api.answers.put((request_id, time.perf_counter(), self.path.endswith("/error"), body))
                self._send(202)

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, event: Any, timeout: float = 60) -> tuple[float, bool, Any]:
        """Hands an event over; returns (seconds until the answer, failed, answer)."""
        request_id = str(uuid.uuid4())
        start = time.perf_counter()
        self.events.put((request_id, json.dumps(event).encode()))
        answered_id, at, failed, body = self.answers.get(timeout=timeout)
        assert answered_id == request_id, "answers out of order"
        try:
            answer = json.loads(body)
        except ValueError:
            answer = body.decode(errors="replace")
        return at - start, failed, answer

    def close(self) -> None:
        self.server.shutdown()


def lambda_environment(api: RuntimeApi, name: str, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH")}
    env.update(
        {
            "AWS_LAMBDA_RUNTIME_API": api.address,
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(MEMORY_MB),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "_HANDLER": "bootstrap",
            "RUST_LOG": "warn",
        }
    )
    env.update(extra)
    return env


def peak_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def cold_start(
    command: list[str], name: str, extra_env: dict[str, str], events: list[Any], warm: int
) -> dict[str, Any]:
    """One cold start: init, the first invocation, `warm` more, peak RSS."""
    api = RuntimeApi()
    env = lambda_environment(api, name, extra_env)
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not api.first_next.wait(timeout=60):
            raise RuntimeError(f"{name} never asked for an invocation")
        init = api.first_next_at - started
        first, failed, answer = api.invoke(events[0])
        if failed:
            raise RuntimeError(f"{name} failed its first invocation: {answer}")
        warm_times = []
        for index in range(warm):
            seconds, failed, answer = api.invoke(events[(index + 1) % len(events)])
            if failed:
                raise RuntimeError(f"{name} failed a warm invocation: {answer}")
            warm_times.append(seconds)
        rss = peak_rss_kb(process.pid)
    finally:
        process.kill()
        process.wait()
        api.close()
    return {"init": init, "first": first, "warm": statistics.median(warm_times) if warm_times else None, "rss_kb": rss}


def summarise(samples: list[dict[str, Any]]) -> dict[str, float]:
    def q(values: list[float], fraction: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]

    inits = [s["init"] * 1000 for s in samples]
    firsts = [s["first"] * 1000 for s in samples]
    warms = [s["warm"] * 1000 for s in samples if s["warm"] is not None]
    rss = [s["rss_kb"] / 1024 for s in samples]
    return {
        "samples": len(samples),
        "init_ms_median": statistics.median(inits),
        "init_ms_p90": q(inits, 0.9),
        "first_ms_median": statistics.median(firsts),
        "warm_ms_median": statistics.median(warms) if warms else 0.0,
        "peak_rss_mb_max": max(rss),
    }


# ------------------------------------------------------------------------------------------------- the environment


def unpack(binaries: Path) -> None:
    """cargo lambda leaves only bootstrap.zip: take the binary out, as Lambda does."""
    for name in FUNCTIONS:
        folder = binaries / name
        if (folder / "bootstrap.zip").exists():
            with zipfile.ZipFile(folder / "bootstrap.zip") as archive:
                archive.extract("bootstrap", folder)
            (folder / "bootstrap").chmod(0o755)


class Bench:
    def __init__(self, binaries: Path, python: str, tracing: str = "off") -> None:
        unpack(binaries)
        self.binaries = binaries
        self.python = python
        port = stack.free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        self.invoke_server = InvokeServer(self)
        emulator.SETTINGS.cluster_start_seconds = 1
        emulator.SETTINGS.bootstrap_seconds = 0.5
        emulator.SETTINGS.step_seconds = 1
        emulator.install({"dev": self.invoke_server.url})
        import logging

        from moto.core.config import default_user_config
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # moto's interpreter logs a Choice's IsPresent on a missing path as an exception; it is not one.
        logging.getLogger("moto").setLevel(logging.CRITICAL)
        self.sfn_config = default_user_config["stepfunctions"]
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.server.start()
        stack.wait_for(f"{self.endpoint}/moto-api/", 30)
        deployed = stack.deploy(self.endpoint)
        self.deployed = deployed
        # The bench invokes the functions itself: no rule delivers events on its own.
        emulator.route([])
        self.state_machine_arn = deployed["state_machine_arn"]
        self.data_bucket = deployed["data_bucket"]
        self.env = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": stack.REGION,
            "AWS_DEFAULT_REGION": stack.REGION,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_EC2_METADATA_DISABLED": "true",
            **deployed["function_environment"],
            # The template's Tracing as the run asks: on, every invocation sends its span to an X-Ray daemon (the
            # emulator's), as active tracing's daemon beside a function on AWS.
            "SPARKPLUG_TRACING": tracing,
        }
        if tracing == "on":
            self.env["AWS_XRAY_DAEMON_ADDRESS"] = f"127.0.0.1:{emulator.xray.serve('127.0.0.1')}"
        import boto3

        session = boto3.session.Session(
            aws_access_key_id="bench", aws_secret_access_key="bench", region_name=stack.REGION
        )
        self.sfn = session.client("stepfunctions", endpoint_url=self.endpoint)
        self.emr = session.client("emr", endpoint_url=self.endpoint)
        self.glue = session.client("glue", endpoint_url=self.endpoint)
        self.s3 = session.client("s3", endpoint_url=self.endpoint)
        # moto keeps executing and recording state machines in two separate backends. Cold starts and the burst
        # only record executions (so that runs do not load the machine while it is measured); the cost run
        # executes. The same state machine goes into both.
        machine = self.sfn.describe_state_machine(stateMachineArn=self.state_machine_arn)
        self.sfn_config["execute_state_machine"] = False
        self.sfn.create_state_machine(
            name=machine["name"], definition=machine["definition"], roleArn=machine["roleArn"], type="STANDARD"
        )

    def binary(self, name: str) -> list[str]:
        return [str(self.binaries / name / "bootstrap")]

    def call(self, name: str, event: Any) -> Any:
        """One invocation of a function in a fresh process (for setup)."""
        api = RuntimeApi()
        process = subprocess.Popen(
            self.binary(name),
            env=lambda_environment(api, name, self.env),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _, failed, answer = api.invoke(event)
        finally:
            process.kill()
            process.wait()
            api.close()
        if failed:
            raise RuntimeError(f"{name}: {answer}")
        return answer

    def object_event(self, key: str) -> dict[str, Any]:
        sequencer = f"{time.time_ns():020X}"
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Object Created",
            "source": "aws.s3",
            "account": stack.ACCOUNT,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": stack.REGION,
            "resources": [f"arn:aws:s3:::{self.data_bucket}"],
            "detail": {
                "version": "0",
                "bucket": {"name": self.data_bucket},
                "object": {"key": key, "size": 0, "etag": "d41d8cd98f00b204e9800998ecf8427e", "sequencer": sequencer},
                "reason": "PutObject",
            },
        }

    def representative_events(self) -> dict[str, list[Any]]:
        """One event per function, shaped like what it gets in a run (each cold start may run it again)."""
        emr_plan = self.call("resolve", {"request": {"job": "hello_world"}, "execution_name": "bench-emr"})
        glue_plan = self.call("resolve", {"request": {"job": "customer_scores"}, "execution_name": "bench-glue"})
        # The bench run's step never ends, so that every notify cold start does the same work: a look, no answer.
        emulator.FAULTS[emr_plan["run_name"]] = {"step_seconds": 10**9}
        cluster = self.call("emr-create-cluster", {"plan": emr_plan})["cluster_id"]
        waiting = {"plan": emr_plan, "cluster_id": cluster, "task_token": "bench-token"}
        steps = self.call("emr-add-steps", waiting)["step_ids"]
        self.call("glue-start-run", {"plan": glue_plan, "task_token": "bench-token"})
        step_ended = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "EMR Step Status Change",
            "source": "aws.emr",
            "account": stack.ACCOUNT,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": stack.REGION,
            "resources": [],
            "detail": {
                "severity": "INFO",
                "stepId": steps[-1],
                "name": "hello_world",
                "clusterId": cluster,
                "state": "COMPLETED",
                "message": "bench",
            },
        }
        glue_report = {
            "status": "succeeded",
            "resource_id": "jr_bench",
            "state": "SUCCEEDED",
            "progress": "Glue run jr_bench SUCCEEDED",
            "timeline": {},
        }
        keys = [f"landing/sales/bench-{uuid.uuid4().hex[:8]}/_SUCCESS" for _ in range(64)]
        return {
            "trigger": [self.object_event(k) for k in keys],
            "resolve": [{"request": {"job": "hello_world"}, "execution_name": "bench-emr"}],
            "emr-create-cluster": [{"plan": emr_plan}],
            "emr-add-steps": [waiting],
            "emr-terminate": [{"plan": emr_plan, "cluster": {"cluster_id": cluster}}],
            "glue-start-run": [{"plan": glue_plan, "task_token": "bench-token"}],
            "glue-finish": [{"plan": glue_plan, "sense": glue_report}],
            "notify": [step_ended],
            "janitor": [{"sweep": True}],
        }


class InvokeServer:
    """Lambda's Invoke API over warm release processes (one per function), for the state machine's tasks."""

    def __init__(self, bench: Bench) -> None:
        self.bench = bench
        self.apis: dict[str, RuntimeApi] = {}
        self.processes: list[subprocess.Popen] = []
        self.locks: dict[str, threading.Lock] = {}
        self.invocations: dict[str, int] = {}
        this = self

        class Handler(BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def log_message(self, *_: Any) -> None:
                pass

            def do_POST(self) -> None:
                name = self.path.split("/functions/")[1].split("/")[0]
                event = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                _, failed, answer = this.invoke(name, event)
                body = json.dumps(answer).encode()
                self.send_response(500 if failed else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def invoke(self, name: str, event: Any) -> tuple[float, bool, Any]:
        lock = self.locks.setdefault(name, threading.Lock())
        with lock:
            if name not in self.apis:
                api = RuntimeApi()
                self.processes.append(
                    subprocess.Popen(
                        self.bench.binary(name),
                        env=lambda_environment(api, name, self.bench.env),
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
                self.apis[name] = api
            self.invocations[name] = self.invocations.get(name, 0) + 1
            return self.apis[name].invoke(event)

    def close(self) -> None:
        for process in self.processes:
            process.kill()


# ---------------------------------------------------------------------------------------------------------- phases


def measure_functions(bench: Bench, samples: int, warm: int) -> dict[str, Any]:
    events = bench.representative_events()
    results = {}
    for name in FUNCTIONS:
        runs = [cold_start(bench.binary(name), name, bench.env, events[name], warm) for _ in range(samples)]
        results[name] = summarise(runs)
        print(f"  {name:<20} init {results[name]['init_ms_median']:6.1f} ms median", file=sys.stderr)
    baseline_env = {**bench.env, "PYTHONPATH": str(HERE / "baseline"), "SPARKPLUG_CATALOG": str(REPO / "jobs.toml")}
    baselines = {}
    for name, module in [("trigger", "trigger"), ("notify", "notify")]:
        command = [bench.python, str(HERE / "baseline/bootstrap.py"), module]
        runs = [cold_start(command, f"python-{name}", baseline_env, events[name], warm) for _ in range(samples)]
        baselines[name] = summarise(runs)
        print(f"  python {name:<13} init {baselines[name]['init_ms_median']:6.1f} ms median", file=sys.stderr)
    return {"rust": results, "python": baselines}


def package_sizes(binaries: Path) -> dict[str, int]:
    """The size of each function's deployment zip (made here when cargo lambda did not make one)."""
    sizes = {}
    for name in FUNCTIONS:
        archive = binaries / name / "bootstrap.zip"
        if not archive.exists():
            archive = binaries / name / "measured.zip"
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.write(binaries / name / "bootstrap", "bootstrap")
        sizes[name] = archive.stat().st_size
    return sizes


def burst(bench: Bench, distinct: int, processes: int) -> dict[str, Any]:
    """`distinct` new arrivals plus as many redeliveries, through `processes` trigger processes."""
    prefix = f"landing/sales/burst-{uuid.uuid4().hex[:6]}"
    events = [bench.object_event(f"{prefix}/{i:05d}/_SUCCESS") for i in range(distinct)]
    stream = [e for pair in zip(events, events) for e in pair]  # each arrival, then its duplicate
    apis, procs = [], []
    for index in range(processes):
        api = RuntimeApi()
        apis.append(api)
        procs.append(
            subprocess.Popen(
                bench.binary("trigger"),
                env=lambda_environment(api, f"trigger-{index}", bench.env),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    work: queue.Queue = queue.Queue()
    for event in stream:
        work.put(event)
    latencies: list[float] = []
    started: list[str] = []
    duplicates = 0
    lock = threading.Lock()

    def worker(api: RuntimeApi) -> None:
        nonlocal duplicates
        while True:
            try:
                event = work.get_nowait()
            except queue.Empty:
                return
            seconds, failed, answer = api.invoke(event)
            with lock:
                latencies.append(seconds)
                if not failed:
                    started.extend(answer["started"])
                    duplicates += len(answer["duplicates"])

    for api in apis:
        api.first_next.wait(timeout=60)
    begin = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(api,)) for api in apis]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - begin
    for process in procs:
        process.kill()
    executions = set()
    for page in bench.sfn.get_paginator("list_executions").paginate(stateMachineArn=bench.state_machine_arn):
        executions.update(e["name"] for e in page["executions"] if e["name"] in set(started))
    ordered = sorted(latencies)
    return {
        "events": len(stream),
        "distinct": distinct,
        "trigger_processes": processes,
        "seconds": elapsed,
        "events_per_second": len(stream) / elapsed,
        "executions_started": len(set(started)),
        "executions_listed": len(executions),
        "duplicates_reported": duplicates,
        "latency_ms_p50": ordered[len(ordered) // 2] * 1000,
        "latency_ms_p99": ordered[int(len(ordered) * 0.99) - 1] * 1000,
    }


def _cluster_name(bench: Any, run: str) -> str:
    """A run's own cluster's name: `sparkplug-<env>-<run>` (shared/src/run/plan/emr.rs, `run_cluster_name`)."""
    env = bench.env.get("SPARKPLUG_VAR_ENV")
    return f"sparkplug-{env}-{run}" if env else f"sparkplug-{run}"


def one_run_history(bench: Bench, step_seconds: float) -> dict[str, Any]:
    """Runs hello_world end to end on the emulator with the release binaries, its step taking `step_seconds`, events
    delivered to notify by the template's rules; counts what it cost and how late its end was acted on."""
    bench.sfn_config["execute_state_machine"] = True
    emulator.route(bench.deployed["rules"], bench.deployed["timeouts"], bench.deployed["policies"])
    with emulator.LOCK:
        emulator.CALLS.clear()
    invoked_before = dict(bench.invoke_server.invocations)
    name = f"hello_world-bench-{uuid.uuid4().hex[:8]}"
    emulator.FAULTS[name] = {"step_seconds": step_seconds}
    bench.sfn.start_execution(
        stateMachineArn=bench.state_machine_arn, name=name, input=json.dumps({"job": "hello_world", "run_name": name})
    )
    arn = bench.state_machine_arn.replace(":stateMachine:", ":execution:") + ":" + name
    deadline = time.time() + 180
    while bench.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
        if time.time() > deadline:
            raise RuntimeError(f"{name} did not finish")
        time.sleep(0.5)
    time.sleep(1)  # the cluster's TERMINATED event reaches notify too
    events = []
    for page in bench.sfn.get_paginator("get_execution_history").paginate(executionArn=arn):
        events.extend(page["events"])
    entered = [e for e in events if e["type"].endswith("StateEntered")]
    by_state: dict[str, int] = {}
    for event in entered:
        state = event["stateEnteredEventDetails"]["name"]
        by_state[state] = by_state.get(state, 0) + 1
    invocations = {
        function: count - invoked_before.get(function, 0)
        for function, count in bench.invoke_server.invocations.items()
        if count > invoked_before.get(function, 0)
    }
    with emulator.LOCK:
        calls = [c for c in emulator.CALLS if c["action"].startswith("elasticmapreduce:")]
    emr_calls: dict[str, int] = {}
    for call in calls:
        emr_calls[call["action"]] = emr_calls.get(call["action"], 0) + 1
    cluster = next(c for c in bench.emr.list_clusters()["Clusters"] if c["Name"] == _cluster_name(bench, name))
    steps = bench.emr.list_steps(ClusterId=cluster["Id"])["Steps"]
    last_end = max(s["Status"]["Timeline"]["EndDateTime"] for s in steps)
    terminate = next(e for e in entered if e["stateEnteredEventDetails"]["name"] == "Terminate")
    status = bench.sfn.describe_execution(executionArn=arn)["status"]
    emulator.route([])
    bench.sfn_config["execute_state_machine"] = False
    return {
        "status": status,
        "step_seconds": step_seconds,
        "transitions": len(entered),
        "lambda_invocations": sum(invocations.values()),
        "invocations_by_function": invocations,
        "emr_calls": sum(emr_calls.values()),
        "emr_calls_by_action": emr_calls,
        "history_events": len(events),
        "lag_s": (terminate["timestamp"] - last_end).total_seconds(),
        "by_state": by_state,
    }


# ------------------------------------------------------------------------------------------ the cold start, attacked

# Scaled time: one minute of AWS time is MINUTE seconds here. A cluster starts in 10 minutes (9 STARTING + 1
# BOOTSTRAPPING: EMR's typical start), a step runs a minute, arrivals come a minute apart.
MINUTE = 2.0
CLUSTER_START_MINUTES = 10


def _wait_all(bench: Bench, names: list[str], limit: float) -> dict[str, dict[str, Any]]:
    deadline = time.time() + limit
    ended: dict[str, dict[str, Any]] = {}
    prefix = bench.state_machine_arn.replace(":stateMachine:", ":execution:") + ":"
    while len(ended) < len(names):
        if time.time() > deadline:
            raise RuntimeError(f"runs still going after {limit:.0f} s: {sorted(set(names) - set(ended))}")
        for name in names:
            if name in ended:
                continue
            execution = bench.sfn.describe_execution(executionArn=prefix + name)
            if execution["status"] != "RUNNING":
                ended[name] = {"status": execution["status"], "output": json.loads(execution.get("output") or "null")}
        time.sleep(0.3)
    return ended


def _step_of(bench: Bench, cluster_id: str, run: str) -> dict[str, Any]:
    """The run's step: on a pool's cluster, the one named `<run>: …`; on the run's own cluster, its only one."""
    steps = bench.emr.list_steps(ClusterId=cluster_id)["Steps"]
    own = [s for s in steps if s["Name"].startswith(f"{run}: ")]
    return (own or steps)[0]


# A minute the `bursts` pool's `warm` schedule (jobs.toml: cron(50 6 ? * MON-FRI *)) matches: a Monday, 06:50 UTC.
WARM_TIME = "2026-11-23T06:50:00Z"


def arrivals(
    bench: Bench, job: str, pool: str | None, count: int, label: str, warm_first: bool = False
) -> dict[str, Any]:
    """`count` runs of `job`, one a (scaled) minute apart, each about its own input; per run: arrival → its step
    RUNNING; the clusters made and their cluster-minutes (a pool's released `idle_minutes` after its last run)."""
    settings = dict(emulator.SETTINGS.__dict__)
    emulator.SETTINGS.cluster_start_seconds = (CLUSTER_START_MINUTES - 1) * MINUTE
    emulator.SETTINGS.bootstrap_seconds = MINUTE
    emulator.SETTINGS.step_seconds = MINUTE
    bench.sfn_config["execute_state_machine"] = True
    emulator.route(bench.deployed["rules"], bench.deployed["timeouts"], bench.deployed["policies"])
    tag = uuid.uuid4().hex[:6]

    def start(name: str) -> float:
        request = {"job": job, "run_name": name, "input": f"s3://{bench.data_bucket}/landing/clicks/{name}.json"}
        at = time.time()
        bench.sfn.start_execution(stateMachineArn=bench.state_machine_arn, name=name, input=json.dumps(request))
        return at

    if warm_first:
        # The pool's `warm` time came a cluster start before the first arrival: the janitor's look at that minute
        # started its cluster, which waits for the runs.
        look = bench.call("janitor", {"release_idle": True, "warm_up": True, "pool": pool, "time": WARM_TIME})
        warmed = look["pools"]["warmed"][pool]["started"]
        deadline = time.time() + (CLUSTER_START_MINUTES + 2) * MINUTE
        while bench.emr.describe_cluster(ClusterId=warmed)["Cluster"]["Status"]["State"] != "WAITING":
            if time.time() > deadline:
                raise RuntimeError(f"the warmed-up cluster {warmed} is not WAITING")
            time.sleep(0.5)
    names, arrived = [], {}
    for index in range(count):
        name = f"{job}-{label}-{tag}-{index}"
        arrived[name] = start(name)
        names.append(name)
        if index < count - 1:
            time.sleep(MINUTE)
    ended = _wait_all(bench, names, 600)
    runs, clusters = [], set()
    for name in names:
        output = ended[name]["output"] or {}
        cluster = output.get("cluster_id") or next(
            c["Id"] for c in bench.emr.list_clusters()["Clusters"] if c["Name"] == _cluster_name(bench, name)
        )
        clusters.add(cluster)
        step = _step_of(bench, cluster, name)
        started = step["Status"]["Timeline"]["StartDateTime"].timestamp()
        runs.append(
            {
                "run": name,
                "status": ended[name]["status"],
                "start": (output.get("pool") or {}).get("start", "own cluster"),
                "to_step_running_s": started - arrived[name],
            }
        )
    idle_minutes = 0
    if pool:
        # The janitor's look once the pool has been idle for its idle_minutes (as `time`, not waited for).
        import tomllib
        from datetime import UTC, datetime

        idle_minutes = tomllib.loads((REPO / "jobs.toml").read_text())["pools"][pool]["idle_minutes"]
        later = time.time() + (idle_minutes + 1) * 60

        released = bench.call(
            "janitor",
            {"release_idle": True, "pool": pool, "time": datetime.fromtimestamp(later, UTC).isoformat()},
        )["pools"]["released"]
    else:
        released = []
    minutes = 0.0
    for cluster in clusters:
        description = bench.emr.describe_cluster(ClusterId=cluster)["Cluster"]
        timeline = description["Status"]["Timeline"]
        end = timeline.get("EndDateTime")
        life = ((end.timestamp() if end else time.time()) - timeline["CreationDateTime"].timestamp()) / MINUTE
        minutes += life + (idle_minutes if cluster in released else 0)
    states = {c: bench.emr.describe_cluster(ClusterId=c)["Cluster"]["Status"]["State"] for c in clusters}
    emulator.route([])
    bench.sfn_config["execute_state_machine"] = False
    emulator.SETTINGS.__dict__.update(settings)
    latencies = [r["to_step_running_s"] for r in runs]
    return {
        "label": label,
        "job": job,
        "runs": runs,
        "succeeded": sum(r["status"] == "SUCCEEDED" for r in runs),
        "clusters": len(clusters),
        "cluster_minutes": minutes,
        "left_running": [c for c, state in states.items() if not state.startswith("TERMINAT")],
        "first_to_step_min": latencies[0] / MINUTE,
        "later_to_step_s_max": max(latencies[1:]),
        "later_to_step_s_median": statistics.median(latencies[1:]),
    }


def serverless_starts(bench: Bench) -> dict[str, Any]:
    """orders_enrich on EMR Serverless as the emulator models it: the first run (the application created and
    started), runs on its pre-initialized workers, and runs of the same job on an application without initial
    capacity (workers provisioned per run)."""
    bench.sfn_config["execute_state_machine"] = True
    emulator.route(bench.deployed["rules"], bench.deployed["timeouts"], bench.deployed["policies"])
    tag = uuid.uuid4().hex[:6]
    rows = []

    def run(name: str, strip_capacity: bool) -> dict[str, Any]:
        request = {"job": "orders_enrich"}
        request["input"] = f"s3://{bench.data_bucket}/landing/orders/{name}.json"
        plan = bench.call("resolve", {"request": request, "execution_name": name})
        if strip_capacity:
            application = plan["emr_serverless"]["application"]
            application.pop("initialCapacity", None)
            application["name"] += "-on-demand"
        bench.sfn.start_execution(stateMachineArn=bench.state_machine_arn, name=name, input=json.dumps(plan))
        done = _wait_all(bench, [name], 120)[name]
        timeline = (done["output"] or {}).get("timeline", {})
        return {"status": done["status"], "startup_s": timeline.get("startup_seconds"), "cost": done["output"]["cost"]}

    for label, strip in (("pre-initialized", False), ("on-demand workers", True)):
        first = run(f"orders_enrich-{tag}-{strip:d}-first", strip)
        later = [run(f"orders_enrich-{tag}-{strip:d}-{i}", strip) for i in range(3)]
        rows.append(
            {
                "application": label,
                "first_run_startup_s": first["startup_s"],
                "later_runs_startup_s": statistics.median(r["startup_s"] for r in later),
                "statuses": sorted({first["status"], *(r["status"] for r in later)}),
            }
        )
    emulator.route([])
    bench.sfn_config["execute_state_machine"] = False
    settings = {k: v for k, v in emulator.SETTINGS.__dict__.items() if k.startswith("serverless_")}
    return {"rows": rows, "emulator_settings": settings}


def idle_costs() -> dict[str, float]:
    """What staying warm costs while nothing runs (us-east-1 list prices, shared/src/cost/prices.toml): orders_enrich's
    pre-initialized workers while its application is up, and the bursts pool's cluster until it is released."""
    import tomllib

    prices = tomllib.loads((REPO / "shared/src/cost/prices.toml").read_text())["regions"]["us-east-1"]
    vcpu, memory, _ = prices["emr_serverless"]["arm64"]
    # orders_enrich: a driver of 2 vCPU / 4 GB and two executors of 4 vCPU / 8 GB.
    serverless_hour = (2 + 2 * 4) * vcpu + (4 + 2 * 8) * memory
    ec2, emr = prices["instances"]["m5.xlarge"]
    pool_hour = 3 * (ec2 + emr)  # the bursts pool: 1 primary + 2 core m5.xlarge
    return {
        "serverless_initial_capacity_per_hour": serverless_hour,
        "serverless_auto_stop_tail_15_min": serverless_hour / 4,
        "pool_cluster_per_hour": pool_hour,
        "pool_idle_tail_10_min": pool_hour / 6,
    }


PRICE_PER_TRANSITION = 0.025 / 1000
PRICE_PER_REQUEST = 0.20 / 1_000_000
PRICE_PER_GB_SECOND_X86 = 0.0000166667

# What one look cost in a poll loop's (statemachines/run.asl.json before event-driven completion): a Wait, the
# emr-sense task and the Choice — 3 transitions, 1 invocation, 2 EMR calls (ListSteps + DescribeCluster) and 9
# history events (Wait entered/exited, task entered/scheduled/started/succeeded/exited, Choice entered/exited).
LOOK = {"transitions": 3, "invocations": 1, "emr_calls": 2, "history_events": 9}
# What a poll loop paid once that the waiting task does not: AddSteps + WaitForCluster instead of RunSteps (one more
# transition and one more history event), ListClusters in create and ListSteps in add-steps on every first attempt.
ROUND1_EXTRA = {"transitions": 1, "invocations": 0, "emr_calls": 2, "history_events": 1}


def cost_model(measured: dict[str, Any], warm_ms: float, starting: int, running: int) -> list[dict[str, Any]]:
    """Per-run control-plane cost for a modelled 10-minute cluster start and a 60-minute step.

    Event-driven: the measured run, whatever its length (notify's invocations included). The poll loops: the same
    run's fixed part in a poll loop's shape, plus LOOK per look."""
    start_s, step_s = 600, 3600
    notify = measured["invocations_by_function"].get("notify", 0)
    fixed = {
        "transitions": measured["transitions"] + ROUND1_EXTRA["transitions"],
        "invocations": measured["lambda_invocations"] - notify,
        "emr_calls": measured["emr_calls"] + ROUND1_EXTRA["emr_calls"],
        "history_events": measured["history_events"] + ROUND1_EXTRA["history_events"],
    }

    def dollars(transitions: int, invocations: int) -> float:
        gb_seconds = invocations * (warm_ms / 1000) * (MEMORY_MB / 1024)
        return (
            transitions * PRICE_PER_TRANSITION + invocations * PRICE_PER_REQUEST + gb_seconds * PRICE_PER_GB_SECOND_X86
        )

    def poll(label: str, looks: int, lag: int) -> dict[str, Any]:
        row = {k: fixed[k] + LOOK[k] * looks for k in fixed}
        return {
            "schedule": label,
            "looks": looks,
            **row,
            "cost_usd": dollars(row["transitions"], row["invocations"]),
            "worst_case_lag_s": lag,
        }

    event_driven = {
        "schedule": "event-driven (task token, notify on EMR events)",
        "looks": 0,
        "transitions": measured["transitions"],
        "invocations": measured["lambda_invocations"],
        "emr_calls": measured["emr_calls"],
        "history_events": measured["history_events"],
        "cost_usd": dollars(measured["transitions"], measured["lambda_invocations"]),
        "worst_case_lag_s": f"{measured['lag_s']:.2f} (measured)",
    }
    adaptive = poll(
        f"an adaptive poll loop ({starting} s while starting, {running} s once running)",
        start_s // starting + step_s // running,
        running,
    )
    fixed_loop = poll("fixed 30 s poll", (start_s + step_s) // 30, 30)
    return [event_driven, adaptive, fixed_loop]


def attack_cold_start(bench: Bench) -> dict[str, Any]:
    print("ten arrivals a minute apart: unpooled, pooled from cold, pooled warm…", file=sys.stderr)
    return {
        "minute_s": MINUTE,
        "cluster_start_minutes": CLUSTER_START_MINUTES,
        "arrivals": [
            arrivals(bench, "hello_world", None, 10, "unpooled"),
            arrivals(bench, "clicks_hourly", "bursts", 10, "pooled-cold"),
            arrivals(bench, "clicks_hourly", "bursts", 10, "pooled-warm", warm_first=True),
        ],
        "serverless": serverless_starts(bench),
        "idle": idle_costs(),
    }


def cold_start_markdown(c: dict[str, Any]) -> str:
    lines = [
        (
            f"### Ten arrivals a minute apart (scaled: a minute is {c['minute_s']:g} s; a cluster starts in "
            f"{c['cluster_start_minutes']} minutes, a step runs 1)"
        ),
        "",
        (
            "| scenario | succeeded | clusters | cluster-minutes | first run: arrival → step RUNNING (min) | "
            "runs 2–10: arrival → step RUNNING, median / max (min) | same, real seconds | left running |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    minute = c["minute_s"]
    for a in c["arrivals"]:
        median, most = a["later_to_step_s_median"], a["later_to_step_s_max"]
        lines.append(
            f"| {a['label']} ({a['job']}) | {a['succeeded']}/{len(a['runs'])} | {a['clusters']} | "
            f"{a['cluster_minutes']:.0f} | {a['first_to_step_min']:.1f} | {median / minute:.2f} / "
            f"{most / minute:.2f} | {median:.1f} / {most:.1f} | {', '.join(a['left_running']) or 'none'} |"
        )
    s = c["serverless"]
    settings = ", ".join(f"{k} {v:g}" for k, v in sorted(s["emulator_settings"].items()))
    lines += [
        "",
        f"### EMR Serverless start-up as the emulator models it ({settings})",
        "",
        "| application | first run: submitted → running (s) | later runs, median (s) | statuses |",
        "|---|---:|---:|---|",
    ]
    for row in s["rows"]:
        lines.append(
            f"| {row['application']} | {row['first_run_startup_s']} | {row['later_runs_startup_s']} | "
            f"{', '.join(row['statuses'])} |"
        )
    i = c["idle"]
    lines += [
        "",
        "### Staying warm while nothing runs (us-east-1 list prices)",
        "",
        "| what | per hour ($) | until it stops ($) |",
        "|---|---:|---:|",
        (
            "| orders_enrich's pre-initialized workers (ARM64: 10 vCPU, 20 GB), auto-stop after 15 idle minutes | "
            f"{i['serverless_initial_capacity_per_hour']:.3f} | {i['serverless_auto_stop_tail_15_min']:.3f} |"
        ),
        (
            "| the bursts pool's cluster (3 × m5.xlarge), released after 10 idle minutes | "
            f"{i['pool_cluster_per_hour']:.3f} | {i['pool_idle_tail_10_min']:.3f} |"
        ),
    ]
    return "\n".join(lines) + "\n"


def markdown(results: dict[str, Any], functions_only: bool = False) -> str:
    rust, python = results["functions"]["rust"], results["functions"]["python"]
    lines = [
        f"### Functions ({results['build']} build, x86_64, 128 MB setting; {results['functions']['rust']['trigger']['samples']} cold starts each)",
        "",
        "| function | init median (ms) | init p90 (ms) | first invocation (ms) | warm (ms) | peak RSS (MB) | zip (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in FUNCTIONS:
        r = rust[name]
        lines.append(
            f"| {name} | {r['init_ms_median']:.1f} | {r['init_ms_p90']:.1f} | {r['first_ms_median']:.1f} | "
            f"{r['warm_ms_median']:.1f} | {r['peak_rss_mb_max']:.1f} | {results['zips'][name] / 1e6:.2f} |"
        )
    for name, p in python.items():
        lines.append(
            f"| python+boto3 {name} | {p['init_ms_median']:.1f} | {p['init_ms_p90']:.1f} | "
            f"{p['first_ms_median']:.1f} | {p['warm_ms_median']:.1f} | {p['peak_rss_mb_max']:.1f} | – |"
        )
    lines += [
        "",
        "| Rust vs Python (same run) | init: Python/Rust | peak RSS: Python/Rust | first invocation: Python/Rust |",
        "|---|---:|---:|---:|",
    ]
    for name, p in python.items():
        r = rust[name]
        lines.append(
            f"| {name} | {p['init_ms_median'] / r['init_ms_median']:.0f}× | "
            f"{p['peak_rss_mb_max'] / r['peak_rss_mb_max']:.1f}× | {p['first_ms_median'] / r['first_ms_median']:.1f}× |"
        )
    if functions_only:
        return "\n".join(lines) + "\n"
    b = results["burst"]
    lines += [
        "",
        "### Burst through the trigger",
        "",
        "| events (distinct + duplicates) | trigger processes | events/s | executions started | executions listed | duplicates reported | p50 (ms) | p99 (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        (
            f"| {b['events']} ({b['distinct']} + {b['events'] - b['distinct']}) | {b['trigger_processes']} | {b['events_per_second']:.0f} | "
            f"{b['executions_started']} | {b['executions_listed']} | {b['duplicates_reported']} | {b['latency_ms_p50']:.1f} | {b['latency_ms_p99']:.1f} |"
        ),
    ]
    lines += [
        "",
        "### One EMR run on the local stack, event-driven (release binaries, real timings)",
        "",
        "| step length | status | transitions | Lambda invocations | EMR API calls | history events | completion lag (s) |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for h in results["runs"]:
        calls = ", ".join(f"{a.split(':')[1]} {n}" for a, n in sorted(h["emr_calls_by_action"].items()))
        lines.append(
            f"| {h['step_seconds']:g} s | {h['status']} | {h['transitions']} | {h['lambda_invocations']} | "
            f"{h['emr_calls']} ({calls}) | {h['history_events']} | {h['lag_s']:.2f} |"
        )
    lines += [
        "",
        "### Control-plane cost per EMR run, modelled: 10-minute cluster start + 60-minute step",
        "",
        "| completion | looks | transitions | Lambda invocations | EMR API calls | history events | $ per run | detection lag (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results["cost"]:
        lines.append(
            f"| {row['schedule']} | {row['looks']} | {row['transitions']} | {row['invocations']} | {row['emr_calls']} | "
            f"{row['history_events']} | {row['cost_usd']:.5f} | {row['worst_case_lag_s']} |"
        )
    if "cold_start" in results:
        lines += ["", cold_start_markdown(results["cold_start"])]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binaries", type=Path, required=True, help="cargo lambda's target/lambda folder")
    parser.add_argument("--python", default=sys.executable, help="the Python of the baselines")
    parser.add_argument("--samples", type=int, default=30, help="cold starts per function")
    parser.add_argument("--warm", type=int, default=5, help="warm invocations per cold start")
    parser.add_argument("--burst", type=int, default=1000, help="distinct arrivals in the burst")
    parser.add_argument("--burst-processes", type=int, default=4)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--build", default="release", help="what the binaries are, for the tables' headings")
    parser.add_argument("--functions-only", action="store_true", help="skip the burst and the cost run")
    parser.add_argument(
        "--tracing",
        choices=["off", "on"],
        default="off",
        help="the template's Tracing (on: each invocation's span goes to the emulator's X-Ray daemon)",
    )
    parser.add_argument(
        "--only", help="comma-separated functions to measure (with --functions-only; default: every function)"
    )
    parser.add_argument(
        "--cold-start-only", action="store_true", help="only the warm pool and EMR Serverless measurements"
    )
    args = parser.parse_args()

    if args.only:
        FUNCTIONS[:] = [name for name in FUNCTIONS if name in args.only.split(",")]
    bench = Bench(args.binaries, args.python, args.tracing)
    if args.cold_start_only:
        measured = attack_cold_start(bench)
        bench.invoke_server.close()
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "cold_start.json").write_text(json.dumps(measured, indent=2))
        table = cold_start_markdown(measured)
        (args.out / "cold_start.md").write_text(table)
        print(table)
        os._exit(0)
    print("measuring cold starts…", file=sys.stderr)
    results: dict[str, Any] = {"build": args.build, "functions": measure_functions(bench, args.samples, args.warm)}
    results["zips"] = package_sizes(args.binaries)
    results["tracing"] = args.tracing
    # What the functions sent the X-Ray daemon while measured: proof that tracing was on (or off).
    results["xray_segments"] = len(emulator.xray.SEGMENTS)
    if args.functions_only:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(results, indent=2))
        print(markdown(results, functions_only=True))
        os._exit(0)
    print("burst…", file=sys.stderr)
    results["burst"] = burst(bench, args.burst, args.burst_processes)
    print("EMR runs, event-driven, a 1 s and an 8 s step…", file=sys.stderr)
    results["runs"] = [one_run_history(bench, 1), one_run_history(bench, 8)]
    warm = results["functions"]["rust"]["notify"]["warm_ms_median"]
    results["cost"] = cost_model(results["runs"][0], warm, 120, 30)
    results["cold_start"] = attack_cold_start(bench)
    bench.invoke_server.close()
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    table = markdown(results)
    (args.out / "tables.md").write_text(table)
    print(table)
    os._exit(0)


if __name__ == "__main__":
    main()
