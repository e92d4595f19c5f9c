//! Month-to-date spend: `spend#<job>#<month>` and `spendall#<month>` with `usd` and `runs` (N) and the budget
//! (`budget_usd`, N) when there is one; `spent#<run>` marks a run counted. The three are written in one
//! TransactWriteItems, the marker's put conditional: a run's cost is added once, however often its end is seen, and
//! never half (DynamoDB Developer Guide, "Amazon DynamoDB Transactions": all or nothing; "Using IAM with DynamoDB
//! transactions": the writes need the PutItem and UpdateItem permissions).

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use chrono::{DateTime, Utc};

use super::{bad_item, n, s, RunTable};
use crate::aws::classify;
use crate::engine::errors::AwsError;
use crate::engine::ports::SpendStore;
use crate::engine::table_keys::{all_spend_key, spend_key, spent_key};
use crate::run::budget::{Budgets, Spend};

fn usd(value: f64) -> AttributeValue {
    // Micro-dollars are noise (cost::estimate rounds to 0.00001).
    AttributeValue::N(format!("{value:.5}"))
}

fn number(item: Option<&HashMap<String, AttributeValue>>, name: &str) -> f64 {
    item.and_then(|i| i.get(name))
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

impl RunTable {
    fn add_to(
        &self,
        key: &str,
        cost: f64,
        budget: Option<f64>,
        expires: i64,
    ) -> Result<TransactWriteItem, AwsError> {
        let mut set = "SET expires = :expires".to_string();
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("key", s(key))
            .expression_attribute_values(":usd", usd(cost))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":expires", n(expires));
        if let Some(budget) = budget {
            set.push_str(", budget_usd = :budget");
            update = update.expression_attribute_values(":budget", usd(budget));
        }
        let update = update
            .update_expression(format!("{set} ADD usd :usd, runs :one"))
            .build()
            .map_err(|e| bad_item(&e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// A month's spend counter as it stands: (usd, runs, budget).
    pub async fn month_spend(
        &self,
        job: Option<&str>,
        month: &str,
    ) -> Result<(f64, u64, Option<f64>), AwsError> {
        let key = job.map_or_else(|| all_spend_key(month), |job| spend_key(job, month));
        let item = self.get_item(&key).await?;
        let budget = item
            .as_ref()
            .and_then(|i| i.get("budget_usd"))
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse().ok());
        Ok((
            number(item.as_ref(), "usd"),
            number(item.as_ref(), "runs") as u64,
            budget,
        ))
    }
}

impl SpendStore for RunTable {
    async fn add_spend(
        &self,
        run: &str,
        job: &str,
        month: &str,
        cost: f64,
        budgets: &Budgets,
        marked_until: DateTime<Utc>,
        kept_until: DateTime<Utc>,
    ) -> Result<bool, AwsError> {
        let expires = kept_until.timestamp();
        let marker = Put::builder()
            .table_name(&self.table)
            .item("key", s(&spent_key(run)))
            .item("usd", usd(cost))
            .item("expires", n(marked_until.timestamp()))
            .condition_expression("attribute_not_exists(#key)")
            .expression_attribute_names("#key", "key")
            .build()
            .map_err(|e| bad_item(&e.to_string()))?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(marker).build())
            .transact_items(self.add_to(&spend_key(job, month), cost, budgets.job_usd, expires)?)
            .transact_items(self.add_to(
                &all_spend_key(month),
                cost,
                budgets.all_jobs_usd,
                expires,
            )?)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            // Cancelled because the marker exists: the run was counted already.
            Err(error)
                if error.as_service_error().is_some_and(|e| match e {
                    TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                        cancelled
                            .cancellation_reasons()
                            .first()
                            .and_then(|reason| reason.code())
                            == Some("ConditionalCheckFailed")
                    }
                    _ => false,
                }) =>
            {
                Ok(false)
            }
            Err(error) => Err(classify(error)),
        }
    }

    async fn spend(&self, job: &str, month: &str) -> Result<Spend, AwsError> {
        let (job_usd, job_runs, _) = self.month_spend(Some(job), month).await?;
        let (all_jobs_usd, all_jobs_runs, _) = self.month_spend(None, month).await?;
        Ok(Spend {
            job_usd,
            job_runs,
            all_jobs_usd,
            all_jobs_runs,
        })
    }
}
