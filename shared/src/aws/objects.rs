//! The trigger's S3 adapter ([`ObjectsApi`]): HeadObject for an input that may have arrived while its event was lost,
//! ListObjectsV2 for the objects of a batched prefix whose events may have been lost, PutObject for a batch's
//! manifest.

use aws_sdk_s3::operation::head_object::HeadObjectError;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::classify;
use crate::engine::errors::AwsError;
use crate::engine::ports::ObjectsApi;
use crate::run::events::ObjectArrival;

#[derive(Debug, Clone)]
pub struct Objects {
    s3: aws_sdk_s3::Client,
}

impl Objects {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        // Path-style addressing: bucket names with dots, and the local emulator's single endpoint.
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(true)
            .build();
        Objects {
            s3: aws_sdk_s3::Client::from_conf(s3),
        }
    }
}

impl ObjectsApi for Objects {
    async fn last_modified(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<DateTime<Utc>>, AwsError> {
        match self.s3.head_object().bucket(bucket).key(key).send().await {
            Ok(head) => Ok(head
                .last_modified()
                .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
                .or(Some(Utc::now()))),
            // HEAD answers a missing key 404 with no body: the SDK's NotFound (with s3:ListBucket; 403 without).
            Err(error)
                if matches!(error.as_service_error(), Some(HeadObjectError::NotFound(_))) =>
            {
                Ok(None)
            }
            Err(error) => Err(classify(error)),
        }
    }

    async fn written_after(
        &self,
        bucket: &str,
        prefix: &str,
        after: DateTime<Utc>,
    ) -> Result<Vec<ObjectArrival>, AwsError> {
        let mut pages = self
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut written = Vec::new();
        while let Some(page) = pages.next().await {
            for object in page.map_err(classify)?.contents() {
                let time = object
                    .last_modified()
                    .and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()));
                let (Some(key), Some(time)) = (object.key(), time) else {
                    continue;
                };
                if time > after {
                    written.push(ObjectArrival {
                        bucket: bucket.to_string(),
                        key: key.to_string(),
                        version_id: None,
                        sequencer: None,
                        etag: object.e_tag().map(|e| e.trim_matches('"').to_string()),
                        size: object.size(),
                        time: Some(time),
                    });
                }
            }
        }
        Ok(written)
    }

    async fn put_json(&self, bucket: &str, key: &str, body: &Value) -> Result<(), AwsError> {
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .body(body.to_string().into_bytes().into())
            .send()
            .await
            .map_err(classify)?;
        Ok(())
    }
}
