//! `sparkplug report`: one self-contained HTML page about the runs of a window — a timeline of runs with start-up and
//! execution drawn apart (how long a run waited for its cluster or Glue workers against how long it worked), cost per
//! job per day, failures with their reasons and log tails, queue waits and warm pool hits. No script and nothing
//! fetched: the page opens from a file, offline, and mails as an attachment.
//!
//! [`collect`] reads the runs as `history` does (plus the failed runs' log tails); [`render`] is a plain function of
//! what was collected.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use sparkplug::engine::execution::plan_in;
use sparkplug::engine::logs::{failure_tail, LogWait, Tail};
use sparkplug::engine::ports::{ExecutionsApi, LogsApi, RunStore};

use crate::history::{self, Run};

/// How many log lines a failure shows.
pub const TAIL_LINES: usize = 20;

/// What a report shows.
#[derive(Debug, Clone)]
pub struct Report {
    /// The window: runs started from `since` to `until`.
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub state_machine_arn: String,
    /// The jobs asked for (every job when empty).
    pub jobs: Vec<String>,
    /// Oldest first.
    pub runs: Vec<ReportRun>,
}

/// One run and, for a run that did not succeed, its log tail or why there is none.
#[derive(Debug, Clone)]
pub struct ReportRun {
    pub run: Run,
    pub tail: Option<Result<Tail, String>>,
}

impl ReportRun {
    fn ended_badly(&self) -> bool {
        matches!(self.run.status.as_str(), "FAILED" | "TIMED_OUT" | "ABORTED")
    }
}

/// The runs of `jobs` (every job when empty) started since `since`, oldest first, with the failed ones' log tails.
#[allow(clippy::too_many_arguments)]
pub async fn collect(
    sfn: &aws_sdk_sfn::Client,
    table: &impl RunStore,
    logs: &impl LogsApi,
    state_machine_arn: &str,
    jobs: &[String],
    since: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Report, String> {
    // The jobs asked for: each one's records; none: every execution.
    let mut listed = Vec::new();
    if jobs.is_empty() {
        listed = history::runs(sfn, table, state_machine_arn, None, since).await?;
    } else {
        let wanted: BTreeSet<&str> = jobs.iter().map(String::as_str).collect();
        for job in wanted {
            listed.extend(history::runs(sfn, table, state_machine_arn, Some(job), since).await?);
        }
        listed.sort_by_key(|run| std::cmp::Reverse(run.started));
    }
    let mut runs = Vec::new();
    for run in listed {
        let mut found = ReportRun { run, tail: None };
        if found.ended_badly() {
            found.tail = Some(tail(sfn, logs, state_machine_arn, &found.run).await);
        }
        runs.push(found);
    }
    runs.reverse();
    Ok(Report {
        since,
        until,
        state_machine_arn: state_machine_arn.to_string(),
        jobs: jobs.to_vec(),
        runs,
    })
}

/// A failed run's log tail as its alert found it, read once (no waiting for a log that has not arrived).
async fn tail(
    sfn: &aws_sdk_sfn::Client,
    logs: &impl LogsApi,
    state_machine_arn: &str,
    run: &Run,
) -> Result<Tail, String> {
    // history read a failed run's task outputs already (its summary is among them); read them again only if not.
    let outputs = if run.outputs.is_empty() {
        let arn = sparkplug::engine::execution::execution_arn(state_machine_arn, &run.run_name);
        history::task_outputs(sfn, &arn).await
    } else {
        run.outputs.clone()
    };
    // A run read from its record carries no input: the execution has it.
    let input = if run.input.is_null() {
        let arn = sparkplug::engine::execution::execution_arn(state_machine_arn, &run.run_name);
        sparkplug::aws::sfn::Sfn::from_client(sfn.clone())
            .describe_execution(&arn)
            .await
            .map(|execution| execution.input)
            .map_err(|e| format!("DescribeExecution {}: {e}", run.run_name))?
    } else {
        run.input.clone()
    };
    let Some(plan) = plan_in(&input, &outputs) else {
        return Err("no run plan: it failed before one was made".into());
    };
    let Some(summary) = &run.summary else {
        return Err("no summary: the run ended before its work started".into());
    };
    let once = LogWait {
        at_most: Duration::ZERO,
        first_pause: Duration::from_secs(1),
    };
    let no_sleep = |_| std::future::ready(());
    match failure_tail(logs, &plan, summary, TAIL_LINES, once, &no_sleep).await {
        Ok(found) => found,
        Err(error) => Err(format!("the log could not be read: {error}")),
    }
}

/// `1h 02m`, `9m 12s`, `41s`.
fn duration(seconds: i64) -> String {
    let seconds = seconds.max(0);
    match (seconds / 3600, seconds % 3600 / 60, seconds % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, _) => format!("{h}h {m:02}m"),
    }
}

