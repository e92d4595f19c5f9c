"""Runs sparkplug's whole pipeline on this machine: the local AWS emulator (moto + local/emulator/), the real
Lambda functions under `cargo lambda watch`, and the real state machine — deployed from the repository's own
template.yaml (with samconfig.toml's [dev] parameters), statemachines/*.asl.json and glue/. With
`--environments dev,prod`, prod's stack too (samconfig.toml's [prod]), side by side in the same emulator, as two
stacks share one account.

    python local/stack.py up [--port 5000] [--lambda-port 9000] [--control-port 5001] [--state-file F]
                             [--exit-with-parent PID] [--environments dev,prod]

It writes the state file (endpoints, the state machine's ARN, buckets) once everything answers, and runs until
SIGINT/SIGTERM (or until the parent process is gone), stopping the functions on the way out.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import emulator

REGION = "us-east-1"
ACCOUNT = "123456789012"
# Template parameters the local stack sets beyond samconfig.toml's: the emulator writes a failed step's log within
# seconds, so an alert need not wait 10 minutes for one that will not come.
LOCAL_PARAMETERS: dict[str, str] = {"AlertLogWaitSeconds": "20"}
# dev's local stack traces (the template's Tracing): its functions send their invocation spans to the emulator's X-Ray
# daemon (`GET /xray`); another environment keeps samconfig.toml's setting (off), so that both paths run.
LOCAL_ENVIRONMENT_PARAMETERS: dict[str, dict[str, str]] = {"dev": {"Tracing": "on"}}
# Instances of each function that may run at once (`cargo lambda watch --concurrency`), per environment: dev's stack
# takes the tests' load (200 runs at once); another environment's runs a few, but its trigger hears every arrival of
# the shared emulator's buckets. Each instance is a `cargo` process of ~65 MB beside its binary: 13 functions × 16 in
# two stacks once took 23 GB and the OOM killer took the emulator (12 + 8 peaked near 16 GB).
FUNCTION_CONCURRENCY = {"dev": 12}
OTHER_ENVIRONMENT_CONCURRENCY = 8


# -------------------------------------------------------------------------------- template.yaml, read as CloudFormation


class _Loader(yaml.SafeLoader):
    pass


def _tag(name: str):
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        key = "Ref" if name == "Ref" else f"Fn::{name}"
        return {key: value}

    return construct


for _name in ("Ref", "GetAtt", "Sub", "If", "Equals", "Join", "Select", "Split", "Not", "And", "Or", "FindInMap"):
    _Loader.add_constructor(f"!{_name}", _tag(_name))


class Template:
    """Just enough of CloudFormation to evaluate what local mode needs from template.yaml."""

    def __init__(self, path: Path, parameters: dict[str, str], refs: dict[str, str]) -> None:
        self.doc = yaml.load(path.read_text(), Loader=_Loader)
        self.parameters = {name: str(spec.get("Default", "")) for name, spec in self.doc.get("Parameters", {}).items()}
        self.parameters.update(parameters)
        self.refs = refs
        self.resources = self.doc["Resources"]

    def condition(self, name: str) -> bool:
        return bool(self.eval(self.doc["Conditions"][name]))

    def eval(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.eval(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: self.eval(v) for k, v in value.items()}
        ((key, arg),) = value.items()
        if key == "Ref":
            return self.ref(arg)
        if key == "Fn::GetAtt":
            resource, attribute = arg
            role = self.resources.get(resource, {}).get("Type") == "AWS::IAM::Role"
            if role and attribute == "Arn" and f"{resource}.{attribute}" not in self.refs:
                # A role of the template (not created locally): its ARN as IAM would give it.
                return f"arn:aws:iam::{ACCOUNT}:role/{resource}"
            return self.refs.get(f"{resource}.{attribute}", f"{resource}.{attribute}")
        if key == "Fn::Sub":
            text = arg if isinstance(arg, str) else arg[0]
            out = text
            while "${" in out:
                start = out.index("${")
                end = out.index("}", start)
                out = out[:start] + str(self.ref(out[start + 2 : end])) + out[end + 1 :]
            return out
        if key == "Fn::If":
            name, yes, no = arg
            return self.eval(yes if self.condition(name) else no)
        if key == "Fn::Equals":
            left, right = (self.eval(v) for v in arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self.eval(arg[0])
        return {k: self.eval(v) for k, v in value.items()}

    def ref(self, name: str) -> str:
        if name in self.parameters:
            return self.parameters[name]
        if name == "AWS::Region":
            return REGION
        if name == "AWS::AccountId":
            return ACCOUNT
        if name == "AWS::Partition":
            return "aws"
        return self.refs.get(name, name)


def samconfig_parameters(env: str) -> dict[str, str]:
    config = tomllib.loads((REPO / "samconfig.toml").read_text())
    overrides = config[env]["deploy"]["parameters"]["parameter_overrides"]
    items = overrides if isinstance(overrides, list) else overrides.split()
    return dict(item.split("=", 1) for item in items)


# ------------------------------------------------------------------------------------------------------------- deploy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float, method: str = "GET", data: bytes | None = None) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(urllib.request.Request(url, data=data, method=method), timeout=5).close()
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"{url} did not answer within {seconds:.0f} s")
            time.sleep(0.2)


def function_name(binary: str, env: str) -> str:
    """The local name of a function of `env`'s stack: dev's keep their binary's name; another environment's carry
    it as a suffix (on AWS each stack names its own functions), which the emulator's Lambda forwarder reads."""
    return binary if env == "dev" else f"{binary}{emulator.ENV_SEPARATOR}{env}"


