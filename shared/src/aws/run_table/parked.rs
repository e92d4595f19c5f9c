//! Runs whose start was throttled, kept until a tick starts them.

use aws_sdk_dynamodb::types::AttributeValue;

use super::{bad_item, millis_of, n, s, RunTable};
use crate::aws::classify;
use crate::engine::errors::AwsError;
use crate::engine::ports::{ParkStore, ParkedRun};
use crate::engine::table_keys::{parked_key, PARKED_KIND, PARKED_PREFIX};

/// A parked run: `parked#<run>`, with `kind` (so that the tick finds it by the `by-kind` index), `job`, `run_name`,
/// `input` (an execution's input is at most 256 KiB, under DynamoDB's 400 KB item) and `parked` (epoch millis). No
/// `expires`: a parked run waits until it starts.
impl ParkStore for RunTable {
    async fn park(&self, run: &ParkedRun) -> Result<(), AwsError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("key", s(&parked_key(&run.run_name)))
            .item("kind", s(PARKED_KIND))
            .item("job", s(&run.job))
            .item("run_name", s(&run.run_name))
            .item("input", s(&run.input))
            .item("parked", n(run.parked.timestamp_millis()))
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }

    async fn parked(&self, max: usize) -> Result<Vec<ParkedRun>, AwsError> {
        self.items_of_kind_up_to(PARKED_KIND, PARKED_PREFIX, max)
            .await?
            .iter()
            .map(|item| {
                let text = |name: &str| {
                    item.get(name)
                        .and_then(|v: &AttributeValue| v.as_s().ok())
                        .cloned()
                        .ok_or_else(|| bad_item(&format!("parked run without `{name}`")))
                };
                Ok(ParkedRun {
                    job: text("job")?,
                    run_name: text("run_name")?,
                    input: text("input")?,
                    parked: millis_of(item, "parked").unwrap_or_default(),
                })
            })
            .collect()
    }

    async fn unpark(&self, run_name: &str) -> Result<(), AwsError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("key", s(&parked_key(run_name)))
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    }
}