fn usd(cost: f64) -> String {
    if cost >= 1.0 {
        format!("${cost:.2}")
    } else {
        format!("${cost:.4}")
    }
}

/// The status's colour class.
fn status_class(status: &str) -> &'static str {
    match status {
        "SUCCEEDED" => "ok",
        "RUNNING" | "QUEUED" => "live",
        _ => "bad",
    }
}

const STYLE: &str = r#"
:root { --startup: #e8912d; --work: #2f6fb2; --queue: #b8bcc4; --ok: #2e8540; --bad: #c0392b; --live: #7a7f88;
        --ink: #1d2330; --muted: #5b6372; --rule: #e3e6eb; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); margin: 0;
       background: #f6f7f9; }
header, main { max-width: 1180px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 28px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 32px 0 10px; }
.muted { color: var(--muted); }
.tiles { display: flex; flex-wrap: wrap; gap: 12px; margin: 18px 0 6px; }
.tile { background: #fff; border: 1px solid var(--rule); border-radius: 8px; padding: 10px 16px; min-width: 150px; }
.tile b { display: block; font-size: 20px; }
section { background: #fff; border: 1px solid var(--rule); border-radius: 8px; padding: 14px 18px; margin-bottom: 18px;
          overflow-x: auto; }
svg text { font: 12px system-ui, sans-serif; fill: var(--ink); }
svg .label { fill: var(--muted); }
.legend span { display: inline-block; margin-right: 16px; }
.legend i { display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: -1px;
            margin-right: 5px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 10px 5px 0; border-bottom: 1px solid var(--rule); white-space: nowrap; }
td.num, th.num { text-align: right; }
.status { font-weight: 600; }
.status.ok { color: var(--ok); } .status.bad { color: var(--bad); } .status.live { color: var(--live); }
.failure { border-top: 1px solid var(--rule); padding: 10px 0; }
.failure:first-of-type { border-top: 0; }
pre { background: #1d2330; color: #e9edf3; padding: 10px 12px; border-radius: 6px; overflow-x: auto; font-size: 12px;
      margin: 8px 0 0; }
footer { max-width: 1180px; margin: 0 auto; padding: 4px 24px 28px; color: var(--muted); font-size: 12px; }
"#;

/// The report as one HTML page.
pub fn render(report: &Report) -> String {
    let runs = &report.runs;
    let succeeded = runs.iter().filter(|r| r.run.status == "SUCCEEDED").count();
    let ended_badly = runs.iter().filter(|r| r.ended_badly()).count();
    let startup: i64 = runs.iter().filter_map(|r| r.run.startup_seconds).sum();
    let execution: i64 = runs.iter().filter_map(|r| r.run.execution_seconds).sum();
    let cost: f64 = runs.iter().filter_map(|r| r.run.cost_usd).sum();
    let startup_share = if startup + execution > 0 {
        Some(startup as f64 * 100.0 / (startup + execution) as f64)
    } else {
        None
    };
    let jobs = if report.jobs.is_empty() {
        "every job".to_string()
    } else {
        report.jobs.join(", ")
    };
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "sparkplug runs " (report.since.format("%Y-%m-%d")) " – " (report.until.format("%Y-%m-%d")) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { "sparkplug runs" }
                    div.muted {
                        (jobs) " · started " (report.since.format("%Y-%m-%d %H:%M")) " – "
                        (report.until.format("%Y-%m-%d %H:%M UTC")) " · " (report.state_machine_arn)
                    }
                    div.tiles {
                        div.tile { b { (runs.len()) } "runs" }
                        div.tile { b { (succeeded) } "succeeded" }
                        div.tile { b { (ended_badly) } "failed, stopped or timed out" }
                        div.tile { b { (duration(startup)) } "waiting to start" }
                        div.tile { b { (duration(execution)) } "working" }
                        @if let Some(share) = startup_share {
                            div.tile { b { (format!("{share:.0} %")) } "of run time was start-up" }
                        }
                        div.tile { b { (usd(cost)) } "estimated cost" }
                    }
                }
                main {
                    h2 { "Start-up vs execution" }
                    section {
                        div.legend {
                            span { i style="background: var(--queue)" {} "queued for a slot" }
                            span { i style="background: var(--startup)" {} "start-up (cluster, workers)" }
                            span { i style="background: var(--work)" {} "execution (the job's own work)" }
                        }
                        @if runs.is_empty() {
                            p.muted { "No run started in this window." }
                        } @else {
                            (timeline(runs))
                        }
                    }
                    h2 { "Cost per job per day" }
                    section { (cost_table(runs)) }
                    h2 { "Failures" }
                    section { (failures(runs)) }
                    h2 { "Queue waits and warm pools" }
                    section { (queues_and_pools(runs)) }
                }
                footer {
                    "Made by sparkplug report at " (report.until.format("%Y-%m-%d %H:%M:%S UTC"))
                    ". Costs are estimates from list prices; start-up is from the run's start to its work's start."
                }
            }
        }
    };
    page.into_string()
}

