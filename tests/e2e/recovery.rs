//! Runs that recover: EC2 with no capacity for the job's instance type ends the first cluster before any step, and
//! the run goes on at once on the job's fallback type (one more cluster, nothing else); a cluster whose Spot core
//! nodes are taken back mid-step is retried once, after the job's backoff, and succeeds; one execution throughout.

use crate::harness::*;

const SALES_INPUT: &str = "s3://acme-data-dev/landing/sales/dt=2026-12-02/_SUCCESS";

/// A cluster's instance groups' types by role, its state, its state-change code and its ErrorDetail codes.
async fn described(aws: &Aws, id: &str) -> (Vec<(String, String)>, String, String, Vec<String>) {
    let cluster = aws
        .emr
        .describe_cluster()
        .cluster_id(id)
        .send()
        .await
        .unwrap();
    let cluster = cluster.cluster().unwrap();
    let status = cluster.status().unwrap();
    let groups = aws
        .emr
        .list_instance_groups()
        .cluster_id(id)
        .send()
        .await
        .unwrap();
    let types = groups
        .instance_groups()
        .iter()
        .map(|g| {
            (
                g.instance_group_type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                g.instance_type().unwrap_or_default().to_string(),
            )
        })
        .collect();
    (
        types,
        status
            .state()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        status
            .state_change_reason()
            .and_then(|r| r.code())
            .map(|c| c.as_str().to_string())
            .unwrap_or_default(),
        status
            .error_details()
            .iter()
            .filter_map(|d| d.error_code().map(str::to_string))
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_ec2_has_no_capacity_for_falls_back_to_the_next_instance_type_and_the_run_succeeds(
) {
    let aws = aws().await;
    let run = unique("sales_daily-capacity");
    // No r5.xlarge in any subnet: sales_daily's core and task type (jobs.toml), not its first fallback's r6i.xlarge.
    aws.fault(
        &run,
        json!({"no_capacity": [{"instance_type": "r5.xlarge"}]}),
    )
    .await;
    aws.start_input(
        &run,
        &json!({"job": "sales_daily", "run_name": run, "input": SALES_INPUT}),
    )
    .await;
    let finished = aws.wait(&run, RUN).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.output);

    // Two clusters, the first ended by EC2's capacity before any step ran, the second on the fallback types.
    let clusters = aws.clusters(&run).await;
    assert_eq!(clusters.len(), 2, "{clusters:?}");
    let mut seen = Vec::new();
    for (id, _) in &clusters {
        seen.push((id.clone(), described(&aws, id).await));
    }
    let (short_id, short) = seen
        .iter()
        .find(|(_, (_, state, ..))| state == "TERMINATED_WITH_ERRORS")
        .expect("the cluster EC2 had no capacity for");
    assert_eq!(short.2, "INTERNAL_ERROR");
    assert_eq!(short.3, ["INTERNAL_ERROR_EC2_INSUFFICIENT_CAPACITY_AZ"]);
    assert!(
        aws.steps_on(short_id)
            .await
            .iter()
            .all(|(_, state, ..)| state == "CANCELLED"),
        "no step ran on it"
    );
    let (ran_id, ran) = seen
        .iter()
        .find(|(_, (_, state, ..))| state == "TERMINATED")
        .expect("the cluster the run ran on");
    assert!(
        ran.0.contains(&("CORE".into(), "r6i.xlarge".into())),
        "{:?}",
        ran.0
    );
    assert!(
        ran.0.contains(&("TASK".into(), "r6i.xlarge".into())),
        "{:?}",
        ran.0
    );
    let mut steps: Vec<String> = aws
        .steps_on(ran_id)
        .await
        .into_iter()
        .map(|(step, state, ..)| format!("{step} {state}"))
        .collect();
    steps.sort_unstable();
    assert_eq!(steps, ["aggregate COMPLETED", "ingest COMPLETED"]);

    // The run's summary tells the attempt before it, and why.
    let output = &finished.output;
    assert_eq!(output["attempt"], 2);
    let earlier = &output["attempts"][0];
    assert_eq!(earlier["cause"], "capacity");
    assert_eq!(earlier["resource_id"], short_id.as_str());
    assert_eq!(earlier["error"], "ClusterTerminated");
    assert!(
        output["attempts"][0]["why"]
            .as_str()
            .unwrap()
            .contains("insufficient capacity"),
        "{output}"
    );
    assert!(output.get("next_attempt").is_none());
    aws.assert_no_cluster_left(&run).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_whose_spot_core_nodes_are_taken_back_mid_step_is_retried_once_and_succeeds() {
    let aws = aws().await;
    let run = unique("fleet_pi-spot");
    // fleet_pi's core fleet has Spot capacity; its retries: once on spot_interrupted, after 10 seconds. EC2 takes
    // the Spot instances back from the first cluster only, while its step runs.
    aws.fault(
        &run,
        json!({"interrupt_spot": {"times": 1}, "step_seconds": 3}),
    )
    .await;
    let started = Instant::now();
    aws.start("fleet_pi", &run).await;
    let finished = aws.wait(&run, RUN).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.output);
    assert!(
        started.elapsed() >= Duration::from_secs(10),
        "the backoff was waited"
    );

    let clusters = aws.clusters(&run).await;
    assert_eq!(clusters.len(), 2, "{clusters:?}");
    let mut states = Vec::new();
    for (id, _) in &clusters {
        let (_, state, code, _) = described(&aws, id).await;
        states.push(format!("{state} {code}"));
    }
    states.sort_unstable();
    // The lost one, then the one sparkplug terminated when its step completed.
    assert_eq!(
        states,
        [
            "TERMINATED USER_REQUEST",
            "TERMINATED_WITH_ERRORS INSTANCE_FAILURE"
        ]
    );
    let output = &finished.output;
    assert_eq!(output["attempt"], 2);
    assert_eq!(output["attempts"][0]["cause"], "spot_interrupted");
    aws.assert_no_cluster_left(&run).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_without_spot_primary_or_core_nodes_is_not_interrupted_and_one_without_retries_fails_once(
) {
    let aws = aws().await;
    // hello_world runs on demand: EC2 has no Spot instance of it to take back.
    let run = unique("hello-spot");
    aws.fault(&run, json!({"interrupt_spot": {}, "step_seconds": 2}))
        .await;
    aws.start("hello_world", &run).await;
    assert_eq!(aws.wait(&run, RUN).await.status, "SUCCEEDED");
    assert_eq!(aws.clusters(&run).await.len(), 1);

    // hello_world has no fallback nor retries: EC2 without capacity for its type fails it, on one cluster.
    let run = unique("hello-capacity");
    aws.fault(
        &run,
        json!({"no_capacity": [{"instance_type": "m5.xlarge"}]}),
    )
    .await;
    aws.start("hello_world", &run).await;
    let finished = aws.wait(&run, RUN).await;
    assert_eq!(finished.status, "FAILED");
    assert_eq!(finished.error.as_deref(), Some("ClusterTerminated"));
    assert_eq!(aws.clusters(&run).await.len(), 1);
    assert!(
        finished.output.get("attempts").is_none(),
        "{:?}",
        finished.output
    );
}