def deploy(endpoint: str, env: str = "dev") -> dict[str, Any]:
    """Creates what the template creates for `env` (samconfig.toml's parameters), in the emulator; returns what the
    functions and the CLI need."""
    import boto3

    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=REGION)
    client = lambda service: session.client(service, endpoint_url=endpoint)

    parameters = samconfig_parameters(env)
    parameters.update(LOCAL_PARAMETERS)
    parameters.update(LOCAL_ENVIRONMENT_PARAMETERS.get(env, {}))
    function_arns = {}
    probe = Template(REPO / "template.yaml", parameters, {})
    for name, resource in probe.resources.items():
        if resource["Type"] == "AWS::Serverless::Function":
            binary = resource["Metadata"]["BuildProperties"]["Binary"]
            function_arns[f"{name}.Arn"] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name(binary, env)}"
    machine = probe.resources["RunStateMachine"]["Properties"]
    machine_name = probe.eval(machine["Name"])
    machine_arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{machine_name}"
    tables = {
        name: probe.eval(resource["Properties"])
        for name, resource in probe.resources.items()
        if resource["Type"] == "AWS::DynamoDB::Table"
    }
    table_refs = {}
    for name, properties in tables.items():
        table_refs[name] = properties["TableName"]
        table_refs[f"{name}.Arn"] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{properties['TableName']}"
    # Keys first: a topic names its key.
    kms = client("kms")
    key_refs = {}
    for name, resource in probe.resources.items():
        if resource["Type"] == "AWS::KMS::Key":
            properties = probe.eval(resource["Properties"])
            key = kms.create_key(
                Description=properties.get("Description", ""), Policy=json.dumps(properties["KeyPolicy"])
            )["KeyMetadata"]
            key_refs[name], key_refs[f"{name}.Arn"] = key["KeyId"], key["Arn"]
    probe = Template(REPO / "template.yaml", parameters, key_refs)
    sns = client("sns")
    topic_refs = {}
    for name, resource in probe.resources.items():
        if resource["Type"] == "AWS::SNS::Topic":
            properties = probe.eval(resource["Properties"])
            attributes = {"KmsMasterKeyId": properties["KmsMasterKeyId"]} if "KmsMasterKeyId" in properties else {}
            topic_refs[name] = sns.create_topic(Name=properties["TopicName"], Attributes=attributes)["TopicArn"]
    # The on-failure queues of the functions' asynchronous invocations.
    sqs = client("sqs")
    queue_refs = {}
    for name, resource in probe.resources.items():
        if resource["Type"] == "AWS::SQS::Queue":
            queue_name = probe.eval(resource["Properties"])["QueueName"]
            url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
            queue_refs[name] = url
            queue_refs[f"{name}.Arn"] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_name}"
            queue_refs[f"{name}.QueueName"] = queue_name
    template = Template(
        REPO / "template.yaml",
        parameters,
        {**function_arns, **table_refs, **topic_refs, **key_refs, **queue_refs, "RunStateMachine": machine_arn},
    )

    dynamodb = client("dynamodb")
    for properties in tables.values():
        indexes = (
            {"GlobalSecondaryIndexes": properties["GlobalSecondaryIndexes"]}
            if "GlobalSecondaryIndexes" in properties
            else {}
        )
        dynamodb.create_table(
            TableName=properties["TableName"],
            AttributeDefinitions=properties["AttributeDefinitions"],
            KeySchema=properties["KeySchema"],
            BillingMode=properties["BillingMode"],
            **indexes,
        )
        ttl = properties.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=properties["TableName"], TimeToLiveSpecification=ttl)

    s3 = client("s3")
    buckets = {template.ref(p) for p in ("DataBucketName", "ArtifactsBucketName", "LogBucketName")}
    for bucket in sorted(buckets):
        s3.create_bucket(Bucket=bucket)
    data_bucket = template.ref("DataBucketName")
    # As the deploy guide (docs/deploy.md) asks of a real bucket: send its events to EventBridge.
    s3.put_bucket_notification_configuration(
        Bucket=data_bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    script = template.ref("GlueScriptLocation")
    script_bucket, script_key = script[len("s3://") :].split("/", 1)
    s3.put_object(Bucket=script_bucket, Key=script_key, Body=(REPO / "glue/SparkplugJarRunner.scala").read_bytes())

    iam = client("iam")
    role = iam.create_role(
        RoleName=f"{machine_name}-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            }
        ),
    )["Role"]["Arn"]

    definition = (REPO / machine["DefinitionUri"]).read_text()
    for key, value in machine["DefinitionSubstitutions"].items():
        definition = definition.replace("${" + key + "}", str(template.eval(value)))
    sfn = client("stepfunctions")
    sfn.create_state_machine(name=machine_name, definition=definition, roleArn=role, type="STANDARD")

    trigger = template.resources["TriggerFunction"]
    # One `cargo lambda watch` serves all of an environment's functions: the union of their variables (the template
    # gives a variable the same value wherever it sets it).
    function_globals = template.doc.get("Globals", {}).get("Function", {}) or {}
    variables = {
        k: str(template.eval(v))
        for k, v in ((function_globals.get("Environment") or {}).get("Variables") or {}).items()
    }
    variables.update(
        {
            k: str(template.eval(v))
            for resource in template.resources.values()
            if resource["Type"] == "AWS::Serverless::Function"
            for k, v in ((resource["Properties"].get("Environment") or {}).get("Variables") or {}).items()
        }
    )
    # Active tracing: Lambda runs an X-Ray daemon beside the function and says where (AWS_XRAY_DAEMON_ADDRESS, set
    # when the watcher starts: the emulator's daemon).
    traced = template.eval(function_globals.get("Tracing")) == "Active"
    # Every EventBridge rule of the template, with its pattern as deployed (refs resolved).
    rules = [
        (
            function_name(resource["Metadata"]["BuildProperties"]["Binary"], env),
            template.eval(event["Properties"]["Pattern"]),
        )
        for resource in template.resources.values()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in (resource["Properties"].get("Events") or {}).values()
        if event["Type"] == "EventBridgeRule"
    ]
    default_timeout = (template.doc.get("Globals", {}).get("Function", {}) or {}).get("Timeout", 3)
    timeouts = {
        function_name(resource["Metadata"]["BuildProperties"]["Binary"], env): float(
            resource["Properties"].get("Timeout", default_timeout)
        )
        for resource in template.resources.values()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    # Each function's IAM statements as deployed, for the emulator's check of every call it makes.
    policies = {
        function_name(resource["Metadata"]["BuildProperties"]["Binary"], env): [
            statement
            for policy in template.eval(resource["Properties"].get("Policies") or [])
            for statement in (policy.get("Statement") or [])
        ]
        for resource in template.resources.values()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    # Each function's asynchronous invocation config (EventInvokeConfig: retries, on-failure destination) and its
    # reserved concurrency.
    invoke_configs = {}
    for resource in template.resources.values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        config = template.eval(resource["Properties"].get("EventInvokeConfig") or {})
        reserved = template.eval(resource["Properties"].get("ReservedConcurrentExecutions"))
        invoke_configs[function_name(resource["Metadata"]["BuildProperties"]["Binary"], env)] = {
            "retries": int(config.get("MaximumRetryAttempts", 2)),
            "on_failure": ((config.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination"),
            "reserved": None if reserved in (None, "AWS::NoValue") else int(reserved),
        }
    # Every EventBridge Scheduler schedule of the template, for the emulator's scheduler.
    schedules = [
        {
            "name": template.eval(event["Properties"]["Name"]),
            "function": function_name(resource["Metadata"]["BuildProperties"]["Binary"], env),
            "expression": event["Properties"]["ScheduleExpression"],
            "input": event["Properties"]["Input"],
        }
        for resource in template.resources.values()
        if resource["Type"] == "AWS::Serverless::Function"
        for event in (resource["Properties"].get("Events") or {}).values()
        if event["Type"] == "ScheduleV2"
    ]
    return {
        "invoke_configs": invoke_configs,
        "schedules": schedules,
        "failed_events_queue": next((url for name, url in queue_refs.items() if "." not in name), None),
        "policies": policies,
        "state_machine_arn": machine_arn,
        "data_bucket": data_bucket,
        "trigger_function": trigger["Metadata"]["BuildProperties"]["Binary"],
        "functions": sorted(
            {
                resource["Metadata"]["BuildProperties"]["Binary"]
                for resource in template.resources.values()
                if resource["Type"] == "AWS::Serverless::Function"
            }
        ),
        "function_environment": variables,
        "traced": traced,
        "rules": rules,
        "timeouts": timeouts,
    }


# --------------------------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up"])
    parser.add_argument("--port", type=int, default=0, help="the AWS endpoint (0: any free port)")
    parser.add_argument("--lambda-port", type=int, default=0, help="cargo lambda watch's Invoke API")
    parser.add_argument("--control-port", type=int, default=0, help="the emulator's control API")
    parser.add_argument("--state-file", type=Path, default=REPO / ".local/state.json")
    parser.add_argument("--exit-with-parent", type=int, default=0, help="stop when this process is gone")
    parser.add_argument("--log-file", type=Path, default=REPO / ".local/functions.log")
    parser.add_argument(
        "--environments",
        default="dev",
        help="comma-separated samconfig environments to deploy side by side in one emulator (dev first)",
    )
    args = parser.parse_args()
    environments = args.environments.split(",")
    if environments[0] != "dev":
        raise SystemExit("--environments starts with dev (the stack the CLI and the demo use)")

    port = args.port or free_port()
    control_port = args.control_port or free_port()
    endpoint = f"http://127.0.0.1:{port}"
    lambda_ports = {
        env: (args.lambda_port if env == "dev" and args.lambda_port else free_port()) for env in environments
    }
    lambda_endpoints = {env: f"http://127.0.0.1:{p}" for env, p in lambda_ports.items()}
    lambda_endpoint = lambda_endpoints["dev"]

    emulator.install(lambda_endpoints)

    import logging

    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # moto's interpreter logs a Choice's IsPresent on a missing path (the run state machine's `Queued`) as an exception
    # with its traceback, once per run; it is not one.
    logging.getLogger("moto").setLevel(logging.CRITICAL)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    control = emulator.serve_control("127.0.0.1", control_port, endpoint)
    xray_port = emulator.xray.serve("127.0.0.1")
    wait_for(f"{endpoint}/moto-api/", 30)
    states = {env: deploy(endpoint, env) for env in environments}
    emulator.route(
        [rule for state in states.values() for rule in state.pop("rules")],
        {name: seconds for state in states.values() for name, seconds in state.pop("timeouts").items()},
        {name: policy for state in states.values() for name, policy in state.pop("policies").items()},
        {name: config for state in states.values() for name, config in state.pop("invoke_configs").items()},
        [schedule for state in states.values() for schedule in state.pop("schedules")],
    )

    args.state_file.parent.mkdir(parents=True, exist_ok=True)
    args.log_file.parent.mkdir(parents=True, exist_ok=True)
    log = open(args.log_file, "ab")  # noqa: SIM115 - lives as long as the process
    watchers = []
    for env, state in states.items():
        environment = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            # The access key names the environment, for the emulator's per-function IAM check.
            "AWS_ACCESS_KEY_ID": f"local-{env}",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_EC2_METADATA_DISABLED": "true",
            "RUST_LOG": os.environ.get("RUST_LOG", "info"),
            **state.pop("function_environment"),
        }
        if state.pop("traced"):
            environment["AWS_XRAY_DAEMON_ADDRESS"] = f"127.0.0.1:{xray_port}"
        env_file = args.state_file.with_suffix(f".{env}.env")
        env_file.write_text("".join(f"{k}={v}\n" for k, v in environment.items()))
        # One `cargo lambda watch` per environment: each stack's functions have their own configuration.
        watchers.append(
            subprocess.Popen(
                [
                    "cargo",
                    "lambda",
                    "watch",
                    "--ignore-changes",
                    "--quiet",
                    "-A",
                    "127.0.0.1",
                    "-P",
                    str(lambda_ports[env]),
                    "--env-file",
                    str(env_file),
                    # Lambda runs many instances of a function at once; one would queue 200 runs' tasks behind each
                    # other until they pass their functions' timeouts.
                    "--concurrency",
                    str(FUNCTION_CONCURRENCY.get(env, OTHER_ENVIRONMENT_CONCURRENCY)),
                ],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    state = states["dev"]

    def stop(*_: Any) -> None:
        for functions in watchers:
            try:
                os.killpg(functions.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for functions in watchers:
            try:
                functions.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(functions.pid, signal.SIGKILL)
        control.shutdown()
        server.stop()
        args.state_file.unlink(missing_ok=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.exit_with_parent:

        def watch_parent() -> None:
            while True:
                try:
                    os.kill(args.exit_with_parent, 0)
                except ProcessLookupError:
                    stop()
                time.sleep(0.5)

        threading.Thread(target=watch_parent, daemon=True).start()

    # Warm every function up (the first invocation starts its process), in parallel; {} is refused at once.
    for env_endpoint in lambda_endpoints.values():
        wait_for(f"{env_endpoint}/", 120)
    warmers = [
        threading.Thread(
            target=wait_for,
            args=(f"{lambda_endpoints[env]}/2015-03-31/functions/{name}/invocations", 300, "POST", b"{}"),
        )
        for env, env_state in states.items()
        for name in env_state["functions"]
    ]
    for warmer in warmers:
        warmer.start()
    for warmer in warmers:
        warmer.join()

    state.update(
        endpoint=endpoint,
        control=f"http://127.0.0.1:{control_port}",
        lambda_endpoint=lambda_endpoint,
        region=REGION,
        pid=os.getpid(),
        # Every environment's stack, dev's included: its state machine, data bucket and functions' endpoint.
        environments={
            env: {
                "state_machine_arn": env_state["state_machine_arn"],
                "data_bucket": env_state["data_bucket"],
                "trigger_function": env_state["trigger_function"],
                "lambda_endpoint": lambda_endpoints[env],
                "failed_events_queue": env_state["failed_events_queue"],
            }
            for env, env_state in states.items()
        },
    )
    tmp = args.state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(args.state_file)
    print(f"sparkplug local stack ready: {args.state_file}", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
