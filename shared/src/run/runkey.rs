//! Run keys: the Step Functions execution name of a run, derived from the job and what triggered it, so that the
//! same arrival delivered twice (at-least-once delivery, or through both S3 notification formats) names the same
//! execution and starts it only once.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::run::events::ObjectArrival;

/// Step Functions' limit on execution names.
pub const MAX_EXECUTION_NAME_LEN: usize = 80;
/// Leaves room in the execution name for the run's suffix (at most 33 characters).
pub const MAX_JOB_NAME_LEN: usize = 40;

/// Job names appear in execution names, cluster names and Glue job names: letters, digits, `_` and `-` only.
pub fn check_job_name(name: &str) -> Result<(), String> {
    let chars_ok = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if name.is_empty() || name.len() > MAX_JOB_NAME_LEN || !chars_ok {
        return Err(format!(
            "job name `{name}` must be 1-{MAX_JOB_NAME_LEN} letters, digits, `_` or `-` (it becomes part of \
             Step Functions execution names)"
        ));
    }
    Ok(())
}

/// Checks a caller-chosen run name: it names the execution, and becomes the `sparkplug:run` tag of clusters and job
/// runs, a Glue run argument and an EMR Serverless client token, so it must suit all of them. Step Functions alone
/// would take `rerun!` or `étape-1`, which EMR's and EMR Serverless's tag values refuse (EMR Serverless `TagValue`
/// pattern `[A-Za-z0-9 /_.:=+@-]*`, botocore's model; EMR Management Guide, "Tag restrictions") — and Step Functions
/// does not log an execution named outside `[A-Za-z0-9_-]` to CloudWatch Logs. So: 1 to 80 letters, digits, `_` or
/// `-` (what run keys and the console's generated names are).
pub fn check_execution_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > MAX_EXECUTION_NAME_LEN {
        return Err(format!(
            "run name `{name}` must be 1-{MAX_EXECUTION_NAME_LEN} characters"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "run name `{name}` contains `{}`: a run name is letters, digits, `_` and `-` only (it names the \
             execution and tags the run's clusters and job runs, whose tag values AWS restricts)",
            bad.escape_default()
        ));
    }
    Ok(())
}

fn hex_digest(parts: &[&str], hex_len: usize) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        // Length-prefix each part so that ("ab", "c") and ("a", "bc") differ.
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<String>()[..hex_len]
        .to_string()
}

fn stamp(time: DateTime<Utc>) -> String {
    time.format("%Y%m%dT%H%M%SZ").to_string()
}

/// `<job>-<hash>`: the hash covers the bucket, the decoded key and the version of the object that arrived
/// (version id, else the event sequencer, else the ETag), so the same PUT gives the same name in both event formats
/// and two different objects never share one.
pub fn for_arrival(job: &str, arrival: &ObjectArrival) -> String {
    let version = arrival
        .version_id
        .as_deref()
        .map(|v| ("version", v))
        .or(arrival.sequencer.as_deref().map(|s| ("sequencer", s)))
        .or(arrival
            .etag
            .as_deref()
            .map(|e| ("etag", e.trim_matches('"'))))
        .unwrap_or(("none", ""));
    let digest = hex_digest(
        &[job, &arrival.bucket, &arrival.key, version.0, version.1],
        16,
    );
    format!("{job}-{digest}")
}

/// `<job>-<scheduled time>`: one run per job and scheduled time.
pub fn for_schedule(job: &str, time: DateTime<Utc>) -> String {
    format!("{job}-{}", stamp(time))
}

/// `<job>-after-<hash of the upstream run>`: one run per upstream run, however often its success is delivered.
pub fn for_upstream(job: &str, upstream_run: &str) -> String {
    format!("{job}-after-{}", hex_digest(&[job, upstream_run], 16))
}

/// `<job>-manual-<time>-<hash of args and input>`: a manual run asked twice in the same second with the same
/// arguments is one run.
pub fn for_manual(job: &str, time: DateTime<Utc>, identity: &[&str]) -> String {
    let mut parts = vec![job];
    parts.extend_from_slice(identity);
    format!("{job}-manual-{}-{}", stamp(time), hex_digest(&parts, 8))
}

/// `<job>-set-<hash of the partition>`: one run per partition of an input set, however often and in whatever order
/// its inputs arrive (and a re-upload after the run starts nothing).
pub fn for_input_set(job: &str, partition: &str) -> String {
    format!("{job}-set-{}", hex_digest(&[job, partition], 16))
}

/// `<job>-batch-<hash of the batch>`: one run per batch (an S3 rule of the job, and the batch's number).
pub fn for_batch(job: &str, rule: usize, number: u64) -> String {
    let (rule, number) = (rule.to_string(), number.to_string());
    format!("{job}-batch-{}", hex_digest(&[job, &rule, &number], 16))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn arrival(key: &str, sequencer: &str) -> ObjectArrival {
        ObjectArrival {
            bucket: "data".into(),
            key: key.into(),
            version_id: None,
            sequencer: Some(sequencer.into()),
            etag: Some("etag".into()),
            size: None,
            time: None,
        }
    }

    #[test]
    fn the_same_arrival_gets_the_same_valid_name_and_others_differ() {
        let job = "a".repeat(MAX_JOB_NAME_LEN);
        let first = for_arrival(&job, &arrival("in/x.csv", "01"));
        assert_eq!(first, for_arrival(&job, &arrival("in/x.csv", "01")));
        assert_ne!(first, for_arrival(&job, &arrival("in/y.csv", "01")));
        assert_ne!(first, for_arrival(&job, &arrival("in/x.csv", "02")));
        assert_ne!(first, for_arrival("other", &arrival("in/x.csv", "01")));
        check_execution_name(&first).unwrap();
        assert!(first.starts_with(&format!("{job}-")));

        let time = Utc.with_ymd_and_hms(2026, 11, 27, 6, 0, 0).unwrap();
        let scheduled = for_schedule(&job, time);
        assert_eq!(scheduled, format!("{job}-20261127T060000Z"));
        let manual = for_manual(&job, time, &["date=2026-01-01", "s3://b/k with space"]);
        check_execution_name(&manual).unwrap();
        assert_ne!(manual, for_manual(&job, time, &["date=2026-01-02"]));
    }

    #[test]
    fn strange_keys_still_give_valid_names() {
        for key in ["a b/c:d;e", "日本/データ.csv", "x\u{7}y", "<>{}[]?*", ""] {
            check_execution_name(&for_arrival("job", &arrival(key, "1"))).unwrap();
        }
    }

    #[test]
    fn job_and_execution_names_are_checked() {
        check_job_name("daily_sales-v2").unwrap();
        for bad in ["", "has space", "dot.name", "ünï", &"x".repeat(41)] {
            assert!(check_job_name(bad).is_err(), "{bad}");
        }
        for bad in [
            "a b",
            "a:b",
            "a/b",
            "tab\t",
            "rerun!",
            "étape-1",
            "a.b",
            &"x".repeat(81),
        ] {
            assert!(check_execution_name(bad).is_err(), "{bad}");
        }
    }
}
