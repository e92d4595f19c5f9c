"""Checks every request of every plan of a catalog against botocore's service models (the AWS CLI's), the way the
local emulator checks requests: RunJobFlow and AddJobFlowSteps for EMR jobs (pooled ones too), CreateJob and
StartJobRun for Glue jobs, CreateApplication and StartJobRun for EMR Serverless jobs. Run by dev/check-plans (and CI) on the shipped jobs.toml; exits 1 naming each problem.

    python local/check_plans.py --sparkplug PATH [--catalog jobs.toml]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import botocore.session
from emulator import check_against_model

SAMPLE_PARTITION = "2026-01-01"
SAMPLE_INPUT = "s3://sample-bucket/sample/prefix/_SUCCESS"


def requests_of(plan: dict) -> list[tuple[str, str, dict]]:
    """(service, operation, request body) of each request a plan sends."""
    found = []
    if plan.get("emr"):
        found.append(("emr", "RunJobFlow", plan["emr"]["cluster"]))
        found.append(("emr", "AddJobFlowSteps", {"JobFlowId": "j-SAMPLE", "Steps": plan["emr"]["steps"]}))
    if plan.get("glue"):
        found.append(("glue", "CreateJob", plan["glue"]["job"]))
        found.append(("glue", "StartJobRun", plan["glue"]["run"]))
    if plan.get("emr_serverless"):
        # CreateApplication's clientToken is the start task's (from the settings); the application id is in the URI.
        application = {"clientToken": "sparkplug-sample", **plan["emr_serverless"]["application"]}
        found.append(("emr-serverless", "CreateApplication", application))
        found.append(
            ("emr-serverless", "StartJobRun", {"applicationId": "00sample0000000", **plan["emr_serverless"]["run"]})
        )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sparkplug", required=True, help="the sparkplug binary")
    parser.add_argument("--catalog", default="jobs.toml")
    args = parser.parse_args()

    session = botocore.session.get_session()
    catalog = tomllib.loads(Path(args.catalog).read_text())["jobs"]
    jobs = sorted(catalog)
    problems, checked = [], 0
    for job in jobs:
        # A chained job is planned as its upstream's success would start it, an input set's job as a partition's.
        trigger = catalog[job].get("trigger", {})
        if trigger.get("after"):
            how = ["--input", SAMPLE_INPUT, "--after", "sample-upstream-run"]
        elif trigger.get("all_of"):
            how = ["--partition", SAMPLE_PARTITION]
        else:
            how = ["--input", SAMPLE_INPUT]
        plan = subprocess.run(
            [args.sparkplug, "plan", job, "--catalog", args.catalog, *how],
            check=True,
            capture_output=True,
            text=True,
        )
        for service, operation, body in requests_of(json.loads(plan.stdout)):
            shape = session.get_service_model(service).operation_model(operation).input_shape
            problems += [f"{job}: {operation}: {p}" for p in check_against_model(body, shape)]
            checked += 1
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{checked} requests of {len(jobs)} jobs checked against botocore's models: {len(problems)} problem(s)")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
