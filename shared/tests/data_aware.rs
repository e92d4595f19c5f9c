//! The trigger's data-aware runs over in-memory ports: an input set's run starts once when its last input arrives,
//! whatever the order and however often the events come; a lost arrival is found by the tick's look; a deadline acts
//! once; batches are deterministic; "did not run" alerts go out once with the reason, for a cron, a duration after a
//! schedule's time, and a duration after a partition's first arrival.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};
use sparkplug::engine::handlers::trigger::Ports;
use sparkplug::engine::handlers::trigger::{trigger, TriggerConfig, TriggerReport};
use sparkplug::engine::ports::{
    AlertsApi, AwsError, BatchRecord, BatchStore, ExecutionSummary, ExecutionView, ExecutionsApi,
    JobLedger, LedgerStore, LookState, LookStore, ObjectsApi, ParkStore, ParkedRun, QueuedRun,
    RunRecord, RunStore, SetMark, SetRecord, SetStore, SfnApi, SlotStore, SnsMessage, StartOutcome,
    TokenStore, Waiter,
};
use sparkplug::engine::ErrorKind;
use sparkplug::run::events::ObjectArrival;

const MACHINE: &str = "arn:aws:states:eu-west-1:123456789012:stateMachine:sparkplug-run-dev";

/// What the fake run table, Step Functions, S3 and the alerts hold.
#[derive(Default)]
struct State {
    executions: BTreeMap<String, (String, Value)>,
    looks: BTreeMap<String, LookState>,
    sets: BTreeMap<(String, String), SetRecord>,
    due: BTreeSet<(DateTime<Utc>, String, String)>,
    positions: BTreeMap<(String, usize), u64>,
    placed: BTreeMap<(String, String), u64>,
    batches: BTreeMap<(String, usize, u64), BatchRecord>,
    ledgers: BTreeMap<String, JobLedger>,
    claims: BTreeSet<String>,
    queued: Vec<QueuedRun>,
    objects: BTreeMap<(String, String), DateTime<Utc>>,
    manifests: BTreeMap<(String, String), Value>,
    /// (subject, email text)
    published: Vec<(String, String)>,
    /// (detail-type, detail)
    events: Vec<(String, Value)>,
    /// How many of the next StartExecution calls Step Functions throttles (past the SDK's retries), and whether each
    /// comes back after a backoff (as the SDK's retries take seconds) rather than at once.
    throttled: usize,
    backs_off: bool,
    parked: BTreeMap<String, ParkedRun>,
    records: BTreeMap<String, RunRecord>,
}

#[derive(Default)]
struct Fake(Mutex<State>);

impl Fake {
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.0.lock().unwrap())
    }
    fn started(&self) -> Vec<String> {
        self.with(|s| s.executions.keys().cloned().collect())
    }
    fn input_of(&self, run: &str) -> Value {
        self.with(|s| s.executions[run].1.clone())
    }
    fn set_status(&self, run: &str, status: &str) {
        self.with(|s| s.executions.get_mut(run).unwrap().0 = status.to_string());
    }
    fn missing_alerts(&self) -> Vec<Value> {
        self.with(|s| {
            s.events
                .iter()
                .filter(|(kind, _)| kind == "sparkplug Run Missing")
                .map(|(_, detail)| detail.clone())
                .collect()
        })
    }
}

impl SfnApi for Fake {
    async fn executions_since(
        &self,
        _: &str,
        _: DateTime<Utc>,
    ) -> Result<Vec<ExecutionSummary>, AwsError> {
        Ok(Vec::new())
    }
    async fn execution_status(&self, _: &str, name: &str) -> Result<Option<String>, AwsError> {
        Ok(self.with(|s| s.executions.get(name).map(|(status, _)| status.clone())))
    }
    async fn start_execution(
        &self,
        _: &str,
        name: &str,
        input: &str,
    ) -> Result<StartOutcome, AwsError> {
        if self.with(|s| s.throttled > 0 && s.backs_off) {
            std::thread::sleep(std::time::Duration::from_millis(600));
        }
        self.with(|s| {
            if s.throttled > 0 {
                s.throttled -= 1;
                return Err(AwsError {
                    kind: ErrorKind::Throttled,
                    code: "ThrottlingException".into(),
                    message: "Rate exceeded".into(),
                });
            }
            if s.executions.contains_key(name) {
                return Ok(StartOutcome::AlreadyExists);
            }
            let input = serde_json::from_str(input).unwrap();
            s.executions
                .insert(name.to_string(), ("RUNNING".to_string(), input));
            Ok(StartOutcome::Started {
                execution_arn: format!("{MACHINE}:{name}"),
            })
        })
    }
}

impl ExecutionsApi for Fake {
    async fn describe_execution(&self, _: &str) -> Result<ExecutionView, AwsError> {
        unreachable!("only a rerun's event describes its execution")
    }
    async fn task_outputs(&self, _: &str) -> Result<Vec<Value>, AwsError> {
        unreachable!("only a rerun's event reads its execution's history")
    }
}

impl LookStore for Fake {
    async fn look_state(&self, name: &str) -> Result<Option<LookState>, AwsError> {
        Ok(self.with(|s| s.looks.get(name).cloned()))
    }
    async fn save_look_state(&self, name: &str, state: &LookState) -> Result<bool, AwsError> {
        self.with(|s| s.looks.insert(name.to_string(), state.clone()));
        Ok(true)
    }
}

