//! Data-aware runs (jobs.toml's daily_margin, stock_estimate, events_compact): an input set completed out of order
//! starts one run with both inputs; the minute tick runs the schedules, then a set's deadline (an alert naming the
//! missing file, or a run with what arrived), a lost arrival found at the deadline, and a "did not run" alert once;
//! 250 small files make three batches whose manifests hold each file once; a file whose arrival event was lost is
//! batched by the tick's look.

use sparkplug::run::runkey::for_input_set;

use crate::harness::*;

impl Aws {
    /// The executions whose name starts with `prefix`.
    async fn executions_starting(&self, prefix: &str) -> Vec<String> {
        let mut found = Vec::new();
        let mut pages = self
            .sfn
            .list_executions()
            .state_machine_arn(&self.stack.state_machine_arn)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            found.extend(
                page.unwrap()
                    .executions()
                    .iter()
                    .map(|e| e.name().to_string())
                    .filter(|name| name.starts_with(prefix)),
            );
        }
        found.sort();
        found
    }

    /// The runs of events_compact's batches under its S3 rule `rule` (0: landing/events/, 1: landing/late-events/).
    async fn batch_runs(&self, rule: u64) -> Vec<String> {
        let mut runs = Vec::new();
        for run in self.executions_starting("events_compact-batch-").await {
            if self.plan_of(&run).await["trigger"]["rule"] == rule {
                runs.push(run);
            }
        }
        runs
    }

    /// The objects a batch run's manifest lists.
    async fn manifest_of(&self, run: &str) -> Vec<String> {
        let plan = self.plan_of(run).await;
        let manifest = &plan["trigger"]["manifest"];
        let body = self
            .s3()
            .get_object()
            .bucket(manifest["bucket"].as_str().unwrap())
            .key(manifest["key"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        let manifest: Value = serde_json::from_slice(&body).unwrap();
        serde_json::from_value(manifest["objects"].clone()).unwrap()
    }

    /// The trigger's answer to a tick at `time` (what the one-minute schedule sends).
    fn tick(&self, time: &str) -> Value {
        self.stack
            .invoke(
                &self.stack.trigger_function,
                &json!({"tick": true, "time": time}),
            )
            .unwrap()
    }

    /// An execution's input (its plan), parsed.
    async fn plan_of(&self, run: &str) -> Value {
        let described = self
            .sfn
            .describe_execution()
            .execution_arn(self.execution_arn(run))
            .send()
            .await
            .unwrap();
        serde_json::from_str(described.input().unwrap_or("{}")).unwrap()
    }

    /// The "did not run" events on the bus about `job`, each checked against its committed schema.
    fn missing_events(&self, job: &str) -> Vec<Value> {
        let entries = self.stack.control_get("/bus").unwrap();
        let events: Vec<Value> = entries
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["DetailType"] == "sparkplug Run Missing")
            .filter_map(|e| serde_json::from_str::<Value>(e["Detail"].as_str()?).ok())
            .filter(|d| d["job"] == job)
            .collect();
        for event in &events {
            let envelope = json!({"source": "sparkplug", "detail-type": "sparkplug Run Missing", "detail": event});
            follows_schema("run-missing", &envelope);
        }
        events
    }
}

