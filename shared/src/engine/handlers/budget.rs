//! Budgets at both ends of a run ([`crate::run::budget`]): before it starts, the resolve function's budget check
//! fails it with `BudgetExceeded` once its job's (or all jobs') month is spent, unless its execution's input says
//! `{"over_budget": true}`; once it has ended, the alert function adds its cost to the month's spend — once per run —
//! and alerts when the spend crosses 80 % or 100 % of a budget, once per budget, month and threshold.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tracing::{info, warn};

use crate::engine::errors::{ErrorKind, TaskError};
use crate::engine::ports::{AlertsApi, SnsMessage, SpendStore, TokenStore};
use crate::engine::table_keys::budget_claim_key;
use crate::run::budget::{crossed, exceeded, month_of, Scope};
use crate::run::RunPlan;

/// The `detail-type` of a budget alert on the default bus (`source` sparkplug).
pub const BUDGET_DETAIL_TYPE: &str = "sparkplug Budget Alert";
/// How long the spend of a month is kept: a year and a month, for `sparkplug history`.
const SPEND_KEPT_DAYS: i64 = 400;
/// How long a run's "counted" marker is kept: a repeated end comes within EventBridge's day of retries or the
/// alerts' catch-up look, and the run table, which the queue and the janitor read whole, must not grow with history.
const MARKER_KEPT_DAYS: i64 = 7;

/// The budget check's input: `{"check_budget": <plan>, "execution_input": $$.Execution.Input}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetCheckInput {
    pub check_budget: RunPlan,
    #[serde(default)]
    pub execution_input: Value,
}

/// What the check saw (the state machine keeps it at `$.budget`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetCheck {
    pub month: String,
    pub job_usd: f64,
    pub all_jobs_usd: f64,
    /// The run was started over its budget on purpose.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub over_budget: bool,
}

/// Whether the run may start: its job's and all jobs' spend this month are under their budgets, or its input says
/// `over_budget`. Two GetItems.
pub async fn check_budget(
    spend: &impl SpendStore,
    BudgetCheckInput {
        check_budget: plan,
        execution_input,
    }: BudgetCheckInput,
    now: DateTime<Utc>,
) -> Result<BudgetCheck, TaskError> {
    let month = month_of(now);
    let Some(budgets) = &plan.budgets else {
        return Ok(BudgetCheck {
            month,
            job_usd: 0.0,
            all_jobs_usd: 0.0,
            over_budget: false,
        });
    };
    let spent = spend
        .spend(&plan.job, &month)
        .await
        .map_err(|e| TaskError::aws("GetItem", e))?;
    let over_budget = execution_input.get("over_budget") == Some(&Value::Bool(true));
    if let Some(over) = exceeded(&plan.job, budgets, &spent, &month) {
        if !over_budget {
            return Err(TaskError {
                kind: ErrorKind::BudgetExceeded,
                message: over.to_string(),
            });
        }
        warn!(job = %plan.job, run = %plan.run_name, "{over}; started anyway (over_budget)");
    }
    Ok(BudgetCheck {
        month,
        job_usd: spent.job_usd,
        all_jobs_usd: spent.all_jobs_usd,
        over_budget,
    })
}

/// A budget whose month's spend crossed one of its thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetAlert {
    #[serde(flatten)]
    pub scope: Scope,
    pub month: String,
    pub percent: u32,
    pub spent_usd: f64,
    pub budget_usd: f64,
    /// The run whose cost crossed it.
    pub run_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

impl BudgetAlert {
    pub fn subject(&self) -> String {
        format!(
            "sparkplug {}: {} at {} % of its {} budget",
            self.environment.as_deref().unwrap_or("-"),
            self.scope,
            self.percent,
            self.month
        )
    }

