//! A console Stop ends what the run started.

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_console_stop_of_an_emr_run_leaves_nothing_running() {
    let aws = aws().await;
    let run = unique("hello_world-stopped");
    aws.start("hello_world", &run).await;
    // Stopped while its task waits for the steps (the step outlasts the test).
    aws.fault(&run, json!({"step_seconds": 600})).await;
    within(RUN, "the run's steps are on its cluster", || async {
        match aws.clusters(&run).await.first() {
            Some((cluster, _)) => aws
                .emr
                .list_steps()
                .cluster_id(cluster)
                .send()
                .await
                .is_ok_and(|s| !s.steps().is_empty()),
            None => false,
        }
    })
    .await;
    // The token is kept just after the steps are added.
    tokio::time::sleep(Duration::from_millis(500)).await;
    aws.stop(&run).await;
    let finished = aws.wait(&run, RUN).await;
    assert_eq!(finished.status, "ABORTED");
    // Step Functions runs no Catch path after a Stop: the janitor, on the execution's status change, ends the cluster.
    let took = within(
        Duration::from_secs(60),
        "the cluster terminated after the Stop",
        || async {
            let clusters = aws.clusters(&run).await;
            !clusters.is_empty()
                && clusters
                    .iter()
                    .all(|(_, state)| state.starts_with("TERMINAT"))
        },
    )
    .await;
    eprintln!(
        "EMR run stopped from the console: nothing running {:.1} s after the Stop",
        took.as_secs_f64()
    );
    // The cluster's end reached notify after nobody waited any more: dropped quietly, not failed.
    within(
        Duration::from_secs(30),
        "notify heard of the terminated cluster",
        || async {
            aws.notified(&run)
                .await
                .iter()
                .any(|(state, _)| state == "TERMINATED")
        },
    )
    .await;
    let notified = aws.notified(&run).await;
    for (state, answer) in &notified {
        assert!(answer.get("errorType").is_none(), "{state}: {answer}");
        assert!(answer["answered"].is_null(), "{state}: {answer}");
    }
    // The first end event found the token dead (the execution was stopped) and forgot it; later ones found none.
    assert!(
        notified.iter().any(|(_, answer)| answer["dropped"][0]
            .as_str()
            .unwrap_or_default()
            .contains("nobody waits on its token")),
        "{notified:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_console_stop_of_a_glue_run_stops_the_glue_run() {
    let aws = aws().await;
    let run = unique("customer_scores-stopped");
    // A long Glue run, so that only a stop ends it.
    aws.fault(&run, json!({"glue_run_seconds": 600})).await;
    aws.start("customer_scores", &run).await;
    within(RUN, "the Glue run started", || async {
        !aws.glue_runs(&run).await.is_empty()
    })
    .await;
    aws.stop(&run).await;
    let finished = aws.wait(&run, RUN).await;
    assert_eq!(
        finished.status, "ABORTED",
        "{:?} {:?}",
        finished.error, finished.cause
    );
    let took = within(
        Duration::from_secs(60),
        "the Glue run stopped after the Stop",
        || async {
            let runs = aws.glue_runs(&run).await;
            !runs.is_empty() && runs.iter().all(|(_, state)| state == "STOPPED")
        },
    )
    .await;
    eprintln!(
        "Glue run stopped from the console: nothing running {:.1} s after the Stop",
        took.as_secs_f64()
    );
}
