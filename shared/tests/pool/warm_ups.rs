//! Warm-ups: a pool's `warm` schedule starts or keeps a cluster before the runs come.

use super::*;

// ------------------------------------------------------------------------------------------------- warm-ups

fn janitor_config() -> JanitorConfig {
    let catalog = catalog_of(CATALOG).unwrap();
    JanitorConfig {
        vars: vars(&catalog),
        catalog,
        state_machine_arn: "arn:aws:states:eu-west-1:123456789012:stateMachine:sparkplug-run-dev"
            .into(),
    }
}

fn warm_request() -> (Value, sparkplug::run::plan::PoolPlan) {
    let catalog = catalog_of(CATALOG).unwrap();
    pool_cluster(
        &catalog,
        "bursts",
        &warm_up_name(now()),
        now(),
        &vars(&catalog),
    )
    .unwrap()
}

#[tokio::test]
async fn a_warm_up_starts_a_cluster_idle_from_its_time_which_the_next_run_joins_warm() {
    let (request, pool) = warm_request();
    // The pool's cluster as a run would start it, named after the warm-up's minute.
    assert_eq!(request["Name"], "sparkplug-pool-bursts-warm-20261127T0630");
    assert_eq!(request["StepConcurrencyLevel"], 2);
    assert_eq!(request, {
        let mut run_request = plan("x").emr.unwrap().cluster;
        run_request["Name"] = request["Name"].clone();
        run_request
    });
    let leases = Leases::default();
    let aws = FakeAws::new();
    aws.ok("ListClusters", listed(&[]));
    aws.ok("RunJobFlow", json!({"JobFlowId": "j-WARM"}));
    let warmed = warm_up(&aws.emr(), &leases, &pool, &request, now(), now())
        .await
        .unwrap();
    assert_eq!(warmed, WarmUp::Started("j-WARM".into()));
    assert_eq!(aws.requests("RunJobFlow").len(), 1);
    let record = leases.get("j-WARM").unwrap();
    assert!(record.runs.is_empty() && record.runs_total == 0);
    assert_eq!(record.idle_since, None, "a start is not idle time");
    assert_eq!(record.started_by, "warm-20261127T0630");
    assert!(leases.1.lock().unwrap().is_none(), "start lock given back");

    // The first run joins it while it starts.
    let aws = FakeAws::new();
    aws.ok("ListClusters", listed(&[("j-WARM", "STARTING")]));
    let plan = plan("clicks-after-warm-up");
    let lease = lease_or_start(
        &aws.emr(),
        &leases,
        &plan,
        &pool_of(&plan),
        &json!({}),
        false,
        now() + Duration::minutes(3),
    )
    .await
    .unwrap();
    assert_eq!((lease.cluster_id.as_str(), lease.warm), ("j-WARM", true));

    // Had no run come: kept while it starts (however long), idle from the first look that finds it ready, released
    // idle_minutes (10) after that.
    let unused = Leases::with(vec![record]);
    let look = |state: &'static str, minutes: i64| {
        let (aws, unused) = (FakeAws::new(), &unused);
        async move {
            aws.ok("ListClusters", listed(&[("j-WARM", state)]));
            aws.ok("TerminateJobFlows", json!({}));
            release_idle(&aws.emr(), unused, None, now() + Duration::minutes(minutes))
                .await
                .unwrap()
        }
    };
    assert!(look("STARTING", 30).await.released.is_empty());
    assert_eq!(unused.get("j-WARM").unwrap().idle_since, None);
    assert!(look("WAITING", 31).await.released.is_empty());
    assert_eq!(
        unused.get("j-WARM").unwrap().idle_since,
        Some(now() + Duration::minutes(31)),
        "idle from when it is ready"
    );
    assert!(look("WAITING", 40).await.released.is_empty());
    assert_eq!(look("WAITING", 41).await.released, vec!["j-WARM"]);
}

