//! Alerts over in-memory ports: what goes out for a failed, stopped or succeeded run, the log tail (found late, or
//! never), once per run however often the event comes.

mod common;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{now, plan_of, to_json};
use serde_json::{json, Value};
use sparkplug::catalog::NotifyOn;
use sparkplug::engine::handlers::alert::{alert, AlertConfig, EVENT_DETAIL_TYPE, EVENT_SOURCE};
use sparkplug::engine::logs::gzip_tail;
use sparkplug::engine::ports::{
    AlertsApi, AwsError, ExecutionSummary, ExecutionView, ExecutionsApi, LogsApi, LookState,
    LookStore, SfnApi, SnsMessage, StartOutcome, TokenStore, Waiter,
};
use sparkplug::engine::ports::{JobLedger, LedgerStore, RunRecord, RunStore, SpendStore};
use sparkplug::engine::ErrorKind;
use sparkplug::run::budget::{Budgets, Spend};

const MACHINE: &str = "arn:aws:states:eu-west-1:123456789012:stateMachine:sparkplug-run-dev";

/// One fake AWS: an execution, its task outputs, logs that appear after some looks, and what was sent.
#[derive(Default)]
struct Fake {
    execution: ExecutionView,
    outputs: Vec<Value>,
    /// (bucket, key) → (looks before it exists, bytes)
    objects: BTreeMap<(String, String), (usize, Vec<u8>)>,
    streams: BTreeMap<(String, String), Vec<String>>,
    looks: Mutex<usize>,
    claimed: Mutex<Vec<String>>,
    /// (topic, subject, the email text)
    published: Mutex<Vec<(String, String, String)>>,
    /// The chat notification of each message (its `default` form), parsed.
    chats: Mutex<Vec<Value>>,
    events: Mutex<Vec<(String, String, Value)>>,
    /// What ListExecutions lists (the catch-up's window).
    listed: Vec<ExecutionSummary>,
    looks_saved: Mutex<BTreeMap<String, LookState>>,
    /// Publish fails this many times first.
    publish_failures: Mutex<usize>,
    /// The month's spend by counter key (`job#month`, `*#month`): (usd, runs); and the runs counted.
    spend: Mutex<BTreeMap<String, (f64, u64)>>,
    counted: Mutex<Vec<String>>,
    /// Each job's ledger, as the alert notes its runs' ends.
    ledgers: Mutex<BTreeMap<String, JobLedger>>,
    /// The runs' records, by run.
    records: Mutex<BTreeMap<String, RunRecord>>,
    /// DescribeExecution and GetExecutionHistory calls made.
    described: Mutex<usize>,
    histories: Mutex<usize>,
}

impl RunStore for Fake {
    async fn run_began(&self, _: &RunRecord) -> Result<(), AwsError> {
        unreachable!("the trigger records starts")
    }
    async fn run_finished(&self, run: &RunRecord) -> Result<(), AwsError> {
        self.records
            .lock()
            .unwrap()
            .insert(run.run_name.clone(), run.clone());
        Ok(())
    }
    async fn run_record(&self, _: &str) -> Result<Option<RunRecord>, AwsError> {
        unreachable!("the chains' catch-up reads them")
    }
    async fn runs_of(&self, _: &str, _: DateTime<Utc>) -> Result<Vec<RunRecord>, AwsError> {
        unreachable!("history reads them")
    }
}

