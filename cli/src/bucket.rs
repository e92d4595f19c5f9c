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

/// Turns on EventBridge notifications for `bucket`, keeping its topic, queue and Lambda notifications. A bucket in
/// another Region than the client's (the stack's) is refused: S3 sends its events to the default bus of the bucket
/// owner's account in the bucket's own Region only (EventBridge User Guide, "Amazon S3 events"), where no rule of
/// this stack would hear them.
pub async fn enable_eventbridge(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Enabled, String> {
    let location = s3
        .get_bucket_location()
        .bucket(bucket)
        .send()
        .await
        .map_err(|e| format!("GetBucketLocation {bucket}: {}", explain(&e)))?;
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

fn explain(error: &(dyn std::error::Error + 'static)) -> String {
    aws_smithy_types::error::display::DisplayErrorContext(error).to_string()
}