const ROW: i64 = 26;
const LABEL_WIDTH: i64 = 250;
const BAR_WIDTH: i64 = 600;
const TEXT_WIDTH: i64 = 230;

/// One row per run, oldest first: queued, start-up and execution side by side from the run's start, all on one scale.
fn timeline(runs: &[ReportRun]) -> Markup {
    let total = |r: &Run| {
        r.queued_seconds.unwrap_or(0)
            + r.startup_seconds.unwrap_or(0)
            + r.execution_seconds.unwrap_or(0)
    };
    let longest = runs.iter().map(|r| total(&r.run)).max().unwrap_or(0).max(1);
    let scale = |seconds: i64| seconds.max(0) * BAR_WIDTH / longest;
    let height = ROW * runs.len() as i64 + 24;
    let width = LABEL_WIDTH + BAR_WIDTH + TEXT_WIDTH;
    html! {
        svg.timeline xmlns="http://www.w3.org/2000/svg" width=(width) height=(height)
            viewBox=(format!("0 0 {width} {height}")) role="img"
            aria-label="Each run's time: queued, start-up and execution" {
            @for (row, found) in runs.iter().enumerate() {
                @let run = &found.run;
                @let y = ROW * row as i64;
                @let queued = scale(run.queued_seconds.unwrap_or(0));
                @let startup = scale(run.startup_seconds.unwrap_or(0));
                @let work = scale(run.execution_seconds.unwrap_or(0));
                g.run data-run=(run.run_name) data-status=(run.status) {
                    title {
                        (run.run_name) " · " (run.status)
                        @if let Some(s) = run.queued_seconds { " · queued " (duration(s)) }
                        @if let Some(s) = run.startup_seconds { " · start-up " (duration(s)) }
                        @if let Some(s) = run.execution_seconds { " · execution " (duration(s)) }
                    }
                    text.label x="0" y=(y + 17) { (run.started.format("%m-%d %H:%M")) }
                    text x="80" y=(y + 17) { (run.job) }
                    circle class=(format!("dot {}", status_class(&run.status))) cx=(LABEL_WIDTH - 14) cy=(y + 13) r="5"
                        fill=(format!("var(--{})", status_class(&run.status))) {}
                    // A run with no timeline yet (queued, or ended before its work started) keeps a sliver.
                    rect x=(LABEL_WIDTH) y=(y + 5) width=(queued.max(if queued + startup + work == 0 { 2 } else { 0 }))
                        height="16" fill="var(--queue)" {}
                    rect x=(LABEL_WIDTH + queued) y=(y + 5) width=(startup) height="16" fill="var(--startup)" {}
                    rect x=(LABEL_WIDTH + queued + startup) y=(y + 5) width=(work) height="16" fill="var(--work)" {}
                    text.label x=(LABEL_WIDTH + queued + startup + work + 8) y=(y + 17) {
                        @match (run.startup_seconds, run.execution_seconds) {
                            (Some(s), Some(e)) => { (duration(s)) " start-up · " (duration(e)) " work" }
                            _ => { (run.status.to_lowercase()) }
                        }
                    }
                }
            }
            text.label x=(LABEL_WIDTH) y=(height - 4) { "0" }
            text.label x=(LABEL_WIDTH + BAR_WIDTH) y=(height - 4) text-anchor="end" { (duration(longest)) }
        }
    }
}

