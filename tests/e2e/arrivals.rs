//! What reaches the trigger: duplicates, bursts, bad input, buckets, schedules.

use crate::harness::*;

/// template.yaml's `TriggerConcurrency` default: the trigger's reserved concurrency.
const TRIGGER_CONCURRENCY: u64 = 10;

#[tokio::test(flavor = "multi_thread")]
async fn duplicates_start_exactly_one_execution() {
    let aws = aws().await;
    let key = format!("landing/sales/{} dup+/_SUCCESS", unique("dt"));
    aws.put(&key).await;
    let delivered = aws.delivered(&key).await;
    let run = delivered["answer"]["started"][0]
        .as_str()
        .unwrap()
        .to_string();
    let event = delivered["event"].clone();

    // The same EventBridge event delivered again at once: Step Functions answers the repeated StartExecution as it
    // answered the first, and the trigger tells a duplicate by the execution's startDate, earlier than its call by
    // more than a second (the clocks' margin) — so within that second it may count it started. Either way: the same
    // run, one execution.
    let at_once = aws
        .stack
        .invoke(&aws.stack.trigger_function, &event)
        .unwrap();
    let named: Vec<&Value> = at_once["started"]
        .as_array()
        .unwrap()
        .iter()
        .chain(at_once["duplicates"].as_array().unwrap())
        .collect();
    assert_eq!(named, [&json!(run)], "{at_once}");
    // Later, it is a duplicate.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let again = aws
        .stack
        .invoke(&aws.stack.trigger_function, &event)
        .unwrap();
    assert_eq!(again["started"], json!([]));
    assert_eq!(again["duplicates"], json!([run]));

    // The same object through an S3 notification: form-urlencoded key, same sequencer.
    let object = &event["detail"]["object"];
    let encoded: String = object["key"]
        .as_str()
        .unwrap()
        .bytes()
        .map(|b| match b {
            b' ' => "+".to_string(),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect();
    let notification = json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventTime": event["time"],
        "eventName": "ObjectCreated:Put", "userIdentity": {"principalId": "AWS:LOCAL"},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"}, "responseElements": {},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "local", "bucket": {"name": aws.stack.data_bucket, "arn": "arn:aws:s3:::x"},
               "object": {"key": encoded, "size": object["size"], "eTag": object["etag"], "sequencer": object["sequencer"]}}}]});
    let classic = aws
        .stack
        .invoke(&aws.stack.trigger_function, &notification)
        .unwrap();
    assert_eq!(classic["duplicates"], json!([run]), "{classic}");
    assert_eq!(aws.executions_named(std::slice::from_ref(&run)).await, 1);
    let finished = aws.wait(&run, RUN).await;
    assert_eq!(finished.status, "SUCCEEDED", "{:?}", finished.cause);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_200_arrivals_starts_200_distinct_executions() {
    let aws = aws().await;
    let prefix = unique("burst");
    let keys: Vec<String> = (0..200)
        .map(|i| format!("landing/sales/{prefix}/part-{i:03}/_SUCCESS"))
        .collect();
    for key in &keys {
        aws.put(key).await;
    }
    let mut names = Vec::new();
    for key in &keys {
        let delivered = aws.delivered(key).await;
        assert_eq!(delivered["error"], false, "{delivered}");
        let name = delivered["answer"]["started"][0]
            .as_str()
            .unwrap_or_else(|| panic!("{delivered}"))
            .to_string();
        // They are real runs: stop each once counted, to spare the other tests.
        let _ = aws
            .sfn
            .stop_execution()
            .execution_arn(aws.execution_arn(&name))
            .send()
            .await;
        names.push(name);
    }
    let mut distinct = names.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 200);
    assert_eq!(aws.executions_named(&names).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_starts_nothing_and_the_trigger_says_why() {
    let aws = aws().await;
    for (event, says) in [
        (json!({"hello": "world"}), "unrecognised event"),
        (json!({"Records": "nope"}), "`Records` is not an array"),
        (
            json!({"detail-type": "Object Created", "source": "aws.s3", "detail": {"bucket": {}}}),
            "bad `detail`",
        ),
        (json!({"job": "no_such_job"}), "unknown job `no_such_job`"),
    ] {
        let error = aws
            .stack
            .invoke(&aws.stack.trigger_function, &event)
            .unwrap_err();
        assert_eq!(error["errorType"], "InvalidInput", "{event}: {error}");
        assert!(
            error["errorMessage"].as_str().unwrap().contains(says),
            "{event}: {error}"
        );
    }
    // An arrival in a bucket nobody watches: ignored, with the reason.
    let foreign = json!({"version": "0", "id": "1", "detail-type": "Object Created", "source": "aws.s3", "account": "123456789012",
        "time": "2026-11-27T06:00:00Z", "region": "us-east-1", "resources": [], "detail": {"version": "0",
        "bucket": {"name": "someone-elses-bucket"}, "object": {"key": "landing/sales/x/_SUCCESS", "size": 1, "etag": "e", "sequencer": "01"}}});
    let answer = aws
        .stack
        .invoke(&aws.stack.trigger_function, &foreign)
        .unwrap();
    assert_eq!(answer["started"], json!([]));
    assert!(
        answer["ignored"][0]
            .as_str()
            .unwrap()
            .contains("matches no job"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn enabling_eventbridge_on_a_bucket_keeps_its_other_notifications() {
    use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};

    let aws = aws().await;
    let s3 = aws.s3();
    let bucket = unique("team-bucket");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    // The bucket already notifies a queue of another team.
    let queue = QueueConfiguration::builder()
        .id("other-team")
        .queue_arn(format!(
            "arn:aws:sqs:{}:123456789012:other-team",
            aws.stack.region
        ))
        .events(Event::S3ObjectCreated)
        .build()
        .unwrap();
    s3.put_bucket_notification_configuration()
        .bucket(&bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(queue)
                .build(),
        )
        .send()
        .await
        .unwrap();

    let enabled = sparkplug_cli::bucket::enable_eventbridge(&s3, ACCOUNT, &bucket)
        .await
        .unwrap();
    assert_eq!(enabled, sparkplug_cli::bucket::Enabled::Now { kept: 1 });
    let after = s3
        .get_bucket_notification_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    assert!(after.event_bridge_configuration().is_some());
    assert_eq!(
        after.queue_configurations().len(),
        1,
        "the other team's notification was lost"
    );
    assert_eq!(after.queue_configurations()[0].id(), Some("other-team"));
    // Again: nothing to do.
    let again = sparkplug_cli::bucket::enable_eventbridge(&s3, ACCOUNT, &bucket)
        .await
        .unwrap();
    assert_eq!(again, sparkplug_cli::bucket::Enabled::Already);

    // A bucket the stack's account does not own: refused, and its configuration left as it was (S3 answers 403 to a
    // request whose ExpectedBucketOwner is not the bucket's owner).
    let other = unique("other-account-bucket");
    s3.create_bucket().bucket(&other).send().await.unwrap();
    let err = sparkplug_cli::bucket::enable_eventbridge(&s3, "210987654321", &other)
        .await
        .unwrap_err();
    assert!(err.contains("not owned by account 210987654321"), "{err}");
    let untouched = s3
        .get_bucket_notification_configuration()
        .bucket(&other)
        .send()
        .await
        .unwrap();
    assert!(untouched.event_bridge_configuration().is_none());
}

/// Every object written to a bucket that sends its events to EventBridge reaches the trigger (its rule filters on
/// no bucket): a burst of part files nothing watches runs at most the trigger's reserved concurrency at once, the rest
/// throttled back into Lambda's queue and retried, every one handled in the end.
#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_part_files_runs_no_more_triggers_at_once_than_reserved() {
    let aws = aws().await;
    let prefix = unique("tmp/spark-output");
    let keys: Vec<String> = (0..3 * TRIGGER_CONCURRENCY)
        .map(|i| format!("{prefix}/part-{i:05}.parquet"))
        .collect();
    // Each invocation takes five seconds before the function runs (dev's and prod's: both hear the account's
    // writes), longer than the puts take, so the burst's events overlap.
    for key in &keys {
        aws.fault(
            key,
            json!({"lambda_delays": [{"function": "trigger", "seconds": 5, "times": 2}]}),
        )
        .await;
    }
    let throttled_before = aws.stack.control_get("/chaos").unwrap()["throttled"]
        .as_u64()
        .unwrap_or(0);
    let started = Instant::now();
    for key in &keys {
        aws.put(key).await;
    }
    for key in &keys {
        let delivered = aws.delivered(key).await;
        assert_eq!(delivered["answer"]["started"], json!([]), "{delivered}");
    }
    let chaos = aws.stack.control_get("/chaos").unwrap();
    let peak = chaos["peak_concurrency"][aws.stack.trigger_function.as_str()]
        .as_u64()
        .unwrap();
    let throttled = chaos["throttled"].as_u64().unwrap() - throttled_before;
    assert_eq!(peak, TRIGGER_CONCURRENCY, "{chaos}");
    assert!(throttled > 0, "{chaos}");
    eprintln!(
        "{} part files: the trigger ran at most {peak} at once, {throttled} invocations throttled, all handled in \
         {:.1} s",
        keys.len(),
        started.elapsed().as_secs_f64()
    );
}

// The minute tick's schedules are tested with the tick's other looks, in time order: inputs.rs.

#[tokio::test(flavor = "multi_thread")]
async fn a_job_watching_another_bucket_fires_once_the_bucket_sends_its_events() {
    let aws = aws().await;
    let s3 = aws.s3();
    // partner_feed watches acme-partner-dev (jobs.toml), a bucket the template never names.
    let bucket = "acme-partner-dev";
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    sparkplug_cli::bucket::enable_eventbridge(&s3, ACCOUNT, bucket)
        .await
        .unwrap();
    let key = format!("incoming/{}.csv", unique("drop"));
    aws.stack
        .control(
            "/put-object",
            &json!({"bucket": bucket, "key": key, "body": "a,b\n1,2\n"}),
        )
        .unwrap();
    let delivered = aws.delivered(&key).await;
    let started = delivered["answer"]["started"].as_array().unwrap().clone();
    assert_eq!(started.len(), 1, "{delivered}");
    let run = started[0].as_str().unwrap();
    assert!(run.starts_with("partner_feed-"), "{run}");
    assert_eq!(aws.wait(run, RUN).await.status, "SUCCEEDED");

    // partner_report runs after partner_feed (trigger.after), on the same file, knowing which run it follows.
    let after = within(RUN, "partner_report started after partner_feed", || async {
        aws.executions_named_like("partner_report-after-")
            .await
            .len()
            == 1
    })
    .await;
    let report = aws
        .executions_named_like("partner_report-after-")
        .await
        .remove(0);
    let plan = aws
        .sfn
        .describe_execution()
        .execution_arn(aws.execution_arn(&report))
        .send()
        .await
        .unwrap();
    let plan: Value = serde_json::from_str(plan.input().unwrap()).unwrap();
    assert_eq!(plan["trigger"]["type"], "upstream");
    assert_eq!(plan["trigger"]["run"], run);
    let args = plan["glue"]["run"]["Arguments"]["--sparkplug_args"]
        .as_str()
        .unwrap();
    assert!(args.contains(run) && args.contains(&key), "{args}");
    assert_eq!(aws.wait(&report, RUN).await.status, "SUCCEEDED");
    eprintln!(
        "partner_report started {:.1} s after partner_feed's success was seen",
        after.as_secs_f64()
    );
}
