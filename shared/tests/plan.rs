//! Plan rendering: the exact RunJobFlow / AddJobFlowSteps / CreateJob / StartJobRun requests, placeholder filling,
//! Airflow overrides preserved field by field, vars and args.

mod common;

use std::collections::BTreeMap;

use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use sparkplug::catalog::{Catalog, Vars};
use sparkplug::run::events::ObjectArrival;
use sparkplug::run::plan::{render, supports_auto_termination, PlanError, RunInput, Trigger};
use sparkplug::run::s3::S3Location;

fn time() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 6, 0, 0).unwrap()
}

fn arrival(bucket: &str, key: &str) -> RunInput {
    RunInput {
        trigger: Trigger::S3(ObjectArrival {
            bucket: bucket.into(),
            key: key.into(),
            version_id: None,
            sequencer: Some("0062E1A4B0C2D3E4F5".into()),
            etag: None,
            size: Some(0),
            time: Some(time()),
        }),
        args: BTreeMap::new(),
        time: time(),
        run_name: None,
    }
}

fn manual(args: &[(&str, &str)], input: Option<&str>) -> RunInput {
    RunInput {
        trigger: Trigger::Manual {
            time: time(),
            input: input.map(|uri| S3Location::parse(uri).unwrap()),
        },
        args: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        time: time(),
        run_name: None,
    }
}

fn defaults(catalog: &Catalog) -> Vars {
    Vars::resolve(catalog, [], []).unwrap()
}

#[test]
fn emr_plan_is_the_exact_run_job_flow_and_add_steps_requests() {
    let catalog = common::catalog();
    let input = arrival("acme-data-dev", "landing/sales/dt=2026-11-27/_SUCCESS");
    let plan = render(&catalog, "sales_daily", &input, &defaults(&catalog)).unwrap();
    let run = plan.run_name.clone();
    assert!(run.starts_with("sales_daily-"), "{run}");
    assert_eq!(plan.timeout_seconds, 180 * 60);
    assert_eq!(plan.environment.as_deref(), Some("dev"));
    let emr = plan.emr.as_ref().unwrap();
    assert_eq!(
        emr.cluster,
        json!({
            "ReleaseLabel": "emr-7.5.0",
            "LogUri": "s3://acme-logs-dev/emr/",
            "ServiceRole": "EMR_DefaultRole_V2",
            "JobFlowRole": "EMR_EC2_DefaultRole",
            "Name": format!("sparkplug-dev-{run}"),
            "Applications": [{"Name": "Spark"}],
            "VisibleToAllUsers": true,
            "Instances": {
                "InstanceGroups": [
                    {"Name": "Primary", "InstanceRole": "MASTER", "Market": "ON_DEMAND", "InstanceType": "m5.xlarge", "InstanceCount": 1},
                    {"Name": "Core", "InstanceRole": "CORE", "Market": "ON_DEMAND", "InstanceType": "r5.xlarge", "InstanceCount": 2},
                    {"Name": "Task", "InstanceRole": "TASK", "Market": "SPOT", "InstanceType": "r5.xlarge", "InstanceCount": 4}
                ],
                "Ec2SubnetId": "subnet-0123456789abcdef0",
                "KeepJobFlowAliveWhenNoSteps": true,
                "TerminationProtected": false
            },
            "Tags": [
                {"Key": "cost-center", "Value": "analytics"},
                {"Key": "team", "Value": "data-platform"},
                {"Key": "domain", "Value": "sales"},
                {"Key": "sparkplug:job", "Value": "sales_daily"},
                {"Key": "sparkplug:run", "Value": run},
                {"Key": "sparkplug:environment", "Value": "dev"},
                {"Key": "for-use-with-amazon-emr-managed-policies", "Value": "true"}
            ],
            "AutoTerminationPolicy": {"IdleTimeout": 1800}
        })
    );
    let conf = [
        "--conf",
        "spark.dynamicAllocation.enabled=true",
        "--conf",
        "spark.sql.shuffle.partitions=200",
    ];
    let submit = |class: &str| {
        let mut args = vec!["spark-submit", "--deploy-mode", "cluster", "--class", class];
        args.extend(conf);
        args.push("s3://acme-artifacts-dev/jars/sales-etl-1.4.2.jar");
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let with = |mut head: Vec<String>, tail: &[&str]| {
        head.extend(tail.iter().map(|s| s.to_string()));
        head
    };
    assert_eq!(
        Value::Array(emr.steps.clone()),
        json!([
            {"Name": "ingest", "ActionOnFailure": "CANCEL_AND_WAIT", "HadoopJarStep": {"Jar": "command-runner.jar",
             "Args": with(submit("com.acme.sales.Ingest"), &["--input", "s3://acme-data-dev/landing/sales/dt=2026-11-27/",
                 "--date", "2026-11-27", "--run", &run])}},
            {"Name": "aggregate", "ActionOnFailure": "CANCEL_AND_WAIT", "HadoopJarStep": {"Jar": "command-runner.jar",
             "Args": with(submit("com.acme.sales.Aggregate"), &["--date", "2026-11-27", "--output",
                 "s3://acme-data-dev/curated/sales/"])}}
        ])
    );
    assert_eq!(
        plan.params,
        BTreeMap::from([(
            "output".to_string(),
            "s3://acme-data-dev/curated/sales/".to_string()
        )])
    );
    assert!(plan.glue.is_none());
}

#[test]
fn the_plan_is_json_with_the_documented_top_level_fields() {
    let catalog = common::catalog();
    let plan = render(
        &catalog,
        "hello_world",
        &manual(&[], None),
        &defaults(&catalog),
    )
    .unwrap();
    let value = serde_json::to_value(&plan).unwrap();
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "plan_version",
            "job",
            "engine",
            "run_name",
            "environment",
            "trigger",
            "timeout_seconds",
            "emr",
            "notify"
        ]
    );
    assert_eq!(value["engine"], "emr");
    assert_eq!(
        value["trigger"],
        json!({"type": "manual", "time": "2026-11-27T06:00:00Z"})
    );
    // And it reads back as the same plan (the task functions deserialize it).
    assert_eq!(
        serde_json::from_value::<sparkplug::RunPlan>(value).unwrap(),
        plan
    );
}

