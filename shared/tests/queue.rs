//! Per-job queues over in-memory ports: a free slot answers at once, a full job queues, a run's end frees its slot
//! for the oldest waiting run, a waiting run nobody waits on gives its turn to the next.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use common::{now, plan_of, to_json};
use serde_json::{json, Value};
use sparkplug::engine::handlers::queue::{queue, QueueConfig};
use sparkplug::engine::ports::{
    AwsError, CallbackApi, ExecutionSummary, QueuedRun, SfnApi, SlotStore, StartOutcome,
    TokenAnswer,
};
use sparkplug::engine::ErrorKind;
use sparkplug::run::limits::SlotGroup;

#[derive(Default)]
struct Fake {
    holders: Mutex<BTreeMap<String, BTreeSet<String>>>,
    waiting: Mutex<Vec<QueuedRun>>,
    answered: Mutex<Vec<String>>,
    /// Each delivered answer's output, by token.
    outputs: Mutex<BTreeMap<String, Value>>,
    gone: BTreeSet<String>,
    /// Execution statuses by name (DescribeExecution); a run not here has no execution.
    executions: Mutex<BTreeMap<String, String>>,
    described: Mutex<usize>,
}

impl SfnApi for Fake {
    async fn executions_since(
        &self,
        _: &str,
        _: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<ExecutionSummary>, AwsError> {
        unreachable!()
    }
    async fn execution_status(&self, _: &str, name: &str) -> Result<Option<String>, AwsError> {
        *self.described.lock().unwrap() += 1;
        Ok(self.executions.lock().unwrap().get(name).cloned())
    }
    async fn start_execution(&self, _: &str, _: &str, _: &str) -> Result<StartOutcome, AwsError> {
        unreachable!()
    }
}

fn config() -> QueueConfig {
    QueueConfig {
        state_machine_arn: "arn:aws:states:eu-west-1:123456789012:stateMachine:sparkplug-run-dev"
            .into(),
        environment: "dev".into(),
        engine_groups: BTreeMap::new(),
    }
}

impl SlotStore for Fake {
    async fn acquire(&self, job: &str, run: &str, max: u32) -> Result<bool, AwsError> {
        let mut holders = self.holders.lock().unwrap();
        let held = holders.entry(job.to_string()).or_default();
        if held.contains(run) || held.len() < max as usize {
            held.insert(run.to_string());
            return Ok(true);
        }
        Ok(false)
    }
    async fn release(&self, job: &str, run: &str) -> Result<bool, AwsError> {
        Ok(self
            .holders
            .lock()
            .unwrap()
            .entry(job.to_string())
            .or_default()
            .remove(run))
    }
    async fn enqueue(&self, queued: &QueuedRun) -> Result<(), AwsError> {
        self.waiting.lock().unwrap().push(queued.clone());
        Ok(())
    }
    async fn dequeue(&self, job: &str, run: &str) -> Result<(), AwsError> {
        self.waiting
            .lock()
            .unwrap()
            .retain(|q| !(q.job == job && q.run_name == run));
        Ok(())
    }
    async fn holders(&self) -> Result<BTreeMap<String, Vec<String>>, AwsError> {
        Ok(self
            .holders
            .lock()
            .unwrap()
            .iter()
            .map(|(job, runs)| (job.clone(), runs.iter().cloned().collect()))
            .collect())
    }
    async fn queued(&self, job: Option<&str>) -> Result<Vec<QueuedRun>, AwsError> {
        let mut waiting: Vec<QueuedRun> = self
            .waiting
            .lock()
            .unwrap()
            .iter()
            .filter(|q| job.is_none_or(|j| q.job == j))
            .cloned()
            .collect();
        waiting.sort_by_key(|q| (q.job.clone(), q.enqueued));
        Ok(waiting)
    }
}

impl CallbackApi for Fake {
    async fn send_task_success(&self, token: &str, output: &str) -> Result<TokenAnswer, AwsError> {
        if self.gone.contains(token) {
            return Ok(TokenAnswer::Gone {
                code: "TaskTimedOut".into(),
            });
        }
        self.answered.lock().unwrap().push(token.to_string());
        self.outputs
            .lock()
            .unwrap()
            .insert(token.to_string(), serde_json::from_str(output).unwrap());
        Ok(TokenAnswer::Delivered)
    }
    async fn send_task_failure(&self, _: &str, _: &str, _: &str) -> Result<TokenAnswer, AwsError> {
        unreachable!()
    }
}

fn take(run: &str) -> Value {
    let mut plan = plan_of("customer_scores");
    plan.run_name = run.to_string();
    plan.max_concurrent_runs = Some(1);
    // The job's own queue only: the engine's limit has tests of its own below.
    plan.engine_limit = None;
    json!({"plan": to_json(&plan), "task_token": format!("token-{run}")})
}

fn ended(run: &str, status: &str) -> Value {
    json!({"version": "0", "detail-type": "Step Functions Execution Status Change", "source": "aws.states",
        "detail": {"executionArn": "arn:…", "stateMachineArn": "arn:…:stateMachine:sparkplug-run-dev", "name": run,
            "status": status, "input": json!({"job": "customer_scores"}).to_string()}})
}

async fn call(fake: &Fake, input: Value, minute: i64) -> Value {
    call_with(&config(), fake, input, minute).await
}

async fn call_with(config: &QueueConfig, fake: &Fake, input: Value, minute: i64) -> Value {
    let report = queue(
        config,
        fake,
        fake,
        input,
        now() + chrono::Duration::minutes(minute),
    )
    .await
    .unwrap();
    to_json(&report)
}

#[tokio::test]
async fn runs_beyond_the_limit_wait_first_in_first_out_and_start_when_a_slot_frees() {
    let fake = Fake::default();
    assert_eq!(call(&fake, take("a"), 0).await, json!({"started": ["a"]}));
    assert_eq!(call(&fake, take("b"), 1).await, json!({"queued": ["b"]}));
    assert_eq!(call(&fake, take("c"), 2).await, json!({"queued": ["c"]}));
    assert_eq!(*fake.answered.lock().unwrap(), vec!["token-a"]);
    // a ends (however: here it failed): b, the oldest, goes on; c still waits.
    assert_eq!(
        call(&fake, ended("a", "FAILED"), 3).await,
        json!({"started": ["b"], "released": ["a"]})
    );
    assert_eq!(*fake.answered.lock().unwrap(), vec!["token-a", "token-b"]);
    assert_eq!(fake.waiting.lock().unwrap().len(), 1);
    // A second delivery of a's end changes nothing.
    assert_eq!(call(&fake, ended("a", "FAILED"), 4).await, json!({}));
    assert_eq!(fake.answered.lock().unwrap().len(), 2);
    // A retried TakeSlot of a run that holds its slot is answered again, not queued.
    assert_eq!(call(&fake, take("b"), 5).await, json!({"started": ["b"]}));
}

#[tokio::test]
async fn a_reruns_end_frees_its_slot_though_its_input_names_no_job() {
    let fake = Fake::default();
    call(&fake, take("a-rerun-1"), 0).await;
    assert_eq!(call(&fake, take("b"), 1).await, json!({"queued": ["b"]}));
    // {"rerun": "a", …}: the job is the one whose slot the run holds.
    let mut end = ended("a-rerun-1", "SUCCEEDED");
    end["detail"]["input"] = json!(json!({"rerun": "a", "from_failed": true}).to_string());
    assert_eq!(
        call(&fake, end, 2).await,
        json!({"started": ["b"], "released": ["a-rerun-1"]})
    );
}

#[tokio::test]
async fn a_waiting_run_stopped_or_timed_out_leaves_the_queue_and_gives_its_turn_away() {
    let fake = Fake {
        gone: BTreeSet::from(["token-b".to_string()]),
        ..Fake::default()
    };
    call(&fake, take("a"), 0).await;
    call(&fake, take("b"), 1).await;
    call(&fake, take("c"), 2).await;
    // b's execution was stopped while it waited, but its end event has not come yet: when a ends, b's token is dead
    // and c gets the slot.
    let report = call(&fake, ended("a", "SUCCEEDED"), 3).await;
    assert_eq!(report["started"], json!(["c"]));
    assert_eq!(*fake.answered.lock().unwrap(), vec!["token-a", "token-c"]);
    assert!(fake.holders.lock().unwrap()["customer_scores"].contains("c"));
    assert!(!fake.holders.lock().unwrap()["customer_scores"].contains("b"));
    // A queued run whose own end comes (its limit passed while it waited) simply leaves the queue.
    call(&fake, take("d"), 4).await;
    call(&fake, ended("d", "FAILED"), 5).await;
    assert!(fake.waiting.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_queued_run_its_own_second_look_answered_first_keeps_its_slot() {
    // b queued, then its TakeSlot looked again and took the slot a freed meanwhile: b runs. The end of a, seen at the
    // same moment, answers b's token too — refused, as a token is answered once. b keeps its slot; c still waits.
    let fake = Fake {
        gone: BTreeSet::from(["token-b".to_string()]),
        ..Fake::default()
    };
    for (run, minute) in [("a", 0), ("b", 1), ("c", 2)] {
        fake.executions
            .lock()
            .unwrap()
            .insert(run.into(), "RUNNING".into());
        call(&fake, take(run), minute).await;
    }
    let report = call(&fake, ended("a", "SUCCEEDED"), 3).await;
    assert_eq!(report, json!({"released": ["a"]}));
    assert!(fake.holders.lock().unwrap()["customer_scores"].contains("b"));
    assert_eq!(fake.waiting.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn the_drain_starts_what_a_lost_event_left_waiting() {
    let fake = Fake::default();
    call(&fake, take("a"), 0).await;
    call(&fake, take("b"), 1).await;
    // a's end event was lost, but its slot was freed (by hand here).
    fake.holders
        .lock()
        .unwrap()
        .get_mut("customer_scores")
        .unwrap()
        .remove("a");
    // The drain also tells each job's queue (a metric line each): nobody waits, b holds the slot.
    assert_eq!(
        call(&fake, json!({"drain": true}), 2).await,
        json!({"started": ["b"], "depths": {"customer_scores": [0, 1]}})
    );
}

#[tokio::test]
async fn the_drain_frees_the_slot_of_a_run_whose_end_event_was_lost_and_starts_the_next() {
    let fake = Fake::default();
    for (run, minute) in [("a", 0), ("b", 1), ("c", 2)] {
        fake.executions
            .lock()
            .unwrap()
            .insert(run.into(), "RUNNING".into());
        call(&fake, take(run), minute).await;
    }
    // a was stopped from the console; its status change never reached the queue.
    fake.executions
        .lock()
        .unwrap()
        .insert("a".into(), "ABORTED".into());
    assert_eq!(
        call(&fake, json!({"drain": true}), 10).await,
        json!({"started": ["b"], "released": ["a"], "depths": {"customer_scores": [1, 1]}})
    );
    assert_eq!(*fake.answered.lock().unwrap(), vec!["token-a", "token-b"]);
    // b runs: the next drain leaves its slot alone (one DescribeExecution per held slot) and c waits.
    let before = *fake.described.lock().unwrap();
    assert_eq!(
        call(&fake, json!({"drain": true}), 15).await,
        json!({"depths": {"customer_scores": [1, 1]}})
    );
    assert_eq!(*fake.described.lock().unwrap(), before + 1);
    assert_eq!(fake.waiting.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn the_drain_leaves_a_slot_whose_holder_has_no_execution_of_its_name() {
    let fake = Fake::default();
    call(&fake, take("pasted"), 0).await;
    call(&fake, take("b"), 1).await;
    assert_eq!(
        call(&fake, json!({"drain": true}), 10).await,
        json!({"depths": {"customer_scores": [1, 1]}})
    );
    assert!(fake.holders.lock().unwrap()["customer_scores"].contains("pasted"));
}

#[tokio::test]
async fn bad_input_is_invalid_input() {
    let fake = Fake::default();
    let mut no_limit = take("a");
    no_limit["plan"]
        .as_object_mut()
        .unwrap()
        .remove("max_concurrent_runs");
    for input in [no_limit, json!({"sweep": true}), json!({"task_token": "t"})] {
        let err = queue(&config(), &fake, &fake, input, now())
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidInput, "{}", err.message);
    }
    // A plan with neither a job's queue nor an engine's limit says so.
    let mut none = take("z");
    none["plan"]
        .as_object_mut()
        .unwrap()
        .remove("max_concurrent_runs");
    let err = queue(&config(), &fake, &fake, none, now())
        .await
        .unwrap_err();
    assert!(err.message.contains("takes no slot"), "{}", err.message);
}

// ------------------------------------------------------------------------------------- engine limits ([limits])

/// The catalog's `[limits] glue_concurrent_runs = 1` over two Glue jobs: customer_scores (no queue of its own) and
/// ledger_close (max_concurrent_runs = 1).
fn limited() -> QueueConfig {
    let glue = SlotGroup {
        name: "limit:glue".into(),
        max: 1,
    };
    QueueConfig {
        engine_groups: BTreeMap::from([
            ("customer_scores".to_string(), glue.clone()),
            ("ledger_close".to_string(), glue),
        ]),
        ..config()
    }
}

/// A TakeSlot of `job`'s run under [`limited`]: its plan names its engine's group, and its job's when it has one.
fn take_limited(job: &str, run: &str) -> Value {
    // The tests' catalog has one Glue job: the other's plan is a copy of it under its name.
    let mut plan = plan_of("customer_scores");
    plan.job = job.to_string();
    plan.run_name = run.to_string();
    plan.max_concurrent_runs = (job == "ledger_close").then_some(1);
    plan.engine_limit = limited().engine_groups.get(job).cloned();
    json!({"plan": to_json(&plan), "task_token": format!("token-{run}")})
}

fn ended_of(job: &str, run: &str) -> Value {
    let mut event = ended(run, "SUCCEEDED");
    event["detail"]["input"] = json!(json!({ "job": job }).to_string());
    event
}

fn holds(fake: &Fake, group: &str, run: &str) -> bool {
    fake.holders
        .lock()
        .unwrap()
        .get(group)
        .is_some_and(|runs| runs.contains(run))
}

#[tokio::test]
async fn runs_of_two_jobs_past_their_engines_limit_wait_in_one_queue() {
    let fake = Fake::default();
    let config = limited();
    assert_eq!(
        call_with(&config, &fake, take_limited("customer_scores", "a"), 0).await,
        json!({"started": ["a"]})
    );
    // Another job of the same engine: the engine's one slot is a's.
    assert_eq!(
        call_with(&config, &fake, take_limited("ledger_close", "b"), 1).await,
        json!({"queued": ["b"]})
    );
    // b holds its job's slot while it waits for the engine's.
    assert!(holds(&fake, "ledger_close", "b"));
    assert!(!holds(&fake, "limit:glue", "b"));
    // a's end (its input names its job only) frees the engine's slot: b goes on, having waited 4 minutes.
    assert_eq!(
        call_with(&config, &fake, ended_of("customer_scores", "a"), 5).await,
        json!({"started": ["b"], "released": ["a"]})
    );
    assert!(holds(&fake, "limit:glue", "b"));
    assert_eq!(
        fake.outputs.lock().unwrap()["token-b"],
        json!({"queued_seconds": 240})
    );
    // b's end frees both its slots.
    assert_eq!(
        call_with(&config, &fake, ended_of("ledger_close", "b"), 6).await,
        json!({"released": ["b"]})
    );
    assert!(!holds(&fake, "limit:glue", "b") && !holds(&fake, "ledger_close", "b"));
}

#[tokio::test]
async fn a_run_freed_from_its_jobs_queue_queues_for_its_engine_behind_older_runs() {
    let fake = Fake::default();
    let config = limited();
    // a (ledger_close) holds both slots; b (ledger_close) waits for its job's; c (customer_scores) for the engine's.
    call_with(&config, &fake, take_limited("ledger_close", "a"), 0).await;
    call_with(&config, &fake, take_limited("ledger_close", "b"), 1).await;
    call_with(&config, &fake, take_limited("customer_scores", "c"), 2).await;
    // a ends: b takes the job's slot, then meets the engine's queue, where c waited longer: c goes on, b waits.
    assert_eq!(
        call_with(&config, &fake, ended_of("ledger_close", "a"), 3).await,
        json!({"started": ["c"], "released": ["a"]})
    );
    assert!(holds(&fake, "ledger_close", "b"));
    let waiting: Vec<(String, String)> = fake
        .waiting
        .lock()
        .unwrap()
        .iter()
        .map(|q| (q.job.clone(), q.run_name.clone()))
        .collect();
    assert_eq!(waiting, [("limit:glue".to_string(), "b".to_string())]);
    // c ends: b goes on, its wait counted from its first queue (minute 1).
    assert_eq!(
        call_with(&config, &fake, ended_of("customer_scores", "c"), 7).await,
        json!({"started": ["b"], "released": ["c"]})
    );
    assert_eq!(
        fake.outputs.lock().unwrap()["token-b"],
        json!({"queued_seconds": 360})
    );
}

#[tokio::test]
async fn a_run_stopped_while_it_waits_for_its_engine_gives_back_its_jobs_slot() {
    let fake = Fake::default();
    let config = limited();
    call_with(&config, &fake, take_limited("customer_scores", "a"), 0).await;
    call_with(&config, &fake, take_limited("ledger_close", "b"), 1).await;
    call_with(&config, &fake, take_limited("ledger_close", "c"), 2).await;
    // b (holding ledger_close's slot, waiting for the engine's) is stopped: its end frees its job's slot for c, which
    // then waits for the engine's, and b leaves the engine's queue.
    let mut stopped = ended_of("ledger_close", "b");
    stopped["detail"]["status"] = json!("ABORTED");
    assert_eq!(
        call_with(&config, &fake, stopped, 3).await,
        json!({"released": ["b"]})
    );
    assert!(holds(&fake, "ledger_close", "c"));
    let waiting: Vec<String> = fake
        .waiting
        .lock()
        .unwrap()
        .iter()
        .map(|q| format!("{}/{}", q.job, q.run_name))
        .collect();
    assert_eq!(waiting, ["limit:glue/c"]);
}

#[tokio::test]
async fn a_reruns_end_frees_every_group_it_holds() {
    let fake = Fake::default();
    let config = limited();
    call_with(&config, &fake, take_limited("ledger_close", "a-rerun-1"), 0).await;
    call_with(&config, &fake, take_limited("customer_scores", "b"), 1).await;
    let mut end = ended("a-rerun-1", "SUCCEEDED");
    end["detail"]["input"] = json!(json!({"rerun": "a"}).to_string());
    assert_eq!(
        call_with(&config, &fake, end, 2).await,
        json!({"started": ["b"], "released": ["a-rerun-1"]})
    );
    assert!(!holds(&fake, "ledger_close", "a-rerun-1"));
}

#[tokio::test]
async fn the_drain_frees_an_engine_slot_whose_holders_end_was_lost() {
    let fake = Fake::default();
    let config = limited();
    call_with(&config, &fake, take_limited("customer_scores", "a"), 0).await;
    call_with(&config, &fake, take_limited("customer_scores", "b"), 1).await;
    fake.executions
        .lock()
        .unwrap()
        .insert("a".into(), "SUCCEEDED".into());
    let report = call_with(&config, &fake, json!({"drain": true}), 10).await;
    assert_eq!(report["released"], json!(["a"]));
    assert_eq!(report["started"], json!(["b"]));
    assert_eq!(report["depths"]["limit:glue"], json!([0, 1]));
}