impl SetStore for Fake {
    async fn record_input(
        &self,
        job: &str,
        partition: &str,
        index: usize,
        uri: &str,
        at: DateTime<Utc>,
        _: DateTime<Utc>,
    ) -> Result<SetRecord, AwsError> {
        Ok(self.with(|s| {
            let record = s
                .sets
                .entry((job.to_string(), partition.to_string()))
                .or_default();
            record.job = job.to_string();
            record.partition = partition.to_string();
            record
                .arrived
                .entry(index)
                .or_insert_with(|| (uri.to_string(), at));
            record.first_at.get_or_insert(at);
            record.clone()
        }))
    }
    async fn set_record(&self, job: &str, partition: &str) -> Result<Option<SetRecord>, AwsError> {
        Ok(self.with(|s| {
            s.sets
                .get(&(job.to_string(), partition.to_string()))
                .cloned()
        }))
    }
    async fn mark_set(
        &self,
        job: &str,
        partition: &str,
        mark: SetMark,
        value: &str,
        _: DateTime<Utc>,
    ) -> Result<bool, AwsError> {
        Ok(self.with(|s| {
            let record = s
                .sets
                .entry((job.to_string(), partition.to_string()))
                .or_default();
            let field = match mark {
                SetMark::Run => &mut record.run,
                SetMark::Deadline => &mut record.deadline,
            };
            if field.is_some() {
                return false;
            }
            *field = Some(value.to_string());
            true
        }))
    }
    async fn set_checked(
        &self,
        job: &str,
        partition: &str,
        at: DateTime<Utc>,
    ) -> Result<(), AwsError> {
        self.with(|s| {
            if let Some(record) = s.sets.get_mut(&(job.to_string(), partition.to_string())) {
                record.checked = Some(at);
            }
        });
        Ok(())
    }
    async fn watch_due(
        &self,
        job: &str,
        partition: &str,
        due: DateTime<Utc>,
    ) -> Result<(), AwsError> {
        self.with(|s| s.due.insert((due, job.to_string(), partition.to_string())));
        Ok(())
    }
    async fn unwatch_due(
        &self,
        job: &str,
        partition: &str,
        due: DateTime<Utc>,
    ) -> Result<(), AwsError> {
        self.with(|s| s.due.remove(&(due, job.to_string(), partition.to_string())));
        Ok(())
    }
    async fn watched_due(&self) -> Result<Vec<(DateTime<Utc>, String, String)>, AwsError> {
        Ok(self.with(|s| s.due.iter().cloned().collect()))
    }
}

impl BatchStore for Fake {
    async fn next_position(&self, job: &str, rule: usize) -> Result<u64, AwsError> {
        Ok(self.with(|s| {
            let next = s.positions.entry((job.to_string(), rule)).or_default();
            *next += 1;
            *next
        }))
    }
    async fn position_of(
        &self,
        job: &str,
        rule: usize,
        object: &str,
        _: DateTime<Utc>,
    ) -> Result<(u64, bool), AwsError> {
        let key = (job.to_string(), object.to_string());
        if let Some(position) = self.with(|s| s.placed.get(&key).copied()) {
            return Ok((position, false));
        }
        let position = self.next_position(job, rule).await?;
        self.with(|s| s.placed.insert(key, position));
        Ok((position, true))
    }
    async fn move_object(&self, job: &str, object: &str, position: u64) -> Result<(), AwsError> {
        self.with(|s| {
            s.placed
                .insert((job.to_string(), object.to_string()), position)
        });
        Ok(())
    }
    async fn add_to_batch(
        &self,
        job: &str,
        rule: usize,
        number: u64,
        object: &str,
        at: DateTime<Utc>,
        _: DateTime<Utc>,
    ) -> Result<Option<BatchRecord>, AwsError> {
        Ok(self.with(|s| {
            let batch = s
                .batches
                .entry((job.to_string(), rule, number))
                .or_insert_with(|| BatchRecord {
                    job: job.to_string(),
                    rule,
                    number,
                    ..BatchRecord::default()
                });
            if batch.closed_by.is_some() {
                return None;
            }
            if !batch.objects.iter().any(|o| o == object) {
                batch.objects.push(object.to_string());
                batch.objects.sort();
            }
            batch.first_at.get_or_insert(at);
            Some(batch.clone())
        }))
    }
    async fn close_batch(
        &self,
        job: &str,
        rule: usize,
        number: u64,
        run: &str,
    ) -> Result<Option<BatchRecord>, AwsError> {
        Ok(self.with(|s| {
            let batch = s.batches.get_mut(&(job.to_string(), rule, number))?;
            if batch.closed_by.is_some() {
                return None;
            }
            batch.closed_by = Some(run.to_string());
            Some(batch.clone())
        }))
    }
    async fn skip_to(&self, job: &str, rule: usize, position: u64) -> Result<(), AwsError> {
        self.with(|s| {
            let next = s.positions.entry((job.to_string(), rule)).or_default();
            *next = (*next).max(position);
        });
        Ok(())
    }
    async fn position(&self, job: &str, rule: usize) -> Result<u64, AwsError> {
        Ok(self.with(|s| {
            s.positions
                .get(&(job.to_string(), rule))
                .copied()
                .unwrap_or(0)
        }))
    }
    async fn batch(
        &self,
        job: &str,
        rule: usize,
        number: u64,
    ) -> Result<Option<BatchRecord>, AwsError> {
        Ok(self.with(|s| s.batches.get(&(job.to_string(), rule, number)).cloned()))
    }
}

