"""Deploys template.yaml the way `sam deploy` and CloudFormation do, into the emulator's CloudFormation, for each
samconfig.toml environment: the SAM transform by `samtranslator` (the library behind CloudFormation's
AWS::Serverless transform and `sam validate`), with CodeUri and DefinitionUri pointed at S3 as `sam package` does,
then CreateStack with the environment's parameters. It checks what our own reading of the template (local/stack.py)
cannot: that the transform accepts the template, that every resource it produces is created, and that the state
machine's definition has every substitution made. Exits 1 naming what failed.

    python local/deploy_sam.py [--environments dev,prod]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import boto3
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import stack

ARTIFACTS = "sparkplug-sam-artifacts"
# Resource types moto's CloudFormation does not create (it says so and skips them): reported, not failures.
NOT_EMULATED = {
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Scheduler::Schedule",
    "AWS::CloudWatch::Alarm",
    "AWS::EventSchemas::Registry",
    "AWS::EventSchemas::Schema",
}


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms read as their long forms (`!Ref X` → {"Ref": "X"})."""


def _long_form(name: str):
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if name == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {"Ref": value} if name == "Ref" else {f"Fn::{name}": value}

    return construct


for _name in ("Ref", "GetAtt", "Sub", "If", "Equals", "Join", "Select", "Split", "Not", "And", "Or", "FindInMap"):
    _CfnLoader.add_constructor(f"!{_name}", _long_form(_name))


def packaged_template() -> dict[str, Any]:
    """template.yaml as `sam package` leaves it: code and definitions in S3."""
    doc = yaml.load((stack.REPO / "template.yaml").read_text(), Loader=_CfnLoader)
    doc.get("Globals", {}).get("Function", {}).pop("CodeUri", None)
    for resource in doc["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            properties["CodeUri"] = f"s3://{ARTIFACTS}/{resource['Metadata']['BuildProperties']['Binary']}.zip"
        if resource["Type"] == "AWS::Serverless::StateMachine":
            properties["DefinitionUri"] = f"s3://{ARTIFACTS}/{properties['DefinitionUri']}"
    return doc


def transformed() -> dict[str, Any]:
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        """The template names AWS managed policies by ARN only: nothing to look up."""

        def load(self) -> dict[str, str]:
            return {}

    os.environ.setdefault("AWS_DEFAULT_REGION", stack.REGION)
    return transform(packaged_template(), {}, NoManagedPolicies())


def deploy(endpoint: str, env: str, template: dict[str, Any]) -> list[str]:
    """Creates the stack of `env`; the problems found."""
    session = boto3.session.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=stack.REGION)
    client = lambda service: session.client(service, endpoint_url=endpoint)
    s3 = client("s3")
    s3.create_bucket(Bucket=ARTIFACTS)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("bootstrap", "#!/bin/sh\n")
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Lambda::Function":
            s3.put_object(Bucket=ARTIFACTS, Key=resource["Properties"]["Code"]["S3Key"], Body=archive.getvalue())
        if resource["Type"] == "AWS::StepFunctions::StateMachine":
            key = resource["Properties"]["DefinitionS3Location"]["Key"]
            s3.put_object(Bucket=ARTIFACTS, Key=key, Body=(stack.REPO / key).read_bytes())
    cloudformation = client("cloudformation")
    name = f"sparkplug-{env}"
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in stack.samconfig_parameters(env).items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    deadline = time.monotonic() + 120
    while True:
        described = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        if not described["StackStatus"].endswith("IN_PROGRESS") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    problems = []
    if described["StackStatus"] != "CREATE_COMPLETE":
        problems.append(f"{name}: {described['StackStatus']} {described.get('StackStatusReason', '')}")
    created = {
        r["LogicalResourceId"] for r in cloudformation.list_stack_resources(StackName=name)["StackResourceSummaries"]
    }
    parameters = {**_defaults(template), **stack.samconfig_parameters(env)}
    for logical, resource in template["Resources"].items():
        if "Condition" in resource and not _holds(template["Conditions"][resource["Condition"]], parameters):
            continue
        if resource["Type"] not in NOT_EMULATED and logical not in created:
            problems.append(f"{name}: {logical} ({resource['Type']}) was not created")
    machines = client("stepfunctions").list_state_machines()["stateMachines"]
    machine = next((m for m in machines if m["name"] == f"sparkplug-run-{env}"), None)
    if machine is None:
        problems.append(f"{name}: no state machine sparkplug-run-{env}")
    else:
        definition = client("stepfunctions").describe_state_machine(stateMachineArn=machine["stateMachineArn"])
        if "${" in definition["definition"]:
            problems.append(f"{name}: the state machine's definition keeps an unsubstituted ${{…}}")
    return problems


def _defaults(template: dict[str, Any]) -> dict[str, str]:
    return {name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()}


def _holds(condition: Any, parameters: dict[str, str]) -> bool:
    """A template condition's value; the template's conditions use Fn::Equals of a parameter only."""
    left, right = condition["Fn::Equals"]
    value = lambda side: parameters.get(side["Ref"], "") if isinstance(side, dict) else str(side)
    return value(left) == value(right)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--environments", default="dev,prod")
    args = parser.parse_args()
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    template = transformed()
    kinds = sorted({r["Type"] for r in template["Resources"].values()})
    problems = []
    for env in args.environments.split(","):
        port = stack.free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            problems += deploy(f"http://127.0.0.1:{port}", env, template)
        finally:
            server.stop()
    for problem in problems:
        print(problem, file=sys.stderr)
    skipped = sorted(NOT_EMULATED.intersection(kinds))
    print(
        f"SAM transform: {len(template['Resources'])} resources of {len(kinds)} types; deployed for "
        f"{args.environments} ({', '.join(skipped)} not emulated): {len(problems)} problem(s)"
    )
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    import logging
    import warnings

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("moto").setLevel(logging.ERROR)
    # moto says which resource types it skips; NOT_EMULATED lists them once.
    warnings.filterwarnings("ignore", message="Tried to parse")
    main()
