//! Reruns: a failed multi-step EMR run rerun from its failed step runs only that step and the ones after it, on one
//! new cluster; a repeated command starts nothing twice; the console's `{"rerun": …}` reruns a run whole.

use std::collections::BTreeMap;

use sparkplug::run::rerun::rerun_name;
use sparkplug_cli::rerun::{rerun, Rerun};

use crate::harness::*;

const SALES_INPUT: &str = "s3://acme-data-dev/landing/sales/dt=2026-12-01/_SUCCESS";

#[tokio::test(flavor = "multi_thread")]
async fn a_rerun_from_the_failed_step_runs_only_the_steps_left_on_one_new_cluster() {
    let aws = aws().await;
    let since = chrono::Utc::now() - chrono::TimeDelta::seconds(5);
    let machine = aws.stack.state_machine_arn.clone();
    let no_args = BTreeMap::new();
    let run = unique("sales_daily-rerun");
    // sales_daily: ingest, then aggregate, which fails.
    aws.fault(
        &run,
        json!({"fail_step": {"name": "aggregate", "reason": "Unknown Error.",
            "message": "java.lang.ArithmeticException: / by zero"}}),
    )
    .await;
    aws.start_input(
        &run,
        &json!({"job": "sales_daily", "run_name": run, "input": SALES_INPUT}),
    )
    .await;
    assert_eq!(aws.wait(&run, RUN).await.status, "FAILED");

    // A mistake starts nothing, and says what is wrong.
    let missing = rerun(
        &aws.sfn,
        &machine,
        "sales_daily-no-such-run",
        true,
        &no_args,
        false,
    )
    .await
    .unwrap_err();
    assert!(
        missing.contains("no run `sales_daily-no-such-run`"),
        "{missing}"
    );

    let name = rerun_name(&run, 1);
    // Slow enough that the repeated command below finds it running.
    aws.fault(&name, json!({"step_seconds": 15})).await;
    let started = rerun(&aws.sfn, &machine, &run, true, &no_args, false)
        .await
        .unwrap();
    assert_eq!(started, Rerun::Started(name.clone()));
    let again = rerun(&aws.sfn, &machine, &run, true, &no_args, false)
        .await
        .unwrap();
    assert_eq!(
        again,
        Rerun::Running(name.clone()),
        "a repeated command follows it"
    );

    let finished = aws.wait(&name, RUN).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.output);
    // One cluster start and one step: ingest completed in the first run and is not run again.
    let clusters = aws.clusters(&name).await;
    assert_eq!(clusters.len(), 1, "{clusters:?}");
    let steps: Vec<String> = aws
        .steps_on(&clusters[0].0)
        .await
        .into_iter()
        .map(|(step, ..)| step)
        .collect();
    assert_eq!(steps, ["aggregate"]);
    assert_eq!(aws.clusters(&name).await[0].1, "TERMINATED");

    // history links the rerun to the run it reruns.
    let runs = sparkplug_cli::history::runs(
        &aws.sfn,
        &aws.run_table(),
        &machine,
        Some("sales_daily"),
        since,
    )
    .await
    .unwrap();
    let linked = runs
        .iter()
        .find(|r| r.run_name == name)
        .unwrap_or_else(|| panic!("{name} is not in {runs:#?}"));
    assert_eq!(
        linked.trigger,
        format!("rerun of {run} from step aggregate")
    );
    // Once a rerun succeeded, the command starts nothing more.
    let done = rerun(&aws.sfn, &machine, &run, true, &no_args, false)
        .await
        .unwrap_err();
    assert!(done.contains("which succeeded"), "{done}");

    // The console's rerun, whole: both steps on its own cluster.
    let console = unique("sales_daily-console-rerun");
    aws.start_input(&console, &json!({"rerun": run})).await;
    assert_eq!(aws.wait(&console, RUN).await.status, "SUCCEEDED");
    let clusters = aws.clusters(&console).await;
    assert_eq!(clusters.len(), 1, "{clusters:?}");
    let mut steps: Vec<String> = aws
        .steps_on(&clusters[0].0)
        .await
        .into_iter()
        .map(|(step, ..)| step)
        .collect();
    steps.sort_unstable();
    assert_eq!(steps, ["aggregate", "ingest"]);

    // A console rerun of a run that does not exist fails at once, naming it, and starts nothing.
    let bad = unique("sales_daily-bad-rerun");
    aws.start_input(&bad, &json!({"rerun": "sales_daily-no-such-run"}))
        .await;
    let failed = aws.wait(&bad, RUN).await;
    assert_eq!(failed.status, "FAILED");
    assert!(aws.clusters(&bad).await.is_empty());
}
