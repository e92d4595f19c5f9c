//! The AWS services the handlers call: EMR, Glue, EMR Serverless, Step Functions (executions and task tokens),
//! CloudWatch Logs, the alerts' SNS and EventBridge, the failed-events queue and Lambda.

use std::collections::BTreeMap;
use std::future::Future;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::AwsError;
use crate::run::events::ObjectArrival;
use crate::run::timeline::ServerlessUsage;

/// Why a cluster or step changed state, as EMR says it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateChange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A cluster as ListClusters names it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterSummary {
    pub id: String,
    pub name: String,
    /// STARTING, BOOTSTRAPPING, RUNNING (a step runs) or WAITING (no step to run).
    pub state: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterView {
    pub id: String,
    pub name: String,
    /// The cluster's tags (`sparkplug:environment` tells whose it is).
    pub tags: BTreeMap<String, String>,
    pub state: String,
    pub state_change: StateChange,
    /// `Status.ErrorDetails`' codes of a cluster that ended with an error (EMR Management Guide, "Error codes with
    /// ErrorDetail information").
    pub error_codes: Vec<String>,
    pub created: Option<DateTime<Utc>>,
    pub ready: Option<DateTime<Utc>>,
    pub ended: Option<DateTime<Utc>>,
}

/// EMR's `FailureDetails` of a failed step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepFailure {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_file: Option<String>,
}

