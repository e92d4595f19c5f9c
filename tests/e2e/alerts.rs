//! Alerts: one per run that ended badly, with the log tail that says why.

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_emr_step_sends_one_alert_with_the_tail_of_its_stderr() {
    let aws = aws().await;
    let run = unique("hello_world-alert");
    aws.fault(
        &run,
        json!({"fail_step": {"name": "hello_world", "reason": "Unknown Error.",
            "message": "java.lang.ArithmeticException: / by zero"}}),
    )
    .await;
    aws.start("hello_world", &run).await;
    assert_eq!(aws.wait(&run, RUN).await.status, "FAILED");
    let (message, detail) = aws.one_alert_about(&run).await;
    // Email subscribers get the text; every other subscriber (the chat service) the chat notification, threaded by run.
    let text = message["email"].as_str().unwrap();
    assert!(text.contains("failed step: hello_world"), "{text}");
    let chat: Value = serde_json::from_str(message["default"].as_str().unwrap()).unwrap();
    assert_eq!(chat["source"], "custom", "{chat}");
    assert_eq!(chat["metadata"]["threadId"], run.as_str(), "{chat}");
    assert!(
        chat["content"]["description"]
            .as_str()
            .unwrap()
            .contains("*Failed step* `hello_world`"),
        "{chat}"
    );
    assert!(
        text.contains("Exception in thread \"main\" java.lang.ArithmeticException: / by zero"),
        "{text}"
    );
    let tail = detail["log_tail"].as_array().unwrap();
    assert_eq!(tail.len(), 50, "{detail}");
    assert!(tail
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .contains("SparkSubmit.main"));
    assert_eq!(detail["error"], "StepFailed");
    assert!(detail["cost_usd"].as_f64().unwrap() > 0.0, "{detail}");
    assert_eq!(message["subject"], "sparkplug dev: hello_world FAILED");
    // Its OpenLineage RunEvents, once: START, then FAIL with the error message facet.
    let lineage = aws.lineage_events_about(&run);
    let types: Vec<&str> = lineage
        .iter()
        .filter_map(|e| e["eventType"].as_str())
        .collect();
    assert_eq!(types, ["START", "FAIL"], "{lineage:?}");
    assert!(
        lineage[1]["run"]["facets"]["errorMessage"]["message"]
            .as_str()
            .unwrap()
            .contains("step hello_world"),
        "{}",
        lineage[1]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_glue_run_sends_its_error_log_tail_and_a_stopped_run_an_alert() {
    let aws = aws().await;
    let run = unique("customer_scores-alert");
    aws.fault(
        &run,
        json!({"fail_glue_run": {"message": "NullPointerException in ScoreCustomers"}}),
    )
    .await;
    aws.start("customer_scores", &run).await;
    assert_eq!(aws.wait(&run, RUN).await.status, "FAILED");
    let (_, detail) = aws.one_alert_about(&run).await;
    assert!(
        detail["log_tail"].as_array().unwrap().iter().any(|l| l
            .as_str()
            .unwrap_or_default()
            .contains("NullPointerException in ScoreCustomers")),
        "{detail}"
    );

    // A run stopped from the console: an alert, no tail (no step failed), and why.
    let stopped = unique("hello_world-alert-stopped");
    aws.fault(&stopped, json!({"step_seconds": 600})).await;
    aws.start("hello_world", &stopped).await;
    within(RUN, "the run's cluster is up", || async {
        !aws.clusters(&stopped).await.is_empty()
    })
    .await;
    aws.stop(&stopped).await;
    let (message, detail) = aws.one_alert_about(&stopped).await;
    assert_eq!(detail["status"], "ABORTED");
    assert!(
        message["email"].as_str().unwrap().contains("(no log tail:"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_succeeded_run_shows_its_cost_and_alerts_only_when_its_job_asks() {
    let aws = aws().await;
    let run = unique("hello_world-cost");
    aws.start("hello_world", &run).await;
    let finished = aws.wait(&run, RUN).await;
    assert_eq!(finished.status, "SUCCEEDED");
    let cost = &finished.output["cost"];
    assert!(cost["usd"].as_f64().unwrap() > 0.0, "{cost}");
    assert!(
        cost["basis"]
            .as_str()
            .unwrap()
            .starts_with("estimate, us-east-1 list prices:"),
        "{cost}"
    );
    // hello_world notifies on failure only; customer_scores asks for successes too.
    let glue = unique("customer_scores-success");
    aws.start("customer_scores", &glue).await;
    assert_eq!(aws.wait(&glue, RUN).await.status, "SUCCEEDED");
    let (message, _) = aws.one_alert_about(&glue).await;
    assert_eq!(
        message["subject"],
        "sparkplug dev: customer_scores SUCCEEDED"
    );
    assert!(aws.alerts_about(&run).is_empty());
    // No alert for it, but its lineage: START and COMPLETE, once.
    within(
        Duration::from_secs(60),
        "the succeeded run's lineage went out",
        || async { aws.lineage_events_about(&run).len() >= 2 },
    )
    .await;
    let types: Vec<String> = aws
        .lineage_events_about(&run)
        .iter()
        .filter_map(|e| e["eventType"].as_str().map(str::to_string))
        .collect();
    assert_eq!(types, ["START", "COMPLETE"]);
}
