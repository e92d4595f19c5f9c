//! Budgets: what a job's runs (a job's `budget`), and all jobs' together (the catalog's `[budget]`), may cost a
//! calendar month (UTC), against the month-to-date spend summed from the runs' cost estimates as each run ends. An
//! alert goes out when the spend crosses 80 % and 100 % of a budget; past 100 %, a new run fails at once with
//! `BudgetExceeded` (nothing started) unless its input says `{"over_budget": true}`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, Job};

/// The budgets a run counts against, as its plan carries them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Budgets {
    /// The job's `budget.usd_per_month`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_usd: Option<f64>,
    /// The catalog's `[budget].usd_per_month`, for all jobs together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_jobs_usd: Option<f64>,
}

impl Budgets {
    /// The budgets of `job`, when it has any.
    pub fn of(catalog: &Catalog, job: &Job) -> Option<Budgets> {
        let budgets = Budgets {
            job_usd: job.budget.as_ref().map(|b| b.usd_per_month),
            all_jobs_usd: catalog.budget.as_ref().map(|b| b.usd_per_month),
        };
        (budgets != Budgets::default()).then_some(budgets)
    }
}

/// Month-to-date spend, as the run table keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Spend {
    pub job_usd: f64,
    pub job_runs: u64,
    pub all_jobs_usd: f64,
    pub all_jobs_runs: u64,
}

/// What a budget is of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "scope", content = "job")]
pub enum Scope {
    Job(String),
    AllJobs,
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scope::Job(job) => write!(f, "job {job}"),
            Scope::AllJobs => f.write_str("all jobs"),
        }
    }
}

/// The calendar month (UTC) a run's cost counts in: `2026-12`.
pub fn month_of(time: DateTime<Utc>) -> String {
    time.format("%Y-%m").to_string()
}

/// The percentages of a budget an alert is sent at.
pub const THRESHOLDS: [u32; 2] = [80, 100];

/// The thresholds a spend crossed going from `before` to `after` (each crossed once: `before` under it, `after` at
/// or over it).
pub fn crossed(before: f64, after: f64, budget: f64) -> Vec<u32> {
    THRESHOLDS
        .into_iter()
        .filter(|pct| {
            let line = budget * f64::from(*pct) / 100.0;
            before < line && after >= line
        })
        .collect()
}

/// A budget the month's spend has reached: new runs fail.
#[derive(Debug, Clone, PartialEq)]
pub struct Exceeded {
    pub scope: Scope,
    pub spent_usd: f64,
    pub budget_usd: f64,
    pub month: String,
}

impl std::fmt::Display for Exceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} spent ${:.2} of its ${:.2} budget for {}: new runs fail until next month, or start one with \
             {{\"over_budget\": true}} (sparkplug run --over-budget)",
            self.scope, self.spent_usd, self.budget_usd, self.month
        )
    }
}

/// The first budget of `job` (its own, then all jobs') that `spend` has reached, if any.
pub fn exceeded(job: &str, budgets: &Budgets, spend: &Spend, month: &str) -> Option<Exceeded> {
    let job_budget = budgets
        .job_usd
        .map(|b| (Scope::Job(job.to_string()), spend.job_usd, b));
    let all_budget = budgets
        .all_jobs_usd
        .map(|b| (Scope::AllJobs, spend.all_jobs_usd, b));
    [job_budget, all_budget]
        .into_iter()
        .flatten()
        .find(|(_, spent, budget)| spent >= budget)
        .map(|(scope, spent_usd, budget_usd)| Exceeded {
            scope,
            spent_usd,
            budget_usd,
            month: month.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_crossed_once_each() {
        assert_eq!(crossed(70.0, 79.9, 100.0), Vec::<u32>::new());
        assert_eq!(crossed(70.0, 80.0, 100.0), [80]);
        assert_eq!(crossed(79.0, 130.0, 100.0), [80, 100]);
        assert_eq!(crossed(85.0, 99.0, 100.0), Vec::<u32>::new());
        assert_eq!(crossed(100.0, 120.0, 100.0), Vec::<u32>::new());
    }

    #[test]
    fn the_jobs_own_budget_is_told_first_then_all_jobs() {
        let budgets = Budgets {
            job_usd: Some(400.0),
            all_jobs_usd: Some(1000.0),
        };
        let spend = |job_usd, all_jobs_usd| Spend {
            job_usd,
            all_jobs_usd,
            ..Spend::default()
        };
        assert_eq!(
            exceeded("a", &budgets, &spend(399.0, 999.0), "2026-12"),
            None
        );
        let over = exceeded("a", &budgets, &spend(400.0, 1200.0), "2026-12").unwrap();
        assert_eq!(over.scope, Scope::Job("a".into()));
        let over = exceeded("a", &budgets, &spend(10.0, 1000.0), "2026-12").unwrap();
        assert_eq!(over.scope, Scope::AllJobs);
        assert!(over
            .to_string()
            .contains("all jobs spent $1000.00 of its $1000.00 budget for 2026-12"));
    }
}
