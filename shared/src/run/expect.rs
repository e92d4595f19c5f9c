//! "Did not run" alerts: a job's `expect = { succeeded_by = "cron(…)" }` says a run of it succeeds by each of the
//! expression's times (or `"2h"`: that long after each time of its schedule, or after each first arrival of its input
//! set's partitions); when one passes with no run succeeded since the time before it (the schedule's time, the first
//! arrival), one alert says the run is missing and why, as far as sparkplug can tell — and an input set's deadline
//! says which inputs have not arrived.
//! Both go out as the `sparkplug Run Missing` event and on the alerts topic.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Why a run is missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum MissingReason {
    /// The input set's partition is incomplete: the inputs that have not arrived (`s3://…`).
    InputsMissing {
        partition: String,
        missing: Vec<String>,
    },
    /// An upstream job (`trigger.after`) has not succeeded since the period began.
    UpstreamNotSucceeded {
        upstream: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_run: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_status: Option<String>,
    },
    /// The run waits for a slot of its job (`max_concurrent_runs`).
    Queued { run: String },
    /// The run started and has not ended.
    StillRunning { run: String, minutes: i64 },
    /// The run ended without succeeding.
    Failed {
        run: String,
        status: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Nothing started a run in the period.
    NeverTriggered,
}

impl std::fmt::Display for MissingReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MissingReason::InputsMissing { partition, missing } => {
                write!(f, "inputs missing for {partition}: {}", missing.join(", "))
            }
            MissingReason::UpstreamNotSucceeded {
                upstream,
                last_run,
                last_status,
            } => match (last_run, last_status) {
                (Some(run), Some(status)) => write!(
                    f,
                    "upstream {upstream} has not succeeded (its last run {run} is {status})"
                ),
                _ => write!(
                    f,
                    "upstream {upstream} has not succeeded (no run of it seen)"
                ),
            },
            MissingReason::Queued { run } => {
                write!(f, "run {run} is queued behind other runs of the job")
            }
            MissingReason::StillRunning { run, minutes } => {
                write!(f, "run {run} is still running, for {minutes} minutes")
            }
            MissingReason::Failed { run, status, error } => match error {
                Some(error) => write!(f, "run {run} {status}: {error}"),
                None => write!(f, "run {run} {status}"),
            },
            MissingReason::NeverTriggered => f.write_str("no run was started (never triggered)"),
        }
    }
}

/// What the look knows of a job's runs in the period (from the run table's ledger and queue).
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// The last run started, and when.
    pub started: Option<(String, DateTime<Utc>)>,
    /// The last run that ended: name, status, when, error.
    pub ended: Option<(String, String, DateTime<Utc>, Option<String>)>,
    /// The last success's end.
    pub succeeded_at: Option<DateTime<Utc>>,
    /// A run of the job waiting for a slot.
    pub queued: Option<String>,
    /// The input set's partition of the period, when incomplete: its id and missing inputs.
    pub inputs_missing: Option<(String, Vec<String>)>,
    /// Each upstream job that has not succeeded since the period began: its last run and status.
    pub upstreams_behind: Vec<(String, Option<String>, Option<String>)>,
}

/// Whether the period `since`..`due` had a success; otherwise why not, as far as `seen` tells, the most telling first:
/// inputs, upstreams, a run queued, running or failed, or none started.
pub fn missing(seen: &Seen, since: DateTime<Utc>, due: DateTime<Utc>) -> Option<MissingReason> {
    if seen.succeeded_at.is_some_and(|at| at > since && at <= due) {
        return None;
    }
    let started_in_period = seen
        .started
        .as_ref()
        .filter(|(_, at)| *at > since && *at <= due);
    if let Some(run) = &seen.queued {
        return Some(MissingReason::Queued { run: run.clone() });
    }
    if let Some((run, at)) = started_in_period {
        let ended = seen.ended.as_ref().filter(|(ended, ..)| ended == run);
        return Some(match ended {
            Some((run, status, _, error)) => MissingReason::Failed {
                run: run.clone(),
                status: status.clone(),
                error: error.clone(),
            },
            None => MissingReason::StillRunning {
                run: run.clone(),
                minutes: (due - *at).num_minutes(),
            },
        });
    }
    if let Some((partition, missing)) = &seen.inputs_missing {
        return Some(MissingReason::InputsMissing {
            partition: partition.clone(),
            missing: missing.clone(),
        });
    }
    if let Some((upstream, last_run, last_status)) = seen.upstreams_behind.first() {
        return Some(MissingReason::UpstreamNotSucceeded {
            upstream: upstream.clone(),
            last_run: last_run.clone(),
            last_status: last_status.clone(),
        });
    }
    if let Some((run, status, at, error)) = &seen.ended {
        if *at > since && status != "SUCCEEDED" {
            return Some(MissingReason::Failed {
                run: run.clone(),
                status: status.clone(),
                error: error.clone(),
            });
        }
    }
    Some(MissingReason::NeverTriggered)
}

/// What a "did not run" alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingKind {
    /// An input set's deadline came with its partition incomplete.
    Deadline,
    /// An expectation's time came with no run succeeded.
    Expectation,
}

