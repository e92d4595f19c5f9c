//! The runs' records: one item per run, read by job and start through the `by-job` index.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, Utc};

use super::{bad_item, millis_of, n, s, RunTable};
use crate::aws::classify;
use crate::engine::errors::AwsError;
use crate::engine::ports::{RunRecord, RunStore};
use crate::engine::table_keys::{run_record_key, JOB_INDEX};

/// How long a run's record is kept after its start: past a year, for `history`, `backfill` and reports.
pub const RUN_RECORD_KEPT_DAYS: i64 = 400;

/// Every attribute through a placeholder: `status` and `trigger` are among DynamoDB's reserved words.
const NAMES: [(&str, &str); 9] = [
    ("#job", "run_of"),
    ("#run", "run_name"),
    ("#started", "started"),
    ("#trigger", "trigger"),
    ("#status", "status"),
    ("#ended", "ended"),
    ("#summary", "summary"),
    ("#reason", "reason"),
    ("#expires", "expires"),
];

fn expires(run: &RunRecord) -> AttributeValue {
    n((run.started + Duration::days(RUN_RECORD_KEPT_DAYS)).timestamp())
}

impl RunTable {
    fn update_run_record(
        &self,
        run: &RunRecord,
        expression: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("key", s(&run_record_key(&run.run_name)))
            .update_expression(expression)
            .expression_attribute_values(":job", s(&run.job))
            .expression_attribute_values(":run", s(&run.run_name))
            .expression_attribute_values(":started", n(run.started.timestamp_millis()))
            .expression_attribute_values(":trigger", s(&run.trigger))
            .expression_attribute_values(":status", s(&run.status))
            .expression_attribute_values(":expires", expires(run));
        for (placeholder, name) in NAMES {
            if expression.contains(placeholder) {
                update = update.expression_attribute_names(placeholder, name);
            }
        }
        update
    }
}

fn record_of(item: &HashMap<String, AttributeValue>) -> Result<RunRecord, AwsError> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let needed =
        |name: &str| text(name).ok_or_else(|| bad_item(&format!("run record without `{name}`")));
    Ok(RunRecord {
        job: needed("run_of")?,
        run_name: needed("run_name")?,
        trigger: text("trigger").unwrap_or_default(),
        started: millis_of(item, "started")
            .ok_or_else(|| bad_item("run record without `started`"))?,
        status: needed("status")?,
        ended: millis_of(item, "ended"),
        summary: text("summary").and_then(|summary| serde_json::from_str(&summary).ok()),
        reason: text("reason"),
    })
}

/// `run#<run>`: `run_of` (the job: the `by-job` index's partition key), `run_name`, `started` (N, epoch millis: its
/// sort key), `trigger`, `status`, and once it ended `ended`, `summary` (JSON) and `reason`; `expires` a year and a
/// month after its start.
impl RunStore for RunTable {
    async fn run_began(&self, run: &RunRecord) -> Result<(), AwsError> {
        // if_not_exists: an end recorded first (its event came first) keeps its status and start.
        self.update_run_record(
            run,
            "SET #job = :job, #run = :run, #started = if_not_exists(#started, :started), \
             #trigger = if_not_exists(#trigger, :trigger), #status = if_not_exists(#status, :status), \
             #expires = if_not_exists(#expires, :expires)",
        )
        .send()
        .await
        .map(|_| ())
        .map_err(classify)
    }

    async fn run_finished(&self, run: &RunRecord) -> Result<(), AwsError> {
        let mut expression =
            "SET #job = :job, #run = :run, #started = :started, #trigger = :trigger, \
                              #status = :status, #expires = :expires"
                .to_string();
        if run.ended.is_some() {
            expression.push_str(", #ended = :ended");
        }
        if run.summary.is_some() {
            expression.push_str(", #summary = :summary");
        }
        if run.reason.is_some() {
            expression.push_str(", #reason = :reason");
        }
        let mut update = self.update_run_record(run, &expression);
        if let Some(ended) = run.ended {
            update = update.expression_attribute_values(":ended", n(ended.timestamp_millis()));
        }
        if let Some(summary) = &run.summary {
            update = update.expression_attribute_values(":summary", s(&summary.to_string()));
        }
        if let Some(reason) = &run.reason {
            update = update.expression_attribute_values(":reason", s(reason));
        }
        update.send().await.map(|_| ()).map_err(classify)
    }

    async fn run_record(&self, run: &str) -> Result<Option<RunRecord>, AwsError> {
        self.get_item(&run_record_key(run))
            .await?
            .as_ref()
            .map(record_of)
            .transpose()
    }

    /// One Query of the `by-job` index (a page per 1 MB of the job's records): its cost grows with the job's runs
    /// in the window, never with the account's other executions.
    async fn runs_of(&self, job: &str, since: DateTime<Utc>) -> Result<Vec<RunRecord>, AwsError> {
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(JOB_INDEX)
            .key_condition_expression("#job = :job AND #started >= :since")
            .expression_attribute_names("#job", "run_of")
            .expression_attribute_names("#started", "started")
            .expression_attribute_values(":job", s(job))
            .expression_attribute_values(":since", n(since.timestamp_millis()))
            .scan_index_forward(false)
            .into_paginator()
            .send();
        let mut runs = Vec::new();
        while let Some(page) = pages.next().await {
            for item in page.map_err(classify)?.items() {
                runs.push(record_of(item)?);
            }
        }
        Ok(runs)
    }
}
