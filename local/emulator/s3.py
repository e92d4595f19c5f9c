"""S3, as sparkplug meets it: an object created in a bucket whose notification configuration has
EventBridgeConfiguration becomes an "Object Created" event (with a real per-PUT sequencer) for the functions whose
rules match; GetBucketNotificationConfiguration answers as S3 does; GetObject is authorized like the JSON services'
calls (the alert function reads EMR's step logs); bucket operations check ExpectedBucketOwner. `write_stderr_later`
writes a failed driver's logs where EMR and EMR Serverless archive them, after a delay, as they do."""

from __future__ import annotations

import gzip
import threading
import time
from datetime import UTC, datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.s3 import exceptions, notifications, responses

from . import delivery, iam
from .faults import event_fault
from .state import FORWARDER, SETTINGS, next_sequence, original, replace


def write_stderr_later(account: str, log_dir: str, failing: dict[str, Any], what: str) -> None:
    """A failed Spark driver's last words as `<log_dir>stderr.gz` (log_dir: s3://bucket/prefix/), written after
    `step_log_delay_seconds`: the fault's `stderr`, or some 60 INFO lines and a stack trace made of its message."""
    bucket, _, prefix = log_dir.removeprefix("s3://").partition("/")
    message = failing.get("message", "the step failed")
    text = failing.get("stderr") or "\n".join(
        [f"26/11/27 06:00:{i:02d} INFO SparkContext: Running Spark job, stage {i}" for i in range(60)]
        + [
            f'Exception in thread "main" {message}',
            "\tat org.apache.spark.deploy.SparkSubmit.runMain(SparkSubmit.scala:1034)",
            "\tat org.apache.spark.deploy.SparkSubmit.main(SparkSubmit.scala)",
        ]
    )

    def write() -> None:
        from moto.s3.models import s3_backends

        try:
            s3_backends[account]["aws"].put_object(bucket, f"{prefix}stderr.gz", gzip.compress(text.encode()))
        except Exception as error:  # noqa: BLE001 - no log bucket: the service would write nothing either
            print(f"emulator: no log for {what}: {error}", flush=True)

    timer = threading.Timer(SETTINGS.step_log_delay_seconds, write)
    timer.daemon = True
    timer.start()


def object_created_event(bucket: Any, key: Any, region: str, account: str) -> dict[str, Any]:
    """An EventBridge S3 "Object Created" event as AWS documents it (raw key, per-PUT sequencer)."""
    sequencer = f"{time.time_ns():016X}{next_sequence():04X}"
    detail_object: dict[str, Any] = {
        "key": key.name,
        "size": key.size,
        "etag": key.etag.replace('"', ""),
        "sequencer": sequencer,
    }
    if getattr(key, "version_id", None) and key.version_id != "null":
        detail_object["version-id"] = key.version_id
    return {
        "version": "0",
        "id": f"{time.time_ns():x}",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": account,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:s3:::{bucket.name}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket.name},
            "object": detail_object,
            "request-id": "LOCAL",
            "requester": account,
            "source-ip-address": "127.0.0.1",
            "reason": "PutObject",
        },
    }


def _notification_item(item: Any, arn_key: str) -> dict[str, Any]:
    config: dict[str, Any] = {"Id": item.id, arn_key: item.arn, "Events": item.events}
    if item.filters:
        config["Filter"] = {"Key": {"FilterRules": item.filters["S3Key"]["FilterRule"]}}
    return config


def _get_bucket_notification(self: Any) -> Any:
    # moto leaves EventBridgeConfiguration out of GetBucketNotificationConfiguration; AWS returns it when it is on
    # (S3 API Reference, GetBucketNotificationConfiguration: EventBridgeConfiguration, an empty element).
    configuration = self.backend.get_bucket_notification_configuration(self.bucket_name)
    if configuration is None:
        # No configuration: S3 answers an empty NotificationConfiguration (moto answers another root element, which
        # the SDKs refuse).
        self.data["Action"] = "GetBucketNotificationConfiguration"
        return self.serialized(ActionResult({}))
    if configuration.event_bridge is None:
        return original(responses.S3Response, "get_bucket_notification")(self)
    result = {
        key: [_notification_item(item, arn) for item in getattr(configuration, attribute)]
        for key, attribute, arn in (
            ("TopicConfigurations", "topic", "TopicArn"),
            ("QueueConfigurations", "queue", "QueueArn"),
            ("LambdaFunctionConfigurations", "cloud_function", "LambdaFunctionArn"),
        )
    }
    result["EventBridgeConfiguration"] = {}
    self.data["Action"] = "GetBucketNotificationConfiguration"
    return self.serialized(ActionResult(result))