#[test]
fn glue_plan_is_the_exact_create_job_and_start_job_run_requests() {
    let catalog = common::catalog();
    let input = RunInput {
        trigger: Trigger::Schedule {
            time: time(),
            rule: None,
        },
        args: BTreeMap::new(),
        time: time(),
        run_name: None,
    };
    let plan = render(&catalog, "customer_scores", &input, &defaults(&catalog)).unwrap();
    assert_eq!(plan.run_name, "customer_scores-20261127T060000Z");
    let glue = plan.glue.unwrap();
    assert_eq!(
        glue.job,
        json!({
            "Name": "sparkplug-customer_scores-dev",
            "Description": "Score customers from yesterday's activity",
            "Role": "sparkplug-glue-dev",
            "Command": {"Name": "glueetl", "ScriptLocation": "s3://acme-artifacts-dev/sparkplug/SparkplugJarRunner.scala"},
            "GlueVersion": "5.0",
            "WorkerType": "G.2X",
            "NumberOfWorkers": 4,
            "Timeout": 60,
            "MaxRetries": 0,
            "ExecutionProperty": {"MaxConcurrentRuns": 10},
            "DefaultArguments": {
                "--job-language": "scala",
                "--class": "SparkplugJarRunner",
                "--extra-jars": "s3://acme-artifacts-dev/jars/scoring-2.0.0.jar",
                "--sparkplug_main_class": "com.acme.scoring.ScoreCustomers",
                "--conf": "spark.sql.adaptive.enabled=true"
            },
            "Tags": {"cost-center": "analytics", "team": "data-platform", "sparkplug:job": "customer_scores",
                     "sparkplug:environment": "dev"}
        })
    );
    assert_eq!(
        glue.run,
        json!({
            "JobName": "sparkplug-customer_scores-dev",
            "Arguments": {
                "--sparkplug_args": "[\"--date\",\"2026-11-27\",\"--env\",\"dev\"]",
                "--sparkplug_run": "customer_scores-20261127T060000Z"
            },
            "Timeout": 60,
            "WorkerType": "G.2X",
            "NumberOfWorkers": 4
        })
    );
}