#[tokio::test]
async fn a_warm_up_keeps_a_live_cluster_an_idle_one_for_another_idle_minutes() {
    let (request, pool) = warm_request();
    let leases = Leases::with(vec![PoolCluster {
        idle_since: Some(now() - Duration::minutes(9)),
        ..record("j-IDLE", &[], 2)
    }]);
    let aws = FakeAws::new();
    aws.ok("ListClusters", listed(&[("j-IDLE", "WAITING")]));
    aws.ok("TerminateJobFlows", json!({}));
    let warmed = warm_up(&aws.emr(), &leases, &pool, &request, now(), now())
        .await
        .unwrap();
    assert_eq!(warmed, WarmUp::Kept("j-IDLE".into()));
    assert!(aws.requests("RunJobFlow").is_empty());
    assert_eq!(leases.get("j-IDLE").unwrap().idle_since, Some(now()));
    // Without the warm-up it would have gone at +1 minute; now it stays until +10.
    let report = release_idle(&aws.emr(), &leases, None, now() + Duration::minutes(5))
        .await
        .unwrap();
    assert!(report.released.is_empty(), "{report:?}");

    // A busy cluster with room is kept as it is; one being released, or spent (it took max_runs_per_cluster = 3),
    // does not count: a new one is started instead.
    let leases = Leases::with(vec![
        record("j-BUSY", &["r"], 1),
        PoolCluster {
            releasing: true,
            ..record("j-GOING", &[], 1)
        },
    ]);
    let aws = FakeAws::new();
    aws.ok(
        "ListClusters",
        listed(&[("j-BUSY", "RUNNING"), ("j-GOING", "WAITING")]),
    );
    assert_eq!(
        warm_up(&aws.emr(), &leases, &pool, &request, now(), now())
            .await
            .unwrap(),
        WarmUp::Kept("j-BUSY".into())
    );
    let leases = Leases::with(vec![
        PoolCluster {
            releasing: true,
            ..record("j-GOING", &[], 1)
        },
        PoolCluster {
            idle_since: Some(now() - Duration::minutes(1)),
            ..record("j-SPENT", &[], 3)
        },
    ]);
    let aws = FakeAws::new();
    aws.ok(
        "ListClusters",
        listed(&[("j-GOING", "WAITING"), ("j-SPENT", "WAITING")]),
    );
    aws.ok("RunJobFlow", json!({"JobFlowId": "j-NEW"}));
    assert_eq!(
        warm_up(&aws.emr(), &leases, &pool, &request, now(), now())
            .await
            .unwrap(),
        WarmUp::Started("j-NEW".into())
    );
}

#[tokio::test]
async fn a_warm_up_starts_nothing_while_a_run_starts_a_cluster_and_a_repeat_records_the_first_ones()
{
    let (request, pool) = warm_request();
    let leases = Leases::default();
    *leases.1.lock().unwrap() = Some(("clicks-1".into(), now() + Duration::seconds(30)));
    let aws = FakeAws::new();
    aws.ok("ListClusters", listed(&[]));
    assert_eq!(
        warm_up(&aws.emr(), &leases, &pool, &request, now(), now())
            .await
            .unwrap(),
        WarmUp::Starting
    );
    // Another delivery of the same minute's look holding it: the same.
    *leases.1.lock().unwrap() =
        Some(("warm-20261127T0630@1".into(), now() + Duration::seconds(30)));
    assert_eq!(
        warm_up(&aws.emr(), &leases, &pool, &request, now(), now())
            .await
            .unwrap(),
        WarmUp::Starting
    );
    assert!(aws.requests("RunJobFlow").is_empty());

    // The same minute again, after a first warm-up started its cluster but lost RunJobFlow's answer.
    let leases = Leases::default();
    let aws = FakeAws::new();
    aws.ok(
        "ListClusters",
        json!({"Clusters": [{"Id": "j-FIRST", "Name": "sparkplug-pool-bursts-warm-20261127T0630",
            "Status": {"State": "STARTING"}}]}),
    );
    assert_eq!(
        warm_up(&aws.emr(), &leases, &pool, &request, now(), now())
            .await
            .unwrap(),
        WarmUp::Started("j-FIRST".into())
    );
    assert!(aws.requests("RunJobFlow").is_empty());
    assert_eq!(leases.get("j-FIRST").unwrap().runs_total, 0);
    // …and once more after a run leased it: its record is left as it is.
    assert!(leases
        .lease("bursts", "j-FIRST", "clicks-9", 2, 3)
        .await
        .unwrap());
    let repeat = warm_up(&aws.emr(), &leases, &pool, &request, now(), now())
        .await
        .unwrap();
    assert_eq!(repeat, WarmUp::Started("j-FIRST".into()));
    assert_eq!(leases.get("j-FIRST").unwrap().runs, vec!["clicks-9"]);
    assert!(aws.requests("RunJobFlow").is_empty());
}

