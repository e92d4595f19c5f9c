//! A run's lease on a pool cluster: joining, starting one, giving it back, releasing idle clusters, and the DynamoDB lease.

use super::*;

#[test]
fn a_pooled_plan_runs_one_step_named_after_the_run_with_continue_on_the_pools_cluster() {
    let plan = plan("clicks-1");
    let emr = plan.emr.as_ref().unwrap();
    let pool = emr.pool.as_ref().unwrap();
    assert_eq!(
        (
            pool.name.as_str(),
            pool.idle_minutes,
            pool.max_concurrent_runs,
            pool.max_runs_per_cluster
        ),
        ("bursts", 10, 2, 3)
    );
    assert_eq!(emr.steps.len(), 1);
    assert_eq!(emr.steps[0]["Name"], "clicks-1: clicks");
    assert_eq!(emr.steps[0]["ActionOnFailure"], "CONTINUE");
    let cluster = &emr.cluster;
    assert_eq!(cluster["Name"], "sparkplug-pool-bursts-clicks-1");
    assert_eq!(cluster["StepConcurrencyLevel"], 2);
    // sparkplug releases at 10 idle minutes; EMR's own policy 15 minutes later is the backstop.
    assert_eq!(cluster["AutoTerminationPolicy"]["IdleTimeout"], 25 * 60);
    // The pool's nodes, over the defaults'.
    let groups = cluster["Instances"]["InstanceGroups"].as_array().unwrap();
    assert!(groups.iter().any(|g| g["InstanceRole"] == "CORE"
        && g["InstanceType"] == "r5.xlarge"
        && g["InstanceCount"] == 3));
    // Tagged with the pool and the environment, never with a run or a job: it outlives them.
    let tags: Vec<(String, String)> = cluster["Tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["Key"].as_str().unwrap().into(),
                t["Value"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(tags.contains(&("sparkplug:pool".into(), "bursts".into())));
    assert!(tags.contains(&("sparkplug:environment".into(), "dev".into())));
    assert!(tags
        .iter()
        .all(|(k, _)| k != "sparkplug:run" && k != "sparkplug:job" && k != "domain"));
}

#[test]
fn validation_names_what_a_pool_or_a_pooled_job_gets_wrong() {
    let bad = CATALOG
        .replace("max_concurrent_runs = 2", "max_concurrent_runs = 300")
        .replace("idle_minutes = 10", "idle_minutes = 0")
        .replace("pool = \"bursts\"", "pool = \"shraed\"");
    let text = catalog_of(&bad).unwrap_err();
    assert!(
        text.contains("pools.bursts.max_concurrent_runs: 300: EMR runs 1 to 256 steps at once"),
        "{text}"
    );
    assert!(
        text.contains("pools.bursts.idle_minutes: must be at least 1"),
        "{text}"
    );
    assert!(
        text.contains("clicks.pool: no pool `shraed` in [pools]; the catalog has: bursts"),
        "{text}"
    );
    // Limits EMR refuses: the idle auto-termination backstop past 604,800 s; a release before steps side by side.
    let limits = CATALOG
        .replace("idle_minutes = 10", "idle_minutes = 10070")
        .replace(
            "[pools.bursts]\n",
            "[pools.bursts]\nrelease_label = \"emr-5.27.0\"\n",
        );
    let text = catalog_of(&limits).unwrap_err();
    assert!(
        text.contains("pools.bursts.idle_minutes: over 10065: EMR's idle auto-termination"),
        "{text}"
    );
    assert!(
        text.contains("pools.bursts.release_label: emr-5.27.0: a pool needs EMR 5.28.0 or later"),
        "{text}"
    );
    assert!(catalog_of(&CATALOG.replace(
        "[pools.bursts]\n",
        "[pools.bursts]\nrelease_label = \"emr-5.28.0\"\n"
    ))
    .is_ok());

    let two_steps = CATALOG.replace(
        "jar = \"s3://acme-artifacts-dev/jars/clicks.jar\"\nclass = \"com.acme.Clicks\"\nargs = [\"{input}\"]",
        "steps = [{ name = \"a\", jar = \"s3://b/a.jar\", class = \"A\" }, { name = \"b\", jar = \"s3://b/a.jar\", class = \"B\" }]\n\
         emr = { core = { instance_type = \"r5.large\" } }",
    );
    let text = catalog_of(&two_steps).unwrap_err();
    assert!(
        text.contains("clicks.steps: a pooled job runs one step per run"),
        "{text}"
    );
    assert!(
        text.contains("clicks.emr: a pooled job's cluster settings are its pool's"),
        "{text}"
    );

    let typo = CATALOG.replace("idle_minutes = 10", "idle_minute = 10");
    let error = catalog_of(&typo).unwrap_err();
    assert!(
        error.contains("pools.bursts") && error.contains("idle_minute"),
        "{error}"
    );
}

#[tokio::test]
async fn a_run_joins_a_live_cluster_with_room_the_busiest_ready_one_first() {
    let plan = plan("clicks-2");
    let leases = Leases::with(vec![
        record("j-IDLE", &[], 1),
        record("j-BUSY", &["a"], 1),
        record("j-FULL", &["b", "c"], 2),
        record("j-DEAD", &[], 1),
        PoolCluster {
            releasing: true,
            ..record("j-GOING", &[], 1)
        },
    ]);
    let aws = FakeAws::new();
    aws.ok(
        "ListClusters",
        listed(&[
            ("j-IDLE", "WAITING"),
            ("j-BUSY", "RUNNING"),
            ("j-FULL", "RUNNING"),
            ("j-GOING", "WAITING"),
        ]),
    );
    let lease = join(&aws, &leases, &plan, false).await.unwrap();
    assert_eq!((lease.cluster_id.as_str(), lease.warm), ("j-BUSY", true));
    assert_eq!(leases.get("j-BUSY").unwrap().runs, vec!["a", "clicks-2"]);
    assert_eq!(aws.actions(), vec!["ListClusters"], "no cluster started");
}

#[tokio::test]
async fn with_no_room_anywhere_a_run_starts_a_cluster_of_the_pool_and_records_its_lease() {
    let plan = plan("clicks-3");
    // Full, past its runs per cluster, being released, gone: none will do.
    let leases = Leases::with(vec![
        record("j-FULL", &["b", "c"], 2),
        record("j-OLD", &[], 3),
        PoolCluster {
            releasing: true,
            ..record("j-GOING", &[], 1)
        },
        record("j-DEAD", &[], 1),
    ]);
    let aws = FakeAws::new();
    aws.ok(
        "ListClusters",
        listed(&[
            ("j-FULL", "RUNNING"),
            ("j-OLD", "WAITING"),
            ("j-GOING", "WAITING"),
        ]),
    );
    aws.ok("RunJobFlow", json!({"JobFlowId": "j-NEW"}));
    let request = plan.emr.as_ref().unwrap().cluster.clone();
    let lease = lease_or_start(
        &aws.emr(),
        &leases,
        &plan,
        &pool_of(&plan),
        &request,
        false,
        now(),
    )
    .await
    .unwrap();
    assert_eq!((lease.cluster_id.as_str(), lease.warm), ("j-NEW", false));
    assert_eq!(
        aws.requests("RunJobFlow")[0]["Name"],
        "sparkplug-pool-bursts-clicks-3"
    );
    let new = leases.get("j-NEW").unwrap();
    assert_eq!(
        (new.runs.clone(), new.runs_total, new.started_by.as_str()),
        (vec!["clicks-3".to_string()], 1, "clicks-3")
    );
}

#[tokio::test]
async fn a_retried_create_finds_the_lease_or_the_cluster_its_earlier_attempt_took() {
    let plan = plan("clicks-4");
    let leases = Leases::with(vec![record("j-HELD", &["clicks-4"], 1)]);
    let aws = FakeAws::new();
    let lease = join(&aws, &leases, &plan, true).await.unwrap();
    assert_eq!((lease.cluster_id.as_str(), lease.warm), ("j-HELD", true));
    assert!(aws.actions().is_empty());

    // Started, but the answer (and the record) was lost: the cluster named after the run is adopted, not doubled.
    let leases = Leases::default();
    let aws = FakeAws::new();
    aws.ok(
        "ListClusters",
        json!({"Clusters": [{"Id": "j-MINE", "Name": "sparkplug-pool-bursts-clicks-4", "Status": {"State": "STARTING"}}]}),
    );
    let lease = join(&aws, &leases, &plan, true).await.unwrap();
    assert_eq!((lease.cluster_id.as_str(), lease.warm), ("j-MINE", false));
    assert_eq!(leases.get("j-MINE").unwrap().runs, vec!["clicks-4"]);
    assert!(aws.requests("RunJobFlow").is_empty());
}

#[tokio::test]
async fn the_create_task_of_a_pooled_run_says_warm_and_its_pool() {
    let plan = plan("clicks-5");
    let leases = Leases::with(vec![record("j-UP", &[], 1)]);
    let aws = FakeAws::new();
    aws.ok("ListClusters", listed(&[("j-UP", "WAITING")]));
    let output = emr_create_cluster(
        &aws.emr(),
        &leases,
        EmrCreateInput {
            plan,
            retry_count: Some(0),
        },
        now(),
    )
    .await
    .unwrap();
    let output = serde_json::to_value(output).unwrap();
    assert_eq!(output["cluster_id"], "j-UP");
    assert_eq!(output["pool"], "bursts");
    assert_eq!(output["warm"], true);
}

fn step(id: &str, name: &str, state: &str) -> Value {
    json!({"Id": id, "Name": name, "Status": {"State": state, "Timeline": {
        "CreationDateTime": 1_795_933_800.0, "StartDateTime": 1_795_933_803.0, "EndDateTime": 1_795_933_863.0}}})
}

#[tokio::test]
async fn a_pooled_run_that_ends_gives_its_lease_back_and_leaves_the_cluster_up() {
    let plan = plan("clicks-6");
    let leases = Leases::with(vec![record("j-UP", &["clicks-6", "other"], 2)]);
    let aws = FakeAws::new();
    let sense = json!({"status": "succeeded", "resource_id": "j-UP", "state": "RUNNING", "progress": "1/1",
        "timeline": {"steps": [{"name": "clicks-6: clicks", "id": "s-1", "state": "COMPLETED",
            "submitted": "2026-11-27T06:30:00Z", "started": "2026-11-27T06:30:03Z", "ended": "2026-11-27T06:31:03Z"}]}});
    let state: FinishInput = serde_json::from_value(
        json!({"plan": plan, "cluster": {"cluster_id": "j-UP", "warm": true,
        "pool": "bursts"}, "sense": sense}),
    )
    .unwrap();
    let pricing = sparkplug::cost::Pricing::shipped("eu-west-1").unwrap();
    let summary = emr_terminate(&aws.emr(), &leases, &pricing, state, now())
        .await
        .unwrap();
    assert!(aws.actions().is_empty(), "no EMR call: {:?}", aws.actions());
    let after = leases.get("j-UP").unwrap();
    assert_eq!(
        (after.runs.clone(), after.idle_since),
        (vec!["other".to_string()], Some(now()))
    );
    let summary = serde_json::to_value(summary).unwrap();
    assert_eq!(summary["status"], "succeeded");
    assert_eq!(summary["pool"], json!({"name": "bursts", "start": "warm"}));
    // Warm start-up: from the step's submission to its start.
    assert_eq!(summary["timeline"]["startup_seconds"], 3);
    assert!(summary["cost"]["basis"]
        .as_str()
        .unwrap()
        .contains("pooled"));
}

#[tokio::test]
async fn a_pooled_run_stopped_early_cancels_only_its_own_step_and_a_spent_cluster_is_released() {
    let plan = plan("clicks-7");
    // The cluster's third and last run (max_runs_per_cluster = 3) ends: nobody else is on it.
    let leases = Leases::with(vec![record("j-UP", &["clicks-7"], 3)]);
    let aws = FakeAws::new();
    aws.ok(
        "ListSteps",
        json!({"Steps": [step("s-MINE", "clicks-7: clicks", "RUNNING"), step("s-THEIRS", "other: clicks", "RUNNING")]}),
    );
    aws.ok(
        "CancelSteps",
        json!({"CancelStepsInfoList": [{"StepId": "s-MINE", "Status": "SUBMITTED"}]}),
    );
    let state: FinishInput =
        serde_json::from_value(json!({"plan": plan, "cluster": {"cluster_id": "j-UP"},
        "error": {"Error": "States.Timeout", "Cause": ""}}))
        .unwrap();
    let pricing = sparkplug::cost::Pricing::shipped("eu-west-1").unwrap();
    let summary = emr_terminate(&aws.emr(), &leases, &pricing, state, now())
        .await
        .unwrap();
    assert_eq!(aws.requests("CancelSteps")[0]["StepIds"], json!(["s-MINE"]));
    assert!(
        aws.requests("TerminateJobFlows").is_empty(),
        "a run never ends the pool cluster"
    );
    assert_eq!(serde_json::to_value(summary).unwrap()["error"], "Timeout");

    // Spent, and nobody on it: the next look at the pools releases it, however recently it was used.
    aws.ok("ListClusters", listed(&[("j-UP", "WAITING")]));
    aws.ok("TerminateJobFlows", json!({}));
    let report = release_idle(&aws.emr(), &leases, None, now())
        .await
        .unwrap();
    assert_eq!(report.released, vec!["j-UP"]);
    assert_eq!(
        aws.requests("TerminateJobFlows")[0]["JobFlowIds"],
        json!(["j-UP"])
    );
    assert!(
        leases.get("j-UP").is_none(),
        "a released cluster is forgotten"
    );
}

#[tokio::test]
async fn only_clusters_idle_for_their_idle_minutes_are_released_and_gone_ones_forgotten() {
    let idle_since = now() - Duration::minutes(12);
    let leases = Leases::with(vec![
        PoolCluster {
            idle_since: Some(idle_since),
            ..record("j-IDLE", &[], 2)
        },
        PoolCluster {
            idle_since: Some(now() - Duration::minutes(5)),
            ..record("j-RECENT", &[], 2)
        },
        PoolCluster {
            idle_since: Some(idle_since),
            ..record("j-BUSY", &["r"], 2)
        },
        record("j-GONE", &[], 1),
    ]);
    let aws = FakeAws::new();
    aws.ok(
        "ListClusters",
        listed(&[
            ("j-IDLE", "WAITING"),
            ("j-RECENT", "WAITING"),
            ("j-BUSY", "RUNNING"),
        ]),
    );
    aws.ok("TerminateJobFlows", json!({}));
    let report = release_idle(&aws.emr(), &leases, Some("bursts"), now())
        .await
        .unwrap();
    assert_eq!(report.released, vec!["j-IDLE"]);
    assert_eq!(report.forgotten, vec!["j-GONE"]);
    assert_eq!(report.kept, 2);
    // What stays up, for the pool's metric line: j-RECENT and j-BUSY, one run on them.
    assert_eq!(
        report.sizes["bursts"],
        sparkplug::engine::handlers::pool::PoolSize {
            clusters: 2,
            leases: 1
        }
    );
    assert_eq!(aws.requests("TerminateJobFlows").len(), 1);
    assert!(leases.get("j-IDLE").is_none() && leases.get("j-RECENT").is_some());
}

#[tokio::test]
async fn a_run_that_joins_while_the_cluster_is_released_gets_a_new_cluster() {
    // The reaper saw j-UP idle; a run leases it before the reaper marks it: the mark fails and j-UP stays.
    let leases = Leases::with(vec![PoolCluster {
        idle_since: Some(now() - Duration::minutes(11)),
        ..record("j-UP", &[], 2)
    }]);
    let plan = plan("clicks-8");
    leases
        .lease("bursts", "j-UP", "clicks-8", 2, 3)
        .await
        .unwrap();
    let seen = now() - Duration::minutes(11);
    assert!(!leases
        .mark_releasing("bursts", "j-UP", Some(seen))
        .await
        .unwrap());

    // The other order: the mark comes first; the run's lease then fails and it starts its own cluster.
    let leases = Leases::with(vec![PoolCluster {
        idle_since: Some(seen),
        ..record("j-UP", &[], 2)
    }]);
    assert!(leases
        .mark_releasing("bursts", "j-UP", Some(seen))
        .await
        .unwrap());
    let aws = FakeAws::new();
    aws.ok("ListClusters", listed(&[("j-UP", "WAITING")]));
    aws.ok("RunJobFlow", json!({"JobFlowId": "j-NEW"}));
    let lease = join(&aws, &leases, &plan, false).await.unwrap();
    assert_eq!((lease.cluster_id.as_str(), lease.warm), ("j-NEW", false));
}

#[tokio::test]
async fn the_dynamodb_lease_is_one_conditional_update_that_never_over_fills() {
    let aws = FakeAws::new();
    aws.ok("UpdateItem", json!({}));
    let table = aws.tokens();
    assert!(table.lease("bursts", "j-1", "run-1", 4, 50).await.unwrap());
    let request = &aws.requests("UpdateItem")[0];
    assert_eq!(request["Key"], json!({"key": {"S": "pool#bursts#j-1"}}));
    assert_eq!(
        request["UpdateExpression"],
        "ADD runs :run, runs_total :one"
    );
    let condition = request["ConditionExpression"].as_str().unwrap();
    assert!(
        condition.contains("#state = :open") && condition.contains("size(runs) < :max"),
        "{condition}"
    );
    assert!(condition.contains("runs_total < :total"), "{condition}");
    assert_eq!(
        request["ExpressionAttributeValues"][":max"],
        json!({"N": "4"})
    );

    let aws = FakeAws::new();
    aws.error(
        "UpdateItem",
        400,
        "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
        "The conditional request failed",
    );
    assert!(!aws
        .tokens()
        .lease("bursts", "j-1", "run-1", 4, 50)
        .await
        .unwrap());
}

#[tokio::test]
async fn a_burst_into_an_empty_pool_starts_one_cluster_the_others_retry_and_join_it() {
    let leases = Leases::default();
    let (first, second) = (plan("clicks-9"), plan("clicks-10"));
    // The first run holds the start lock while its RunJobFlow is in flight.
    assert!(leases
        .claim_start("bursts", "clicks-9", now(), now() + Duration::seconds(60))
        .await
        .unwrap());
    let aws = FakeAws::new();
    aws.ok("ListClusters", listed(&[]));
    let error = join(&aws, &leases, &second, false).await.unwrap_err();
    // Waited out as long as a throttle: a start slowed by EMR's throttles takes minutes.
    assert_eq!(
        error.kind,
        sparkplug::engine::ErrorKind::Throttled,
        "{error}"
    );
    assert!(
        error.message.contains("another run is starting a cluster"),
        "{error}"
    );
    assert!(aws.requests("RunJobFlow").is_empty());
    leases.end_start("bursts", "clicks-9").await.unwrap();

    // The first run's cluster is recorded; the second's retry joins it.
    aws.ok("RunJobFlow", json!({"JobFlowId": "j-ONE"}));
    let lease = join(&aws, &leases, &first, false).await.unwrap();
    assert_eq!(lease.cluster_id, "j-ONE");
    let aws = FakeAws::new();
    aws.ok("ListClusters", listed(&[("j-ONE", "STARTING")]));
    let lease = join(&aws, &leases, &second, true).await.unwrap();
    assert_eq!((lease.cluster_id.as_str(), lease.warm), ("j-ONE", true));
    assert!(aws.requests("RunJobFlow").is_empty());

    // A lock whose holder died expires.
    assert!(leases
        .claim_start("bursts", "ghost", now(), now() + Duration::seconds(60))
        .await
        .unwrap());
    let later = now() + Duration::seconds(61);
    assert!(leases
        .claim_start("bursts", "clicks-11", later, later + Duration::seconds(60))
        .await
        .unwrap());
}

#[tokio::test]
async fn a_cluster_recorded_while_this_run_waited_for_the_start_lock_takes_it_instead_of_a_new_one()
{
    // This run looked and found no room; meanwhile another run started j-B and recorded it, then let the lock go.
    let leases = Leases::default();
    *leases.2.lock().unwrap() = Some(record("j-B", &["other"], 1));
    let plan = plan("clicks-12");
    let aws = FakeAws::new();
    aws.ok("ListClusters", listed(&[("j-B", "STARTING")]));
    let lease = join(&aws, &leases, &plan, false).await.unwrap();
    assert_eq!((lease.cluster_id.as_str(), lease.warm), ("j-B", true));
    assert!(aws.requests("RunJobFlow").is_empty(), "no second cluster");
    assert_eq!(leases.get("j-B").unwrap().runs, vec!["other", "clicks-12"]);
    // …and the lock is given back.
    assert!(leases
        .claim_start("bursts", "next", now(), now() + Duration::seconds(60))
        .await
        .unwrap());
}
