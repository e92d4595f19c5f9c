//! `sparkplug bucket enable-eventbridge BUCKET`: let a bucket send its events to EventBridge, which the trigger's rule
//! listens to, without losing what the bucket already notifies. PutBucketNotificationConfiguration replaces the whole
//! configuration (S3 API Reference), so a bare `{"EventBridgeConfiguration": {}}` would silently drop the bucket's
//! SNS, SQS and Lambda notifications: this reads the configuration, adds EventBridge, and writes it all back.

use aws_sdk_s3::types::{EventBridgeConfiguration, NotificationConfiguration};

/// What enabling did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enabled {
    /// EventBridge was on already: nothing was written.
    Already,
    /// EventBridge is on now; the bucket's other notifications (this many) were kept.
    Now { kept: usize },
}

/// Turns on EventBridge notifications for `bucket`, keeping its topic, queue and Lambda notifications. S3 sends a
/// bucket's events to the default bus of the bucket owner's account in the bucket's own Region only (EventBridge User
/// Guide, "Amazon S3 events"), where no rule of a stack elsewhere would hear them: a bucket in another Region than the
/// client's (the stack's) is refused, and so is one that `account` (the stack's) does not own — every call carries
/// ExpectedBucketOwner, which S3 answers with 403 for a bucket of another account.
pub async fn enable_eventbridge(
    s3: &aws_sdk_s3::Client,
    account: &str,
    bucket: &str,
) -> Result<Enabled, String> {
    let location = s3
        .get_bucket_location()
        .bucket(bucket)
        .expected_bucket_owner(account)
        .send()
        .await
        .map_err(|e| match e.as_service_error().and_then(|e| e.meta().code()) {
            Some("AccessDenied") => format!(
                "GetBucketLocation {bucket}: access denied. Either the bucket is not owned by account {account}, the \
                 stack's (S3 sends a bucket's events to its owner's account only, where the stack's rule would never \
                 hear them: deploy a stack in the bucket's account, or replicate its objects into a bucket of \
                 {account}), or you may not read it (s3:GetBucketLocation)"
            ),
            _ => format!("GetBucketLocation {bucket}: {}", explain(&e)),
        })?;
    // No LocationConstraint is us-east-1; `EU` is the old name of eu-west-1 (S3 API Reference, GetBucketLocation).
    let bucket_region = match location.location_constraint().map(|c| c.as_str()) {
        None | Some("") => "us-east-1",
        Some("EU") => "eu-west-1",
        Some(region) => region,
    };
    if let Some(own) = s3.config().region().map(|r| r.as_ref()) {
        if own != bucket_region {
            return Err(format!(
                "bucket {bucket} is in {bucket_region}, the stack in {own}: S3 sends a bucket's events to the default \
                 EventBridge bus of its own Region (and account) only, where the stack's rule would never hear them; \
                 deploy a stack in {bucket_region} for it, or replicate its objects into a bucket in {own}"
            ));
        }
    }
    let current = s3
        .get_bucket_notification_configuration()
        .bucket(bucket)
        .expected_bucket_owner(account)
        .send()
        .await
        .map_err(|e| {
            format!(
                "GetBucketNotificationConfiguration {bucket}: {}",
                explain(&e)
            )
        })?;
    if current.event_bridge_configuration().is_some() {
        return Ok(Enabled::Already);
    }
    let kept = current.topic_configurations().len()
        + current.queue_configurations().len()
        + current.lambda_function_configurations().len();
    let merged = NotificationConfiguration::builder()
        .set_topic_configurations(Some(current.topic_configurations().to_vec()))
        .set_queue_configurations(Some(current.queue_configurations().to_vec()))
        .set_lambda_function_configurations(Some(current.lambda_function_configurations().to_vec()))
        .event_bridge_configuration(EventBridgeConfiguration::builder().build())
        .build();
    s3.put_bucket_notification_configuration()
        .bucket(bucket)
        .expected_bucket_owner(account)
        .notification_configuration(merged)
        .send()
        .await
        .map_err(|e| {
            format!(
                "PutBucketNotificationConfiguration {bucket}: {}",
                explain(&e)
            )
        })?;
    Ok(Enabled::Now { kept })
}

/// The account the caller's credentials belong to (the stack's, when they are the deployer's).
pub async fn caller_account(sts: &aws_sdk_sts::Client) -> Result<String, String> {
    let identity = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| format!("GetCallerIdentity: {}", explain(&e)))?;
    identity
        .account()
        .map(str::to_string)
        .ok_or_else(|| "GetCallerIdentity answered no account".to_string())
}

fn explain(error: &(dyn std::error::Error + 'static)) -> String {
    aws_smithy_types::error::display::DisplayErrorContext(error).to_string()
}