impl StepFailure {
    /// EMR's `FailureDetails` fields as the API gives them: `None` when it gives none.
    pub fn from_details(
        reason: Option<String>,
        message: Option<String>,
        log_file: Option<String>,
    ) -> Option<StepFailure> {
        (reason.is_some() || message.is_some() || log_file.is_some()).then_some(StepFailure {
            reason,
            message,
            log_file,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepView {
    pub id: String,
    pub name: String,
    pub state: String,
    pub state_change: StateChange,
    pub failure: Option<StepFailure>,
    pub created: Option<DateTime<Utc>>,
    pub started: Option<DateTime<Utc>>,
    pub ended: Option<DateTime<Utc>>,
}

pub trait EmrApi {
    /// Every cluster that is STARTING, BOOTSTRAPPING, RUNNING or WAITING, whoever it belongs to (ListClusters filters
    /// by state only, and returns no tags).
    fn active_clusters(&self)
        -> impl Future<Output = Result<Vec<ClusterSummary>, AwsError>> + Send;
    /// RunJobFlow with this request body; the new cluster's id.
    fn run_job_flow(
        &self,
        request: &Value,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    fn describe_cluster(
        &self,
        cluster_id: &str,
    ) -> impl Future<Output = Result<ClusterView, AwsError>> + Send;
    /// Every step of the cluster.
    fn list_steps(
        &self,
        cluster_id: &str,
    ) -> impl Future<Output = Result<Vec<StepView>, AwsError>> + Send;
    /// AddJobFlowSteps with these StepConfigs; the new steps' ids, in order.
    fn add_job_flow_steps(
        &self,
        cluster_id: &str,
        steps: &[Value],
    ) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;
    fn terminate_job_flows(
        &self,
        cluster_ids: &[String],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// CancelSteps (pending steps, and running ones on EMR 5.28.0+): how a run on a pool cluster ends its work
    /// without ending the cluster.
    fn cancel_steps(
        &self,
        cluster_id: &str,
        step_ids: &[String],
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct GlueRunView {
    pub id: String,
    /// The sparkplug run it belongs to: its `--sparkplug_run` argument.
    pub run_name: Option<String>,
    pub state: String,
    pub error_message: Option<String>,
    pub started: Option<DateTime<Utc>>,
    pub completed: Option<DateTime<Utc>>,
    pub execution_seconds: Option<i64>,
    pub log_group: Option<String>,
}

pub trait GlueApi {
    /// The job definition's fields that sparkplug manages, as CreateJob JSON; `None` if there is no such job.
    fn get_job(&self, name: &str) -> impl Future<Output = Result<Option<Value>, AwsError>> + Send;
    fn create_job(&self, request: &Value) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// UpdateJob with `JobName` and this `JobUpdate`.
    fn update_job(
        &self,
        name: &str,
        update: &Value,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// The job's recent runs, newest first (one page: a retried start or a sweep looks at recent runs only); none
    /// when the job does not exist.
    fn job_runs(
        &self,
        job_name: &str,
    ) -> impl Future<Output = Result<Vec<GlueRunView>, AwsError>> + Send;
    /// BatchStopJobRun: the ids whose stop was accepted.
    fn stop_job_runs(
        &self,
        job_name: &str,
        run_ids: &[String],
    ) -> impl Future<Output = Result<Vec<String>, AwsError>> + Send;
    /// StartJobRun with this request body; the run's id.
    fn start_job_run(
        &self,
        request: &Value,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    fn get_job_run(
        &self,
        job_name: &str,
        run_id: &str,
    ) -> impl Future<Output = Result<GlueRunView, AwsError>> + Send;
}

/// An EMR Serverless application, as GetApplication tells it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApplicationView {
    pub id: String,
    pub name: String,
    /// CREATING, CREATED, STARTING, STARTED, STOPPING, STOPPED, TERMINATED.
    pub state: String,
    /// The application's settings sparkplug manages, as CreateApplication JSON (camelCase).
    pub settings: Value,
}

/// An EMR Serverless job run, as GetJobRun tells it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerlessRunView {
    pub application_id: String,
    pub id: String,
    pub name: Option<String>,
    /// SUBMITTED, PENDING, SCHEDULED, RUNNING, SUCCESS, FAILED, CANCELLING, CANCELLED, QUEUED.
    pub state: String,
    pub state_details: Option<String>,
    pub created: Option<DateTime<Utc>>,
    /// When it started running (its workers ready), if it did.
    pub started: Option<DateTime<Utc>>,
    pub ended: Option<DateTime<Utc>>,
    pub execution_seconds: Option<i64>,
    pub billed: Option<ServerlessUsage>,
    /// The run's S3 log location (`configurationOverrides`), if set.
    pub log_uri: Option<String>,
}

/// EMR Serverless: applications and their job runs.
pub trait ServerlessApi {
    /// The application of this name (not TERMINATED), if any.
    fn find_application(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<ApplicationView>, AwsError>> + Send;
    /// CreateApplication with this request body; the new application's id.
    fn create_application(
        &self,
        request: &Value,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    /// UpdateApplication with these fields (only a CREATED or STOPPED application can be updated).
    fn update_application(
        &self,
        application_id: &str,
        update: &Value,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    /// StartJobRun with this request body (its `clientToken` makes a repeat start nothing); the job run's id.
    fn start_job_run(
        &self,
        application_id: &str,
        request: &Value,
    ) -> impl Future<Output = Result<String, AwsError>> + Send;
    fn get_job_run(
        &self,
        application_id: &str,
        job_run_id: &str,
    ) -> impl Future<Output = Result<ServerlessRunView, AwsError>> + Send;
    /// The application's job runs that have not ended: (id, name).
    fn active_job_runs(
        &self,
        application_id: &str,
    ) -> impl Future<Output = Result<Vec<(String, String)>, AwsError>> + Send;
    fn cancel_job_run(
        &self,
        application_id: &str,
        job_run_id: &str,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartOutcome {
    Started {
        execution_arn: String,
    },
    /// An execution of this name exists already: this arrival already has its run.
    AlreadyExists,
}

/// An execution of the run state machine, as ListExecutions names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionSummary {
    pub name: String,
    /// RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE.
    pub status: String,
    pub started: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<DateTime<Utc>>,
}

pub trait SfnApi {
    /// The executions of the state machine that started at or after `since`, newest first (ListExecutions, paged
    /// only as far back as `since`: the call count grows with the runs since then, not with the account's).
    fn executions_since(
        &self,
        state_machine_arn: &str,
        since: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<ExecutionSummary>, AwsError>> + Send;
    /// The status of the execution of this name (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, …), or `None`
    /// when the state machine has no such execution.
    fn execution_status(
        &self,
        state_machine_arn: &str,
        name: &str,
    ) -> impl Future<Output = Result<Option<String>, AwsError>> + Send;
    /// Starts the execution `name`: [`StartOutcome::AlreadyExists`] when it exists already — ended, with another
    /// input, or running since before this call (a repeated start of a running execution with the same input is
    /// answered as its original start was).
    fn start_execution(
        &self,
        state_machine_arn: &str,
        name: &str,
        input: &str,
    ) -> impl Future<Output = Result<StartOutcome, AwsError>> + Send;
}

/// What became of a task token sparkplug answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenAnswer {
    /// Step Functions took the answer: the waiting task goes on.
    Delivered,
    /// Nobody waits on this token any more (TaskTimedOut, TaskDoesNotExist, InvalidToken: the task timed out, the
    /// execution was stopped or has ended, or another answer came first). Log it and drop it; never retry.
    Gone { code: String },
}

/// The callback side of Step Functions: answers to `waitForTaskToken` tasks.
pub trait CallbackApi {
    /// SendTaskSuccess with this JSON output.
    fn send_task_success(
        &self,
        token: &str,
        output: &str,
    ) -> impl Future<Output = Result<TokenAnswer, AwsError>> + Send;
    /// SendTaskFailure: the waiting task fails with `error` (its Catch sees it) and `cause`.
    fn send_task_failure(
        &self,
        token: &str,
        error: &str,
        cause: &str,
    ) -> impl Future<Output = Result<TokenAnswer, AwsError>> + Send;
}

/// An execution of the run state machine, as DescribeExecution tells it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExecutionView {
    pub status: String,
    /// The input, parsed (`Null` when it is not JSON).
    pub input: Value,
    /// The output of a succeeded execution, parsed.
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    /// When it ended, if it has.
    pub stopped: Option<DateTime<Utc>>,
    /// When it started.
    pub started: Option<DateTime<Utc>>,
}

/// What the alert needs from Step Functions: an execution, and what its tasks returned.
pub trait ExecutionsApi {
    fn describe_execution(
        &self,
        execution_arn: &str,
    ) -> impl Future<Output = Result<ExecutionView, AwsError>> + Send;
    /// Every task's output (Lambda tasks and answered waits), newest first, parsed.
    fn task_outputs(
        &self,
        execution_arn: &str,
    ) -> impl Future<Output = Result<Vec<Value>, AwsError>> + Send;
}

/// Where logs are read: S3 objects (EMR's step logs) and CloudWatch Logs streams (Glue's).
pub trait LogsApi {
    /// The object's bytes; `None` when there is no such object (yet).
    fn s3_object(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, AwsError>> + Send;
    /// The last `lines` messages of a log stream, oldest first; `None` when the stream does not exist (yet).
    fn log_events(
        &self,
        group: &str,
        stream: &str,
        lines: usize,
    ) -> impl Future<Output = Result<Option<Vec<String>>, AwsError>> + Send;
}

/// One SNS message in a form for each kind of subscriber (Publish with `MessageStructure=json`: SNS API Reference,
/// Publish): `default` for every protocol that has no entry of its own — the chat service's HTTPS subscription, SQS,
/// Lambda — and `email` for email subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsMessage {
    pub default: String,
    pub email: String,
}

/// Where alerts go: an SNS topic and the default EventBridge bus.
pub trait AlertsApi {
    fn publish(
        &self,
        topic_arn: &str,
        subject: &str,
        message: &SnsMessage,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
    fn put_event(
        &self,
        source: &str,
        detail_type: &str,
        detail: &Value,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// The data's objects, as the trigger reads and writes them: whether an input has arrived (the input sets' backstop
/// for a lost arrival event), the objects recently written under a batched prefix (the batches' backstop), and a
/// batch's manifest.
pub trait ObjectsApi {
    /// When the object was last written; none when there is no such object.
    fn last_modified(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<DateTime<Utc>>, AwsError>> + Send;
    /// The objects under `prefix` last written after `after`, as arrivals (key, ETag, size, and the time written).
    fn written_after(
        &self,
        bucket: &str,
        prefix: &str,
        after: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<ObjectArrival>, AwsError>> + Send;
    fn put_json(
        &self,
        bucket: &str,
        key: &str,
        body: &Value,
    ) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// A message of the failed-events queue (the on-failure destination of the functions' asynchronous invocations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    /// What deletes it once handled.
    pub receipt: String,
    pub body: String,
    pub sent: Option<DateTime<Utc>>,
}

/// How many messages a queue holds, and when the oldest one seen was sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueDepth {
    pub messages: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest: Option<DateTime<Utc>>,
}

/// The failed-events queue (SQS).
pub trait FailedEventsApi {
    fn depth(&self) -> impl Future<Output = Result<QueueDepth, AwsError>> + Send;
    /// Up to `max` messages, hidden from other readers for `hide_seconds`.
    fn receive(
        &self,
        max: i32,
        hide_seconds: i32,
    ) -> impl Future<Output = Result<Vec<QueuedMessage>, AwsError>> + Send;
    fn delete(&self, receipt: &str) -> impl Future<Output = Result<(), AwsError>> + Send;
}

/// Invokes a function synchronously: its answer, or (`Err`) the error it answered with.
pub trait InvokeApi {
    fn invoke(
        &self,
        function: &str,
        payload: &Value,
    ) -> impl Future<Output = Result<Result<Value, Value>, AwsError>> + Send;
}