#[test]
fn a_verbatim_airflow_pair_keeps_every_field() {
    let catalog = common::catalog();
    let plan = render(
        &catalog,
        "airflow_pi",
        &manual(&[], None),
        &defaults(&catalog),
    )
    .unwrap();
    let emr = plan.emr.unwrap();
    let overrides: Value = serde_json::from_str(
        &std::fs::read_to_string(common::fixtures().join("airflow/job_flow_overrides.json"))
            .unwrap(),
    )
    .unwrap();
    let steps: Value = serde_json::from_str(
        &std::fs::read_to_string(common::fixtures().join("airflow/spark_steps.json")).unwrap(),
    )
    .unwrap();
    // Steps are used verbatim and in order.
    assert_eq!(Value::Array(emr.steps), steps);
    // Every override field is in the request as given, except the three sparkplug must own.
    for (key, value) in overrides.as_object().unwrap() {
        match key.as_str() {
            "Name" => assert_eq!(
                emr.cluster["Name"],
                json!(format!("sparkplug-dev-{}", plan.run_name))
            ),
            "Tags" => {
                let tags = emr.cluster["Tags"].as_array().unwrap();
                assert_eq!(
                    tags[0],
                    json!({"Key": "owner", "Value": "airflow-migration"})
                );
                assert!(tags.contains(&json!({"Key": "sparkplug:job", "Value": "airflow_pi"})));
            }
            "Instances" => {
                let mut expected = value.clone();
                expected["KeepJobFlowAliveWhenNoSteps"] = json!(true);
                assert_eq!(emr.cluster["Instances"], expected);
            }
            _ => assert_eq!(&emr.cluster[key], value, "{key}"),
        }
    }
    // emr-7.1.0 gets the idle backstop.
    assert_eq!(
        emr.cluster["AutoTerminationPolicy"],
        json!({"IdleTimeout": 1800})
    );
}

#[test]
fn auto_termination_only_where_the_release_supports_it() {
    for (label, supported) in [
        ("emr-5.29.0", false),
        ("emr-5.30.0", true),
        ("emr-6.0.0", false),
        ("emr-6.1.0", true),
        ("emr-7.5.0", true),
        ("emr-4.9.6", false),
        ("${release}", false),
    ] {
        assert_eq!(supports_auto_termination(label), supported, "{label}");
    }
    let mut catalog = common::catalog();
    let job = catalog.jobs.get_mut("hello_world").unwrap();
    job.emr.get_or_insert_with(Default::default).release_label = Some("emr-5.29.0".into());
    let plan = render(
        &catalog,
        "hello_world",
        &manual(&[], None),
        &defaults(&catalog),
    )
    .unwrap();
    assert!(plan
        .emr
        .unwrap()
        .cluster
        .get("AutoTerminationPolicy")
        .is_none());
}

#[test]
fn vars_come_from_the_environment_and_unknown_ones_are_refused() {
    let catalog = common::catalog();
    let env = [
        ("SPARKPLUG_VAR_ENV".to_string(), "prod".to_string()),
        (
            "SPARKPLUG_VAR_ARTIFACTS_BUCKET".to_string(),
            "acme-artifacts-prod".to_string(),
        ),
        ("UNRELATED".to_string(), "x".to_string()),
    ];
    let vars = Vars::resolve(&catalog, env, []).unwrap();
    let plan = render(&catalog, "customer_scores", &manual(&[], None), &vars).unwrap();
    let glue = plan.glue.unwrap();
    assert_eq!(glue.job["Name"], "sparkplug-customer_scores-prod");
    assert_eq!(
        glue.job["DefaultArguments"]["--extra-jars"],
        "s3://acme-artifacts-prod/jars/scoring-2.0.0.jar"
    );
    assert_eq!(plan.environment.as_deref(), Some("prod"));

    let err = Vars::resolve(
        &catalog,
        [("SPARKPLUG_VAR_DATA_BUKET".to_string(), "x".to_string())],
        [],
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("`SPARKPLUG_VAR_DATA_BUKET` sets no catalog var"),
        "{err}"
    );
}

