"""SNS, as sparkplug's alerts use it: a Publish is authorized on its topic (SNS speaks the query protocol, so
`model`'s JSON checks do not apply), takes the `Publish` API errors of the run its message names, and, to a topic
under a customer-managed KMS key, needs the publisher's grant on that key."""

from __future__ import annotations

import json
from typing import Any

from . import iam
from .faults import service_error, take_api_error
from .state import FAULTS, LOCK


def refusal(handler: Any) -> Exception | None:
    """The error SNS answers this request with, or None when it goes through."""
    action = handler._get_action()
    topic = handler._get_param("TopicArn") or handler._get_param("TargetArn") or "*"
    denied = iam.authorize(handler, "sns", action, {}, [(topic, {})])
    if denied:
        return service_error("sns", {"code": "AuthorizationError", "message": denied})
    if action != "Publish":
        return None
    if handler._get_param("MessageStructure") is not None:
        refused = _structure_refusal(handler._get_param("MessageStructure"), handler._get_param("Message") or "")
        if refused:
            return service_error("sns", {"code": "InvalidParameter", "message": refused})
    # API faults of a run whose name the message carries (its alert: "run: <name>").
    message = handler._get_param("Message") or ""
    with LOCK:
        runs = [run for run in FAULTS if run and run in message]
    for run in runs:
        injected = take_api_error(run, "Publish", after_call=False)
        if injected:
            return service_error("sns", injected)
    key = _topic_key_arn(topic, handler.current_account, handler.region)
    if key:
        # Publishing to a topic under a customer-managed key needs kms:GenerateDataKey and kms:Decrypt on that key
        # (SNS Developer Guide, "Encryption at rest": the publisher's permissions); SNS answers KMSAccessDenied
        # otherwise.
        for kms_action in ("GenerateDataKey", "Decrypt"):
            denied = iam.authorize(handler, "kms", kms_action, {}, [(key, {})])
            if denied:
                return service_error("sns", {"code": "KMSAccessDenied", "message": denied})
    return None


# The messages published with MessageStructure=json (moto keeps only the raw text): `messages()` shows each form.
_STRUCTURED: set[str] = set()


def _structure_refusal(structure: str, message: str) -> str | None:
    """Why SNS refuses a structured message, or None. "If you set MessageStructure to json, the value of the Message
    parameter must be a syntactically valid JSON object; and contain at least a top-level JSON key of "default" with
    a value that is a string"; "Valid value: json" (SNS API Reference, Publish). moto checks only the value of
    MessageStructure, and the rest only when a subscriber receives it."""
    if structure != "json":
        return "Invalid parameter: MessageStructure Reason: Valid value: json"
    try:
        body = json.loads(message)
    except json.JSONDecodeError:
        return "Invalid parameter: Message Structure - JSON message body failed to parse"
    if not isinstance(body, dict) or not isinstance(body.get("default"), str):
        return "Invalid parameter: Message Structure - No default entry in JSON message body"
    with LOCK:
        _STRUCTURED.add(message)
    return None


def _topic_key_arn(topic_arn: str, account: str, region: str) -> str | None:
    """The ARN of the customer-managed KMS key a topic is encrypted with; None for an unencrypted topic or one under
    an AWS-managed key (`alias/aws/sns`, whose use needs no grant of the publisher's)."""
    from moto.kms.models import kms_backends
    from moto.sns.models import sns_backends

    topic = sns_backends[account][region].topics.get(topic_arn)
    key_id = (getattr(topic, "kms_master_key_id", None) or "") if topic else ""
    if not key_id or key_id.startswith("alias/aws/"):
        return None
    backend = kms_backends[account][region]
    try:
        return backend.describe_key(key_id).arn
    except Exception:  # noqa: BLE001 - a key SNS cannot find: AWS fails the publish the same way
        return f"arn:aws:kms:{region}:{account}:key/{key_id}"


def messages() -> list[dict[str, Any]]:
    """Every message published to a topic: [{"topic", "subject", "message", "default", "email"}] — `message` as
    published; `default` and `email` what a subscriber of each protocol receives (for a structured message, its
    protocol's entry, else its `default`; otherwise the message itself)."""
    from moto.sns.models import sns_backends

    found = []
    for regions in sns_backends.values():
        for backend in regions.values():
            for arn, topic in backend.topics.items():
                for _, message, subject, *_ in topic.sent_notifications:
                    forms = json.loads(message) if message in _STRUCTURED else {}
                    default = forms.get("default", message)
                    email = forms.get("email") if isinstance(forms.get("email"), str) else default
                    found.append(
                        {"topic": arn, "subject": subject, "message": message, "default": default, "email": email}
                    )
    return found