impl LedgerStore for Fake {
    async fn run_started(&self, job: &str, run: &str, at: DateTime<Utc>) -> Result<(), AwsError> {
        self.with(|s| {
            s.ledgers.entry(job.to_string()).or_default().started = Some((run.into(), at))
        });
        Ok(())
    }
    async fn run_ended(
        &self,
        job: &str,
        run: &str,
        status: &str,
        at: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<(), AwsError> {
        self.with(|s| {
            let ledger = s.ledgers.entry(job.to_string()).or_default();
            ledger.ended = Some((run.into(), status.into(), at, error.map(str::to_string)));
            if status == "SUCCEEDED" {
                ledger.succeeded = Some((run.into(), at));
            }
        });
        Ok(())
    }
    async fn run_missed(&self, job: &str, due: DateTime<Utc>, why: &str) -> Result<(), AwsError> {
        self.with(|s| {
            s.ledgers.entry(job.to_string()).or_default().missed = Some((due, why.into()))
        });
        Ok(())
    }
    async fn ledger(&self, job: &str) -> Result<JobLedger, AwsError> {
        Ok(self.with(|s| s.ledgers.get(job).cloned().unwrap_or_default()))
    }
}

impl TokenStore for Fake {
    async fn put_waiter(&self, _: &Waiter) -> Result<bool, AwsError> {
        unreachable!("the trigger registers no waiter")
    }
    async fn get_waiter(&self, _: &str) -> Result<Option<Waiter>, AwsError> {
        unreachable!("the trigger reads no waiter")
    }
    async fn delete_waiter(&self, _: &str, _: &str) -> Result<(), AwsError> {
        unreachable!("the trigger deletes no waiter")
    }
    async fn claim(&self, key: &str, _: DateTime<Utc>) -> Result<bool, AwsError> {
        Ok(self.with(|s| s.claims.insert(key.to_string())))
    }
    async fn is_claimed(&self, key: &str) -> Result<bool, AwsError> {
        Ok(self.with(|s| s.claims.contains(key)))
    }
    async fn unclaim(&self, key: &str) -> Result<(), AwsError> {
        self.with(|s| s.claims.remove(key));
        Ok(())
    }
    async fn waiters_with_prefix(&self, _: &str) -> Result<Vec<Waiter>, AwsError> {
        Ok(Vec::new())
    }
    async fn waiters_before(&self, _: DateTime<Utc>) -> Result<Vec<Waiter>, AwsError> {
        Ok(Vec::new())
    }
}

impl SlotStore for Fake {
    async fn acquire(&self, _: &str, _: &str, _: u32) -> Result<bool, AwsError> {
        unreachable!("the queue function's")
    }
    async fn release(&self, _: &str, _: &str) -> Result<bool, AwsError> {
        unreachable!("the queue function's")
    }
    async fn enqueue(&self, _: &QueuedRun) -> Result<(), AwsError> {
        unreachable!("the queue function's")
    }
    async fn dequeue(&self, _: &str, _: &str) -> Result<(), AwsError> {
        unreachable!("the queue function's")
    }
    async fn holders(&self) -> Result<BTreeMap<String, Vec<String>>, AwsError> {
        Ok(BTreeMap::new())
    }
    async fn queued(&self, job: Option<&str>) -> Result<Vec<QueuedRun>, AwsError> {
        Ok(self.with(|s| {
            s.queued
                .iter()
                .filter(|q| job.is_none_or(|job| q.job == job))
                .cloned()
                .collect()
        }))
    }
}

impl ObjectsApi for Fake {
    async fn written_after(
        &self,
        bucket: &str,
        prefix: &str,
        after: DateTime<Utc>,
    ) -> Result<Vec<ObjectArrival>, AwsError> {
        Ok(self.with(|s| {
            s.objects
                .iter()
                .filter(|((b, key), time)| b == bucket && key.starts_with(prefix) && **time > after)
                .map(|((bucket, key), time)| ObjectArrival {
                    bucket: bucket.clone(),
                    key: key.clone(),
                    // As the events below: the ETag "e".
                    etag: Some("e".into()),
                    time: Some(*time),
                    ..ObjectArrival::default()
                })
                .collect()
        }))
    }
    async fn last_modified(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<DateTime<Utc>>, AwsError> {
        Ok(self.with(|s| {
            s.objects
                .get(&(bucket.to_string(), key.to_string()))
                .copied()
        }))
    }
    async fn put_json(&self, bucket: &str, key: &str, body: &Value) -> Result<(), AwsError> {
        self.with(|s| {
            s.manifests
                .insert((bucket.to_string(), key.to_string()), body.clone())
        });
        Ok(())
    }
}

impl RunStore for Fake {
    async fn run_began(&self, run: &RunRecord) -> Result<(), AwsError> {
        self.with(|s| {
            s.records
                .entry(run.run_name.clone())
                .or_insert(run.clone())
                .clone()
        });
        Ok(())
    }
    async fn run_finished(&self, run: &RunRecord) -> Result<(), AwsError> {
        self.with(|s| s.records.insert(run.run_name.clone(), run.clone()));
        Ok(())
    }
    async fn run_record(&self, run: &str) -> Result<Option<RunRecord>, AwsError> {
        Ok(self.with(|s| s.records.get(run).cloned()))
    }
    async fn runs_of(&self, job: &str, since: DateTime<Utc>) -> Result<Vec<RunRecord>, AwsError> {
        Ok(self.with(|s| {
            s.records
                .values()
                .filter(|r| r.job == job && r.started >= since)
                .cloned()
                .collect()
        }))
    }
}

impl ParkStore for Fake {
    async fn park(&self, run: &ParkedRun) -> Result<(), AwsError> {
        self.with(|s| s.parked.insert(run.run_name.clone(), run.clone()));
        Ok(())
    }
    async fn parked(&self, max: usize) -> Result<Vec<ParkedRun>, AwsError> {
        Ok(self.with(|s| s.parked.values().take(max).cloned().collect()))
    }
    async fn unpark(&self, run_name: &str) -> Result<(), AwsError> {
        self.with(|s| s.parked.remove(run_name));
        Ok(())
    }
}

impl AlertsApi for Fake {
    async fn publish(&self, _: &str, subject: &str, message: &SnsMessage) -> Result<(), AwsError> {
        self.with(|s| {
            s.published
                .push((subject.to_string(), message.email.clone()))
        });
        Ok(())
    }
    async fn put_event(&self, _: &str, detail_type: &str, detail: &Value) -> Result<(), AwsError> {
        self.with(|s| s.events.push((detail_type.to_string(), detail.clone())));
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------------- driving

const JOB: &str = r#"
[defaults.glue]
role = "glue-role"
script_location = "s3://artifacts/runner.scala"

[jobs.margin]
engine = "glue"
jar = "s3://artifacts/app.jar"
class = "com.acme.Margin"
args = ["--prices", "{input_prices}", "--stock", "{input_stock}"]

[jobs.margin.trigger]
all_of = ["s3://data/landing/prices/dt={date}/_SUCCESS", "s3://data/landing/stock/dt={date}/_SUCCESS"]
"#;

const PRICES: &str = "landing/prices/dt=2026-12-03/_SUCCESS";
const STOCK: &str = "landing/stock/dt=2026-12-03/_SUCCESS";

fn config(extra: &str) -> TriggerConfig {
    let catalog = common::catalog_of(&format!("{JOB}{extra}")).unwrap();
    TriggerConfig {
        vars: common::vars(&catalog),
        catalog,
        state_machine_arn: MACHINE.into(),
        alert_topic_arn: Some("arn:aws:sns:eu-west-1:123456789012:alerts".into()),
        // A tick stops at the first throttle: the tests meet one start at a time.
        parked_budget: std::time::Duration::ZERO,
    }
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// An EventBridge "Object Created" event of `data/<key>` at `time`.
fn arrival(key: &str, time: &str) -> Value {
    json!({"version": "0", "id": format!("{key}@{time}"), "detail-type": "Object Created", "source": "aws.s3",
        "account": "123456789012", "time": time, "region": "eu-west-1", "resources": ["arn:aws:s3:::data"],
        "detail": {"version": "0", "bucket": {"name": "data"}, "object": {"key": key, "size": 1, "etag": "e",
        "sequencer": "01"}, "request-id": "r", "requester": "123456789012", "reason": "PutObject"}})
}

async fn deliver(config: &TriggerConfig, fake: &Fake, event: Value, now: &str) -> TriggerReport {
    let ports = Ports {
        sfn: fake,
        table: fake,
        objects: fake,
        alerts: fake,
    };
    trigger(config, &ports, event, at(now)).await.unwrap()
}

/// The minute tick at `time` (seen at that time), as if the minute before was evaluated: only this one is.
async fn tick(config: &TriggerConfig, fake: &Fake, time: &str) -> TriggerReport {
    let minute = at(time);
    for look in ["tick", "deadlines"] {
        fake.with(|s| {
            s.looks.insert(
                look.to_string(),
                LookState {
                    watermark: Some(minute - Duration::minutes(1)),
                    watching: Vec::new(),
                },
            )
        });
    }
    deliver(config, fake, json!({"tick": true, "time": time}), time).await
}

// ------------------------------------------------------------------------------------------------------- input sets

#[tokio::test]
async fn a_set_completed_out_of_order_starts_one_run_with_both_inputs_however_often_its_events_come(
) {
    let config = config("");
    let fake = Fake::default();
    let first = deliver(
        &config,
        &fake,
        arrival(STOCK, "2026-12-04T05:10:00Z"),
        "2026-12-04T05:10:01Z",
    )
    .await;
    assert!(first.started.is_empty());
    assert!(
        first.ignored.iter().any(|i| i.contains(
            "1 of 2 inputs in; waits for s3://data/landing/prices/dt=2026-12-03/_SUCCESS"
        )),
        "{first:?}"
    );
    // The same event again changes nothing.
    deliver(
        &config,
        &fake,
        arrival(STOCK, "2026-12-04T05:10:00Z"),
        "2026-12-04T05:10:05Z",
    )
    .await;
    assert!(fake.started().is_empty());

    let last = deliver(
        &config,
        &fake,
        arrival(PRICES, "2026-12-04T05:40:00Z"),
        "2026-12-04T05:40:01Z",
    )
    .await;
    assert_eq!(last.started.len(), 1, "{last:?}");
    let run = &last.started[0];
    assert!(run.contains("margin"), "{run}");
    let args = fake.input_of(run).to_string();
    assert!(
        args.contains("s3://data/landing/prices/dt=2026-12-03/_SUCCESS"),
        "{args}"
    );
    assert!(
        args.contains("s3://data/landing/stock/dt=2026-12-03/_SUCCESS"),
        "{args}"
    );

    // A redelivery of either input, or a re-upload after the run, starts nothing twice.
    for (key, time) in [
        (PRICES, "2026-12-04T05:40:00Z"),
        (STOCK, "2026-12-04T07:00:00Z"),
    ] {
        let again = deliver(&config, &fake, arrival(key, time), "2026-12-04T07:00:01Z").await;
        assert!(again.started.is_empty(), "{again:?}");
        assert!(
            again
                .ignored
                .iter()
                .any(|i| i.contains("has started already")),
            "{again:?}"
        );
    }
    assert_eq!(fake.started().len(), 1);
    // The started run is in the job's ledger (what an expectation reads).
    let ledger = fake.with(|s| s.ledgers["margin"].clone());
    assert_eq!(ledger.started.map(|(r, _)| r).as_ref(), Some(run));
}

#[tokio::test]
async fn a_lost_arrival_is_found_by_the_tick_look_and_its_run_starts() {
    let config = config("");
    let fake = Fake::default();
    // The set's partition of the tick's day: dt=2026-12-04.
    deliver(
        &config,
        &fake,
        arrival(
            "landing/stock/dt=2026-12-04/_SUCCESS",
            "2026-12-04T05:10:00Z",
        ),
        "2026-12-04T05:10:01Z",
    )
    .await;
    // The prices' event is lost, the object is there.
    fake.with(|s| {
        s.objects.insert(
            (
                "data".into(),
                "landing/prices/dt=2026-12-04/_SUCCESS".into(),
            ),
            at("2026-12-04T05:20:00Z"),
        )
    });
    // Not a 15-minute mark: not looked for yet.
    assert!(tick(&config, &fake, "2026-12-04T05:44:00Z")
        .await
        .started
        .is_empty());
    let found = tick(&config, &fake, "2026-12-04T05:45:00Z").await;
    assert_eq!(found.started.len(), 1, "{found:?}");
    let record =
        fake.with(|s| s.sets[&("margin".to_string(), "date=2026-12-04".to_string())].clone());
    assert_eq!(
        record.arrived[&0].1,
        at("2026-12-04T05:20:00Z"),
        "recorded at the object's own time"
    );
    assert!(tick(&config, &fake, "2026-12-04T06:00:00Z")
        .await
        .started
        .is_empty());
}

#[tokio::test]
async fn an_incomplete_set_at_its_deadline_alerts_naming_the_missing_input_runs_or_skips_once() {
    for (action, runs, alerts) in [("alert", 0, 1), ("run", 1, 0), ("skip", 0, 0)] {
        let config = config(&format!(
            "deadline = \"cron(0 9 * * ? *)\"\non_deadline = \"{action}\"\n"
        ));
        let fake = Fake::default();
        deliver(
            &config,
            &fake,
            arrival(
                "landing/stock/dt=2026-12-04/_SUCCESS",
                "2026-12-04T05:10:00Z",
            ),
            "2026-12-04T05:10:01Z",
        )
        .await;
        assert!(tick(&config, &fake, "2026-12-04T08:59:00Z")
            .await
            .started
            .is_empty());
        let at_deadline = tick(&config, &fake, "2026-12-04T09:00:00Z").await;
        assert_eq!(at_deadline.started.len(), runs, "{action}: {at_deadline:?}");
        let missing = fake.missing_alerts();
        assert_eq!(missing.len(), alerts, "{action}: {missing:?}");
        if let Some(alert) = missing.first() {
            assert_eq!(alert["kind"], "deadline");
            assert_eq!(alert["partition"], "date=2026-12-04");
            assert_eq!(
                alert["reason"]["missing"],
                json!(["s3://data/landing/prices/dt=2026-12-04/_SUCCESS"])
            );
            let (subject, text) = fake.with(|s| s.published[0].clone());
            assert!(
                subject.contains("margin inputs missing at the deadline"),
                "{subject}"
            );
            assert!(
                text.contains("landing/prices/dt=2026-12-04/_SUCCESS"),
                "{text}"
            );
        }
        if runs == 1 {
            // Run with what arrived: the missing input's placeholder is empty.
            let input = fake.input_of(&at_deadline.started[0]).to_string();
            assert!(
                input.contains("landing/stock/dt=2026-12-04/_SUCCESS"),
                "{input}"
            );
        }
        // The same minute evaluated again (a retried tick) does nothing more.
        tick(&config, &fake, "2026-12-04T09:00:00Z").await;
        let record =
            fake.with(|s| s.sets[&("margin".to_string(), "date=2026-12-04".to_string())].clone());
        assert_eq!(record.deadline.as_deref(), Some(action));
        assert_eq!(fake.started().len(), runs, "{action}");
        assert_eq!(fake.missing_alerts().len(), alerts, "{action}");
    }
}

// ---------------------------------------------------------------------------------------------------------- batches

#[tokio::test]
async fn a_batch_runs_when_full_or_when_its_window_passed_and_a_redelivery_joins_its_batch() {
    let config = config(
        r#"
[jobs.compact]
engine = "glue"
jar = "s3://artifacts/a.jar"
class = "c.Compact"
args = ["{manifest}"]

[jobs.compact.trigger]
s3 = [{ bucket = "data", prefix = "landing/clicks/", batch = { max_objects = 3, window_seconds = 60 } }]
"#,
    );
    let fake = Fake::default();
    let file = |n: u32| format!("landing/clicks/{n}.json");
    for n in 1..=2 {
        deliver(
            &config,
            &fake,
            arrival(&file(n), "2026-12-04T05:00:00Z"),
            "2026-12-04T05:00:01Z",
        )
        .await;
    }
    // A redelivery of the second file joins its batch, never a new place.
    let again = deliver(
        &config,
        &fake,
        arrival(&file(2), "2026-12-04T05:00:00Z"),
        "2026-12-04T05:00:02Z",
    )
    .await;
    assert!(
        again
            .duplicates
            .iter()
            .any(|d| d.contains("has its place in a batch already")),
        "{again:?}"
    );
    assert!(fake.started().is_empty());
    let full = deliver(
        &config,
        &fake,
        arrival(&file(3), "2026-12-04T05:00:10Z"),
        "2026-12-04T05:00:11Z",
    )
    .await;
    assert_eq!(full.started.len(), 1, "{full:?}");
    let manifests = fake.with(|s| s.manifests.clone());
    assert_eq!(manifests.len(), 1);
    let manifest = manifests.values().next().unwrap();
    let objects: Vec<String> = serde_json::from_value(manifest["objects"].clone()).unwrap();
    assert_eq!(
        objects,
        (1..=3)
            .map(|n| format!("s3://data/{}", file(n)))
            .collect::<Vec<_>>()
    );

    // The fourth file opens the next batch; its window passes with no other file: the tick closes and starts it.
    deliver(
        &config,
        &fake,
        arrival(&file(4), "2026-12-04T05:01:00Z"),
        "2026-12-04T05:01:01Z",
    )
    .await;
    assert_eq!(fake.started().len(), 1);
    assert_eq!(
        tick(&config, &fake, "2026-12-04T05:01:00Z")
            .await
            .started
            .len(),
        0,
        "the window has not passed"
    );
    let closed = tick(&config, &fake, "2026-12-04T05:02:00Z").await;
    assert_eq!(closed.started.len(), 1, "{closed:?}");
    assert_eq!(fake.with(|s| s.manifests.len()), 2);
}

#[tokio::test]
async fn a_batched_object_whose_event_was_lost_is_placed_by_the_look_once() {
    let config = config(
        r#"
[jobs.compact]
engine = "glue"
jar = "s3://artifacts/a.jar"
class = "c.Compact"
args = ["{manifest}"]

[jobs.compact.trigger]
s3 = [{ bucket = "data", prefix = "landing/clicks/", suffix = ".json", batch = { max_objects = 3, window_seconds = 3600 } }]
"#,
    );
    let fake = Fake::default();
    let file = |n: u32| format!("landing/clicks/{n}.json");
    let written = |key: &str, time: &str| {
        fake.with(|s| s.objects.insert(("data".into(), key.to_string()), at(time)))
    };
    // Files 1 and 2 arrive with their events; file 3's event is lost; file 4 was written a minute before the look
    // (its event may be on its way); a file of another suffix is no batch's.
    for n in 1..=2 {
        written(&file(n), "2026-12-04T05:00:00Z");
        deliver(
            &config,
            &fake,
            arrival(&file(n), "2026-12-04T05:00:00Z"),
            "2026-12-04T05:00:01Z",
        )
        .await;
    }
    written(&file(3), "2026-12-04T05:00:30Z");
    written(&file(4), "2026-12-04T05:14:00Z");
    written("landing/clicks/readme.txt", "2026-12-04T05:00:30Z");
    assert!(fake.started().is_empty());

    let look = tick(&config, &fake, "2026-12-04T05:15:00Z").await;
    // File 3 filled the first batch: its run started, with the three files.
    assert_eq!(look.started.len(), 1, "{look:?}");
    let manifest = fake.with(|s| s.manifests.values().next().cloned()).unwrap();
    let objects: Vec<String> = serde_json::from_value(manifest["objects"].clone()).unwrap();
    assert_eq!(
        objects,
        (1..=3)
            .map(|n| format!("s3://data/{}", file(n)))
            .collect::<Vec<_>>()
    );
    // File 4's event comes after all: it opens the second batch, as it would have anyway.
    deliver(
        &config,
        &fake,
        arrival(&file(4), "2026-12-04T05:14:00Z"),
        "2026-12-04T05:15:30Z",
    )
    .await;
    let second = fake.with(|s| s.batches[&("compact".to_string(), 0, 2)].clone());
    assert_eq!(second.objects, [format!("s3://data/{}", file(4))]);

    // The next look sees files 1–4 again (written in the last half hour): each has its place, nothing moves.
    tick(&config, &fake, "2026-12-04T05:30:00Z").await;
    let batches = fake.with(|s| s.batches.clone());
    assert_eq!(batches.len(), 2, "{batches:?}");
    assert_eq!(batches[&("compact".to_string(), 0, 2)].objects.len(), 1);
}

// ---------------------------------------------------------------------------------------------- "did not run" alerts

#[tokio::test]
async fn a_duration_after_the_first_arrival_alerts_once_with_the_reason() {
    let config = config("[jobs.margin.expect]\nsucceeded_by = \"2h\"\n");
    let fake = Fake::default();
    // dt=2026-12-03's stock at 05:10; its prices never come.
    deliver(
        &config,
        &fake,
        arrival(STOCK, "2026-12-04T05:10:00Z"),
        "2026-12-04T05:10:01Z",
    )
    .await;
    let watched = fake.with(|s| s.due.clone());
    assert_eq!(watched.len(), 1);
    assert_eq!(watched.first().unwrap().0, at("2026-12-04T07:10:00Z"));
    assert!(tick(&config, &fake, "2026-12-04T07:09:00Z")
        .await
        .ignored
        .iter()
        .all(|i| !i.contains("did not run")));
    assert!(fake.missing_alerts().is_empty());

    tick(&config, &fake, "2026-12-04T07:10:00Z").await;
    let alerts = fake.missing_alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["kind"], "expectation");
    assert_eq!(alerts[0]["partition"], "date=2026-12-03");
    assert_eq!(alerts[0]["since"], "2026-12-04T05:10:00Z");
    assert_eq!(alerts[0]["reason"]["why"], "inputs_missing");
    assert_eq!(
        alerts[0]["reason"]["missing"],
        json!(["s3://data/landing/prices/dt=2026-12-03/_SUCCESS"])
    );
    let (_, text) = fake.with(|s| s.published[0].clone());
    assert!(text.contains("no run of the partition date=2026-12-03 succeeded between its first input's arrival, 2026-12-04 05:10 UTC, and 2026-12-04 07:10 UTC"), "{text}");
    // No longer watched: later ticks say nothing more; the ledger has it for `history` and `doctor`.
    assert!(fake.with(|s| s.due.is_empty()));
    tick(&config, &fake, "2026-12-04T07:11:00Z").await;
    assert_eq!(fake.missing_alerts().len(), 1);
    let missed = fake.with(|s| s.ledgers["margin"].missed.clone()).unwrap();
    assert_eq!(missed.0, at("2026-12-04T07:10:00Z"));
    assert!(
        missed.1.contains("inputs missing for date=2026-12-03"),
        "{missed:?}"
    );
}

/// margin's two inputs for 2026-12-03 arrive on the morning of the 4th (stock at 05:00, prices at 05:05): the
/// partition's run starts; its name.
async fn both_inputs_arrive(config: &TriggerConfig, fake: &Fake) -> String {
    deliver(
        config,
        fake,
        arrival(STOCK, "2026-12-04T05:00:00Z"),
        "2026-12-04T05:00:01Z",
    )
    .await;
    let last = deliver(
        config,
        fake,
        arrival(PRICES, "2026-12-04T05:05:00Z"),
        "2026-12-04T05:05:01Z",
    )
    .await;
    last.started[0].clone()
}

#[tokio::test]
async fn a_partition_whose_run_succeeded_in_time_is_not_alerted_one_whose_run_failed_is() {
    let config = config("[jobs.margin.expect]\nsucceeded_by = \"90m\"\n");
    for (status, alerted) in [
        ("SUCCEEDED", None),
        ("FAILED", Some("failed")),
        ("RUNNING", Some("still_running")),
    ] {
        let fake = Fake::default();
        let run = both_inputs_arrive(&config, &fake).await;
        fake.set_status(&run, status);
        if status == "FAILED" {
            fake.with(|s| {
                s.ledgers.get_mut("margin").unwrap().ended = Some((
                    run.clone(),
                    "FAILED".into(),
                    at("2026-12-04T06:00:00Z"),
                    Some("States.TaskFailed".into()),
                ))
            });
        }
        tick(&config, &fake, "2026-12-04T06:30:00Z").await;
        let alerts = fake.missing_alerts();
        match alerted {
            None => assert!(alerts.is_empty(), "{status}: {alerts:?}"),
            Some(why) => {
                assert_eq!(alerts.len(), 1, "{status}: {alerts:?}");
                assert_eq!(alerts[0]["reason"]["why"], why, "{status}");
                assert_eq!(alerts[0]["reason"]["run"], run.as_str());
            }
        }
        if status == "FAILED" {
            assert_eq!(alerts[0]["reason"]["error"], "States.TaskFailed");
        }
        if status == "RUNNING" {
            // Noted started at 05:05:01, due 06:30.
            assert_eq!(alerts[0]["reason"]["minutes"], 84);
        }
        assert!(fake.with(|s| s.due.is_empty()), "{status}");
    }
}

#[tokio::test]
async fn a_partitions_run_waiting_for_its_engines_slot_is_alerted_as_queued() {
    // [limits]: margin's run waits for a Glue slot (the group limit:glue), not for a slot of its own job.
    let config = config(
        "[limits]\nglue_concurrent_runs = 2\n[jobs.margin.expect]\nsucceeded_by = \"90m\"\n",
    );
    let fake = Fake::default();
    let run = both_inputs_arrive(&config, &fake).await;
    fake.set_status(&run, "RUNNING");
    fake.with(|s| {
        s.queued.push(QueuedRun {
            job: "limit:glue".into(),
            run_name: run.clone(),
            token: "T".into(),
            max: 2,
            enqueued: at("2026-12-04T05:05:02Z"),
            since: at("2026-12-04T05:05:02Z"),
            then: None,
            expires: at("2026-12-05T05:05:02Z"),
        })
    });
    tick(&config, &fake, "2026-12-04T06:30:00Z").await;
    let alerts = fake.missing_alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["reason"]["why"], "queued");
    assert_eq!(alerts[0]["reason"]["run"], run.as_str());
}

#[tokio::test]
async fn a_duration_after_a_schedules_time_and_a_cron_alert_when_no_run_succeeded_since() {
    let scheduled = r#"
[jobs.report]
engine = "glue"
jar = "s3://artifacts/a.jar"
class = "c.Report"

[jobs.report.trigger]
schedule = "cron(0 6 * * ? *)"

[jobs.report.expect]
succeeded_by = "2h"
"#;
    let config = config(scheduled);
    let fake = Fake::default();
    // The 06:00 run started and failed.
    fake.with(|s| {
        let ledger = s.ledgers.entry("report".into()).or_default();
        ledger.started = Some(("report-0600".into(), at("2026-12-04T06:00:05Z")));
        ledger.ended = Some((
            "report-0600".into(),
            "FAILED".into(),
            at("2026-12-04T06:20:00Z"),
            None,
        ));
    });
    tick(&config, &fake, "2026-12-04T07:59:00Z").await;
    assert!(fake.missing_alerts().is_empty());
    tick(&config, &fake, "2026-12-04T08:00:00Z").await;
    let alerts = fake.missing_alerts();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["since"], "2026-12-04T06:00:00Z");
    assert_eq!(alerts[0]["due"], "2026-12-04T08:00:00Z");
    assert_eq!(alerts[0]["reason"]["why"], "failed");
    // The same minute again (a retried tick): once.
    tick(&config, &fake, "2026-12-04T08:00:00Z").await;
    assert_eq!(fake.missing_alerts().len(), 1);

