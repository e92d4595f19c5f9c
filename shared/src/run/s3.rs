//! S3 URIs, bucket names and the key encoding of S3 event notifications.

use std::fmt;

use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};

/// `s3://bucket/key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Location {
    pub bucket: String,
    pub key: String,
}

impl S3Location {
    /// Parses `s3://bucket/key`; the key may be empty only when `allow_prefix` callers accept it (see
    /// [`S3Location::parse_prefix`]).
    pub fn parse(uri: &str) -> Result<Self, String> {
        let location = Self::parse_prefix(uri)?;
        if location.key.is_empty() {
            return Err(format!("`{uri}` names a bucket but no object key"));
        }
        Ok(location)
    }

    /// Parses `s3://bucket` or `s3://bucket/prefix/`.
    pub fn parse_prefix(uri: &str) -> Result<Self, String> {
        let rest = uri
            .strip_prefix("s3://")
            .ok_or_else(|| format!("`{uri}` is not an S3 URI (s3://bucket/key)"))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        check_bucket_name(bucket).map_err(|why| format!("`{uri}`: {why}"))?;
        Ok(S3Location {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// Checks the general-purpose bucket naming rules: 3–63 characters of lowercase letters, digits, dots and hyphens,
/// starting and ending with a letter or digit.
pub fn check_bucket_name(bucket: &str) -> Result<(), String> {
    let valid_chars = bucket
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let edges_ok = bucket
        .bytes()
        .next()
        .zip(bucket.bytes().last())
        .is_some_and(|(first, last)| first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric());
    if (3..=63).contains(&bucket.len()) && valid_chars && edges_ok && !bucket.contains("..") {
        Ok(())
    } else {
        Err(format!(
            "`{bucket}` is not a valid bucket name (3-63 lowercase letters, digits, dots or hyphens)"
        ))
    }
}

/// Decodes an object key from an S3 event notification, which form-urlencodes it: `+` is a space, and everything
/// else is percent-encoded (`+` itself arrives as `%2B`).
pub fn decode_notification_key(raw: &str) -> Result<String, String> {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|key| key.into_owned())
        .map_err(|_| format!("object key `{raw}` is not valid UTF-8 once decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_form_urlencoded_keys() {
        for (raw, key) in [
            ("plain/key.csv", "plain/key.csv"),
            ("with+space/a+b.csv", "with space/a b.csv"),
            ("plus%2Bsign.csv", "plus+sign.csv"),
            ("dt%3D2026-11-27/part%3D1", "dt=2026-11-27/part=1"),
            ("time%3A06%3A00", "time:06:00"),
            ("caf%C3%A9/%E6%97%A5%E6%9C%AC.csv", "café/日本.csv"),
            ("percent%25literal", "percent%literal"),
            ("a%2Fb", "a/b"),
        ] {
            assert_eq!(decode_notification_key(raw).unwrap(), key, "{raw}");
        }
        assert!(decode_notification_key("bad%FF")
            .unwrap_err()
            .contains("UTF-8"));
    }

    #[test]
    fn parses_s3_uris() {
        let loc = S3Location::parse("s3://my-bucket/a/b.jar").unwrap();
        assert_eq!(
            (loc.bucket.as_str(), loc.key.as_str()),
            ("my-bucket", "a/b.jar")
        );
        assert_eq!(loc.to_string(), "s3://my-bucket/a/b.jar");
        assert!(S3Location::parse("s3://my-bucket/")
            .unwrap_err()
            .contains("no object key"));
        assert!(S3Location::parse("https://x/y")
            .unwrap_err()
            .contains("not an S3 URI"));
        assert!(S3Location::parse("s3://My_Bucket/k")
            .unwrap_err()
            .contains("not a valid bucket"));
        assert!(S3Location::parse_prefix("s3://logs-bucket").is_ok());
        assert!(check_bucket_name("ab").is_err());
        assert!(check_bucket_name("-ab").is_err());
        assert!(check_bucket_name("a..b").is_err());
    }
}
