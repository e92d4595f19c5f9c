//! Event-driven completion: a finished step is acted on at once, and lost, duplicate or foreign events change nothing.

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_finished_step_is_acted_on_within_seconds_and_history_does_not_grow_with_step_length() {
    let aws = aws().await;
    let (short_history, short_lag) = event_driven_run(&aws, &unique("evented-1s"), 1).await;
    let (long_history, long_lag) = event_driven_run(&aws, &unique("evented-8s"), 8).await;
    eprintln!(
        "event-driven hello_world: {short_history} history events with a 1 s step, {long_history} with an 8 s step; \
         completion lag {short_lag:.2} s and {long_lag:.2} s"
    );
    assert_eq!(
        short_history, long_history,
        "history grows with the step's length"
    );
    // Under the suite's load (other tests start hundreds of runs meanwhile, on two cores) the bound is loose — 12 s
    // was seen; alone, the lag is tens of milliseconds (bench/run: BENCHMARKS.md). A poll loop would show up here as
    // 30 s or more.
    for lag in [short_lag, long_lag] {
        assert!((0.0..=20.0).contains(&lag), "completion lag {lag:.2} s");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_step_event_is_made_good_by_the_reconciler() {
    let aws = aws().await;
    let run = unique("dropped-event");
    aws.fault(
        &run,
        json!({"events": [{"detail_type": "EMR Step Status Change", "state": "COMPLETED", "action": "drop"}]}),
    )
    .await;
    aws.start("hello_world", &run).await;
    within(RUN, "the step completed", || async {
        !aws.clusters(&run).await.is_empty() && aws.last_step_end(&run).await > 0.0
    })
    .await;
    // Its event was lost: nothing answers the waiting task…
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(aws.status(&run).await, "RUNNING");
    // …until the reconciler's schedule fires (here: invoked as the schedule would, with no minimum age).
    let report = aws
        .stack
        .invoke(
            "notify",
            &json!({"reconcile": true, "older_than_seconds": 0}),
        )
        .unwrap();
    assert!(
        report["answered"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a.as_str() == Some(&format!("{run}: succeeded"))),
        "{report}"
    );
    assert_eq!(aws.wait(&run, RUN).await.status, "SUCCEEDED");
    aws.assert_no_cluster_left(&run).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_and_out_of_order_events_complete_a_run_once() {
    let aws = aws().await;
    let run = unique("sales-dup");
    // sales_daily has two steps: the first one's COMPLETED arrives after the second's, which arrives twice.
    aws.fault(
        &run,
        json!({"events": [
            {"detail_type": "EMR Step Status Change", "state": "RUNNING", "action": "reorder"},
            {"detail_type": "EMR Step Status Change", "state": "COMPLETED", "action": "reorder"},
            {"detail_type": "EMR Step Status Change", "state": "COMPLETED", "action": "duplicate"}
        ]}),
    )
    .await;
    let input = json!({"job": "sales_daily", "run_name": run,
        "input": format!("s3://{}/landing/sales/dup/_SUCCESS", aws.stack.data_bucket)});
    aws.start_input(&run, &input).await;
    let finished = aws.wait(&run, RUN).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.cause);
    aws.assert_no_cluster_left(&run).await;
    // Let the late copies arrive, then count: one answer, every other delivery dropped quietly.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let notified = aws.notified(&run).await;
    let answered: Vec<_> = notified
        .iter()
        .filter(|(_, answer)| answer["answered"].as_array().is_some_and(|a| !a.is_empty()))
        .collect();
    assert_eq!(answered.len(), 1, "{notified:?}");
    let completed = notified
        .iter()
        .filter(|(state, _)| state == "COMPLETED")
        .count();
    assert!(
        completed >= 3,
        "the duplicate was not delivered: {notified:?}"
    );
    assert!(
        notified
            .iter()
            .all(|(_, answer)| answer.get("errorType").is_none()),
        "{notified:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn events_about_a_cluster_sparkplug_did_not_start_are_dropped() {
    let aws = aws().await;
    let name = unique("someone-elses-cluster");
    let cluster = aws
        .emr
        .run_job_flow()
        .name(&name)
        .release_label("emr-7.5.0")
        .service_role("EMR_DefaultRole")
        .job_flow_role("EMR_EC2_DefaultRole")
        .instances(
            aws_sdk_emr::types::JobFlowInstancesConfig::builder()
                .master_instance_type("m5.xlarge")
                .instance_count(1)
                .keep_job_flow_alive_when_no_steps(false)
                .build(),
        )
        .steps(
            aws_sdk_emr::types::StepConfig::builder()
                .name("theirs")
                .hadoop_jar_step(
                    aws_sdk_emr::types::HadoopJarStepConfig::builder()
                        .jar("command-runner.jar")
                        .args("true")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .job_flow_id()
        .unwrap()
        .to_string();
    let dropped = within(RUN, "notify heard of the stranger's step", || async {
        aws.notified_about(&cluster)
            .await
            .iter()
            .any(|(state, _)| state == "COMPLETED")
    })
    .await;
    let notified = aws.notified_about(&cluster).await;
    for (_, answer) in &notified {
        assert!(answer["answered"].is_null(), "{answer}");
        assert!(
            answer["dropped"][0]
                .as_str()
                .unwrap_or_default()
                .contains("no task waits on it"),
            "{answer}"
        );
    }
    eprintln!(
        "{cluster}: {} events about it dropped ({:.1} s)",
        notified.len(),
        dropped.as_secs_f64()
    );
    aws.emr
        .terminate_job_flows()
        .job_flow_ids(&cluster)
        .send()
        .await
        .unwrap();
}
