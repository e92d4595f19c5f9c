//! `sparkplug backfill JOB --from DATE --to DATE [--every 1d] [--max-concurrent N]`: one manual run of JOB per period,
//! with that period's time as the run's `{date}`, under deterministic run names — so a backfill run again starts
//! nothing for the periods it already ran — at most N at a time.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde_json::json;
use sparkplug::engine::execution::execution_arn;

/// One period's run and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    pub time: DateTime<Utc>,
    pub run_name: String,
    /// SUCCEEDED, FAILED, …, or `already run` when an execution of this name existed before the backfill.
    pub status: String,
}

/// The periods' times: `from`, then every `every`, up to and including `to`.
pub fn periods(
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    every: TimeDelta,
) -> Result<Vec<DateTime<Utc>>, String> {
    if to < from {
        return Err(format!("--to {to} is before --from {from}"));
    }
    let mut times = Vec::new();
    let mut time = from;
    while time <= to {
        times.push(time);
        if times.len() > 10_000 {
            return Err("more than 10000 periods: widen --every or narrow --from/--to".into());
        }
        time += every;
    }
    Ok(times)
}

/// `2026-11-01` (midnight UTC) or an RFC 3339 time.
pub fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            format!("`{text}` is not a date (2026-11-01) or a time (2026-11-01T06:00:00Z)")
        })
}

/// Starts the run of each `(time, run_name)` not run before, at most `max_concurrent` at once, and waits for them all;
/// `progress` is told each time a run ends.
pub async fn run(
    sfn: &aws_sdk_sfn::Client,
    state_machine_arn: &str,
    job: &str,
    args: &BTreeMap<String, String>,
    runs: &[(DateTime<Utc>, String)],
    max_concurrent: usize,
    progress: &dyn Fn(&Period),
) -> Result<Vec<Period>, String> {
    let explain = |e: &dyn std::error::Error| {
        aws_smithy_types::error::display::DisplayErrorContext(e).to_string()
    };
    let execution_arn = |name: &str| execution_arn(state_machine_arn, name);
    let mut done: Vec<Period> = Vec::new();
    let mut running: Vec<(DateTime<Utc>, String)> = Vec::new();
    let mut waiting = runs.iter();
    loop {
        // Fill the free slots.
        while running.len() < max_concurrent.max(1) {
            let Some((time, name)) = waiting.next() else {
                break;
            };
            if sfn
                .describe_execution()
                .execution_arn(execution_arn(name))
                .send()
                .await
                .is_ok()
            {
                let period = Period {
                    time: *time,
                    run_name: name.clone(),
                    status: "already run".into(),
                };
                progress(&period);
                done.push(period);
                continue;
            }
            let request =
                json!({"job": job, "time": time.to_rfc3339(), "run_name": name, "args": args});
            sfn.start_execution()
                .state_machine_arn(state_machine_arn)
                .name(name)
                .input(request.to_string())
                .send()
                .await
                .map_err(|e| format!("StartExecution {name}: {}", explain(&e)))?;
            running.push((*time, name.clone()));
        }
        if running.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut still = Vec::new();
        for (time, name) in running {
            let execution = sfn
                .describe_execution()
                .execution_arn(execution_arn(&name))
                .send()
                .await
                .map_err(|e| format!("DescribeExecution {name}: {}", explain(&e)))?;
            let status = execution.status().as_str().to_string();
            if status == "RUNNING" {
                still.push((time, name));
            } else {
                let period = Period {
                    time,
                    run_name: name,
                    status,
                };
                progress(&period);
                done.push(period);
            }
        }
        running = still;
    }
    done.sort_by_key(|p| p.time);
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_run_from_the_first_to_the_last_inclusive() {
        let from = parse_time("2026-11-01").unwrap();
        let to = parse_time("2026-11-03").unwrap();
        let days = periods(from, to, TimeDelta::days(1)).unwrap();
        assert_eq!(days.len(), 3);
        assert_eq!(days[2].to_rfc3339(), "2026-11-03T00:00:00+00:00");
        assert_eq!(periods(from, to, TimeDelta::hours(12)).unwrap().len(), 5);
        assert!(periods(to, from, TimeDelta::days(1)).is_err());
        assert!(
            periods(from, to, TimeDelta::seconds(1)).is_err(),
            "too many periods"
        );
        assert_eq!(
            parse_time("2026-11-01T06:30:00Z").unwrap().to_rfc3339(),
            "2026-11-01T06:30:00+00:00"
        );
        assert!(parse_time("yesterday").is_err());
    }
}
