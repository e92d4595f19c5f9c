//! EMR Serverless runs.

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn emr_serverless_runs_succeed_fail_with_their_log_tail_and_a_console_stop_cancels_the_job_run(
) {
    let aws = aws().await;
    let ok = unique("orders_enrich-ok");
    let failing = unique("orders_enrich-failing");
    let stopped = unique("orders_enrich-stopped");
    aws.fault(
        &failing,
        json!({"fail_job_run": {"message": "java.lang.IllegalStateException: order 42 has no customer"}}),
    )
    .await;
    aws.fault(&stopped, json!({"job_run_seconds": 600})).await;
    for run in [&ok, &failing, &stopped] {
        aws.start_orders(run).await;
    }
    within(RUN, "the run to stop is running", || async {
        aws.job_runs_named(&stopped)
            .await
            .iter()
            .any(|(_, s)| s == "RUNNING")
    })
    .await;
    aws.stop(&stopped).await;

    // Success: one job run (its clientToken is the run's name), its billed cost, start-up and run time.
    let done = aws.wait(&ok, RUN).await;
    assert_eq!(done.status, "SUCCEEDED", "{:?}", done.cause);
    assert_eq!(done.output["engine"], "emr_serverless");
    let runs = aws.job_runs_named(&ok).await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(done.output["job_run_id"], runs[0].0.as_str());
    assert_eq!(runs[0].1, "SUCCESS");
    assert!(
        done.output["timeline"]["startup_seconds"].is_i64(),
        "{}",
        done.output
    );
    let cost = &done.output["cost"];
    assert!(cost["compute_usd"].as_f64().unwrap() > 0.0, "{cost}");
    assert!(
        cost["basis"].as_str().unwrap().contains("vCPU-hours"),
        "{cost}"
    );

    // Failure: the job run's state details, and one alert with the driver's stderr tail.
    let failed = aws.wait(&failing, RUN).await;
    assert_eq!(failed.status, "FAILED");
    assert_eq!(failed.error.as_deref(), Some("JobRunFailed"));
    assert!(
        failed
            .cause
            .as_deref()
            .unwrap_or_default()
            .contains("order 42 has no customer"),
        "{:?}",
        failed.cause
    );
    let (_, alert) = aws.one_alert_about(&failing).await;
    let tail = alert["log_tail"]
        .as_array()
        .unwrap_or_else(|| panic!("no log tail: {alert}"));
    assert!(
        tail.iter().any(|l| l
            .as_str()
            .unwrap_or_default()
            .contains("order 42 has no customer")),
        "{alert}"
    );

    // Console Stop: the janitor cancels the job run.
    assert_eq!(aws.wait(&stopped, RUN).await.status, "ABORTED");
    within(
        Duration::from_secs(60),
        "the stopped run's job run is cancelled",
        || async {
            aws.job_runs_named(&stopped)
                .await
                .iter()
                .all(|(_, s)| s == "CANCELLED" || s == "CANCELLING")
        },
    )
    .await;
}