impl LedgerStore for Fake {
    async fn run_started(&self, _: &str, _: &str, _: DateTime<Utc>) -> Result<(), AwsError> {
        unreachable!("the alert function notes ends only")
    }
    async fn run_ended(
        &self,
        job: &str,
        run: &str,
        status: &str,
        at: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<(), AwsError> {
        let mut ledgers = self.ledgers.lock().unwrap();
        let ledger = ledgers.entry(job.to_string()).or_default();
        ledger.ended = Some((run.into(), status.into(), at, error.map(str::to_string)));
        if status == "SUCCEEDED" {
            ledger.succeeded = Some((run.into(), at));
        }
        Ok(())
    }
    async fn run_missed(&self, _: &str, _: DateTime<Utc>, _: &str) -> Result<(), AwsError> {
        unreachable!("the trigger's")
    }
    async fn ledger(&self, job: &str) -> Result<JobLedger, AwsError> {
        Ok(self
            .ledgers
            .lock()
            .unwrap()
            .get(job)
            .cloned()
            .unwrap_or_default())
    }
}

impl SpendStore for Fake {
    async fn add_spend(
        &self,
        run: &str,
        job: &str,
        month: &str,
        usd: f64,
        _: &Budgets,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
    ) -> Result<bool, AwsError> {
        let mut counted = self.counted.lock().unwrap();
        if counted.iter().any(|r| r == run) {
            return Ok(false);
        }
        counted.push(run.to_string());
        let mut spend = self.spend.lock().unwrap();
        for key in [format!("{job}#{month}"), format!("*#{month}")] {
            let entry = spend.entry(key).or_default();
            (entry.0, entry.1) = (entry.0 + usd, entry.1 + 1);
        }
        Ok(true)
    }
    async fn spend(&self, job: &str, month: &str) -> Result<Spend, AwsError> {
        let spend = self.spend.lock().unwrap();
        let of = |key: String| spend.get(&key).copied().unwrap_or_default();
        let ((job_usd, job_runs), (all_jobs_usd, all_jobs_runs)) =
            (of(format!("{job}#{month}")), of(format!("*#{month}")));
        Ok(Spend {
            job_usd,
            job_runs,
            all_jobs_usd,
            all_jobs_runs,
        })
    }
}

impl SfnApi for Fake {
    async fn executions_since(
        &self,
        _: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<ExecutionSummary>, AwsError> {
        Ok(self
            .listed
            .iter()
            .filter(|e| e.started >= since)
            .cloned()
            .collect())
    }
    async fn execution_status(&self, _: &str, name: &str) -> Result<Option<String>, AwsError> {
        Ok(self
            .listed
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.status.clone()))
    }
    async fn start_execution(&self, _: &str, _: &str, _: &str) -> Result<StartOutcome, AwsError> {
        unreachable!()
    }
}

impl LookStore for Fake {
    async fn look_state(&self, name: &str) -> Result<Option<LookState>, AwsError> {
        Ok(self.looks_saved.lock().unwrap().get(name).cloned())
    }
    async fn save_look_state(&self, name: &str, state: &LookState) -> Result<bool, AwsError> {
        self.looks_saved
            .lock()
            .unwrap()
            .insert(name.to_string(), state.clone());
        Ok(true)
    }
}

impl ExecutionsApi for Fake {
    async fn describe_execution(&self, _: &str) -> Result<ExecutionView, AwsError> {
        *self.described.lock().unwrap() += 1;
        Ok(self.execution.clone())
    }
    async fn task_outputs(&self, _: &str) -> Result<Vec<Value>, AwsError> {
        *self.histories.lock().unwrap() += 1;
        Ok(self.outputs.clone())
    }
}

impl LogsApi for Fake {
    async fn s3_object(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, AwsError> {
        let looks = {
            let mut looks = self.looks.lock().unwrap();
            *looks += 1;
            *looks
        };
        Ok(self
            .objects
            .get(&(bucket.to_string(), key.to_string()))
            .filter(|(after, _)| looks > *after)
            .map(|(_, bytes)| bytes.clone()))
    }
    async fn log_events(
        &self,
        group: &str,
        stream: &str,
        lines: usize,
    ) -> Result<Option<Vec<String>>, AwsError> {
        Ok(self
            .streams
            .get(&(group.to_string(), stream.to_string()))
            .map(|all| all[all.len().saturating_sub(lines)..].to_vec()))
    }
}

impl AlertsApi for Fake {
    async fn publish(
        &self,
        topic: &str,
        subject: &str,
        message: &SnsMessage,
    ) -> Result<(), AwsError> {
        {
            let mut failures = self.publish_failures.lock().unwrap();
            if *failures > 0 {
                *failures -= 1;
                return Err(AwsError {
                    kind: ErrorKind::Retryable,
                    code: "Throttled".into(),
                    message: "rate exceeded".into(),
                });
            }
        }
        self.published
            .lock()
            .unwrap()
            .push((topic.into(), subject.into(), message.email.clone()));
        let chat: Value = serde_json::from_str(&message.default).unwrap();
        common::schemas::check_chat_notification(&chat);
        self.chats.lock().unwrap().push(chat);
        Ok(())
    }
    async fn put_event(
        &self,
        source: &str,
        detail_type: &str,
        detail: &Value,
    ) -> Result<(), AwsError> {
        common::schemas::check_bus_event(source, detail_type, detail);
        self.events
            .lock()
            .unwrap()
            .push((source.into(), detail_type.into(), detail.clone()));
        Ok(())
    }
}

impl TokenStore for Fake {
    async fn put_waiter(&self, _: &Waiter) -> Result<bool, AwsError> {
        unreachable!()
    }
    async fn get_waiter(&self, _: &str) -> Result<Option<Waiter>, AwsError> {
        unreachable!()
    }
    async fn delete_waiter(&self, _: &str, _: &str) -> Result<(), AwsError> {
        unreachable!()
    }
    async fn waiters_before(&self, _: DateTime<Utc>) -> Result<Vec<Waiter>, AwsError> {
        unreachable!()
    }
    async fn waiters_with_prefix(&self, _: &str) -> Result<Vec<Waiter>, AwsError> {
        unreachable!()
    }
    async fn claim(&self, key: &str, _: DateTime<Utc>) -> Result<bool, AwsError> {
        let mut claimed = self.claimed.lock().unwrap();
        if claimed.iter().any(|k| k == key) {
            return Ok(false);
        }
        claimed.push(key.to_string());
        Ok(true)
    }
    async fn is_claimed(&self, key: &str) -> Result<bool, AwsError> {
        Ok(self.claimed.lock().unwrap().iter().any(|k| k == key))
    }
    async fn unclaim(&self, key: &str) -> Result<(), AwsError> {
        self.claimed.lock().unwrap().retain(|k| k != key);
        Ok(())
    }
}

fn config(log_wait_seconds: u64) -> AlertConfig {
    AlertConfig {
        topic_arn: "arn:aws:sns:eu-west-1:123456789012:sparkplug-dev-alerts".into(),
        region: "eu-west-1".into(),
        log_wait: Duration::from_secs(log_wait_seconds),
        first_pause: Duration::from_secs(5),
        state_machine_arn: MACHINE.into(),
    }
}

fn status_change(name: &str, status: &str) -> Value {
    json!({"version": "0", "detail-type": "Step Functions Execution Status Change", "source": "aws.states",
        "detail": {"executionArn": format!("{}:{name}", MACHINE.replace(":stateMachine:", ":execution:")),
            "stateMachineArn": MACHINE, "name": name, "status": status, "input": "{}"}})
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

/// A failed sales_daily run: its plan (resolve's output), its summary (terminate's) with step `aggregate` failed.
fn failed_emr_run(log_after_looks: Option<usize>) -> (Fake, String) {
    let plan = plan_of("sales_daily");
    let run = plan.run_name.clone();
    let summary = json!({"job": "sales_daily", "engine": "emr", "run_name": run, "status": "failed",
        "cluster_id": "j-1", "error": "StepFailed", "cause": "step aggregate: Unknown Error.",
        "failure": {"error": "StepFailed", "step": "aggregate", "reason": "Unknown Error.", "log": "s3://acme-logs-dev/emr/j-1/steps/s-2/"},
        "timeline": {"steps": [{"name": "ingest", "id": "s-1", "state": "COMPLETED"}, {"name": "aggregate", "id": "s-2", "state": "FAILED"}]},
        "cost": {"usd": 0.41, "compute_usd": 0.4, "control_plane_usd": 0.01, "basis": "estimate"}});
    let mut fake = Fake {
        execution: ExecutionView {
            status: "FAILED".into(),
            input: json!({"job": "sales_daily"}),
            output: None,
            error: Some("StepFailed".into()),
            cause: Some("step aggregate: Unknown Error.".into()),
            stopped: None,
            started: None,
        },
        outputs: vec![summary, to_json(&plan)],
        ..Fake::default()
    };
    if let Some(after) = log_after_looks {
        let log: String = (1..=80).map(|i| format!("line {i}\n")).collect();
        fake.objects.insert(
            ("acme-logs-dev".into(), "emr/j-1/steps/s-2/stderr.gz".into()),
            (after, gzip(&log)),
        );
    }
    (fake, run)
}

async fn send(fake: &Fake, config: &AlertConfig, event: Value) -> (Value, Vec<Duration>) {
    let slept = RefCell::new(Vec::new());
    let report = alert(config, fake, fake, fake, fake, event, now(), |pause| {
        slept.borrow_mut().push(pause);
        async {}
    })
    .await
    .unwrap();
    (to_json(&report), slept.into_inner())
}

#[tokio::test]
async fn a_failed_emr_step_alerts_once_with_the_last_50_lines_of_its_stderr_found_late() {
    // The log arrives at the third look.
    let (fake, run) = failed_emr_run(Some(2));
    let (report, slept) = send(&fake, &config(600), status_change(&run, "FAILED")).await;
    assert_eq!(report["sent"], format!("{run}: FAILED"));
    assert_eq!(slept, vec![Duration::from_secs(5), Duration::from_secs(10)]);
    let published = fake.published.lock().unwrap().clone();
    assert_eq!(published.len(), 1);
    let (topic, subject, text) = &published[0];
    assert!(topic.ends_with(":sparkplug-dev-alerts"));
    assert_eq!(subject, "sparkplug dev: sales_daily FAILED");
    for expected in [
        "failed step: aggregate",
        "logs: s3://acme-logs-dev/emr/j-1/steps/s-2/",
        "cost (estimate): $0.41000",
        "triggered by: manual, input s3://acme-data-dev/landing/sales/x/_SUCCESS",
        "https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/",
        "last 50 lines of s3://acme-logs-dev/emr/j-1/steps/s-2/stderr.gz:\nline 31\n",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
    assert!(text.ends_with("line 80"));
    let events = fake.events.lock().unwrap().clone();
    let (source, detail_type, detail) = &events[0];
    assert_eq!(
        (source.as_str(), detail_type.as_str()),
        (EVENT_SOURCE, EVENT_DETAIL_TYPE)
    );
    assert_eq!(detail["log_tail"].as_array().unwrap().len(), 50);
    assert_eq!(detail["failed_step"], "aggregate");
    assert_eq!(detail["status"], "FAILED");
    // Its end is in its job's ledger, which a "did not run" look reads.
    let ledger = fake.ledger("sales_daily").await.unwrap();
    assert_eq!(
        ledger.ended,
        Some((
            run.clone(),
            "FAILED".into(),
            now(),
            Some("StepFailed".into())
        ))
    );
    assert_eq!(ledger.succeeded, None);
    // …and in its run record, with its summary, which `history` reads by job.
    let record = fake.records.lock().unwrap()[&run].clone();
    assert_eq!(record.job, "sales_daily");
    assert_eq!(record.status, "FAILED");
    assert_eq!(record.ended, Some(now()));
    assert_eq!(
        record.trigger, "console",
        "a console request, whatever its plan says"
    );
    assert_eq!(record.summary.unwrap()["cost"]["usd"], 0.41);
    assert!(
        record
            .reason
            .as_deref()
            .unwrap_or_default()
            .starts_with("StepFailed"),
        "{:?}",
        record.reason
    );

    // The same status change delivered again: nothing more goes out.
    let (report, _) = send(&fake, &config(600), status_change(&run, "FAILED")).await;
    assert!(report["skipped"]
        .as_str()
        .unwrap()
        .contains("alerted already"));
    assert_eq!(fake.published.lock().unwrap().len(), 1);
    assert_eq!(fake.events.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_run_that_recovered_alerts_once_for_its_final_outcome_saying_how_many_attempts_it_made() {
    let (mut fake, run) = failed_emr_run(Some(0));
    // Terminate's summary of attempt 3: two attempts before it (a capacity failure, then a throttled one).
    fake.outputs[0]["attempt"] = json!(3);
    fake.outputs[0]["attempts"] = json!([
        {"attempt": 1, "error": "ClusterTerminated", "why": "INTERNAL_ERROR: no r5.xlarge", "cause": "capacity"},
        {"attempt": 2, "error": "Retryable", "why": "RunJobFlow: ThrottlingException", "cause": "throttled",
         "alternative": "core r6i.xlarge"}
    ]);
    send(&fake, &config(600), status_change(&run, "FAILED")).await;
    let published = fake.published.lock().unwrap().clone();
    assert_eq!(published.len(), 1, "one alert, for the run's end");
    let text = &published[0].2;
    for expected in [
        "attempts: 3\n",
        "  attempt 1 (capacity): ClusterTerminated — INTERNAL_ERROR: no r5.xlarge\n",
        "  attempt 2 (throttled, core r6i.xlarge): Retryable — RunJobFlow: ThrottlingException\n",
    ] {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
    let (_, _, detail) = &fake.events.lock().unwrap()[0];
    assert_eq!(detail["attempts"], 3);
    assert_eq!(detail["earlier_attempts"].as_array().unwrap().len(), 2);
    let chat = fake.chats.lock().unwrap()[0].clone();
    let description = chat["content"]["description"].as_str().unwrap();
    assert!(
        description.contains("*Attempts* 3\n• attempt 1 (capacity)"),
        "{description}"
    );
}

#[tokio::test]
async fn the_chat_message_is_a_custom_notification_threaded_by_run_and_email_gets_the_text() {
    let (fake, run) = failed_emr_run(Some(0));
    send(&fake, &config(600), status_change(&run, "FAILED")).await;
    let chat = fake.chats.lock().unwrap()[0].clone();
    // The fake checked it against the documented format (docs/schemas/chat-notification.schema.json).
    assert_eq!(chat["version"], "1.0");
    assert_eq!(chat["content"]["textType"], "client-markdown");
    // Every message of one run in one thread.
    assert_eq!(chat["metadata"]["threadId"], run.as_str());
    assert_eq!(
        chat["content"]["title"],
        ":x: sparkplug dev: sales_daily FAILED"
    );
    let description = chat["content"]["description"].as_str().unwrap();
    for expected in [
        &format!("*Run* `{run}` (emr, dev)"),
        "*Failed step* `aggregate`",
        "*Cost (estimate)* $0.4100",
        "*Last 15 lines of* `s3://acme-logs-dev/emr/j-1/steps/s-2/stderr.gz`",
        "```\nline 66\n",
    ] {
        assert!(
            description.contains(expected),
            "{expected:?} not in:\n{description}"
        );
    }
    assert!(description.ends_with("line 80\n```"), "{description}");
    assert!(!description.contains("line 65\n"), "{description}");
    let steps = chat["content"]["nextSteps"].as_array().unwrap();
    assert!(steps[0]
        .as_str()
        .unwrap()
        .starts_with("Open the execution: https://eu-west-1.console.aws.amazon.com/states/"));
    assert!(steps.iter().any(|s| s
        == &json!(format!(
            "See the run from a terminal: `sparkplug status {run}`"
        ))));
    // Email subscribers read the text, with the whole tail.
    let (_, _, email) = &fake.published.lock().unwrap()[0];
    assert!(email.contains("last 50 lines of"), "{email}");
    assert!(!email.starts_with('{'), "{email}");
}

#[tokio::test]
async fn a_log_that_never_comes_is_waited_for_then_the_alert_goes_without_it_and_says_so() {
    let (fake, run) = failed_emr_run(None);
    let (_, slept) = send(&fake, &config(60), status_change(&run, "FAILED")).await;
    // 5 + 10 + 20 s, then another 40 would pass the 60 s allowed.
    assert_eq!(slept.iter().sum::<Duration>(), Duration::from_secs(35));
    let detail = &fake.events.lock().unwrap()[0].2;
    assert!(detail.get("log_tail").is_none());
    assert!(
        detail["log_tail_note"]
            .as_str()
            .unwrap()
            .contains("had not arrived"),
        "{detail}"
    );
    assert!(fake.published.lock().unwrap()[0]
        .2
        .contains("(no log tail: the log had not arrived"));
}

#[tokio::test]
async fn successes_alert_only_when_the_job_asks_and_stops_say_why_there_is_no_tail() {
    let (mut fake, run) = failed_emr_run(Some(0));
    fake.execution.status = "SUCCEEDED".into();
    let (report, _) = send(&fake, &config(0), status_change(&run, "SUCCEEDED")).await;
    assert!(report["skipped"]
        .as_str()
        .unwrap()
        .contains("notify does not ask for SUCCEEDED"));
    assert!(fake.published.lock().unwrap().is_empty());
    // Marked as looked at: the alerts' catch-up will not describe it.
    assert!(fake
        .claimed
        .lock()
        .unwrap()
        .contains(&format!("alert#{run}#SUCCEEDED")));

    // A job that asks for successes.
    let (mut fake, run) = failed_emr_run(Some(0));
    fake.execution.status = "SUCCEEDED".into();
    let mut plan = plan_of("sales_daily");
    plan.notify = vec![NotifyOn::Failure, NotifyOn::Success];
    fake.outputs[1] = to_json(&plan);
    let (report, _) = send(&fake, &config(0), status_change(&run, "SUCCEEDED")).await;
    assert!(report["sent"].is_string(), "{report}");
    assert_eq!(*fake.looks.lock().unwrap(), 0, "a success looks for no log");

    // A console Stop with no failed step: an alert, no tail, and why.
    let (mut fake, run) = failed_emr_run(Some(0));
    fake.outputs[0]["failure"] = json!({"error": "Incomplete"});
    fake.execution.status = "ABORTED".into();
    let (report, _) = send(&fake, &config(0), status_change(&run, "ABORTED")).await;
    assert!(report["sent"].is_string());
    assert_eq!(
        fake.events.lock().unwrap()[0].2["log_tail_note"],
        "no step failed"
    );

    // notify = []: never.
    let (mut fake, run) = failed_emr_run(Some(0));
    let mut plan = plan_of("sales_daily");
    plan.notify = vec![];
    fake.outputs[1] = to_json(&plan);
    let (report, _) = send(&fake, &config(0), status_change(&run, "FAILED")).await;
    assert!(report["skipped"].is_string());
}

#[tokio::test]
async fn a_failed_glue_run_carries_its_error_stream() {
    let plan = plan_of("customer_scores");
    let run = plan.run_name.clone();
    let mut fake = Fake {
        execution: ExecutionView {
            status: "FAILED".into(),
            input: to_json(&plan),
            error: Some("GlueRunFailed".into()),
            cause: Some("Glue run FAILED: boom".into()),
            ..ExecutionView::default()
        },
        outputs: vec![
            json!({"job": "customer_scores", "run_name": run, "status": "failed", "glue_run_id": "jr_9",
            "failure": {"error": "GlueRunFailed", "log": "/aws-glue/jobs"}}),
        ],
        ..Fake::default()
    };
    // Glue 5.0 (the default) writes the driver's errors to stream `<JobRunId>-driver`; a stream named by the run id
    // alone is an older version's, and not this run's.
    fake.streams.insert(
        ("/aws-glue/jobs/error".into(), "jr_9".into()),
        vec!["an older Glue's stream".into()],
    );
    fake.streams.insert(
        ("/aws-glue/jobs/error".into(), "jr_9-driver".into()),
        vec![
            "WARN retrying".into(),
            "Exception in User Class: boom".into(),
        ],
    );
    let (report, _) = send(&fake, &config(0), status_change(&run, "FAILED")).await;
    assert!(report["sent"].is_string());
    let detail = &fake.events.lock().unwrap()[0].2;
    assert_eq!(
        detail["log_tail"],
        json!(["WARN retrying", "Exception in User Class: boom"])
    );
    assert_eq!(detail["engine"], "glue");
}

#[tokio::test]
async fn bad_events_are_invalid_input() {
    let fake = Fake::default();
    for event in [
        json!({"sweep": true}),
        json!({"detail-type": "Object Created", "source": "aws.s3"}),
    ] {
        let err = alert(
            &config(0),
            &fake,
            &fake,
            &fake,
            &fake,
            event,
            now(),
            |_| async {},
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput);
        assert!(err.message.starts_with("alert:"), "{}", err.message);
    }
}

#[test]
fn a_tail_is_the_last_lines_of_the_gzip_text_and_bad_gzip_says_so() {
    assert_eq!(gzip_tail(&gzip("a\nb\nc\n"), 2).unwrap(), vec!["b", "c"]);
    assert!(gzip_tail(b"not gzip", 2).unwrap_err().contains("not gzip"));
}

fn ended(name: &str, status: &str, minutes_ago: i64) -> ExecutionSummary {
    ExecutionSummary {
        name: name.into(),
        status: status.into(),
        started: now() - chrono::Duration::minutes(minutes_ago + 10),
        stopped: Some(now() - chrono::Duration::minutes(minutes_ago)),
    }
}

async fn catch_up(fake: &Fake, at: DateTime<Utc>) -> Value {
    let report = alert(
        &config(0),
        fake,
        fake,
        fake,
        fake,
        json!({"catch_up": true}),
        at,
        |_| async {},
    )
    .await
    .unwrap();
    to_json(&report)
}

#[tokio::test]
async fn a_failed_run_whose_end_event_was_lost_is_alerted_late_by_the_catch_up_once() {
    let (mut fake, run) = failed_emr_run(Some(0));
    fake.listed = vec![ended(&run, "FAILED", 3)];
    assert_eq!(catch_up(&fake, now()).await, json!({"late": [run]}));
    let published = fake.published.lock().unwrap().clone();
    assert_eq!(published.len(), 1);
    assert!(published[0].2.contains("sent late"), "{}", published[0].2);
    assert_eq!(fake.events.lock().unwrap()[0].2["late"], true);
    // The next look, and the event arriving after all, send nothing more.
    assert_eq!(
        catch_up(&fake, now() + chrono::Duration::minutes(5)).await,
        json!({})
    );
    let (report, _) = send(&fake, &config(0), status_change(&run, "FAILED")).await;
    assert_eq!(report["skipped"], format!("{run}: alerted already"));
    assert_eq!(fake.published.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn the_catch_up_sends_nothing_for_a_run_its_event_alerted() {
    let (mut fake, run) = failed_emr_run(Some(0));
    fake.listed = vec![ended(&run, "FAILED", 3)];
    send(&fake, &config(0), status_change(&run, "FAILED")).await;
    assert_eq!(catch_up(&fake, now()).await, json!({}));
    assert_eq!(fake.published.lock().unwrap().len(), 1);
    assert!(!fake.published.lock().unwrap()[0].2.contains("sent late"));
}

#[tokio::test]
async fn a_run_that_just_ended_is_left_to_its_event_for_one_more_look() {
    let (mut fake, run) = failed_emr_run(Some(0));
    // Ended 10 s ago: within the grace, watched, not alerted.
    fake.listed = vec![ExecutionSummary {
        stopped: Some(now() - chrono::Duration::seconds(10)),
        ..ended(&run, "FAILED", 0)
    }];
    assert_eq!(catch_up(&fake, now()).await, json!({}));
    assert!(fake.published.lock().unwrap().is_empty());
    assert_eq!(
        fake.looks_saved.lock().unwrap()["alerts"].watching,
        vec![run.clone()]
    );
    // Its event never came: five minutes later the look alerts it.
    assert_eq!(
        catch_up(&fake, now() + chrono::Duration::minutes(5)).await,
        json!({"late": [run]})
    );
}

#[tokio::test]
async fn runs_that_want_no_alert_are_looked_at_once() {
    let (mut fake, run) = failed_emr_run(Some(0));
    fake.listed = vec![ended(&run, "SUCCEEDED", 3)];
    // sales_daily's notify asks for failures only: marked looked-at, nothing sent.
    assert_eq!(catch_up(&fake, now()).await, json!({}));
    assert!(fake.published.lock().unwrap().is_empty());
    assert!(fake
        .claimed
        .lock()
        .unwrap()
        .contains(&format!("alert#{run}#SUCCEEDED")));
}

#[tokio::test]
async fn an_alert_that_could_not_be_sent_gives_its_claim_back_so_a_retry_sends_it() {
    let (fake, run) = failed_emr_run(Some(0));
    *fake.publish_failures.lock().unwrap() = 1;
    let failed = alert(
        &config(0),
        &fake,
        &fake,
        &fake,
        &fake,
        status_change(&run, "FAILED"),
        now(),
        |_| async {},
    )
    .await
    .unwrap_err();
    assert_eq!(failed.kind, ErrorKind::Retryable);
    assert!(fake.claimed.lock().unwrap().is_empty());
    let (report, _) = send(&fake, &config(0), status_change(&run, "FAILED")).await;
    assert_eq!(report["sent"], format!("{run}: FAILED"));
    assert_eq!(fake.published.lock().unwrap().len(), 1);
}

#[test]
fn a_glue_runs_driver_log_is_where_its_glue_version_and_security_configuration_put_it() {
    use sparkplug::engine::logs::glue_driver_log;
    let mut plan = plan_of("customer_scores");
    let job = &mut plan.glue.as_mut().unwrap().job;
    job["GlueVersion"] = json!("5.0");
    assert_eq!(
        glue_driver_log(&plan, "jr_1"),
        (
            "/aws-glue/jobs/error".to_string(),
            "jr_1-driver".to_string()
        )
    );
    let job = &mut plan.glue.as_mut().unwrap().job;
    job["GlueVersion"] = json!("4.0");
    assert_eq!(glue_driver_log(&plan, "jr_1").1, "jr_1");
    let job = &mut plan.glue.as_mut().unwrap().job;
    job["SecurityConfiguration"] = json!("kms-logs");
    job["Role"] = json!("arn:aws:iam::123456789012:role/service-role/sparkplug-glue");
    assert_eq!(
        glue_driver_log(&plan, "jr_1").0,
        "/aws-glue/jobs/kms-logs-role/sparkplug-glue/error"
    );
}

/// The YARN client's lines a `spark-submit --deploy-mode cluster` step's stderr holds.
fn yarn_client(application: &str) -> String {
    let mut lines = vec![format!(
        "INFO YarnClientImpl: Submitted application {application}"
    )];
    lines
        .extend((0..30).map(|_| {
            format!("INFO Client: Application report for {application} (state: RUNNING)")
        }));
    lines.push(format!(
        "Exception in thread \"main\" org.apache.spark.SparkException: Application {application} finished with failed status"
    ));
    lines.join("\n")
}

#[test]
fn a_cluster_mode_steps_application_and_its_drivers_container_log_are_found() {
    use sparkplug::engine::logs::{driver_container_stderr, yarn_application};
    let application = "application_1796380000000_0002";
    assert_eq!(
        yarn_application(&yarn_client(application)).as_deref(),
        Some(application)
    );
    assert_eq!(
        yarn_application("no application here; application_x_1"),
        None
    );
    assert_eq!(
        driver_container_stderr("emr/j-1/steps/s-2/stderr.gz", application).as_deref(),
        Some("emr/j-1/containers/application_1796380000000_0002/container_1796380000000_0002_01_000001/stderr.gz")
    );
}

#[tokio::test]
async fn a_cluster_mode_step_alerts_with_its_drivers_exception_and_says_which_file() {
    let (mut fake, run) = failed_emr_run(None);
    let application = "application_1796380000000_0002";
    fake.objects.insert(
        ("acme-logs-dev".into(), "emr/j-1/steps/s-2/stderr.gz".into()),
        (0, gzip(&yarn_client(application))),
    );
    let container = "emr/j-1/containers/application_1796380000000_0002/container_1796380000000_0002_01_000001/stderr.gz";
    fake.objects.insert(
        ("acme-logs-dev".into(), container.into()),
        (0, gzip("INFO starting\nException in thread \"main\" java.lang.ArithmeticException: / by zero\n")),
    );
    let (report, _) = send(&fake, &config(600), status_change(&run, "FAILED")).await;
    assert!(report["sent"].is_string());
    let detail = &fake.events.lock().unwrap()[0].2;
    assert_eq!(
        detail["log_tail"],
        json!([
            "INFO starting",
            "Exception in thread \"main\" java.lang.ArithmeticException: / by zero"
        ])
    );
    assert_eq!(
        detail["log_tail_from"],
        format!("s3://acme-logs-dev/{container}")
    );
    assert!(fake.published.lock().unwrap()[0]
        .2
        .contains(&format!("last 2 lines of s3://acme-logs-dev/{container}:")));
}

#[tokio::test]
async fn a_drivers_container_log_that_never_comes_leaves_the_steps_own_tail() {
    let (mut fake, run) = failed_emr_run(None);
    fake.objects.insert(
        ("acme-logs-dev".into(), "emr/j-1/steps/s-2/stderr.gz".into()),
        (0, gzip(&yarn_client("application_1796380000000_0002"))),
    );
    let (_, slept) = send(&fake, &config(20), status_change(&run, "FAILED")).await;
    assert!(!slept.is_empty(), "it waited for the container log");
    let detail = &fake.events.lock().unwrap()[0].2;
    assert_eq!(
        detail["log_tail_from"],
        "s3://acme-logs-dev/emr/j-1/steps/s-2/stderr.gz"
    );
    assert!(detail["log_tail"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .contains("finished with failed status"));
}

#[tokio::test]
async fn a_catalog_with_lineage_sends_the_runs_openlineage_events_once_whatever_its_alert() {
    // A failed run whose plan carries the catalog's lineage namespace.
    let (mut fake, run) = failed_emr_run(Some(0));
    let mut plan = plan_of("sales_daily");
    plan.run_name = run.clone();
    plan.lineage_namespace = Some("sparkplug-dev".into());
    fake.outputs[1] = to_json(&plan);
    fake.execution.started = Some(now() - chrono::Duration::minutes(12));
    fake.execution.stopped = Some(now() - chrono::Duration::minutes(1));
    send(&fake, &config(600), status_change(&run, "FAILED")).await;
    // The fake checked each against docs/schemas/openlineage-run-event.schema.json.
    let events = fake.events.lock().unwrap().clone();
    let lineage: Vec<&Value> = events
        .iter()
        .filter(|(_, detail_type, _)| detail_type == "OpenLineage RunEvent")
        .map(|(_, _, detail)| detail)
        .collect();
    assert_eq!(lineage.len(), 2, "{events:?}");
    let (start, end) = (lineage[0], lineage[1]);
    assert_eq!(start["eventType"], "START");
    assert_eq!(end["eventType"], "FAIL");
    let id = sparkplug::run::lineage::run_id("sparkplug-dev", &run);
    assert_eq!(start["run"]["runId"], id.as_str());
    assert_eq!(end["run"]["runId"], id.as_str());
    assert_eq!(
        end["job"],
        json!({"namespace": "sparkplug-dev", "name": "sales_daily"})
    );
    assert_eq!(
        end["run"]["facets"]["errorMessage"]["message"],
        "step aggregate: Unknown Error."
    );
    assert_eq!(
        start["inputs"],
        json!([{"namespace": "s3://acme-data-dev", "name": "landing/sales/x/_SUCCESS"}])
    );
    assert!(start["eventTime"].as_str().unwrap() < end["eventTime"].as_str().unwrap());

    // Delivered again, or looked at by the catch-up: nothing more.
    send(&fake, &config(600), status_change(&run, "FAILED")).await;
    let again = fake
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, detail_type, _)| detail_type == "OpenLineage RunEvent")
        .count();
    assert_eq!(again, 2);
}

#[tokio::test]
async fn a_runs_lineage_whose_end_event_was_lost_goes_out_with_the_catch_up_once() {
    // A run of a job that wants no alert for its success, whose end event never came.
    let (mut fake, run) = failed_emr_run(Some(0));
    let mut plan = plan_of("sales_daily");
    plan.run_name = run.clone();
    plan.lineage_namespace = Some("sparkplug-dev".into());
    plan.notify = Vec::new();
    fake.outputs[1] = to_json(&plan);
    fake.listed = vec![ended(&run, "FAILED", 3)];
    catch_up(&fake, now()).await;
    let lineage = |fake: &Fake| {
        fake.events
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, detail_type, _)| detail_type == "OpenLineage RunEvent")
            .map(|(_, _, detail)| detail["eventType"].as_str().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(lineage(&fake), ["START", "FAIL"]);
    // The next look, and the event arriving after all, send nothing more.
    catch_up(&fake, now() + chrono::Duration::minutes(5)).await;
    send(&fake, &config(0), status_change(&run, "FAILED")).await;
    assert_eq!(lineage(&fake), ["START", "FAIL"]);
    assert!(fake.published.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_runs_cost_counts_once_and_a_budget_alerts_at_80_and_100_percent_then_refuses_new_runs() {
    use sparkplug::engine::handlers::budget::{check_budget, BUDGET_DETAIL_TYPE};
    // sales_daily with a budget of $0.80 a month; each of its failed runs here costs $0.41.
    let (mut fake, run) = failed_emr_run(Some(0));
    fake.outputs[1]["budgets"] = json!({"job_usd": 0.8});
    let budget_events = |fake: &Fake| -> Vec<Value> {
        let events = fake.events.lock().unwrap();
        events
            .iter()
            .filter(|(_, kind, _)| kind == BUDGET_DETAIL_TYPE)
            .map(|(_, _, detail)| detail.clone())
            .collect()
    };
    send(&fake, &config(600), status_change(&run, "FAILED")).await;
    // The same end delivered again counts nothing more: $0.41 is 51 % of the budget, no budget alert.
    send(&fake, &config(600), status_change(&run, "FAILED")).await;
    assert_eq!(
        fake.spend("sales_daily", "2026-11").await.unwrap().job_usd,
        0.41
    );
    assert!(budget_events(&fake).is_empty());

    // A second run takes the month to $0.82: past 80 % and 100 % at once, one alert each.
    let second = format!("{run}-2");
    fake.outputs[1]["run_name"] = json!(second);
    send(&fake, &config(600), status_change(&second, "FAILED")).await;
    let sent = budget_events(&fake);
    let percents: Vec<&Value> = sent.iter().map(|d| &d["percent"]).collect();
    assert_eq!(percents, [&json!(80), &json!(100)]);
    assert_eq!(sent[1]["scope"], "job");
    assert_eq!(sent[1]["job"], "sales_daily");
    assert_eq!(sent[1]["month"], "2026-11");
    assert_eq!(sent[1]["run_name"], second.as_str());
    let published = fake.published.lock().unwrap().clone();
    let (_, subject, text) = published
        .iter()
        .find(|(_, subject, _)| subject.contains("100 %"))
        .unwrap();
    assert_eq!(
        subject,
        "sparkplug dev: job sales_daily at 100 % of its 2026-11 budget"
    );
    assert!(text.contains("spent $0.82 of its $0.80 budget"), "{text}");
    assert!(text.contains("New runs fail with BudgetExceeded"), "{text}");

    // The next run of the job fails before anything starts, saying why and how to run it anyway…
    let plan: sparkplug::run::RunPlan = serde_json::from_value(fake.outputs[1].clone()).unwrap();
    let check = |input: Value| {
        check_budget(
            &fake,
            serde_json::from_value(json!({"check_budget": plan, "execution_input": input}))
                .unwrap(),
            now(),
        )
    };
    let refused = check(json!({"job": "sales_daily"})).await.unwrap_err();
    assert_eq!(refused.kind, ErrorKind::BudgetExceeded);
    assert!(
        refused
            .message
            .contains("job sales_daily spent $0.82 of its $0.80 budget for 2026-11")
            && refused.message.contains("{\"over_budget\": true}"),
        "{}",
        refused.message
    );
    // …unless its input says so.
    let allowed = check(json!({"job": "sales_daily", "over_budget": true}))
        .await
        .unwrap();
    assert!(allowed.over_budget);
    // A third run's end counts, but the budget's alerts went out already.
    let third = format!("{run}-3");
    fake.outputs[1]["run_name"] = json!(third);
    send(&fake, &config(600), status_change(&third, "FAILED")).await;
    assert_eq!(budget_events(&fake).len(), 2);
}

#[tokio::test]
async fn a_succeeded_runs_event_carries_all_its_end_needs_no_describe_no_history() {
    let plan = plan_of("sales_daily");
    let run = plan.run_name.clone();
    let summary = json!({"job": "sales_daily", "engine": "emr", "run_name": run, "status": "succeeded",
        "cost": {"usd": 0.2}, "timeline": {"startup_seconds": 300, "execution_seconds": 60}});
    let started = now() - chrono::Duration::minutes(6);
    let event = |output_included: bool| {
        json!({"version": "0", "detail-type": "Step Functions Execution Status Change", "source": "aws.states",
            "detail": {"executionArn": format!("{}:{run}", MACHINE.replace(":stateMachine:", ":execution:")),
                "stateMachineArn": MACHINE, "name": run, "status": "SUCCEEDED",
                "startDate": started.timestamp_millis(), "stopDate": now().timestamp_millis(),
                "input": to_json(&plan).to_string(), "inputDetails": {"included": true},
                "output": if output_included { Value::String(summary.to_string()) } else { Value::Null },
                "outputDetails": {"included": output_included}}})
    };
    let fake = Fake::default();
    send(&fake, &config(0), event(true)).await;
    // A burst of runs ending costs no DescribeExecution (15 a second) nor GetExecutionHistory (20 a second).
    assert_eq!(*fake.described.lock().unwrap(), 0);
    assert_eq!(*fake.histories.lock().unwrap(), 0);
    let record = fake.records.lock().unwrap()[&run].clone();
    assert_eq!(record.status, "SUCCEEDED");
    assert_eq!(record.started, started);
    assert_eq!(record.summary.unwrap()["cost"]["usd"], 0.2);
    assert_eq!(fake.spend.lock().unwrap().len(), 2, "its cost counted");

    // An output EventBridge could not carry (over 256 KB): the execution is described.
    let fake = Fake {
        execution: ExecutionView {
            status: "SUCCEEDED".into(),
            input: to_json(&plan),
            output: Some(summary.clone()),
            error: None,
            cause: None,
            stopped: Some(now()),
            started: Some(started),
        },
        ..Fake::default()
    };
    send(&fake, &config(0), event(false)).await;
    assert_eq!(*fake.described.lock().unwrap(), 1);
    assert_eq!(
        *fake.histories.lock().unwrap(),
        0,
        "its input is its plan, its output its summary"
    );
}