    // A cron expectation: the next day's run succeeded by then, nothing is said.
    let config = self::config(&scheduled.replace("\"2h\"", "\"cron(0 8 * * ? *)\""));
    let fake = Fake::default();
    fake.with(|s| {
        let ledger = s.ledgers.entry("report".into()).or_default();
        ledger.started = Some(("report-0600".into(), at("2026-12-05T06:00:05Z")));
        ledger.succeeded = Some(("report-0600".into(), at("2026-12-05T06:40:00Z")));
    });
    tick(&config, &fake, "2026-12-05T08:00:00Z").await;
    assert!(fake.missing_alerts().is_empty());
    // The day after, nothing ran: never triggered.
    tick(&config, &fake, "2026-12-06T08:00:00Z").await;
    let alerts = fake.missing_alerts();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["reason"]["why"], "never_triggered");
}

#[test]
fn an_expectation_is_a_cron_or_a_duration_after_what_starts_the_jobs_runs() {
    let with = |expect: &str, trigger: &str| {
        common::catalog_of(&format!(
            "{}\n[jobs.other]\nengine = \"glue\"\njar = \"s3://artifacts/a.jar\"\nclass = \"c.C\"\n{trigger}\n[jobs.other.expect]\nsucceeded_by = \"{expect}\"\n",
            JOB
        ))
    };
    let after = "[jobs.other.trigger]\nafter = [\"margin\"]\n";
    let scheduled = "[jobs.other.trigger]\nschedule = \"cron(0 6 * * ? *)\"\n";
    assert!(with("1h 30m", scheduled).is_ok());
    assert!(with("cron(0 10 * * ? *)", after).is_ok());
    let refused = with("2h", after).unwrap_err();
    assert!(
        refused.contains("other")
            && refused.contains("expect.succeeded_by")
            && refused.contains("has neither"),
        "{refused}"
    );
    let refused = with("soon", scheduled).unwrap_err();
    assert!(
        refused.contains("neither a cron(…) expression nor a duration"),
        "{refused}"
    );
    let refused = with("30s", scheduled).unwrap_err();
    assert!(refused.contains("from 1 minute to 7 days"), "{refused}");
    let refused = with("8days", scheduled).unwrap_err();
    assert!(refused.contains("from 1 minute to 7 days"), "{refused}");
}

// ------------------------------------------------------------------------------------------- throttled starts

const HOURLY: &str = r#"
[jobs.hourly]
engine = "glue"
jar = "s3://artifacts/app.jar"
class = "com.acme.Hourly"
args = ["--input", "{input}"]

[jobs.hourly.trigger]
s3 = [{ bucket = "data", prefix = "landing/hourly/", suffix = ".csv" }]
"#;

#[tokio::test]
async fn a_start_throttled_past_its_retries_is_parked_and_a_tick_starts_it_in_its_own_time() {
    let config = config(HOURLY);
    let fake = Fake::default();
    // Step Functions' bucket is empty for the next three starts.
    fake.with(|s| s.throttled = 3);
    let mut parked = Vec::new();
    for n in 1..=3 {
        let report = deliver(
            &config,
            &fake,
            arrival(&format!("landing/hourly/h{n}.csv"), "2026-12-04T05:10:00Z"),
            "2026-12-04T05:10:01Z",
        )
        .await;
        // The event is answered (nothing for Lambda to retry), its run kept.
        assert!(
            report.started.is_empty() && report.failed.is_empty(),
            "{report:?}"
        );
        parked.extend(report.parked);
    }
    assert_eq!(parked.len(), 3);
    assert!(fake.started().is_empty());
    let kept = fake.with(|s| {
        s.parked
            .values()
            .map(|p| p.input.clone())
            .collect::<Vec<_>>()
    });
    assert!(kept.iter().all(|input| input.contains("landing/hourly/h")));

    // The next tick: the first start is throttled again, which ends its look — one start per throttle, no busy loop.
    fake.with(|s| s.throttled = 1);
    let report = tick(&config, &fake, "2026-12-04T05:11:00Z").await;
    assert!(report.started.is_empty(), "{report:?}");
    assert_eq!(report.parked.len(), 3, "all three still wait");
    assert_eq!(fake.with(|s| s.parked.len()), 3);

    // The one after starts them all, with the plans their arrivals rendered, and forgets them.
    let report = tick(&config, &fake, "2026-12-04T05:12:00Z").await;
    let mut started = report.started.clone();
    started.sort();
    parked.sort();
    assert_eq!(started, parked);
    assert_eq!(fake.with(|s| s.parked.len()), 0);
    for run in &parked {
        let input = fake.input_of(run);
        assert_eq!(input["job"], "hourly");
        assert!(input.to_string().contains("landing/hourly/h"), "{input}");
    }
    assert!(fake.with(|s| s.ledgers["hourly"].started.is_some()));
    // Each has its record from the tick that started it (none while parked: no execution yet).
    let records = fake.with(|s| s.records.clone());
    assert_eq!(records.keys().cloned().collect::<Vec<_>>(), parked);
    for record in records.values() {
        assert_eq!(record.job, "hourly");
        assert_eq!(record.status, "RUNNING");
        assert!(
            record.trigger.starts_with("s3://data/landing/hourly/h"),
            "{record:?}"
        );
        assert_eq!(record.started, at("2026-12-04T05:12:00Z"));
    }

    // A redelivered arrival of a run that a tick started is a duplicate.
    let again = deliver(
        &config,
        &fake,
        arrival("landing/hourly/h1.csv", "2026-12-04T05:10:00Z"),
        "2026-12-04T05:13:01Z",
    )
    .await;
    assert_eq!(again.duplicates.len(), 1, "{again:?}");
}

#[tokio::test]
async fn a_parked_run_started_meanwhile_by_its_redelivered_event_is_forgotten_as_a_duplicate() {
    let config = config(HOURLY);
    let fake = Fake::default();
    fake.with(|s| s.throttled = 1);
    let event = arrival("landing/hourly/h1.csv", "2026-12-04T05:10:00Z");
    let first = deliver(&config, &fake, event.clone(), "2026-12-04T05:10:01Z").await;
    assert_eq!(first.parked.len(), 1);
    let redelivered = deliver(&config, &fake, event, "2026-12-04T05:10:30Z").await;
    assert_eq!(redelivered.started, first.parked);
    let report = tick(&config, &fake, "2026-12-04T05:11:00Z").await;
    assert_eq!(report.duplicates, first.parked);
    assert!(report.started.is_empty());
    assert_eq!(fake.with(|s| s.parked.len()), 0);
}

#[tokio::test]
async fn a_tick_keeps_starting_parked_runs_through_throttles_while_its_budget_lasts() {
    let mut config = config(HOURLY);
    config.parked_budget = std::time::Duration::from_secs(30);
    let fake = Fake::default();
    fake.with(|s| s.throttled = 2);
    for n in 1..=2 {
        deliver(
            &config,
            &fake,
            arrival(&format!("landing/hourly/h{n}.csv"), "2026-12-04T05:10:00Z"),
            "2026-12-04T05:10:01Z",
        )
        .await;
    }
    assert_eq!(fake.with(|s| s.parked.len()), 2);
    // The bucket stays empty for two more starts, each throttle coming back after the SDK's backoff: the tick tries
    // the same run again rather than leaving the rest to the next minute.
    fake.with(|s| {
        s.throttled = 2;
        s.backs_off = true;
    });
    let report = tick(&config, &fake, "2026-12-04T05:11:00Z").await;
    assert_eq!(report.started.len(), 2, "{report:?}");
    assert!(report.parked.is_empty());
    assert_eq!(fake.with(|s| s.parked.len()), 0);

    // A throttle that comes back at once (no backoff left) ends the look, whatever the budget.
    fake.with(|s| {
        s.throttled = 1;
        s.backs_off = false;
    });
    deliver(
        &config,
        &fake,
        arrival("landing/hourly/h3.csv", "2026-12-04T05:12:00Z"),
        "2026-12-04T05:12:01Z",
    )
    .await;
    fake.with(|s| s.throttled = 1);
    let report = tick(&config, &fake, "2026-12-04T05:13:00Z").await;
    assert_eq!(report.parked.len(), 1, "{report:?}");
    assert_eq!(fake.with(|s| s.parked.len()), 1);
}
