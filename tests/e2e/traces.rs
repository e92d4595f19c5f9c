//! Traces (the template's Tracing, on in the local dev stack): each function a run invokes sends one span of its
//! invocation, annotated with the run and its job, and one per AWS call under it, to the X-Ray daemon beside it (the emulator's, which refuses what
//! X-Ray would). Locally each invocation is its own trace: `cargo lambda watch` gives every invocation a new trace
//! header, where Step Functions passes an execution's on AWS.

use std::collections::BTreeSet;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn each_function_a_run_invokes_sends_the_x_ray_daemon_a_span_annotated_with_the_run() {
    let aws = aws().await;
    let run = unique("traced");
    aws.start("hello_world", &run).await;
    assert_eq!(aws.wait(&run, RUN).await.status, "SUCCEEDED");
    // The run's tasks: its plan, its cluster, its step, the cluster's end.
    let tasks: BTreeSet<&str> = [
        "resolve",
        "emr-create-cluster",
        "emr-add-steps",
        "emr-terminate",
    ]
    .into();
    let segments = || {
        aws.stack.control_get(&format!("/xray?run={run}")).unwrap()["segments"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    within(Duration::from_secs(30), "every task's span", || async {
        let names: BTreeSet<String> = segments()
            .iter()
            .filter_map(|s| s["name"].as_str().map(str::to_string))
            .collect();
        tasks.iter().all(|task| names.contains(*task))
    })
    .await;
    for segment in segments() {
        assert_eq!(segment["annotations"]["job"], "hello_world", "{segment}");
        assert!(
            segment["end_time"].as_f64() >= segment["start_time"].as_f64(),
            "{segment}"
        );
    }
    // Each AWS call of an invocation is in its trace, under it: the cluster's RunJobFlow under create-cluster's.
    let all = aws.stack.control_get("/xray").unwrap()["segments"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let create = segments()
        .into_iter()
        .find(|s| s["name"] == "emr-create-cluster")
        .unwrap();
    let calls: Vec<&Value> = all
        .iter()
        .filter(|s| s["trace_id"] == create["trace_id"] && s["parent_id"] == create["id"])
        .collect();
    assert!(
        calls.iter().any(|c| c["name"] == "EMR"),
        "no EMR call under {create}: {calls:?}"
    );
    let refused = aws.stack.control_get("/xray").unwrap()["refused"].clone();
    assert_eq!(refused, json!([]), "segments X-Ray would refuse");
}