fn started(answer: &Value) -> Vec<String> {
    answer["started"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// The runs a tick started but the batches': the batch test's batch may be closed by any test's tick.
fn started_but_batches(answer: &Value) -> Vec<String> {
    started(answer)
        .into_iter()
        .filter(|run| !run.starts_with("events_compact-batch-"))
        .collect()
}

fn args(plan: &Value) -> Vec<String> {
    // A Glue run's job arguments follow the jar runner's class: its plan's run request lists them.
    let run = &plan["glue"]["run"]["Arguments"];
    serde_json::from_str::<Vec<String>>(run["--sparkplug_args"].as_str().unwrap_or("[]"))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_input_set_completed_out_of_order_starts_one_run_with_both_inputs() {
    let aws = aws().await;
    let bucket = aws.stack.data_bucket.clone();
    let (prices, stock) = (
        "landing/prices/dt=2026-12-05/_SUCCESS",
        "landing/stock/dt=2026-12-05/_SUCCESS",
    );
    // The stock first: the set waits for the prices.
    aws.put(stock).await;
    let first = aws.delivered(stock).await;
    assert!(started(&first["answer"]).is_empty(), "{first}");
    let waiting = first["answer"]["ignored"].to_string();
    assert!(
        waiting.contains("daily_margin date=2026-12-05: 1 of 2 inputs in; waits for"),
        "{waiting}"
    );
    assert!(
        waiting.contains(&format!("s3://{bucket}/{prices}")),
        "{waiting}"
    );
    // stock_estimate is expected 3 hours after a day's first file: the partition is watched until then.
    let table = sparkplug::aws::run_table::RunTable::new(&aws.config, "sparkplug-dev-tokens");
    let watched = sparkplug::engine::ports::SetStore::watched_due(&table)
        .await
        .unwrap();
    let (due, ..) = watched
        .iter()
        .find(|(_, job, partition)| job == "stock_estimate" && partition == "date=2026-12-05")
        .unwrap_or_else(|| panic!("stock_estimate date=2026-12-05 is not watched: {watched:?}"));
    let hours = (*due - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!((2.9..=3.0).contains(&hours), "due in {hours} h");

    // The prices complete it: one run per job of the set, named after the partition.
    let put_at = Instant::now();
    aws.put(prices).await;
    let second = aws.delivered(prices).await;
    let set_latency = put_at.elapsed();
    let run = for_input_set("daily_margin", "date=2026-12-05");
    let mut runs = started(&second["answer"]);
    runs.sort();
    assert_eq!(
        runs,
        [
            run.clone(),
            for_input_set("stock_estimate", "date=2026-12-05")
        ],
        "{second}"
    );
    // Beside a single-input job (orders_enrich: one run per object), measured the same way: the put until the
    // trigger's answer (its executions started) is seen.
    let single = format!("landing/orders/{}.json", unique("latency"));
    let put_at = Instant::now();
    aws.put(&single).await;
    let answer = aws.delivered(&single).await;
    let single_latency = put_at.elapsed();
    assert_eq!(started(&answer["answer"]).len(), 1, "{answer}");
    eprintln!(
        "arrival → execution started (local stack, polled every 0.2 s): last input of a set {:.2} s, a single-input \
         job {:.2} s",
        set_latency.as_secs_f64(),
        single_latency.as_secs_f64()
    );
    assert_eq!(aws.wait(&run, RUN).await.status, "SUCCEEDED");
    let plan = aws.plan_of(&run).await;
    assert_eq!(plan["trigger"]["type"], "input_set");
    assert_eq!(plan["trigger"]["partition"], json!({"date": "2026-12-05"}));
    let args = args(&plan);
    for expected in [
        format!("s3://{bucket}/{prices}"),
        format!("s3://{bucket}/{stock}"),
        "2026-12-05".to_string(),
    ] {
        assert!(args.contains(&expected), "{expected} not in {args:?}");
    }

    // A re-upload (or the same event again) starts nothing more.
    aws.put(prices).await;
    let arrivals_of_prices = || -> Vec<Value> {
        aws.stack
            .events(&aws.stack.trigger_function, prices)
            .unwrap()
            .into_iter()
            .filter(|e| {
                e["function"] == aws.stack.trigger_function.as_str()
                    && e["event"]["detail"]["object"]["key"] == prices
            })
            .collect()
    };
    within(
        Duration::from_secs(60),
        "the re-upload reached the trigger",
        || async { arrivals_of_prices().len() >= 2 },
    )
    .await;
    let again = arrivals_of_prices().pop().unwrap();
    assert!(started(&again["answer"]).is_empty(), "{again}");
    assert!(
        again["answer"]["ignored"]
            .to_string()
            .contains("its run daily_margin-set-"),
        "{again}"
    );

    // `sparkplug status daily_margin --partition 2026-12-05`.
    let catalog = sparkplug::load::from_file(&repo().join("jobs.toml"))
        .unwrap()
        .catalog;
    let vars = sparkplug::catalog::Vars::resolve(&catalog, [], []).unwrap();
    let sfn = sparkplug::aws::sfn::Sfn::from_client(aws.sfn.clone());
    let status = sparkplug_cli::partition::partition_status(
        &catalog,
        &vars,
        &table,
        &sfn,
        &aws.stack.state_machine_arn,
        "daily_margin",
        "2026-12-05",
    )
    .await
    .unwrap();
    assert!(
        status.inputs.iter().all(|(.., at)| at.is_some()),
        "{status}"
    );
    assert_eq!(status.run, Some((run.clone(), "SUCCEEDED".to_string())));
    let text = status.to_string();
    assert!(text.contains("inputs: 2 of 2 arrived"), "{text}");
    assert!(
        text.contains("deadline: 2026-12-05 09:00 UTC (on_deadline alert)"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_minute_tick_runs_schedules_then_deadlines_and_expectations_in_time_order() {
    // One test for every tick-driven look: the tick keeps the last minute it evaluated, so ticks from two tests at
    // once would step on each other's minutes. In time order: a schedule, then deadlines, then an expectation. The
    // days are ahead of the real clock, which stamps every run's start and end: a success of today (another test's)
    // is before these periods, as a run of yesterday would be.
    let aws = aws().await;
    let bucket = aws.stack.data_bucket.clone();

    // weekly_report: cron(30 7 ? * MON *). 2027-01-04 is a Monday.
    let answer = aws.tick("2027-01-04T07:30:00Z");
    assert_eq!(
        started_but_batches(&answer),
        ["weekly_report-20270104T073000Z"],
        "{answer}"
    );
    assert_eq!(
        aws.wait("weekly_report-20270104T073000Z", RUN).await.status,
        "SUCCEEDED"
    );
    // The same tick again starts nothing; a minute when nothing is due neither.
    assert!(started_but_batches(&aws.tick("2027-01-04T07:30:00Z")).is_empty());
    assert!(started_but_batches(&aws.tick("2027-01-04T07:31:00Z")).is_empty());

    // 2027-01-05: the prices arrive, the stock never does.
    let stock = format!("s3://{bucket}/landing/stock/dt=2027-01-05/_SUCCESS");
    aws.put("landing/prices/dt=2027-01-05/_SUCCESS").await;
    aws.delivered("landing/prices/dt=2027-01-05/_SUCCESS").await;
    // 09:00, daily_margin's deadline: one alert, naming the missing file.
    let at_nine = aws.tick("2027-01-05T09:00:00Z");
    assert!(started_but_batches(&at_nine).is_empty(), "{at_nine}");
    let alerts = aws.missing_events("daily_margin");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["kind"], "deadline");
    assert_eq!(alerts[0]["partition"], "date=2027-01-05");
    assert_eq!(alerts[0]["reason"]["missing"], json!([stock]));
    let sns = aws.stack.control_get("/sns").unwrap();
    assert!(
        sns.as_array().unwrap().iter().any(|m| m["subject"]
            == "sparkplug dev: daily_margin inputs missing at the deadline"
            && m["email"].as_str().unwrap_or_default().contains(&stock)),
        "{sns}"
    );
    // 09:30, stock_estimate's deadline, on_deadline = "run": it runs with the prices alone.
    let half_past = aws.tick("2027-01-05T09:30:00Z");
    let estimate = for_input_set("stock_estimate", "date=2027-01-05");
    assert_eq!(
        started_but_batches(&half_past),
        std::slice::from_ref(&estimate),
        "{half_past}"
    );
    assert_eq!(aws.wait(&estimate, RUN).await.status, "SUCCEEDED");
    let args = args(&aws.plan_of(&estimate).await);
    let after = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .map(|i| args[i + 1].clone())
    };
    assert_eq!(after("--missing").as_deref(), Some("stock"), "{args:?}");
    assert_eq!(after("--stock").as_deref(), Some(""), "{args:?}");

    // 10:00, daily_margin's expectation: no run succeeded since yesterday's 10:00; it says why. Once.
    aws.tick("2027-01-05T10:00:00Z");
    let alerts = aws.missing_events("daily_margin");
    let expectation: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["kind"] == "expectation")
        .collect();
    assert_eq!(expectation.len(), 1, "{alerts:?}");
    assert_eq!(expectation[0]["reason"]["why"], "inputs_missing");
    assert!(
        expectation[0]["why"].as_str().unwrap().contains(&stock),
        "{}",
        expectation[0]
    );
    aws.tick("2027-01-05T10:00:00Z");
    assert_eq!(aws.missing_events("daily_margin").len(), 2);

    // 2027-01-06: the stock's arrival event is lost; the prices' is not. The deadline looks in S3, finds the
    // stock, and starts the run, late but whole.
    let lost = "landing/stock/dt=2027-01-06/_SUCCESS";
    aws.fault(lost, json!({"events": [{"action": "drop", "times": 10}]}))
        .await;
    aws.put(lost).await;
    aws.put("landing/prices/dt=2027-01-06/_SUCCESS").await;
    aws.delivered("landing/prices/dt=2027-01-06/_SUCCESS").await;
    let late = aws.tick("2027-01-06T09:00:00Z");
    let run = for_input_set("daily_margin", "date=2027-01-06");
    assert!(started(&late).contains(&run), "{late}");
    assert_eq!(aws.wait(&run, RUN).await.status, "SUCCEEDED");
    assert_eq!(
        aws.missing_events("daily_margin").len(),
        2,
        "no alert for a set found whole"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_250_small_files_makes_three_batches_whose_manifests_hold_each_once() {
    let aws = aws().await;
    let s3 = aws.s3();
    let prefix = format!("landing/events/{}", unique("burst"));
    let keys: Vec<String> = (0..250)
        .map(|i| format!("{prefix}/part-{i:03}.json"))
        .collect();
    // A burst, one PutObject after another (a faster one is throttled by the trigger's reserved concurrency, and its
    // retried arrivals come minutes later). On a quiet machine it takes seconds, well within the batches' 60 s
    // window: exactly three batches. On a loaded one (the whole suite at once) a batch's window can pass before it
    // is full, and any test's tick then closes it: more, smaller batches — still each file in exactly one.
    let burst = Instant::now();
    for key in &keys {
        s3.put_object()
            .bucket(&aws.stack.data_bucket)
            .key(key)
            .body(b"{}".to_vec().into())
            .send()
            .await
            .unwrap();
    }
    let put_time = burst.elapsed();
    let within_window = put_time < Duration::from_secs(45);
    // The batches not full wait for their window (60 s since their first file), which a tick closes (this one, or
    // another test's: any tick looks at the batches); then every file is in a started batch.
    tokio::time::sleep(Duration::from_secs(62)).await;
    aws.tick("2026-01-01T00:00:00Z");
    let batched = || async {
        let runs = aws.batch_runs(0).await;
        let mut files = 0;
        for run in &runs {
            let plan = aws.plan_of(run).await;
            files += plan["trigger"]["objects"].as_u64().unwrap_or(0);
        }
        files
    };
    within(
        Duration::from_secs(120),
        "every file's batch started",
        || async { batched().await >= 250 },
    )
    .await;
    let all_runs = aws.batch_runs(0).await;

    // Their manifests hold the 250 files, each once; each run ends.
    let mut listed: Vec<String> = Vec::new();
    let mut sizes = Vec::new();
    for run in &all_runs {
        assert_eq!(aws.wait(run, RUN).await.status, "SUCCEEDED");
        let plan = aws.plan_of(run).await;
        let objects = aws.manifest_of(run).await;
        sizes.push(objects.len());
        assert!(args(&plan).contains(&objects.len().to_string()), "{plan}");
        listed.extend(objects);
    }
    sizes.sort_unstable();
    assert!(sizes.iter().all(|n| *n <= 100), "{sizes:?}");
    if within_window {
        assert_eq!(sizes, [50, 100, 100]);
    }
    eprintln!(
        "250 files put in {:.1} s: batches of {sizes:?}",
        put_time.as_secs_f64()
    );
    listed.sort();
    let mut expected: Vec<String> = keys
        .iter()
        .map(|k| format!("s3://{}/{k}", aws.stack.data_bucket))
        .collect();
    expected.sort();
    assert_eq!(listed, expected, "every file once");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batched_file_whose_arrival_event_was_lost_is_batched_by_the_tick_look() {
    let aws = aws().await;
    let key = format!("landing/late-events/{}.json", unique("lost"));
    aws.fault(&key, json!({"events": [{"action": "drop", "times": 10}]}))
        .await;
    aws.put(&key).await;
    // The look leaves an object's first 2 minutes to its own event.
    tokio::time::sleep(Duration::from_secs(125)).await;
    // A quarter-hour tick (any test's would do): the rule's prefix is listed, the file placed in a batch whose
    // window (60 s since the file was written) has passed, and that batch started.
    aws.tick("2026-01-01T00:15:00Z");
    let uri = format!("s3://{}/{key}", aws.stack.data_bucket);
    let holding = || async {
        let mut runs = Vec::new();
        for run in aws.batch_runs(1).await {
            if aws.manifest_of(&run).await.contains(&uri) {
                runs.push(run);
            }
        }
        runs
    };
    within(
        Duration::from_secs(60),
        "the lost file's batch started",
        || async { !holding().await.is_empty() },
    )
    .await;
    let holding = holding().await;
    assert_eq!(holding.len(), 1, "{holding:?}");
    assert_eq!(aws.wait(&holding[0], RUN).await.status, "SUCCEEDED");
    // The trigger never saw the file's event.
    let delivered = aws.stack.events(&aws.stack.trigger_function, &key).unwrap();
    assert!(
        delivered
            .iter()
            .all(|e| e["event"]["detail"]["object"]["key"] != key.as_str()),
        "{delivered:?}"
    );
}