#[test]
fn args_fill_declared_params_only() {
    let catalog = common::catalog();
    let vars = defaults(&catalog);
    let input = manual(
        &[("output", "s3://acme-data-dev/backfill/")],
        Some("s3://acme-data-dev/landing/sales/x/_SUCCESS"),
    );
    let plan = render(&catalog, "sales_daily", &input, &vars).unwrap();
    let steps = plan.emr.unwrap().steps;
    let args = steps[1]["HadoopJarStep"]["Args"].as_array().unwrap();
    assert_eq!(args.last().unwrap(), "s3://acme-data-dev/backfill/");
    assert!(
        plan.run_name
            .starts_with("sales_daily-manual-20261127T060000Z-"),
        "{}",
        plan.run_name
    );

    let err = render(
        &catalog,
        "sales_daily",
        &manual(&[("ouput", "x")], None),
        &vars,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "sales_daily: unknown argument `ouput`; the job's params are: output"
    );

    let err = render(&catalog, "sales_daily", &manual(&[], None), &vars).unwrap_err();
    assert!(
        matches!(&err, PlanError::Unfilled { placeholder, .. } if placeholder == "{input_bucket}"),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("it needs an S3 arrival, or `input` in the run request"),
        "{err}"
    );

    let err = render(&catalog, "nope", &manual(&[], None), &vars).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("unknown job `nope`; the catalog has: airflow_pi, customer_scores"),
        "{err}"
    );
}

#[test]
fn strange_keys_are_passed_through_untouched() {
    let catalog = common::catalog();
    // A key holding placeholder-looking text, quotes and unicode must not be expanded again or break JSON.
    let key = "landing/sales/{date} \"q\" ${env} 日本/_SUCCESS";
    let plan = render(
        &catalog,
        "sales_daily",
        &arrival("acme-data-dev", key),
        &defaults(&catalog),
    )
    .unwrap();
    let args = plan.emr.unwrap().steps[0]["HadoopJarStep"]["Args"].clone();
    assert!(args.as_array().unwrap().contains(&json!(
        "s3://acme-data-dev/landing/sales/{date} \"q\" ${env} 日本/"
    )));
}

#[test]
fn a_caller_chosen_run_name_is_checked() {
    let catalog = common::catalog();
    let mut input = manual(&[], None);
    input.run_name = Some("my run".into());
    let err = render(&catalog, "hello_world", &input, &defaults(&catalog)).unwrap_err();
    assert!(err.to_string().contains("contains ` `"), "{err}");
    input.run_name = Some("hello-rerun-1".into());
    let plan = render(&catalog, "hello_world", &input, &defaults(&catalog)).unwrap();
    assert_eq!(plan.run_name, "hello-rerun-1");
    assert_eq!(
        plan.emr.unwrap().cluster["Name"],
        "sparkplug-dev-hello-rerun-1"
    );
}

#[test]
fn failure_names_read_back_as_themselves_and_caught_errors_keep_their_type() {
    use sparkplug::engine::report::FailureName;
    for name in FailureName::OWN {
        let json = serde_json::to_value(&name).unwrap();
        assert_eq!(json, json!(name.as_str()));
        assert_eq!(serde_json::from_value::<FailureName>(json).unwrap(), name);
    }
    let caught: FailureName = serde_json::from_value(json!("States.Timeout")).unwrap();
    assert_eq!(caught, FailureName::Caught("States.Timeout".into()));
    assert_eq!(
        serde_json::to_value(&caught).unwrap(),
        json!("States.Timeout")
    );
}

#[test]
fn every_cluster_carries_the_tag_the_v2_managed_policies_require() {
    // AmazonEMRServicePolicy_v2 lets EMR launch instances only for a request tagged so (the policy's statement
    // `CreateInRequestWithEMRManagedTag`, AWS managed policy reference).
    let catalog = common::catalog();
    for job in ["hello_world", "sales_daily", "airflow_pi"] {
        let input = manual(&[], Some("s3://acme-data-dev/landing/sales/x/_SUCCESS"));
        let plan = render(&catalog, job, &input, &defaults(&catalog)).unwrap();
        let tags = plan.emr.unwrap().cluster["Tags"].clone();
        assert!(
            tags.as_array().unwrap().contains(
                &json!({"Key": "for-use-with-amazon-emr-managed-policies", "Value": "true"})
            ),
            "{job}: {tags}"
        );
    }
}

#[test]
fn steps_side_by_side_default_to_continue() {
    let plan = plan_from(
        r#"
[defaults.emr]
release_label = "emr-7.5.0"
service_role = "r"
instance_profile = "p"
master = { instance_type = "m5.xlarge" }
[jobs.etl]
engine = "emr"
jar = "s3://bucket/etl.jar"
class = "com.acme.Etl"
job_flow_overrides = { StepConcurrencyLevel = 2 }
"#,
        "etl",
    );
    assert_eq!(plan.emr.unwrap().steps[0]["ActionOnFailure"], "CONTINUE");
}