/// Jobs down, days across, the estimated cost of each job's runs started that day.
fn cost_table(runs: &[ReportRun]) -> Markup {
    let mut by_job: BTreeMap<&str, BTreeMap<String, f64>> = BTreeMap::new();
    let mut days = BTreeSet::new();
    for found in runs {
        let day = found.run.started.format("%m-%d").to_string();
        days.insert(day.clone());
        *by_job
            .entry(found.run.job.as_str())
            .or_default()
            .entry(day)
            .or_default() += found.run.cost_usd.unwrap_or(0.0);
    }
    html! {
        @if by_job.is_empty() {
            p.muted { "No run, no cost." }
        } @else {
            table.costs {
                thead { tr {
                    th { "job" }
                    @for day in &days { th.num { (day) } }
                    th.num { "total" }
                } }
                tbody {
                    @for (job, per_day) in &by_job {
                        tr {
                            td { (job) }
                            @for day in &days {
                                td.num { @if let Some(cost) = per_day.get(day) { (usd(*cost)) } @else { "–" } }
                            }
                            td.num { b { (usd(per_day.values().sum())) } }
                        }
                    }
                }
            }
        }
    }
}

fn failures(runs: &[ReportRun]) -> Markup {
    let failed: Vec<&ReportRun> = runs.iter().filter(|r| r.ended_badly()).collect();
    html! {
        @if failed.is_empty() {
            p.muted { "No run failed, was stopped or timed out." }
        }
        @for found in failed.iter().rev() {
            @let run = &found.run;
            div.failure data-run=(run.run_name) {
                div {
                    span class=(format!("status {}", status_class(&run.status))) { (run.status) } " "
                    b { (run.job) } " " code { (run.run_name) }
                    span.muted { " · " (run.started.format("%Y-%m-%d %H:%M UTC")) " · " (run.trigger) }
                }
                @if let Some(reason) = &run.reason { div { (reason) } }
                @match &found.tail {
                    Some(Ok((lines, from))) => {
                        div.muted { "last " (lines.len()) " lines of " code { (from) } }
                        pre { (lines.join("\n")) }
                    }
                    Some(Err(why)) => { div.muted { "no log tail: " (why) } }
                    None => {}
                }
            }
        }
    }
}