#[tokio::test]
async fn a_cluster_a_run_recorded_while_the_warm_up_waited_for_the_lock_is_kept_instead_of_a_new_one(
) {
    let (request, pool) = warm_request();
    // Listed already, recorded (with its run's lease) just before the warm-up takes the lock.
    let leases = Leases::with(Vec::new());
    *leases.2.lock().unwrap() = Some(PoolCluster {
        created: now(),
        ..record("j-RUNS", &["clicks-1"], 1)
    });
    let aws = FakeAws::new();
    aws.ok("ListClusters", listed(&[("j-RUNS", "STARTING")]));
    assert_eq!(
        warm_up(&aws.emr(), &leases, &pool, &request, now(), now())
            .await
            .unwrap(),
        WarmUp::Kept("j-RUNS".into())
    );
    assert!(aws.requests("RunJobFlow").is_empty());
    assert!(leases.1.lock().unwrap().is_none(), "start lock given back");
}

#[tokio::test]
async fn the_janitors_minute_warms_the_pools_due_then_releases_idle_ones() {
    let config = janitor_config();
    let look = |event: Value| {
        let (aws, leases, config) = (FakeAws::new(), Leases::default(), config.clone());
        async move {
            aws.ok("ListClusters", listed(&[]));
            aws.ok("RunJobFlow", json!({"JobFlowId": "j-WARM"}));
            let report = janitor::janitor(
                &config,
                &aws.emr(),
                &aws.glue(),
                &aws.sfn(),
                &leases,
                &aws.serverless(),
                event,
                now() + Duration::hours(5),
            )
            .await
            .unwrap();
            (
                serde_json::to_value(report).unwrap(),
                aws.requests("RunJobFlow").len(),
            )
        }
    };
    // Friday 06:30 is due (cron(30 6 ? * MON-FRI *)).
    let (report, started) =
        look(json!({"release_idle": true, "warm_up": true, "time": "2026-11-27T06:30:00Z"})).await;
    assert_eq!(
        report["pools"]["warmed"],
        json!({"bursts": {"started": "j-WARM"}})
    );
    assert_eq!(started, 1);
    // 06:31, Saturday 06:30, or a look without `warm_up` (a test's, the demo's): nothing started.
    for event in [
        json!({"release_idle": true, "warm_up": true, "time": "2026-11-27T06:31:00Z"}),
        json!({"release_idle": true, "warm_up": true, "time": "2026-11-28T06:30:00Z"}),
        json!({"release_idle": true, "time": "2026-11-27T06:30:00Z"}),
        json!({"release_idle": true, "warm_up": true, "pool": "other", "time": "2026-11-27T06:30:00Z"}),
    ] {
        let (report, started) = look(event.clone()).await;
        assert_eq!(started, 0, "{event}: {report}");
        assert!(report["pools"].get("warmed").is_none(), "{event}: {report}");
    }
}