#[test]
fn a_verbatim_boto3_create_job_is_never_contradicted_by_sparkplug_defaults() {
    // As a talk's code passes it to boto3: MaxCapacity sizing, an old GlueVersion (1.0: Glue 2.0 and later refuse
    // MaxCapacity, and `validate` says so), its own DefaultArguments.
    let plan = plan_from(
        r#"
[defaults.glue]
role = "sparkplug-glue"
script_location = "s3://artifacts/runner.scala"
worker_type = "G.1X"
number_of_workers = 2

[jobs.legacy]
engine = "glue"

[jobs.legacy.create_job]
Command = { Name = "glueetl", ScriptLocation = "s3://artifacts/legacy.scala" }
MaxCapacity = 10.0
GlueVersion = "1.0"
DefaultArguments = { "--class" = "com.acme.Legacy", "--extra-jars" = "s3://artifacts/legacy.jar", "--job-language" = "scala" }
"#,
        "legacy",
    );
    let glue = plan.glue.unwrap();
    assert_eq!(glue.job["MaxCapacity"], 10.0);
    assert_eq!(glue.job["GlueVersion"], "1.0");
    for key in ["WorkerType", "NumberOfWorkers"] {
        assert!(
            glue.job.get(key).is_none(),
            "{key} beside MaxCapacity: {}",
            glue.job
        );
        assert!(
            glue.run.get(key).is_none(),
            "{key} beside MaxCapacity: {}",
            glue.run
        );
    }
    assert_eq!(glue.run["MaxCapacity"], 10.0);
    assert_eq!(glue.job["DefaultArguments"]["--class"], "com.acme.Legacy");
    assert_eq!(glue.job["DefaultArguments"]["--job-language"], "scala");
}

#[test]
fn instance_fleets_become_run_job_flow_instance_fleets() {
    let plan = plan_from(
        r#"
[defaults.emr]
release_label = "emr-7.5.0"
service_role = "r"
instance_profile = "p"
subnet_id = "subnet-1"

[jobs.etl]
engine = "emr"
jar = "s3://bucket/etl.jar"
class = "com.acme.Etl"

[jobs.etl.emr.fleets]
allocation_strategy = "capacity-optimized"
spot_timeout_minutes = 15
on_spot_timeout = "terminate"
master = { instance_types = [{ type = "m5.xlarge" }], on_demand = 1 }
core = { instance_types = [{ type = "r5.xlarge" }, { type = "r5a.2xlarge", weight = 2 }], on_demand = 2, spot = 4 }
"#,
        "etl",
    );
    let instances = &plan.emr.unwrap().cluster["Instances"];
    assert!(instances.get("InstanceGroups").is_none());
    assert_eq!(instances["Ec2SubnetIds"], json!(["subnet-1"]));
    assert_eq!(
        instances["InstanceFleets"],
        json!([
            {"Name": "Primary", "InstanceFleetType": "MASTER", "TargetOnDemandCapacity": 1, "TargetSpotCapacity": 0,
             "InstanceTypeConfigs": [{"InstanceType": "m5.xlarge", "WeightedCapacity": 1}]},
            {"Name": "Core", "InstanceFleetType": "CORE", "TargetOnDemandCapacity": 2, "TargetSpotCapacity": 4,
             "InstanceTypeConfigs": [{"InstanceType": "r5.xlarge", "WeightedCapacity": 1},
                                     {"InstanceType": "r5a.2xlarge", "WeightedCapacity": 2}],
             "LaunchSpecifications": {"SpotSpecification": {"AllocationStrategy": "capacity-optimized",
                 "TimeoutDurationMinutes": 15, "TimeoutAction": "TERMINATE_CLUSTER"}}}
        ])
    );
}

/// The manual run's plan of `job` in an inline catalog.
fn plan_from(catalog: &str, job: &str) -> sparkplug::RunPlan {
    let catalog = sparkplug::load::from_toml(catalog, &common::fixtures())
        .unwrap_or_else(|e| panic!("{e}"))
        .catalog;
    render(&catalog, job, &manual(&[], None), &defaults(&catalog)).unwrap()
}
