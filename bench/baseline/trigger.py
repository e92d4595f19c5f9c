"""The Python + boto3 baseline of the trigger function: what a user would otherwise write. Same API calls as the Rust
trigger (DescribeExecution, then StartExecution named by the run key), same catalog (jobs.toml, read at init from
SPARKPLUG_CATALOG as a Python function would ship it). The plan it starts with is the matched job and its trigger:
rendering the full plan is CPU work the Rust side does too, and small next to the API calls."""

import hashlib
import json
import os
import tomllib
import urllib.parse

import boto3

SFN = boto3.client("stepfunctions")
STATE_MACHINE_ARN = os.environ["STATE_MACHINE_ARN"]
with open(os.environ["SPARKPLUG_CATALOG"], "rb") as catalog_file:
    CATALOG = tomllib.load(catalog_file)
VARS = {k: os.environ.get(f"SPARKPLUG_VAR_{k.upper()}", v) for k, v in CATALOG.get("vars", {}).items()}


def fill(text):
    for name, value in VARS.items():
        text = text.replace("${" + name + "}", value)
    return text


def arrivals(event):
    if "Records" in event:
        for record in event["Records"]:
            obj = record["s3"]["object"]
            key = urllib.parse.unquote_plus(obj["key"])
            yield record["s3"]["bucket"]["name"], key, obj.get("versionId") or obj.get("sequencer") or obj.get("eTag")
    elif event.get("detail-type") == "Object Created":
        obj = event["detail"]["object"]
        version = obj.get("version-id") or obj.get("sequencer") or obj.get("etag")
        yield event["detail"]["bucket"]["name"], obj["key"], version
    else:
        raise ValueError("unrecognised event")


def run_key(job, bucket, key, version):
    digest = hashlib.sha256("\0".join([job, bucket, key, version or ""]).encode()).hexdigest()[:16]
    return f"{job}-{digest}"


def handler(event, _context):
    started, duplicates = [], []
    for bucket, key, version in arrivals(event):
        for job, spec in CATALOG["jobs"].items():
            for trigger in spec.get("trigger", {}).get("s3", []):
                if fill(trigger["bucket"]) != bucket or not key.startswith(fill(trigger.get("prefix", ""))):
                    continue
                if not key.endswith(fill(trigger.get("suffix") or "")):
                    continue
                name = run_key(job, bucket, key, version)
                arn = STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:", 1) + ":" + name
                try:
                    SFN.describe_execution(executionArn=arn)
                    duplicates.append(name)
                    continue
                except SFN.exceptions.ExecutionDoesNotExist:
                    pass
                plan = {"job": job, "run_name": name, "trigger": {"type": "s3", "bucket": bucket, "key": key}}
                SFN.start_execution(stateMachineArn=STATE_MACHINE_ARN, name=name, input=json.dumps(plan))
                started.append(name)
    return {"started": started, "duplicates": duplicates}