#[tokio::test]
async fn a_failed_warm_up_fails_the_look_after_idle_clusters_are_released() {
    let config = janitor_config();
    // A release interrupted after its mark: no live cluster to keep, so the warm-up starts one, and EMR refuses.
    let leases = Leases::with(vec![PoolCluster {
        releasing: true,
        ..record("j-GOING", &[], 1)
    }]);
    let aws = FakeAws::new();
    aws.ok("ListClusters", listed(&[("j-GOING", "WAITING")]));
    aws.error("RunJobFlow", 400, "ThrottlingException", "Rate exceeded");
    aws.ok("TerminateJobFlows", json!({}));
    let error = janitor::janitor(
        &config,
        &aws.emr(),
        &aws.glue(),
        &aws.sfn(),
        &leases,
        &aws.serverless(),
        json!({"release_idle": true, "warm_up": true, "time": "2026-11-27T06:30:00Z"}),
        now(),
    )
    .await
    .unwrap_err();
    assert!(error.message.contains("RunJobFlow"), "{error:?}");
    assert_eq!(
        aws.requests("TerminateJobFlows")[0]["JobFlowIds"],
        json!(["j-GOING"])
    );
    assert!(leases.get("j-GOING").is_none());
    assert!(leases.1.lock().unwrap().is_none(), "start lock given back");
}

#[test]
fn a_warm_schedule_is_checked_and_needs_a_job_on_its_pool() {
    let bad = CATALOG.replace("cron(30 6 ? * MON-FRI *)", "cron(30 6 * * MON-FRI *)");
    let text = catalog_of(&bad).unwrap_err();
    assert!(text.contains("pools.bursts.warm[0]: "), "{text}");
    let unused = CATALOG.replace("pool = \"bursts\"\n", "");
    let text = catalog_of(&unused).unwrap_err();
    assert!(
        text.contains("pools.bursts.warm: no job uses this pool: a warm-up would start a cluster no run takes"),
        "{text}"
    );
    let typo = CATALOG.replace("warm = [", "warm = 3 #[");
    let text = catalog_of(&typo).unwrap_err();
    assert!(text.contains("warm: invalid type"), "{text}");
}

#[tokio::test]
async fn the_dynamodb_warm_up_records_idle_time_and_restarts_it_only_on_an_idle_open_cluster() {
    let aws = FakeAws::new();
    aws.ok("PutItem", json!({}));
    aws.ok("UpdateItem", json!({}));
    let table = aws.tokens();
    assert!(table
        .add_pool_cluster(&PoolCluster {
            idle_since: Some(now()),
            started_by: "warm-20261127T0630".into(),
            ..record("j-WARM", &[], 0)
        })
        .await
        .unwrap());
    let put = &aws.requests("PutItem")[0];
    assert_eq!(put["ConditionExpression"], "attribute_not_exists(#key)");
    assert_eq!(
        put["Item"]["idle_since"],
        json!({"N": now().timestamp_millis().to_string()})
    );
    assert!(put["Item"].get("runs").is_none(), "no empty set: {put}");
    let later = now() + Duration::minutes(1440);
    assert!(table
        .restart_idle("bursts", "j-WARM", Some(now()), later)
        .await
        .unwrap());
    // The first update registered the cluster in the pools' registry.
    let update = &aws.requests("UpdateItem")[1];
    assert_eq!(update["UpdateExpression"], "SET idle_since = :now");
    assert_eq!(
        update["ConditionExpression"],
        "#state = :open AND attribute_not_exists(runs) AND idle_since = :since"
    );
    assert_eq!(
        update["ExpressionAttributeValues"][":since"],
        json!({"N": now().timestamp_millis().to_string()})
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
        .restart_idle("bursts", "j-WARM", Some(now()), later)
        .await
        .unwrap());
    // A warmed-up cluster's first idle time: only while it has none.
    let aws = FakeAws::new();
    aws.ok("UpdateItem", json!({}));
    assert!(aws
        .tokens()
        .restart_idle("bursts", "j-WARM", None, later)
        .await
        .unwrap());
    assert_eq!(
        aws.requests("UpdateItem")[0]["ConditionExpression"],
        "#state = :open AND attribute_not_exists(runs) AND attribute_not_exists(idle_since)"
    );
}