fn queues_and_pools(runs: &[ReportRun]) -> Markup {
    #[derive(Default)]
    struct Job {
        runs: usize,
        queued: Vec<i64>,
        warm: usize,
        cold: usize,
    }
    let mut jobs: BTreeMap<&str, Job> = BTreeMap::new();
    for found in runs {
        let job = jobs.entry(found.run.job.as_str()).or_default();
        job.runs += 1;
        if let Some(seconds) = found.run.queued_seconds {
            job.queued.push(seconds);
        }
        match found.run.pool.as_ref().and_then(|p| p["start"].as_str()) {
            Some("warm") => job.warm += 1,
            Some("cold") => job.cold += 1,
            _ => {}
        }
    }
    html! {
        table.queues {
            thead { tr {
                th { "job" } th.num { "runs" } th.num { "waited for a slot" } th.num { "average wait" }
                th.num { "longest wait" } th.num { "warm pool hits" } th.num { "cold pool starts" }
            } }
            tbody {
                @for (name, job) in &jobs {
                    tr {
                        td { (name) }
                        td.num { (job.runs) }
                        td.num { (job.queued.iter().filter(|s| **s > 0).count()) }
                        td.num {
                            @if job.queued.is_empty() { "–" }
                            @else { (duration(job.queued.iter().sum::<i64>() / job.queued.len() as i64)) }
                        }
                        td.num { @if let Some(longest) = job.queued.iter().max() { (duration(*longest)) } @else { "–" } }
                        td.num { (job.warm) }
                        td.num { (job.cold) }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn run(
        name: &str,
        job: &str,
        status: &str,
        minute: u32,
        times: Option<(i64, i64)>,
    ) -> ReportRun {
        ReportRun {
            run: Run {
                run_name: name.into(),
                job: job.into(),
                status: status.into(),
                trigger: "s3://acme-data-dev/landing/sales/dt=2026-12-03/_SUCCESS".into(),
                started: DateTime::parse_from_rfc3339(&format!("2026-12-03T06:{minute:02}:00Z"))
                    .unwrap()
                    .with_timezone(&Utc),
                startup_seconds: times.map(|t| t.0),
                execution_seconds: times.map(|t| t.1),
                cost_usd: times.map(|_| 0.25),
                reason: (status == "FAILED")
                    .then(|| "StepFailed: step ingest <failed> & stopped".into()),
                queued_seconds: None,
                pool: None,
                input: Value::Null,
                summary: None,
                outputs: Vec::new(),
            },
            tail: None,
        }
    }

    fn report(runs: Vec<ReportRun>) -> Report {
        Report {
            since: DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            until: DateTime::parse_from_rfc3339("2026-12-07T12:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            state_machine_arn:
                "arn:aws:states:eu-west-1:123456789012:stateMachine:sparkplug-run-dev".into(),
            jobs: vec![],
            runs,
        }
    }

    #[test]
    fn every_run_is_drawn_with_start_up_and_execution_apart_on_one_scale() {
        let mut failed = run(
            "sales_daily-2",
            "sales_daily",
            "FAILED",
            30,
            Some((60, 600)),
        );
        failed.tail = Some(Ok((
            vec!["Exception in thread \"main\" <boom>".into()],
            "s3://acme-logs-dev/emr/j-1/steps/s-1/stderr.gz".into(),
        )));
        let mut queued = run("ledger-1", "ledger", "SUCCEEDED", 40, Some((30, 30)));
        queued.run.queued_seconds = Some(120);
        queued.run.pool = Some(json!({"name": "bursts", "start": "warm"}));
        let page = render(&report(vec![
            run(
                "hello_world-1",
                "hello_world",
                "SUCCEEDED",
                0,
                Some((540, 60)),
            ),
            failed,
            queued,
            run("hello_world-3", "hello_world", "RUNNING", 50, None),
        ]));
        for name in [
            "hello_world-1",
            "sales_daily-2",
            "ledger-1",
            "hello_world-3",
        ] {
            assert!(
                page.contains(&format!("<g class=\"run\" data-run=\"{name}\"")),
                "{name}"
            );
        }
        // The longest run (660 s) fills the bar: hello_world-1's 540 s start-up is 540/660 of it, its work 60/660.
        assert!(
            page.contains(&format!("width=\"{}\"", 540 * BAR_WIDTH / 660)),
            "{page}"
        );
        assert!(
            page.contains(&format!("width=\"{}\"", 60 * BAR_WIDTH / 660)),
            "{page}"
        );
        assert!(page.contains("9m 00s start-up · 1m 00s work"));
        // What the runs say is escaped, never markup.
        assert!(page.contains("step ingest &lt;failed&gt; &amp; stopped"));
        assert!(page.contains("Exception in thread &quot;main&quot; &lt;boom&gt;"));
        assert!(!page.contains("<boom>"));
        // Tiles: 4 runs, 2 succeeded, 1 ended badly; start-up 630 s of 1320 s of run time.
        assert!(page.contains("<b>4</b>runs"));
        assert!(
            page.contains("<b>48 %</b>of run time was start-up"),
            "{page}"
        );
        // Cost per job per day, queue waits, pool hits.
        assert!(
            page.contains("<td>sales_daily</td><td class=\"num\">$0.2500</td>"),
            "{page}"
        );
        assert!(page.contains("<td>ledger</td><td class=\"num\">1</td><td class=\"num\">1</td><td class=\"num\">2m 00s</td>"), "{page}");
        // Self-contained: no script, nothing fetched.
        for outside in ["<script", "src=", "href=", "@import", "url("] {
            assert!(!page.contains(outside), "{outside}");
        }
    }

    #[test]
    fn an_empty_window_says_so() {
        let page = render(&report(vec![]));
        assert!(page.contains("No run started in this window."));
        assert!(page.contains("No run failed"));
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(duration(41), "41s");
        assert_eq!(duration(552), "9m 12s");
        assert_eq!(duration(3720), "1h 02m");
        assert_eq!(duration(-5), "0s");
    }
}