def _send_to_eventbridge(account_id: str, bucket: Any, event_name: str, key: Any) -> None:
    # moto calls this only for buckets whose notification configuration has EventBridgeConfiguration.
    name = str(getattr(event_name, "value", event_name))
    if name.startswith("s3:ObjectCreated") and FORWARDER:
        event = object_created_event(bucket, key, bucket.region_name, account_id)
        delivery.deliver(FORWARDER[0], event, run=key.name, fault=event_fault(key.name, event))


def _authorized_get(self: Any, query: dict[str, Any], key_name: str) -> Any:
    resource = f"arn:aws:s3:::{self.bucket_name}/{key_name}"
    if iam.authorize(self, "s3", "GetObject", {}, [(resource, {})]):
        raise exceptions.AccessDeniedByLock()
    return original(responses.S3Response, "_key_response_get")(self, query, key_name)


def _authorized_head(self: Any, bucket_name: str, query: dict[str, Any], key_name: str, headers: Any) -> Any:
    # HeadObject needs s3:GetObject on the object (S3 API Reference, HeadObject: "To use HEAD, you must have the
    # s3:GetObject permission").
    resource = f"arn:aws:s3:::{bucket_name}/{key_name}"
    if iam.authorize(self, "s3", "GetObject", {}, [(resource, {})]):
        raise exceptions.AccessDeniedByLock()
    return original(responses.S3Response, "head_object")(self, bucket_name, query, key_name, headers)


def _authorized_put(self: Any, query: dict[str, Any], key_name: str) -> Any:
    # PutObject needs s3:PutObject on the object (S3 API Reference, PutObject, "Permissions"). A PUT on one of the
    # object's sub-resources (a part, its ACL, tags, retention, legal hold) is another action; the SDKs' `x-id` is not.
    sub_resources = ("uploadId", "partNumber", "acl", "tagging", "retention", "legal-hold")
    if not any(name in query for name in sub_resources):
        resource = f"arn:aws:s3:::{self.bucket_name}/{key_name}"
        if iam.authorize(self, "s3", "PutObject", {}, [(resource, {})]):
            raise exceptions.AccessDeniedByLock()
    return original(responses.S3Response, "_key_response_put")(self, query, key_name)


def _authorized_list_v2(self: Any) -> Any:
    # ListObjectsV2 needs s3:ListBucket on the bucket (S3 API Reference, ListObjectsV2: "To use this operation, you
    # must have READ access to the bucket ... s3:ListBucket"); its prefix is the s3:prefix condition key.
    prefix = self.querystring.get("prefix", [""])[0]
    resource = f"arn:aws:s3:::{self.bucket_name}"
    if iam.authorize(self, "s3", "ListBucket", {}, [(resource, {"s3:prefix": prefix})]):
        raise exceptions.AccessDeniedByLock()
    return original(responses.S3Response, "list_objects_v2")(self)


def _owner_checked(self: Any, request: Any, full_url: str) -> Any:
    # ExpectedBucketOwner (the `x-amz-expected-bucket-owner` header, every bucket operation): "If the account ID that
    # you provide does not match the actual owner of the bucket, the request fails with the HTTP status code 403
    # Forbidden (access denied)" (S3 API Reference, e.g. GetBucketNotificationConfiguration). moto ignores it.
    expected = request.headers.get("x-amz-expected-bucket-owner")
    name = self.parse_bucket_name_from_url(request, full_url)
    bucket = self.backend.buckets.get(name) if name else None
    if expected and bucket is not None and expected != bucket.account_id:
        raise exceptions.S3AccessDeniedError()
    return original(responses.S3Response, "_bucket_response")(self, request, full_url)


def patch() -> None:
    replace(responses.S3Response, "get_bucket_notification", _get_bucket_notification)
    replace(notifications, "_send_event_bridge_message", _send_to_eventbridge)
    replace(responses.S3Response, "_key_response_get", _authorized_get)
    replace(responses.S3Response, "head_object", _authorized_head)
    replace(responses.S3Response, "_key_response_put", _authorized_put)
    replace(responses.S3Response, "list_objects_v2", _authorized_list_v2)
    replace(responses.S3Response, "_bucket_response", _owner_checked)