    fn consequence(&self) -> &'static str {
        if self.percent >= 100 {
            "New runs fail with BudgetExceeded until next month, unless started with {\"over_budget\": true} \
             (sparkplug run --over-budget)."
        } else {
            "Runs go on; at 100 % new runs fail with BudgetExceeded."
        }
    }

    pub fn text(&self) -> String {
        format!(
            "sparkplug budget: {} has spent ${:.2} of its ${:.2} budget for {} ({} %).\nlast run counted: {}\n{}",
            self.scope,
            self.spent_usd,
            self.budget_usd,
            self.month,
            self.percent,
            self.run_name,
            self.consequence()
        )
    }

    /// As an Amazon Q Developer in chat applications custom notification (see `Alert::chat_notification`).
    pub fn chat_notification(&self) -> Value {
        let environment = self.environment.as_deref().unwrap_or("-");
        let icon = if self.percent >= 100 {
            ":no_entry:"
        } else {
            ":warning:"
        };
        json!({
            "version": "1.0",
            "source": "custom",
            "id": format!("budget:{}:{}:{}", self.scope, self.month, self.percent),
            "content": {
                "textType": "client-markdown",
                "title": format!("{icon} {}", self.subject()),
                "description": format!(
                    "*Spent* ${:.2} of ${:.2} ({} %)\n*Last run counted* `{}`\n{}",
                    self.spent_usd, self.budget_usd, self.percent, self.run_name, self.consequence()
                ),
                "nextSteps": ["See the month's runs: `sparkplug history --since 31d`"],
                "keywords": [environment, "budget"],
            },
            "metadata": {
                "threadId": format!("budget-{}", self.month),
                "summary": self.subject(),
                "eventType": BUDGET_DETAIL_TYPE,
            },
        })
    }
}

/// A run that ended, as its spend counts it.
pub struct EndedCost<'a> {
    pub plan: &'a RunPlan,
    /// Its summary's cost estimate (none for a run stopped before its finish task priced it).
    pub usd: Option<f64>,
    /// When it ended: the month it counts in.
    pub ended: DateTime<Utc>,
}

/// Adds an ended run's cost to the month's spend, once, and sends the alert of each budget threshold the spend
/// crossed (once: claimed first, the claim given back when it could not be sent). The alerts sent.
pub async fn account(
    store: &(impl SpendStore + TokenStore),
    sink: &impl AlertsApi,
    topic_arn: &str,
    run: EndedCost<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<BudgetAlert>, TaskError> {
    let plan = run.plan;
    let budgets = plan.budgets.clone().unwrap_or_default();
    let month = month_of(run.ended);
    let usd = run.usd.unwrap_or(0.0);
    let counted = store
        .add_spend(
            &plan.run_name,
            &plan.job,
            &month,
            usd,
            &budgets,
            now + Duration::days(MARKER_KEPT_DAYS),
            now + Duration::days(SPEND_KEPT_DAYS),
        )
        .await
        .map_err(|e| TaskError::aws("TransactWriteItems", e))?;
    if !counted || usd <= 0.0 || plan.budgets.is_none() {
        return Ok(Vec::new());
    }
    let spent = store
        .spend(&plan.job, &month)
        .await
        .map_err(|e| TaskError::aws("GetItem", e))?;
    let scopes = [
        (Some(plan.job.as_str()), budgets.job_usd, spent.job_usd),
        (None, budgets.all_jobs_usd, spent.all_jobs_usd),
    ];
    let mut sent = Vec::new();
    for (job, budget, after) in scopes {
        let Some(budget) = budget else { continue };
        for percent in crossed(after - usd, after, budget) {
            let alert = BudgetAlert {
                scope: job.map_or(Scope::AllJobs, |job| Scope::Job(job.to_string())),
                month: month.clone(),
                percent,
                spent_usd: after,
                budget_usd: budget,
                run_name: plan.run_name.clone(),
                environment: plan.environment.clone(),
            };
            let claim = budget_claim_key(job, &month, percent);
            if !store
                .claim(&claim, now + Duration::days(SPEND_KEPT_DAYS))
                .await
                .map_err(|e| TaskError::aws("PutItem", e))?
            {
                continue;
            }
            if let Err(error) = send(sink, topic_arn, &alert).await {
                if let Err(e) = store.unclaim(&claim).await {
                    tracing::error!(claim = %claim, error = %e, "could not give back the budget alert's claim");
                }
                return Err(error);
            }
            info!(scope = %alert.scope, month = %month, percent, spent = after, budget, "budget alert sent");
            sent.push(alert);
        }
    }
    Ok(sent)
}

async fn send(
    sink: &impl AlertsApi,
    topic_arn: &str,
    alert: &BudgetAlert,
) -> Result<(), TaskError> {
    let message = SnsMessage {
        default: alert.chat_notification().to_string(),
        email: alert.text(),
    };
    sink.publish(topic_arn, &alert.subject(), &message)
        .await
        .map_err(|e| TaskError::aws("Publish", e))?;
    let detail = serde_json::to_value(alert).unwrap_or(json!({}));
    sink.put_event(super::EVENT_SOURCE, BUDGET_DETAIL_TYPE, &detail)
        .await
        .map_err(|e| TaskError::aws("PutEvents", e))
}
