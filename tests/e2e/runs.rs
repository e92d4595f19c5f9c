//! Runs from start to end on each engine, and the limits that end them.

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn an_s3_arrival_runs_emr_from_create_to_terminate() {
    let aws = aws().await;
    let key = format!("landing/sales/{}/_SUCCESS", unique("dt"));
    aws.put(&key).await;
    let delivered = aws.delivered(&key).await;
    let started = delivered["answer"]["started"].as_array().unwrap().clone();
    assert_eq!(started.len(), 1, "{delivered}");
    let run = started[0].as_str().unwrap().to_string();
    assert!(run.starts_with("sales_daily-"));

    let finished = aws.wait(&run, RUN).await;
    assert_eq!(
        finished.status, "SUCCEEDED",
        "{:?} {:?}",
        finished.error, finished.cause
    );
    // The cluster had the plan's configuration…
    let clusters = aws.clusters(&run).await;
    assert_eq!(clusters.len(), 1);
    let cluster = aws
        .emr
        .describe_cluster()
        .cluster_id(&clusters[0].0)
        .send()
        .await
        .unwrap();
    let cluster = cluster.cluster().unwrap();
    assert_eq!(cluster.release_label(), Some("emr-7.5.0"));
    let tags: Vec<(&str, &str)> = cluster
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default(), t.value().unwrap_or_default()))
        .collect();
    assert!(
        tags.contains(&("sparkplug:job", "sales_daily"))
            && tags.contains(&("sparkplug:run", run.as_str())),
        "{tags:?}"
    );
    assert_eq!(
        cluster.status().unwrap().state().unwrap().as_str(),
        "TERMINATED"
    );
    // …its steps were added in order and completed…
    let steps = aws
        .emr
        .list_steps()
        .cluster_id(&clusters[0].0)
        .send()
        .await
        .unwrap();
    let mut steps: Vec<(String, String, Vec<String>)> = steps
        .steps()
        .iter()
        .map(|s| {
            (
                s.name().unwrap_or_default().to_string(),
                s.status().unwrap().state().unwrap().as_str().to_string(),
                s.config().map(|c| c.args().to_vec()).unwrap_or_default(),
            )
        })
        .collect();
    steps.reverse();
    assert_eq!(
        steps
            .iter()
            .map(|s| (s.0.as_str(), s.1.as_str()))
            .collect::<Vec<_>>(),
        [("ingest", "COMPLETED"), ("aggregate", "COMPLETED")]
    );
    let input_prefix = format!(
        "s3://{}/{}",
        aws.stack.data_bucket,
        key.trim_end_matches("_SUCCESS")
    );
    assert!(steps[0].2.contains(&input_prefix), "{:?}", steps[0].2);
    // …and the run's output is its summary with a timeline.
    assert_eq!(finished.output["status"], "succeeded");
    assert_eq!(
        finished.output["timeline"]["steps"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert!(finished.output["timeline"]["startup_seconds"]
        .as_i64()
        .is_some());
    assert!(finished.output["timeline"]["execution_seconds"]
        .as_i64()
        .is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_console_input_is_resolved_and_run() {
    let aws = aws().await;
    let run = unique("hello-console");
    aws.sfn
        .start_execution()
        .state_machine_arn(&aws.stack.state_machine_arn)
        .name(&run)
        .input(r#"{"job": "hello_world"}"#)
        .send()
        .await
        .unwrap();
    let finished = aws.wait(&run, RUN).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.cause);
    assert_eq!(finished.output["job"], "hello_world");
    let cluster_run = finished.output["run_name"].as_str().unwrap();
    aws.assert_no_cluster_left(cluster_run).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn glue_runs_succeed_and_fail_with_the_glue_message() {
    let aws = aws().await;
    let ok = unique("customer_scores-ok");
    let bad = unique("customer_scores-bad");
    aws.fault(&bad, json!({"fail_glue_run": {"message": "java.lang.IllegalStateException: no input for 2026-11-27"}})).await;
    aws.start("customer_scores", &ok).await;
    aws.start("customer_scores", &bad).await;

    let finished = aws.wait(&ok, RUN).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.cause);
    let run_id = finished.output["glue_run_id"].as_str().unwrap();
    let run = aws
        .glue
        .get_job_run()
        .job_name("sparkplug-customer_scores-dev")
        .run_id(run_id)
        .send()
        .await
        .unwrap();
    assert_eq!(
        run.job_run().unwrap().job_run_state().unwrap().as_str(),
        "SUCCEEDED"
    );
    assert_eq!(
        run.job_run().unwrap().arguments().unwrap()["--sparkplug_run"],
        ok
    );

    let finished = aws.wait(&bad, RUN).await;
    assert_eq!(finished.status, "FAILED");
    assert_eq!(finished.error.as_deref(), Some("GlueRunFailed"));
    assert!(
        finished
            .cause
            .as_deref()
            .unwrap()
            .contains("no input for 2026-11-27"),
        "{:?}",
        finished.cause
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_and_prod_in_one_account_run_the_same_job_at_the_same_minute_on_their_own_clusters() {
    let aws = aws().await;
    let (dev, prod) = (
        &aws.stack.environments["dev"],
        &aws.stack.environments["prod"],
    );
    // The same request at the same minute in both environments: the same run name in each state machine.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let time = chrono::DateTime::from_timestamp(nanos as i64 / 60 * 60, 0).unwrap();
    let request = json!({"job": "hello_world", "time": time.to_rfc3339(), "args": {}});
    let invoke = |stack: &sparkplug_cli::local::EnvironmentStack| {
        let (stack, request) = (stack.clone(), request.clone());
        tokio::task::spawn_blocking(move || stack.invoke(&stack.trigger_function, &request))
    };
    // dev's cluster is up before prod's run looks for one of that name: prod must not adopt it.
    let dev_answer = invoke(dev).await.unwrap().unwrap();
    let run = dev_answer["started"][0].as_str().unwrap().to_string();
    within(RUN, "dev's cluster exists", || async {
        !aws.clusters(&run).await.is_empty()
    })
    .await;
    let prod_answer = invoke(prod).await.unwrap().unwrap();
    assert_eq!(prod_answer["started"][0], run, "{prod_answer}");

    for machine in [&dev.state_machine_arn, &prod.state_machine_arn] {
        let arn = sparkplug::engine::execution::execution_arn(machine, &run);
        within(Duration::from_secs(240), "both executions end", || async {
            let execution = aws
                .sfn
                .describe_execution()
                .execution_arn(&arn)
                .send()
                .await
                .unwrap();
            execution.status().as_str() != "RUNNING"
        })
        .await;
        let execution = aws
            .sfn
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
            .unwrap();
        assert_eq!(
            execution.status().as_str(),
            "SUCCEEDED",
            "{arn}: {:?}",
            execution.cause()
        );
    }
    // Two clusters of that name, one per environment, both terminated: neither adopted the other's.
    let clusters = aws.clusters(&run).await;
    assert_eq!(clusters.len(), 2, "{clusters:?}");
    let mut environments = Vec::new();
    for (id, state) in &clusters {
        assert!(state.starts_with("TERMINATED"), "{clusters:?}");
        let described = aws
            .emr
            .describe_cluster()
            .cluster_id(id)
            .send()
            .await
            .unwrap();
        let tags = described.cluster().unwrap().tags();
        let env = tags
            .iter()
            .find(|t| t.key() == Some("sparkplug:environment"))
            .and_then(|t| t.value());
        environments.push(env.unwrap_or_default().to_string());
    }
    environments.sort();
    assert_eq!(environments, ["dev", "prod"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_past_the_history_limit_fails_and_leaves_nothing_running() {
    // Step Functions fails an execution at its history quota, past every Catch: only the janitor can clean up.
    let aws = aws().await;
    let run = unique("history-limit");
    // The quota lowered for this run, so that the run reaches it while its cluster is up: a run writes ~23 events up to
    // the end of its wait for the steps (33 in all).
    aws.fault(&run, json!({"history_limit": 22})).await;
    aws.start("hello_world", &run).await;
    let finished = aws.wait(&run, RUN).await;
    assert_eq!(finished.status, "FAILED");
    assert!(
        finished
            .cause
            .as_deref()
            .unwrap_or_default()
            .contains("maximum number of history events"),
        "{:?}",
        finished.cause
    );
    aws.janitor_ends_the_cluster_of(&run).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_that_times_out_leaves_nothing_running() {
    // The execution's TimeoutSeconds ends it TIMED_OUT, past every Catch: only the janitor can clean up.
    let aws = aws().await;
    let run = unique("timed-out");
    aws.fault(&run, json!({"timeout_seconds": 2})).await;
    aws.start("hello_world", &run).await;
    assert_eq!(aws.wait(&run, RUN).await.status, "TIMED_OUT");
    aws.janitor_ends_the_cluster_of(&run).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_on_instance_fleets_runs_and_leaves_nothing_running() {
    let aws = aws().await;
    let run = unique("fleet_pi");
    aws.start("fleet_pi", &run).await;
    let finished = aws.wait(&run, RUN).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.cause);
    aws.assert_no_cluster_left(&run).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_console_run_named_outside_what_aws_tags_take_fails_at_once_and_starts_nothing() {
    let aws = aws().await;
    // Step Functions takes `!` in an execution name; EMR's and EMR Serverless's tag values do not.
    let name = format!("rerun!{}", unique("x"));
    aws.start_input(&name, &json!({"job": "hello_world"})).await;
    let done = aws.wait(&name, RUN).await;
    assert_eq!(done.status, "FAILED");
    let cause = done.cause.unwrap_or_default();
    assert!(cause.contains("contains `!`"), "{cause}");
    assert!(aws.clusters(&name).await.is_empty());
}