/// A "did not run" alert (the `sparkplug Run Missing` event's detail).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunMissing {
    pub job: String,
    pub kind: MissingKind,
    /// When the run was due (the deadline or the expectation's time).
    pub due: DateTime<Utc>,
    /// An expectation: the period's start (its previous time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// An input set's partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    pub reason: MissingReason,
    /// The reason in a sentence.
    pub why: String,
    /// A deadline with `on_deadline`: what happened (`alert`, `run`, `skip`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

impl RunMissing {
    pub fn subject(&self) -> String {
        let what = match self.kind {
            MissingKind::Deadline => "inputs missing at the deadline",
            MissingKind::Expectation => "did not run",
        };
        let subject = format!(
            "sparkplug {}: {} {what}",
            self.environment.as_deref().unwrap_or("-"),
            self.job
        );
        subject.chars().take(100).collect()
    }

    pub fn text(&self) -> String {
        let mut lines = vec![self.subject()];
        match self.kind {
            MissingKind::Deadline => lines.push(format!(
                "the input set's partition {} was incomplete at its deadline, {}",
                self.partition.as_deref().unwrap_or("-"),
                self.due.format("%Y-%m-%d %H:%M UTC")
            )),
            MissingKind::Expectation => {
                let since = self.since.map_or("-".to_string(), |s| {
                    s.format("%Y-%m-%d %H:%M UTC").to_string()
                });
                let due = self.due.format("%Y-%m-%d %H:%M UTC");
                lines.push(match &self.partition {
                    Some(partition) => format!(
                        "no run of the partition {partition} succeeded between its first input's arrival, {since}, \
                         and {due}"
                    ),
                    None => format!("no run succeeded between {since} and {due}"),
                })
            }
        }
        lines.push(format!("why: {}", self.why));
        if let Some(action) = &self.action {
            lines.push(format!("on_deadline: {action}"));
        }
        lines.join("\n")
    }

    /// As an Amazon Q Developer in chat applications custom notification (see `Alert::chat_notification`).
    pub fn chat_notification(&self) -> Value {
        let environment = self.environment.as_deref().unwrap_or("-");
        json!({
            "version": "1.0",
            "source": "custom",
            "id": format!("missing:{}:{}", self.job, self.due.to_rfc3339()),
            "content": {
                "textType": "client-markdown",
                "title": format!(":mag: {}", self.subject()),
                "description": self.text().lines().skip(1).collect::<Vec<_>>().join("\n"),
                "nextSteps": [format!("See what the job waits for: `sparkplug history {}`", self.job)],
                "keywords": [environment, self.job.as_str(), "missing"],
            },
            "metadata": {
                "threadId": format!("missing-{}", self.job),
                "summary": self.subject(),
                "eventType": MISSING_DETAIL_TYPE,
            },
        })
    }
}

/// The `detail-type` of a "did not run" alert on the default bus (`source` sparkplug).
pub const MISSING_DETAIL_TYPE: &str = "sparkplug Run Missing";

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, h, 0, 0).unwrap()
    }

    #[test]
    fn a_period_with_a_success_misses_nothing_and_the_most_telling_reason_comes_first() {
        let since = at(0) - chrono::Duration::hours(16);
        let due = at(8);
        let ok = Seen {
            succeeded_at: Some(at(7)),
            ..Seen::default()
        };
        assert_eq!(missing(&ok, since, due), None);
        // A success before the period does not count.
        let old = Seen {
            succeeded_at: Some(since - chrono::Duration::minutes(1)),
            ..Seen::default()
        };
        assert_eq!(
            missing(&old, since, due),
            Some(MissingReason::NeverTriggered)
        );
        let running = Seen {
            started: Some(("r1".into(), at(6))),
            ..Seen::default()
        };
        assert_eq!(
            missing(&running, since, due),
            Some(MissingReason::StillRunning {
                run: "r1".into(),
                minutes: 120
            })
        );
        let failed = Seen {
            started: Some(("r1".into(), at(6))),
            ended: Some((
                "r1".into(),
                "FAILED".into(),
                at(7),
                Some("StepFailed".into()),
            )),
            ..Seen::default()
        };
        assert_eq!(
            missing(&failed, since, due).unwrap().to_string(),
            "run r1 FAILED: StepFailed"
        );
        let inputs = Seen {
            inputs_missing: Some((
                "date=2026-12-03".into(),
                vec!["s3://d/stock/_SUCCESS".into()],
            )),
            ..Seen::default()
        };
        assert_eq!(
            missing(&inputs, since, due).unwrap().to_string(),
            "inputs missing for date=2026-12-03: s3://d/stock/_SUCCESS"
        );
        let upstream = Seen {
            upstreams_behind: vec![(
                "sales_daily".into(),
                Some("s-1".into()),
                Some("FAILED".into()),
            )],
            ..Seen::default()
        };
        assert!(missing(&upstream, since, due)
            .unwrap()
            .to_string()
            .contains("upstream sales_daily has not succeeded (its last run s-1 is FAILED)"));
        let queued = Seen {
            queued: Some("r2".into()),
            started: Some(("r1".into(), at(6))),
            ..Seen::default()
        };
        assert_eq!(
            missing(&queued, since, due),
            Some(MissingReason::Queued { run: "r2".into() })
        );
    }
}
