//! Batches: a job's S3 rule with `batch = { max_objects, window_seconds }` runs once per batch of arrivals instead of
//! once per object. Each object gets the next position under its rule, once (a redelivered event finds its object
//! placed already); position `p` is in batch `(p - 1) / max_objects + 1`. A batch runs when it holds `max_objects`
//! objects, or when `window_seconds` have passed since its first object arrived (the trigger's minute tick closes
//! it, and moves the rule's positions past it); its run gets a manifest of its objects in S3 as `{manifest}`.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::run::events::ObjectArrival;
use crate::run::s3::S3Location;

/// The batch a position falls in (both from 1).
pub fn number_of(position: u64, max_objects: u32) -> u64 {
    position.saturating_sub(1) / u64::from(max_objects.max(1)) + 1
}

/// The last position of batch `number`.
pub fn last_position(number: u64, max_objects: u32) -> u64 {
    number.saturating_mul(u64::from(max_objects.max(1)))
}

/// An object as a batch lists it: `s3://bucket/key`.
pub fn object_uri(arrival: &ObjectArrival) -> String {
    S3Location {
        bucket: arrival.bucket.clone(),
        key: arrival.key.clone(),
    }
    .to_string()
}

/// What names an arrival once: the object and its content (its ETag; else its version or its event's sequencer), so
/// that an event delivered twice is placed once, an object written again with other bytes is a new arrival, and the
/// tick's listing of the prefix (which gives keys and ETags, no sequencer) names an object as its event does.
pub fn arrival_id(arrival: &ObjectArrival) -> String {
    let content = arrival
        .etag
        .as_deref()
        .map(|e| e.trim_matches('"'))
        .or(arrival.version_id.as_deref())
        .or(arrival.sequencer.as_deref())
        .unwrap_or_default();
    format!("{}#{content}", object_uri(arrival))
}

/// Where a batch's manifest goes: beside its objects, in the rule's bucket, under `_sparkplug/manifests/`.
pub fn manifest_location(bucket: &str, job: &str, run: &str) -> S3Location {
    S3Location {
        bucket: bucket.to_string(),
        key: format!("_sparkplug/manifests/{job}/{run}.json"),
    }
}

/// The manifest: the batch's objects, sorted, each once.
pub fn manifest(
    job: &str,
    run: &str,
    number: u64,
    objects: &[String],
    first: Option<DateTime<Utc>>,
) -> Value {
    let mut objects = objects.to_vec();
    objects.sort();
    objects.dedup();
    json!({
        "job": job,
        "run": run,
        "batch": number,
        "first_arrival": first,
        "count": objects.len(),
        "objects": objects,
    })
}

/// Whether a batch that is not full is due: its window has passed since its first object.
pub fn window_passed(
    first: Option<DateTime<Utc>>,
    window_seconds: u32,
    now: DateTime<Utc>,
) -> bool {
    first.is_some_and(|first| now - first >= chrono::Duration::seconds(i64::from(window_seconds)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_fall_in_batches_of_max_objects() {
        let numbers: Vec<u64> = [1, 100, 101, 200, 201, 250]
            .iter()
            .map(|p| number_of(*p, 100))
            .collect();
        assert_eq!(numbers, [1, 1, 2, 2, 3, 3]);
        assert_eq!(last_position(3, 100), 300);
    }

    #[test]
    fn a_manifest_lists_each_object_once_sorted() {
        let objects = vec![
            "s3://b/2".to_string(),
            "s3://b/1".to_string(),
            "s3://b/2".to_string(),
        ];
        let body = manifest("j", "j-batch-1", 1, &objects, None);
        assert_eq!(body["objects"], json!(["s3://b/1", "s3://b/2"]));
        assert_eq!(body["count"], 2);
    }
}
