"""An IAM witness independent of the emulator: every policy template.yaml gives a function or a role, linted by
parliament (PyPI), which carries AWS's Service Authorization Reference offline — every action exists, every condition
key applies to the action it conditions, every resource ARN has a resource type of the action.

Run by dev/check-deploy; exits 1 naming each finding not suppressed below (each suppression says why)."""

from __future__ import annotations

import json
import sys

import parliament
from stack import ACCOUNT, REGION, REPO, Template, samconfig_parameters

# (finding issue, text the finding's detail contains, why) — what parliament reports that is right as written.
SUPPRESSED: list[tuple[str, str, str]] = [
    (
        "RESOURCE_MISMATCH",
        "'states:DescribeExecution', 'required_format': 'arn:*:states:*:*:express:",
        (
            "DescribeExecution applies to a Standard execution (`execution`) or an Express one (`express`); parliament "
            "asks a policy to name both, but the run state machine is Standard: an express ARN would grant nothing used"
        ),
    ),
    (
        "RESOURCE_MISMATCH",
        "'states:ListExecutions', 'required_format': 'arn:*:states:*:*:mapRun:",
        (
            "ListExecutions lists a state machine's executions (`stateMachine`) or a Distributed Map run's (`mapRun`); "
            "the catch-ups list the run state machine's, and the run state machine has no Distributed Map"
        ),
    ),
]


def arns(probe: Template) -> dict[str, str]:
    """The ARN each of the template's resources would have (by its own name fields), for `!Ref`/`!GetAtt … .Arn`."""
    refs: dict[str, str] = {}
    base = f"{REGION}:{ACCOUNT}"
    for name, resource in probe.resources.items():
        properties = probe.eval(resource.get("Properties") or {})
        kind = resource["Type"]
        if kind == "AWS::Serverless::StateMachine":
            refs[name] = f"arn:aws:states:{base}:stateMachine:{properties['Name']}"
        elif kind == "AWS::DynamoDB::Table":
            refs[f"{name}.Arn"] = f"arn:aws:dynamodb:{base}:table/{properties['TableName']}"
        elif kind == "AWS::SQS::Queue":
            refs[f"{name}.Arn"] = f"arn:aws:sqs:{base}:{properties['QueueName']}"
        elif kind == "AWS::SNS::Topic":
            refs[name] = f"arn:aws:sns:{base}:{properties['TopicName']}"
        elif kind == "AWS::KMS::Key":
            refs[f"{name}.Arn"] = f"arn:aws:kms:{base}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        elif kind == "AWS::Serverless::Function":
            refs[name] = str(properties.get("FunctionName", name))
            refs[f"{name}.Arn"] = f"arn:aws:lambda:{base}:function:{refs[name]}"
        elif kind == "AWS::Logs::LogGroup":
            refs[f"{name}.Arn"] = f"arn:aws:logs:{base}:log-group:{properties['LogGroupName']}:*"
    return refs


def policies(env: str = "dev") -> dict[str, list[dict]]:
    """Each function's and each role's statements, as `sam deploy --config-env env` would deploy them (refs to this
    stack's resources left as their logical names' ARNs)."""
    probe = Template(REPO / "template.yaml", samconfig_parameters(env), {})
    template = Template(REPO / "template.yaml", samconfig_parameters(env), arns(probe))
    found: dict[str, list[dict]] = {}
    for name, resource in template.resources.items():
        properties = resource.get("Properties") or {}
        if resource["Type"] == "AWS::Serverless::Function":
            statements = [
                statement
                for policy in template.eval(properties.get("Policies") or [])
                if isinstance(policy, dict)
                for statement in (policy.get("Statement") or [])
            ]
            found[name] = statements
        elif resource["Type"] == "AWS::IAM::Role":
            for policy in template.eval(properties.get("Policies") or []):
                found[f"{name}/{policy.get('PolicyName')}"] = policy["PolicyDocument"]["Statement"]
    return found


def main() -> None:
    problems = []
    for owner, statements in policies().items():
        document = json.dumps({"Version": "2012-10-17", "Statement": statements})
        for finding in parliament.analyze_policy_string(document).findings:
            detail = str(finding.detail)
            suppressed = any(issue == finding.issue and text in detail for issue, text, _ in SUPPRESSED)
            if not suppressed:
                problems.append(f"{owner}: {finding.issue} {detail}")
    for problem in problems:
        print(problem)
    print(f"IAM witness (parliament {parliament.__version__}): {len(problems)} finding(s)")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
