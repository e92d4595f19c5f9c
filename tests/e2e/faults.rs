//! AWS API faults and function failures: each run still ends as its fault says and leaves nothing running.

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_run_job_flow_is_retried_and_the_run_succeeds() {
    let aws = aws().await;
    let fault = json!({"api_errors": [{"action": "RunJobFlow", "code": "ThrottlingException", "message": "Rate exceeded", "times": 4}]});
    let finished = faulty_run(&aws, "throttled-create", fault).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.cause);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_create_that_fails_after_the_cluster_exists_reuses_it_and_leaves_none() {
    let aws = aws().await;
    // The cluster is created, then the answer is lost (the SDK retries: more clusters of this run may exist).
    let fault = json!({"api_errors": [{"action": "RunJobFlow", "code": "InternalServerError", "message": "lost", "times": 3, "after_call": true}]});
    let run = unique("lost-create");
    aws.fault(&run, fault).await;
    aws.start("hello_world", &run).await;
    let finished = aws.wait(&run, Duration::from_secs(240)).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.cause);
    // Exactly one cluster: the SDK never re-sends RunJobFlow; the task's retry finds the cluster the lost call made.
    let clusters = aws.clusters(&run).await;
    assert_eq!(clusters.len(), 1, "{clusters:?}");
    assert!(clusters[0].1.starts_with("TERMINATED"), "{clusters:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn lost_answers_to_add_steps_and_start_job_run_add_exactly_one_of_each() {
    let aws = aws().await;
    // AddJobFlowSteps takes effect, then a 5xx loses its answer: one set of steps all the same.
    let lost = |action: &str| json!({"api_errors": [{"action": action, "code": "InternalServerError", "message": "lost", "times": 1, "after_call": true}]});
    let run = unique("lost-steps");
    aws.fault(&run, lost("AddJobFlowSteps")).await;
    aws.start("hello_world", &run).await;
    let finished = aws.wait(&run, Duration::from_secs(240)).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.cause);
    let clusters = aws.clusters(&run).await;
    assert_eq!(clusters.len(), 1, "{clusters:?}");
    let steps = aws
        .emr
        .list_steps()
        .cluster_id(&clusters[0].0)
        .send()
        .await
        .unwrap();
    assert_eq!(steps.steps().len(), 1, "{:?}", steps.steps());

    // StartJobRun, likewise: one Glue run.
    let run = unique("customer_scores-lost-start");
    aws.fault(&run, lost("StartJobRun")).await;
    aws.start("customer_scores", &run).await;
    let finished = aws.wait(&run, RUN).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.cause);
    let runs = aws.glue_runs(&run).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_add_steps_fails_the_run_and_terminates_the_cluster() {
    let aws = aws().await;
    let fault = json!({"api_errors": [{"action": "AddJobFlowSteps", "code": "InvalidRequestException", "message": "bad step", "times": 1}]});
    let finished = faulty_run(&aws, "bad-steps", fault).await;
    assert_eq!(finished.status, "FAILED");
    assert_eq!(finished.error.as_deref(), Some("InvalidInput"));
    assert!(
        finished
            .cause
            .as_deref()
            .unwrap()
            .contains("AddJobFlowSteps"),
        "{:?}",
        finished.cause
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_step_fails_the_run_with_its_reason_and_log_file() {
    let aws = aws().await;
    let fault = json!({"fail_step": {"name": "hello_world", "reason": "Unknown Error.", "message": "java.lang.OutOfMemoryError",
        "log_file": "s3://acme-logs-dev/emr/steps/s-1/stderr.gz"}});
    let finished = faulty_run(&aws, "failed-step", fault).await;
    assert_eq!(finished.status, "FAILED");
    assert_eq!(finished.error.as_deref(), Some("StepFailed"));
    let cause = finished.cause.unwrap();
    assert!(
        cause.contains("Unknown Error.")
            && cause.contains("s3://acme-logs-dev/emr/steps/s-1/stderr.gz"),
        "{cause}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_dying_mid_step_fails_the_run_with_its_reason() {
    let aws = aws().await;
    let fault = json!({"kill_cluster": {"code": "INSTANCE_FAILURE", "message": "Spot capacity was reclaimed"}});
    let finished = faulty_run(&aws, "spot-loss", fault).await;
    assert_eq!(finished.status, "FAILED");
    assert_eq!(finished.error.as_deref(), Some("ClusterTerminated"));
    assert!(
        finished
            .cause
            .as_deref()
            .unwrap()
            .contains("Spot capacity was reclaimed"),
        "{:?}",
        finished.cause
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_whose_end_never_comes_ends_at_its_limit_and_terminates_its_cluster() {
    // Every state-change event of the run is lost and its step outlasts the run's limit: the waiting task's timeout
    // (the plan's timeout_seconds) ends the run, and Terminate ends the cluster.
    let aws = aws().await;
    let run = unique("never-ends");
    aws.fault(
        &run,
        json!({"step_seconds": 600, "events": [{"action": "drop", "times": 1000}]}),
    )
    .await;
    aws.start_with_limit("hello_world", &run, 6).await;
    let finished = aws.wait(&run, RUN).await;
    assert_eq!(finished.status, "FAILED");
    assert_eq!(finished.error.as_deref(), Some("Timeout"));
    assert!(
        finished
            .cause
            .as_deref()
            .unwrap_or_default()
            .contains("(timeout_minutes)"),
        "{:?}",
        finished.cause
    );
    aws.assert_no_cluster_left(&run).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_throttled_terminate_is_retried() {
    let aws = aws().await;
    let fault = json!({"api_errors": [{"action": "TerminateJobFlows", "code": "ThrottlingException", "message": "Rate exceeded", "times": 1}]});
    let finished = faulty_run(&aws, "throttled-terminate", fault).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.cause);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_function_timing_out_once_in_each_task_still_ends_the_run_as_it_should() {
    // A function past its Timeout reaches Step Functions as Lambda.Unknown: every task retries it.
    let aws = aws().await;
    let once = |functions: &[&str]| {
        let timeouts: Vec<Value> = functions
            .iter()
            .map(|f| json!({"function": f, "times": 1}))
            .collect();
        json!({"lambda_timeouts": timeouts})
    };
    let emr = unique("timeouts-emr");
    aws.fault(
        &emr,
        once(&["emr-create-cluster", "emr-add-steps", "emr-terminate"]),
    )
    .await;
    let glue = unique("customer_scores-timeouts");
    aws.fault(&glue, once(&["glue-start-run", "glue-finish"]))
        .await;
    aws.start("hello_world", &emr).await;
    aws.start("customer_scores", &glue).await;

    let finished = aws.wait(&emr, Duration::from_secs(240)).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.cause);
    let clusters = aws.clusters(&emr).await;
    assert_eq!(clusters.len(), 1, "{clusters:?}");
    assert!(clusters[0].1.starts_with("TERMINATED"), "{clusters:?}");
    let finished = aws.wait(&glue, Duration::from_secs(240)).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.cause);
    assert_eq!(aws.glue_runs(&glue).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_console_runs_at_once_with_mixed_faults_end_as_their_faults_say() {
    let aws = aws().await;
    let mut runs = Vec::new();
    for index in 0..200 {
        let run = unique(&format!("burst-{index:03}"));
        // A third of them with a fault: a failing step, a dying cluster, a throttled create.
        let expected = match index % 6 {
            1 => {
                aws.fault(
                    &run,
                    json!({"fail_step": {"name": "hello_world", "reason": "Unknown Error."}}),
                )
                .await;
                ("FAILED", Some("StepFailed"))
            }
            3 => {
                aws.fault(
                    &run,
                    json!({"kill_cluster": {"code": "INSTANCE_FAILURE", "message": "lost"}}),
                )
                .await;
                ("FAILED", Some("ClusterTerminated"))
            }
            5 => {
                let throttled = json!({"api_errors": [{"action": "RunJobFlow", "code": "ThrottlingException", "times": 2}]});
                aws.fault(&run, throttled).await;
                ("SUCCEEDED", None)
            }
            _ => ("SUCCEEDED", None),
        };
        runs.push((run, expected));
    }
    let started = Instant::now();
    for (run, _) in &runs {
        aws.start("hello_world", run).await;
    }
    for (run, (status, error)) in &runs {
        let finished = aws.wait(run, Duration::from_secs(900)).await;
        assert_eq!(finished.status, *status, "{run}: {:?}", finished.cause);
        assert_eq!(finished.error.as_deref(), *error, "{run}");
    }
    let ended = started.elapsed().as_secs_f64();
    // Nothing left running: every run's cluster terminated, exactly one cluster per run.
    let mut by_name: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut pages = aws.emr.list_clusters().into_paginator().send();
    while let Some(page) = pages.next().await {
        for cluster in page.unwrap().clusters() {
            let state = cluster
                .status()
                .and_then(|s| s.state())
                .map(ClusterState::as_str)
                .unwrap_or_default();
            by_name
                .entry(
                    cluster
                        .name()
                        .unwrap_or_default()
                        .trim_start_matches("sparkplug-dev-")
                        .to_string(),
                )
                .or_default()
                .push(state.to_string());
        }
    }
    for (run, _) in &runs {
        let states = by_name.get(run).cloned().unwrap_or_default();
        assert_eq!(states.len(), 1, "{run}: {states:?}");
        assert!(states[0].starts_with("TERMINATED"), "{run}: {states:?}");
    }
    eprintln!("200 console runs with mixed faults: all ended as expected in {ended:.0} s, nothing left running");
}
