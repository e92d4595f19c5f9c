//! The emulator as a witness: it refuses what AWS refuses, and every call is allowed by the caller's policy.

use crate::harness::*;

/// Actions AWS authorizes as part of another call, never called by the functions themselves: tags and the idle
/// policy set by RunJobFlow, tags set by CreateJob, roles passed by RunJobFlow and CreateJob, and the failed-events
/// queue written by Lambda's on-failure destination.
const AUTHORIZED_WITHIN_ANOTHER_CALL: &[&str] = &[
    "elasticmapreduce:AddTags",
    "elasticmapreduce:PutAutoTerminationPolicy",
    "glue:TagResource",
    "emr-serverless:TagResource",
    "iam:PassRole",
    // S3 consults it to answer a missing object 404 rather than 403 (the alert's look for a late log).
    "s3:ListBucket",
    "sqs:SendMessage",
];

/// The emulator is a witness: it refuses what AWS refuses, whoever sends it (here the SDK, bypassing sparkplug).
#[tokio::test(flavor = "multi_thread")]
async fn the_emulator_refuses_what_aws_refuses() {
    use aws_sdk_emr::types::{
        ActionOnFailure, HadoopJarStepConfig, InstanceGroupConfig, InstanceRoleType,
        JobFlowInstancesConfig, StepConfig, Tag,
    };

    let aws = aws().await;
    let code = |e: &dyn aws_smithy_types::error::metadata::ProvideErrorMetadata| {
        e.code().unwrap_or_default().to_string()
    };

    // A Glue job otherwise valid; each case below adds one value AWS refuses.
    let witness_job = || {
        aws.glue
            .create_job()
            .name("sparkplug-witness")
            .role("r")
            .command(
                aws_sdk_glue::types::JobCommand::builder()
                    .name("glueetl")
                    .script_location("s3://b/k")
                    .build(),
            )
    };
    // A value outside the service model's enum (botocore's model, which moto does not check).
    let err = witness_job()
        .worker_type(aws_sdk_glue::types::WorkerType::from("G.9X"))
        .number_of_workers(2)
        .send()
        .await
        .unwrap_err();
    let err = err.into_service_error();
    assert_eq!(code(&err), "ValidationException", "{err}");
    let message =
        aws_smithy_types::error::metadata::ProvideErrorMetadata::message(&err).unwrap_or_default();
    assert!(
        message.contains("WorkerType: `G.9X` is not one of"),
        "{message}"
    );

    // A string outside its model's `pattern`: an EMR Serverless tag value may hold letters, digits, spaces and
    // `/_.:=+@-` only (botocore's emr-serverless TagValue), which a run name like `rerun!` breaks.
    let err = aws_sdk_emrserverless::Client::new(&aws.config)
        .create_application()
        .name("sparkplug-witness")
        .release_label("emr-7.5.0")
        .r#type("SPARK")
        .client_token("witness")
        .tags("sparkplug:run", "rerun!")
        .send()
        .await
        .unwrap_err();
    let err = err.into_service_error();
    assert_eq!(code(&err), "ValidationException", "{err}");
    let message =
        aws_smithy_types::error::metadata::ProvideErrorMetadata::message(&err).unwrap_or_default();
    assert!(
        message.contains("`rerun!` does not match the pattern"),
        "{message}"
    );

    // Glue's 7-day limit on a run's Timeout.
    let err = witness_job()
        .timeout(10080)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&err), "ValidationException", "{err}");

    // CreateJob of a name that exists: AlreadyExistsException (moto would replace the job, and its runs with it).
    let name = unique("sparkplug-witness-twice");
    let create = || {
        aws.glue
            .create_job()
            .name(&name)
            .role("r")
            .command(
                aws_sdk_glue::types::JobCommand::builder()
                    .name("glueetl")
                    .script_location("s3://b/k")
                    .build(),
            )
            .send()
    };
    create().await.unwrap();
    let err = create().await.unwrap_err().into_service_error();
    assert_eq!(code(&err), "AlreadyExistsException", "{err}");

    // A cluster under a v2 managed service role without the tag the policy requires fails as it starts.
    let group = |role: InstanceRoleType| {
        InstanceGroupConfig::builder()
            .instance_role(role)
            .instance_type("m5.xlarge")
            .instance_count(1)
            .build()
    };
    // A one-node cluster under `service_role`.
    let one_node = |name: &str, service_role: &str| {
        aws.emr
            .run_job_flow()
            .name(name)
            .release_label("emr-7.5.0")
            .service_role(service_role)
            .job_flow_role("EMR_EC2_DefaultRole")
            .instances(
                JobFlowInstancesConfig::builder()
                    .instance_groups(group(InstanceRoleType::Master))
                    .keep_job_flow_alive_when_no_steps(true)
                    .build(),
            )
    };
    let name = unique("witness-untagged");
    let cluster = one_node(&name, "EMR_DefaultRole_V2")
        .tags(
            Tag::builder()
                .key("sparkplug:environment")
                .value("witness")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let id = cluster.job_flow_id().unwrap().to_string();
    within(RUN, "the untagged v2 cluster fails", || async {
        let described = aws
            .emr
            .describe_cluster()
            .cluster_id(&id)
            .send()
            .await
            .unwrap();
        let status = described.cluster().unwrap().status().unwrap();
        if status.state() == Some(&ClusterState::TerminatedWithErrors) {
            let reason = status.state_change_reason().unwrap();
            assert_eq!(reason.code().map(|c| c.as_str()), Some("VALIDATION_ERROR"));
            assert!(reason
                .message()
                .unwrap()
                .contains("for-use-with-amazon-emr-managed-policies"));
            return true;
        }
        false
    })
    .await;

    // Steps side by side take only CONTINUE.
    let name = unique("witness-concurrent");
    let cluster = one_node(&name, "EMR_DefaultRole")
        .step_concurrency_level(2)
        .send()
        .await
        .unwrap();
    let id = cluster.job_flow_id().unwrap().to_string();
    let step = |action: ActionOnFailure| {
        StepConfig::builder()
            .name("s")
            .action_on_failure(action)
            .hadoop_jar_step(
                HadoopJarStepConfig::builder()
                    .jar("command-runner.jar")
                    .args("true")
                    .build(),
            )
            .build()
    };
    let err = aws
        .emr
        .add_job_flow_steps()
        .job_flow_id(&id)
        .steps(step(ActionOnFailure::CancelAndWait))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(code(&err), "ValidationException", "{err}");
    aws.emr
        .add_job_flow_steps()
        .job_flow_id(&id)
        .steps(step(ActionOnFailure::Continue))
        .send()
        .await
        .unwrap();
    aws.emr
        .terminate_job_flows()
        .job_flow_ids(&id)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn every_call_a_function_makes_is_allowed_by_its_policy_and_every_grant_is_used() {
    let aws = aws().await;
    // Traffic on every path: an S3 arrival, an EMR run, a Glue run whose job definition changed, a stopped EMR run and
    // a stopped Glue run (the janitor's event path), and a sweep.
    // The Glue job is created by the stack's first customer_scores run (the emulator starts empty), then found changed
    // (another definition) by a later run. (Not deleted here: other tests run the same job meanwhile.)
    let job = "sparkplug-customer_scores-dev";
    let first = unique("customer_scores-iam-first");
    aws.start("customer_scores", &first).await;
    assert_eq!(aws.wait(&first, RUN).await.status, "SUCCEEDED", "{first}");
    let stale = aws_sdk_glue::types::JobUpdate::builder()
        .role("sparkplug-glue")
        .command(
            aws_sdk_glue::types::JobCommand::builder()
                .name("glueetl")
                .script_location("s3://acme-artifacts-dev/old.scala")
                .build(),
        )
        .max_retries(5)
        .build();
    aws.glue
        .update_job()
        .job_name(job)
        .job_update(stale)
        .send()
        .await
        .unwrap();
    let emr = unique("iam-emr");
    let glue = unique("customer_scores-iam");
    let emr_stopped = unique("iam-emr-stopped");
    let glue_stopped = unique("customer_scores-iam-stopped");
    aws.fault(&glue_stopped, json!({"glue_run_seconds": 600}))
        .await;
    // A create whose answer is lost: its retry describes the cluster it finds.
    let emr_retried = unique("iam-emr-retried");
    // …and whose add-steps fails once: its retry lists the steps already there.
    let lost = json!({"api_errors": [{"action": "RunJobFlow", "code": "InternalServerError", "message": "lost", "times": 1, "after_call": true}],
        "lambda_errors": [{"function": "emr-add-steps", "times": 1}]});
    aws.fault(&emr_retried, lost).await;
    aws.start("hello_world", &emr_retried).await;
    aws.put(&format!("landing/sales/{}/_SUCCESS", unique("iam")))
        .await;
    aws.start("hello_world", &emr).await;
    aws.start("customer_scores", &glue).await;
    aws.start("hello_world", &emr_stopped).await;
    aws.start("customer_scores", &glue_stopped).await;
    // A Glue start retried once (it looks for the run it may have started), and a Glue run past its limit (glue-finish
    // stops it).
    let glue_retried = unique("customer_scores-iam-retried");
    aws.fault(
        &glue_retried,
        json!({"lambda_errors": [{"function": "glue-start-run", "times": 1}]}),
    )
    .await;
    aws.start("customer_scores", &glue_retried).await;
    // Two runs of a job that runs one at a time: the second queues, and starts when the first ends.
    let ledger_first = unique("ledger_close-iam-first");
    let ledger_second = unique("ledger_close-iam-second");
    aws.fault(&ledger_first, json!({"glue_run_seconds": 20}))
        .await;
    aws.start("ledger_close", &ledger_first).await;
    // The second starts once the first holds the slot (its Glue run exists): two starts at once may take the slot in
    // either order.
    within(RUN, "the first ledger run holds the slot", || async {
        !aws.ledger_runs(&ledger_first).await.is_empty()
    })
    .await;
    aws.start("ledger_close", &ledger_second).await;
    // The drain while the first holds the slot and the second waits: it asks whether the holder still runs.
    within(RUN, "the second ledger run waits for the slot", || async {
        aws.current_state(&ledger_second).await.as_deref() == Some("TakeSlot")
    })
    .await;
    aws.stack.invoke("queue", &json!({"drain": true})).unwrap();
    // A failed step: its alert reads the step's stderr.gz; its first Publish fails (the alert gives its claim back,
    // and Lambda's retry sends it).
    let emr_failed = unique("iam-emr-failed");
    aws.fault(
        &emr_failed,
        json!({"fail_step": {"name": "hello_world", "message": "boom"},
            "api_errors": [{"action": "Publish", "code": "Throttled", "message": "Rate exceeded", "times": 1}]}),
    )
    .await;
    aws.start("hello_world", &emr_failed).await;
    let glue_limited = unique("customer_scores-iam-limited");
    aws.fault(&glue_limited, json!({"glue_run_seconds": 600}))
        .await;
    aws.start_with_limit("customer_scores", &glue_limited, 4)
        .await;
    // Warm pool traffic (the interactive pool, which only this test uses): a run that starts a cluster and one that
    // joins it; one stopped from the console and one past its limit while their steps run (their steps cancelled on
    // the pool cluster); one whose create fails (its end looks for a lease it may hold); then the pool's release.
    let pooled: Vec<String> = (0..2)
        .map(|i| unique(&format!("quick_pi-iam{i}")))
        .collect();
    let pooled_stopped = unique("quick_pi-iam-stopped");
    let pooled_limited = unique("quick_pi-iam-limited");
    let pooled_unmade = unique("quick_pi-iam-unmade");
    for run in [&pooled_stopped, &pooled_limited] {
        aws.fault(run, json!({"step_seconds": 600})).await;
    }
    aws.fault(
        &pooled_unmade,
        json!({"lambda_errors": [{"function": "emr-create-cluster", "error_type": "Failed", "times": 1}]}),
    )
    .await;
    for run in pooled.iter().chain([&pooled_stopped, &pooled_unmade]) {
        aws.start("quick_pi", run).await;
    }
    aws.start_with_limit("quick_pi", &pooled_limited, 20).await;
    within(RUN, "the runs to stop have started", || async {
        !aws.clusters(&emr_stopped).await.is_empty()
            && !aws.glue_runs(&glue_stopped).await.is_empty()
            && aws.current_state(&pooled_stopped).await.as_deref() == Some("RunSteps")
    })
    .await;
    aws.stop(&emr_stopped).await;
    aws.stop(&glue_stopped).await;
    aws.stop(&pooled_stopped).await;
    for run in &pooled {
        assert_eq!(aws.wait(run, RUN).await.status, "SUCCEEDED", "{run}");
    }
    assert_eq!(
        aws.wait(&pooled_limited, RUN).await.error.as_deref(),
        Some("Timeout")
    );
    assert_eq!(aws.wait(&pooled_unmade, RUN).await.status, "FAILED");
    within(
        Duration::from_secs(60),
        "the stopped pooled run's step is cancelled",
        || async {
            let report = aws.stack.events("janitor", &pooled_stopped).unwrap();
            report.iter().any(|e| {
                e["answer"]["steps"]
                    .as_array()
                    .is_some_and(|s| !s.is_empty())
            })
        },
    )
    .await;
    let released = aws.release_idle("interactive", 21).await;
    assert!(
        !released.is_empty(),
        "the interactive pool's idle cluster is released"
    );
    // The pool's `warm` time (weekdays 07:50; a past Monday here): the janitor starts a cluster before any run, the
    // next run joins it warm, and it is released once idle.
    let look = aws
        .stack
        .invoke(
            "janitor",
            &json!({"release_idle": true, "warm_up": true, "pool": "interactive", "time": "2026-11-23T07:50:00Z"}),
        )
        .unwrap();
    let warmed = look["pools"]["warmed"]["interactive"]["started"]
        .as_str()
        .unwrap_or_else(|| panic!("no cluster warmed up: {look}"))
        .to_string();
    let after_warm_up = unique("quick_pi-iam-after-warm-up");
    aws.start("quick_pi", &after_warm_up).await;
    let done = aws.wait(&after_warm_up, RUN).await;
    assert_eq!(done.status, "SUCCEEDED", "{:?}", done.cause);
    assert_eq!(done.output["pool"]["start"], "warm", "{}", done.output);
    assert_eq!(cluster_of(&done), warmed);
    assert_eq!(aws.release_idle("interactive", 21).await, vec![warmed]);
    for run in [
        &emr,
        &glue,
        &emr_retried,
        &glue_retried,
        &ledger_first,
        &ledger_second,
    ] {
        assert_eq!(aws.wait(run, RUN).await.status, "SUCCEEDED", "{run}");
    }
    assert_eq!(
        aws.wait(&glue_limited, RUN).await.error.as_deref(),
        Some("Timeout")
    );
    assert!(aws
        .glue_runs(&glue_limited)
        .await
        .iter()
        .all(|(_, s)| s == "STOPPING" || s == "STOPPED"));
    assert_eq!(aws.wait(&emr_failed, RUN).await.status, "FAILED");
    let (_, alert) = aws.one_alert_about(&emr_failed).await;
    assert!(alert.get("log_tail").is_some(), "{alert}");
    within(
        Duration::from_secs(60),
        "the janitor ended the stopped runs",
        || async {
            aws.glue_runs(&glue_stopped)
                .await
                .iter()
                .all(|(_, s)| s == "STOPPED")
                && aws
                    .clusters(&emr_stopped)
                    .await
                    .iter()
                    .all(|(_, s)| s.starts_with("TERMINAT"))
        },
    )
    .await;
    // The backstops of the status change: the chains' and the alerts' catch-ups look at what ended since.
    for function in [aws.stack.trigger_function.as_str(), "alert"] {
        aws.stack
            .invoke(function, &json!({"catch_up": true, "grace_seconds": 0}))
            .unwrap();
    }
    // A sweep while a run is up: it asks the run's execution whether it still runs (it does: nothing is ended).
    let running = unique("iam-emr-running");
    aws.fault(&running, json!({"step_seconds": 600})).await;
    aws.start("hello_world", &running).await;
    within(RUN, "the long run's cluster is up", || async {
        !aws.clusters(&running).await.is_empty()
    })
    .await;
    let swept = aws
        .stack
        .invoke("janitor", &json!({"sweep": true}))
        .unwrap();
    assert!(swept.get("clusters").is_some(), "{swept}");
    assert_eq!(aws.status(&running).await, "RUNNING");
    aws.stop(&running).await;
    aws.reconcile_a_waiter_whose_cluster_is_gone().await;
    aws.serverless_traffic().await;

    let report = aws.stack.control_get("/iam").unwrap();
    assert!(
        report["calls"].as_u64().unwrap() > 0,
        "no call was attributed to a function"
    );
    // The only refusals by design: a cluster of another environment, described to find out whose it is; and the gone
    // waiter's cluster (no such cluster carries this environment's tag).
    for denied in report["denied"].as_array().unwrap() {
        if denied["resource"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/j-GONE0000000")
        {
            continue;
        }
        let function = denied["function"].as_str().unwrap();
        let own = if function.ends_with("--prod") {
            "prod"
        } else {
            "dev"
        };
        assert_eq!(
            denied["action"], "elasticmapreduce:DescribeCluster",
            "{denied}"
        );
        assert_ne!(
            denied["context"]["aws:ResourceTag/sparkplug:environment"], own,
            "{denied}"
        );
    }
    // Every action a dev function's policy grants, it used — some only on paths other tests drive (an input set's
    // deadline, a batch's manifest): looked at until they have, however the tests are ordered.
    let unused = |report: &Value| -> Vec<String> {
        let mut unused = Vec::new();
        for (function, granted) in report["granted"].as_object().unwrap() {
            if function.contains("--") {
                continue;
            }
            let used = &report["used"][function];
            unused.extend(
                granted
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|action| !AUTHORIZED_WITHIN_ANOTHER_CALL.contains(action))
                    .filter(|action| !used.as_array().into_iter().flatten().any(|u| u == action))
                    .map(|action| format!("{function}: {action}")),
            );
        }
        unused
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut report = report;
    while !unused(&report).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_secs(5)).await;
        report = aws.stack.control_get("/iam").unwrap();
    }
    let never = unused(&report);
    assert!(never.is_empty(), "granted, never called: {never:?}");
    eprintln!(
        "IAM from traffic: {} calls by {} functions, each allowed by its policy; every grant used",
        report["calls"],
        report["used"].as_object().unwrap().len()
    );
}
