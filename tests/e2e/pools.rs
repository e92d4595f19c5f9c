//! Warm EMR pools.

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn pooled_runs_share_warm_clusters_never_over_fill_them_and_idle_ones_are_released() {
    let aws = aws().await;
    // The pool `shared` takes 4 runs side by side per cluster. A burst of 6 at once, each step 15 s: one cluster for
    // the first four (one run starts it, three join it while it starts), a second for the fifth. The sixth takes
    // whichever has room when it asks: under load a first run may have ended and given its lease back by then, so
    // a cluster may take more than four runs in all, never more than four at once.
    let burst: Vec<String> = (0..6)
        .map(|i| unique(&format!("clicks_hourly-burst{i}")))
        .collect();
    for run in &burst {
        aws.fault(run, json!({"step_seconds": 15})).await;
    }
    let finished = aws.run_all("clicks_hourly", &burst).await;
    let mut by_cluster: std::collections::BTreeMap<String, Vec<&str>> = Default::default();
    for (run, done) in burst.iter().zip(&finished) {
        assert_eq!(done.status, "SUCCEEDED", "{run}: {:?}", done.cause);
        assert_eq!(done.output["pool"]["name"], "bursts", "{}", done.output);
        eprintln!("{run}: {}", done.output);
        by_cluster
            .entry(cluster_of(done))
            .or_default()
            .push(done.output["pool"]["start"].as_str().unwrap());
    }
    assert_eq!(
        by_cluster.len(),
        2,
        "six runs, four at once a cluster: two clusters, never a third from the start race ({by_cluster:?})"
    );
    for (cluster, starts) in &by_cluster {
        assert_eq!(
            starts.iter().filter(|s| **s == "cold").count(),
            1,
            "{cluster}: one run started it ({starts:?})"
        );
        let steps = aws.steps_on(cluster).await;
        assert!(
            peak_side_by_side(&steps) <= 4,
            "{cluster} over-filled: {steps:?}"
        );
        // Each step is its run's, by name; nothing ended the pool cluster.
        assert!(steps.iter().all(
            |(name, state, ..)| name.starts_with("clicks_hourly-burst") && state == "COMPLETED"
        ));
        assert_eq!(
            aws.cluster_state(cluster).await,
            "WAITING",
            "{cluster}: a run's end never ends the cluster"
        );
    }
    let warm_cluster = by_cluster.keys().next().unwrap().clone();

    // Warm: the next run joins a waiting cluster and its step starts within seconds.
    let warm = unique("clicks_hourly-warm");
    let done = aws
        .run_all("clicks_hourly", std::slice::from_ref(&warm))
        .await
        .remove(0);
    assert_eq!(done.status, "SUCCEEDED", "{:?}", done.cause);
    assert_eq!(done.output["pool"]["start"], "warm");
    assert!(
        by_cluster.contains_key(&cluster_of(&done)),
        "{}",
        done.output
    );
    let startup = done.output["timeline"]["startup_seconds"].as_i64().unwrap();
    assert!(
        startup <= 5,
        "a warm run's step started {startup} s after it was submitted"
    );

    // One failing run on a pool cluster (CONTINUE) leaves the others' steps running: two runs' steps are running
    // when a third joins their cluster and fails; they succeed after it failed.
    let failing = unique("clicks_hourly-failing");
    let others: Vec<String> = (0..2)
        .map(|i| unique(&format!("clicks_hourly-beside{i}")))
        .collect();
    aws.fault(
        &failing,
        json!({"step_seconds": 1, "fail_step": {"name": "clicks_hourly", "message": "bad clicks"}}),
    )
    .await;
    for run in &others {
        aws.fault(run, json!({"step_seconds": 12})).await;
        aws.start_about("clicks_hourly", run, "landing/clicks")
            .await;
    }
    within(RUN, "the two runs' steps are running", || async {
        let mut running = 0;
        for cluster in by_cluster.keys() {
            running += aws
                .steps_on(cluster)
                .await
                .iter()
                .filter(|(n, s, ..)| {
                    others.iter().any(|o| n.starts_with(o.as_str())) && s == "RUNNING"
                })
                .count();
        }
        running == 2
    })
    .await;
    aws.start_about("clicks_hourly", &failing, "landing/clicks")
        .await;
    let all: Vec<String> = std::iter::once(failing.clone())
        .chain(others.clone())
        .collect();
    let mut finished = Vec::new();
    for run in &all {
        finished.push(aws.wait(run, RUN).await);
    }
    assert_eq!(finished[0].status, "FAILED");
    assert_eq!(
        finished[0].error.as_deref(),
        Some("StepFailed"),
        "{:?}",
        finished[0].cause
    );
    // A failed execution has no output: its cluster is the one whose steps include its step.
    let mut failed_cluster = String::new();
    let mut steps = Vec::new();
    for done in &finished[1..] {
        let on = aws.steps_on(&cluster_of(done)).await;
        if on.iter().any(|(n, ..)| n.starts_with(&failing)) {
            (failed_cluster, steps) = (cluster_of(done), on);
        }
    }
    assert!(
        !failed_cluster.is_empty(),
        "no other run shared the failing run's cluster"
    );
    let failed_end = steps
        .iter()
        .find(|(n, ..)| n.starts_with(&failing))
        .unwrap()
        .3;
    for (run, done) in others.iter().zip(&finished[1..]) {
        assert_eq!(done.status, "SUCCEEDED", "{run}: {:?}", done.cause);
        if cluster_of(done) == failed_cluster {
            let (_, state, start, end) = steps
                .iter()
                .find(|(n, ..)| n.starts_with(run.as_str()))
                .unwrap();
            assert_eq!(state, "COMPLETED");
            assert!(
                *start < failed_end && *end > failed_end,
                "{run} ran beside the failure and went on"
            );
        }
    }

    // A run that joins while a cluster is being released gets a new cluster: the janitor has marked the warm cluster
    // (its release interrupted before TerminateJobFlows), which EMR still shows WAITING.
    use sparkplug::engine::ports::PoolStore;
    let pools = aws.run_table();
    let records = pools.pool_clusters(Some("bursts")).await.unwrap();
    for record in &records {
        if record.runs.is_empty() {
            assert!(pools
                .mark_releasing("bursts", &record.cluster_id, record.idle_since)
                .await
                .unwrap());
        }
    }
    assert_eq!(aws.cluster_state(&warm_cluster).await, "WAITING");
    let late = unique("clicks_hourly-late");
    let done = aws
        .run_all("clicks_hourly", std::slice::from_ref(&late))
        .await
        .remove(0);
    assert_eq!(done.status, "SUCCEEDED", "{:?}", done.cause);
    assert_eq!(done.output["pool"]["start"], "cold", "{}", done.output);
    assert!(
        !records.iter().any(|r| r.cluster_id == cluster_of(&done)),
        "joined a cluster being released"
    );

    // Idle: not yet at 5 minutes; at 11 (idle_minutes = 10) every cluster is released, and nothing is left.
    assert!(
        aws.release_idle("bursts", 5)
            .await
            .iter()
            .all(|c| records.iter().any(|r| &r.cluster_id == c)),
        "only the marked clusters go before their idle minutes"
    );
    aws.release_idle("bursts", 11).await;
    let mut used: Vec<String> = by_cluster.keys().cloned().collect();
    used.push(cluster_of(&done));
    used.push(failed_cluster);
    for cluster in used {
        let state = aws.cluster_state(&cluster).await;
        assert!(
            state.starts_with("TERMINAT"),
            "{cluster} is {state} after its pool's idle minutes"
        );
    }
    assert!(
        pools
            .pool_clusters(Some("bursts"))
            .await
            .unwrap()
            .is_empty(),
        "released clusters are forgotten"
    );
}
