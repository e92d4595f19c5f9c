//! Runs that recover (`run::recovery`): which failed attempt gets a next one, on what, after how long; and what the
//! catalog may ask for.

mod common;

use common::{catalog_of, manual_input, plan_of, vars};
use serde_json::json;
use sparkplug::run::recovery::{next_attempt, Alternative, Attempt, Cause, Recovery, Retries};
use sparkplug::run::{render, RunPlan};

fn failed(cause: Option<Cause>, completed: &[&str]) -> Attempt {
    Attempt {
        attempt: 1,
        resource_id: Some("j-1".into()),
        error: "ClusterTerminated".into(),
        why: "INTERNAL_ERROR: insufficient capacity".into(),
        cause,
        alternative: None,
        cost_usd: Some(0.25),
        completed_steps: completed.iter().map(|s| s.to_string()).collect(),
    }
}

fn retries(max: u32, on: &[Cause]) -> Retries {
    Retries {
        max,
        on: on.to_vec(),
        backoff_seconds: Some(60),
    }
}

/// The fixture's sales_daily (core and task r5.xlarge, two steps) with this recovery.
fn sales_daily(retries: Option<Retries>, fallback: Vec<Alternative>) -> RunPlan {
    let mut plan = plan_of("sales_daily");
    let request = plan.emr.as_ref().map(|e| e.cluster.clone());
    plan.recovery = Recovery::first(retries, fallback, request.as_ref());
    plan
}

fn core_and_task(kind: &str) -> Alternative {
    Alternative {
        core: Some(kind.into()),
        task: Some(kind.into()),
        ..Alternative::default()
    }
}

fn instance_types(plan: &RunPlan) -> Vec<(String, String)> {
    plan.emr.as_ref().unwrap().cluster["Instances"]["InstanceGroups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["InstanceRole"].as_str().unwrap().to_string(),
                g["InstanceType"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_capacity_failure_before_any_step_moves_to_each_fallback_alternative_then_retries_then_gives_up(
) {
    let subnet_b = Alternative {
        subnet_id: Some("subnet-b".into()),
        ..Alternative::default()
    };
    let plan = sales_daily(
        Some(retries(1, &[Cause::Capacity])),
        vec![core_and_task("r6i.xlarge"), subnet_b],
    );
    let own_subnet = plan.emr.as_ref().unwrap().cluster["Instances"]["Ec2SubnetId"].clone();

    // 1 → the first alternative at once: its types, the job's own subnet.
    let second = next_attempt(&plan, failed(Some(Cause::Capacity), &[]), false).unwrap();
    assert_eq!(second.wait_seconds, 0);
    assert_eq!(second.cause, Cause::Capacity);
    assert_eq!(
        second.alternative.as_deref(),
        Some("core r6i.xlarge, task r6i.xlarge")
    );
    assert_eq!(
        instance_types(&second.plan),
        [
            ("MASTER".into(), "m5.xlarge".into()),
            ("CORE".into(), "r6i.xlarge".into()),
            ("TASK".into(), "r6i.xlarge".into())
        ]
    );
    let recovery = second.plan.recovery.as_ref().unwrap();
    assert_eq!(
        (recovery.attempt, recovery.alternative, recovery.retried),
        (2, 1, 0)
    );
    assert_eq!(recovery.earlier.len(), 1);
    assert_eq!(second.plan.run_name, plan.run_name, "the same run");

    // 2 → the second alternative is applied over the job's own settings, not over the first alternative.
    let third = next_attempt(&second.plan, failed(Some(Cause::Capacity), &[]), false).unwrap();
    assert_eq!(third.wait_seconds, 0);
    assert_eq!(
        instance_types(&third.plan),
        [
            ("MASTER".into(), "m5.xlarge".into()),
            ("CORE".into(), "r5.xlarge".into()),
            ("TASK".into(), "r5.xlarge".into())
        ]
    );
    let instances = &third.plan.emr.as_ref().unwrap().cluster["Instances"];
    assert_eq!(instances["Ec2SubnetId"], "subnet-b");
    assert_ne!(instances["Ec2SubnetId"], own_subnet);

    // 3 → no alternative left: a retry (capacity is in `on`), after the backoff, on the last alternative.
    let fourth = next_attempt(&third.plan, failed(Some(Cause::Capacity), &[]), false).unwrap();
    assert_eq!(fourth.wait_seconds, 60);
    assert_eq!(fourth.alternative, None);
    assert_eq!(
        fourth.plan.emr.as_ref().unwrap().cluster["Instances"]["Ec2SubnetId"],
        "subnet-b"
    );
    let recovery = fourth.plan.recovery.as_ref().unwrap();
    assert_eq!(
        (recovery.attempt, recovery.retried, recovery.earlier.len()),
        (4, 1, 3)
    );

    // 4 → retries spent: the run fails.
    assert!(next_attempt(&fourth.plan, failed(Some(Cause::Capacity), &[]), false).is_none());
}

#[test]
fn a_fallback_needs_a_cluster_that_ran_nothing_and_a_retry_needs_its_cause_listed() {
    let fallback_only = sales_daily(None, vec![core_and_task("r6i.xlarge")]);
    // A cluster that ran a step is not one EC2 refused to start.
    assert!(next_attempt(&fallback_only, failed(Some(Cause::Capacity), &[]), true).is_none());
    // Another cause, or none (the job's own failure): no fallback.
    assert!(next_attempt(
        &fallback_only,
        failed(Some(Cause::SpotInterrupted), &[]),
        false
    )
    .is_none());
    assert!(next_attempt(&fallback_only, failed(None, &[]), false).is_none());

    let throttled_only = sales_daily(Some(retries(2, &[Cause::Throttled])), Vec::new());
    assert!(next_attempt(&throttled_only, failed(Some(Cause::Capacity), &[]), false).is_none());
    assert!(next_attempt(&throttled_only, failed(None, &[]), false).is_none());
    let retried =
        next_attempt(&throttled_only, failed(Some(Cause::Throttled), &[]), false).unwrap();
    assert_eq!(retried.wait_seconds, 60);
    let again = next_attempt(&retried.plan, failed(Some(Cause::Throttled), &[]), false).unwrap();
    assert_eq!(again.wait_seconds, 120, "the backoff doubles");

    // A job without retries nor fallback has no recovery at all: its plan is as before.
    let plain = plan_of("sales_daily");
    assert!(plain.recovery.is_none());
    assert!(next_attempt(&plain, failed(Some(Cause::Throttled), &[]), false).is_none());
}

#[test]
fn a_spot_interrupted_attempt_resumes_at_its_first_step_that_did_not_complete() {
    let plan = sales_daily(Some(retries(1, &[Cause::SpotInterrupted])), Vec::new());
    let next = next_attempt(
        &plan,
        failed(Some(Cause::SpotInterrupted), &["ingest"]),
        true,
    )
    .unwrap();
    let steps: Vec<&str> = next
        .plan
        .emr
        .as_ref()
        .unwrap()
        .steps
        .iter()
        .map(|s| s["Name"].as_str().unwrap())
        .collect();
    assert_eq!(steps, ["aggregate"]);
    assert_eq!(
        next.plan.recovery.as_ref().unwrap().earlier[0].completed_steps,
        ["ingest"]
    );
}

#[test]
fn backoffs_double_up_to_fifteen_minutes() {
    let policy = Retries {
        max: 5,
        on: vec![Cause::Throttled],
        backoff_seconds: None,
    };
    let waits: Vec<u64> = (0..6).map(|n| policy.backoff(n)).collect();
    assert_eq!(waits, [60, 120, 240, 480, 900, 900]);
}

#[test]
fn an_emr_serverless_attempt_starts_its_own_job_run() {
    let catalog = catalog_of(
        r#"
[jobs.orders]
engine = "emr_serverless"
jar = "s3://acme-artifacts-dev/jars/orders.jar"
class = "com.acme.Orders"
retries = { max = 2, on = ["throttled"], backoff_seconds = 5 }
[jobs.orders.emr_serverless]
execution_role = "arn:aws:iam::123456789012:role/run"
"#,
    )
    .unwrap();
    let mut input = manual_input(None);
    input.run_name = Some("orders-1".into());
    let plan = render(&catalog, "orders", &input, &vars(&catalog)).unwrap();
    let recovery = plan.recovery.as_ref().unwrap();
    assert_eq!(
        (recovery.attempt, recovery.retries.as_ref().unwrap().max),
        (1, 2)
    );
    let token = |plan: &RunPlan| plan.emr_serverless.as_ref().unwrap().run["clientToken"].clone();
    let second = next_attempt(&plan, failed(Some(Cause::Throttled), &[]), false).unwrap();
    assert_eq!(second.wait_seconds, 5);
    let third = next_attempt(&second.plan, failed(Some(Cause::Throttled), &[]), false).unwrap();
    // StartJobRun with an earlier attempt's clientToken would answer that attempt's run.
    assert_eq!(
        [token(&plan), token(&second.plan), token(&third.plan)],
        [
            json!("orders-1"),
            json!("orders-1-attempt-2"),
            json!("orders-1-attempt-3")
        ]
    );
}

const EMR_JOB: &str = r#"
[jobs.nightly]
engine = "emr"
jar = "s3://bucket/app.jar"
class = "com.acme.Nightly"
[jobs.nightly.emr]
release_label = "emr-7.5.0"
service_role = "EMR_DefaultRole"
instance_profile = "EMR_EC2_DefaultRole"
master = { instance_type = "m5.xlarge" }
core = { instance_type = "r5.xlarge", count = 2 }
"#;

#[test]
fn the_catalog_refuses_recovery_that_cannot_work_naming_the_job_and_field() {
    let refused = |extra: &str| catalog_of(&format!("{EMR_JOB}{extra}")).unwrap_err();
    let zero = refused("[jobs.nightly.retries]\nmax = 0\non = [\"capacity\"]\n");
    assert!(
        zero.contains("nightly") && zero.contains("retries.max"),
        "{zero}"
    );
    let none = refused("[jobs.nightly.retries]\nmax = 1\non = []\n");
    assert!(
        none.contains("retries.on") && none.contains("throttled"),
        "{none}"
    );
    let unknown = refused("[jobs.nightly.retries]\nmax = 1\non = [\"oom\"]\n");
    assert!(unknown.contains("oom"), "{unknown}");
    let slow =
        refused("[jobs.nightly.retries]\nmax = 1\non = [\"throttled\"]\nbackoff_seconds = 7200\n");
    assert!(slow.contains("retries.backoff_seconds"), "{slow}");
    let empty = refused("[[jobs.nightly.emr.fallback]]\n");
    assert!(
        empty.contains("emr.fallback[0]") && empty.contains("changes nothing"),
        "{empty}"
    );
    let misspelt = refused("[[jobs.nightly.emr.fallback]]\ncore_type = \"r6i.xlarge\"\n");
    assert!(misspelt.contains("core_type"), "{misspelt}");

    let glue = catalog_of(
        r#"
[jobs.scores]
engine = "glue"
jar = "s3://bucket/app.jar"
class = "com.acme.Scores"
retries = { max = 1, on = ["spot_interrupted"] }
"#,
    )
    .unwrap_err();
    assert!(
        glue.contains("scores") && glue.contains("`spot_interrupted` is an EMR cluster's failure"),
        "{glue}"
    );

    let fleets = catalog_of(
        r#"
[jobs.fleet]
engine = "emr"
jar = "s3://bucket/app.jar"
class = "com.acme.Fleet"
[jobs.fleet.emr]
fallback = [{ core = "r6i.xlarge" }]
[jobs.fleet.emr.fleets]
master = { instance_types = [{ type = "m5.xlarge" }], on_demand = 1 }
core = { instance_types = [{ type = "r5.xlarge" }], on_demand = 1 }
"#,
    )
    .unwrap_err();
    assert!(
        fleets.contains("instance fleets already choose"),
        "{fleets}"
    );

    // What works: retries on every cause, and a fallback of instance types and a subnet.
    let fine = catalog_of(&format!(
        "{EMR_JOB}fallback = [{{ core = \"r6i.xlarge\" }}, {{ subnet_id = \"subnet-b\" }}]\n\
         [jobs.nightly.retries]\nmax = 2\non = [\"capacity\", \"spot_interrupted\", \"throttled\"]\n"
    ));
    assert!(fine.is_ok(), "{fine:?}");
}

#[test]
fn budgets_go_in_the_plan_and_must_be_positive() {
    let text = format!("[budget]\nusd_per_month = 2000\n{EMR_JOB}");
    let with_job_budget = text.replace(
        "class = \"com.acme.Nightly\"\n",
        "class = \"com.acme.Nightly\"\nbudget = { usd_per_month = 400 }\n",
    );
    let catalog = catalog_of(&with_job_budget).unwrap();
    let mut input = manual_input(None);
    input.run_name = Some("nightly-1".into());
    let plan = render(&catalog, "nightly", &input, &vars(&catalog)).unwrap();
    let budgets = plan.budgets.unwrap();
    assert_eq!(
        (budgets.job_usd, budgets.all_jobs_usd),
        (Some(400.0), Some(2000.0))
    );

    let zero = catalog_of(&text.replace("usd_per_month = 2000", "usd_per_month = 0")).unwrap_err();
    assert!(
        zero.contains("budget.usd_per_month") && zero.contains("not a positive"),
        "{zero}"
    );
    let negative =
        catalog_of(&with_job_budget.replace("usd_per_month = 400", "usd_per_month = -5"))
            .unwrap_err();
    assert!(
        negative.contains("nightly.budget.usd_per_month"),
        "{negative}"
    );
    let misspelt =
        catalog_of(&with_job_budget.replace("usd_per_month = 400", "usd = 400")).unwrap_err();
    assert!(misspelt.contains("usd"), "{misspelt}");
}

#[test]
fn instance_fleets_choose_among_several_subnets_and_groups_take_one() {
    let fleets = |subnets: &str| {
        catalog_of(&format!(
            r#"
[jobs.fleet]
engine = "emr"
jar = "s3://bucket/app.jar"
class = "com.acme.Fleet"
[jobs.fleet.emr]
release_label = "emr-7.5.0"
service_role = "EMR_DefaultRole"
instance_profile = "EMR_EC2_DefaultRole"
{subnets}
[jobs.fleet.emr.fleets]
master = {{ instance_types = [{{ type = "m5.xlarge" }}], on_demand = 1 }}
core = {{ instance_types = [{{ type = "r5.xlarge" }}, {{ type = "r6i.xlarge" }}], on_demand = 1 }}
"#
        ))
    };
    let catalog = fleets("subnet_ids = [\"subnet-a\", \"subnet-b\"]").unwrap();
    let plan = render(&catalog, "fleet", &manual_input(None), &vars(&catalog)).unwrap();
    let instances = &plan.emr.as_ref().unwrap().cluster["Instances"];
    assert_eq!(instances["Ec2SubnetIds"], json!(["subnet-a", "subnet-b"]));
    assert!(instances.get("Ec2SubnetId").is_none());
    let one = fleets("subnet_id = \"subnet-a\"").unwrap();
    let plan = render(&one, "fleet", &manual_input(None), &vars(&one)).unwrap();
    assert_eq!(
        plan.emr.as_ref().unwrap().cluster["Instances"]["Ec2SubnetIds"],
        json!(["subnet-a"])
    );
    let empty = fleets("subnet_ids = []").unwrap_err();
    assert!(
        empty.contains("emr.subnet_ids") && empty.contains("lists no subnet"),
        "{empty}"
    );
    let groups = catalog_of(&EMR_JOB.replace(
        "master = { instance_type = \"m5.xlarge\" }",
        "master = { instance_type = \"m5.xlarge\" }\nsubnet_ids = [\"subnet-a\", \"subnet-b\"]",
    ))
    .unwrap_err();
    assert!(
        groups.contains("instance groups launch in one subnet"),
        "{groups}"
    );
}

#[test]
fn an_engines_limit_goes_in_the_plan_and_must_be_at_least_one() {
    let text = format!("[limits]\nemr_clusters = 3\n{EMR_JOB}");
    let catalog = catalog_of(&text).unwrap();
    let mut input = manual_input(None);
    input.run_name = Some("nightly-1".into());
    let plan = render(&catalog, "nightly", &input, &vars(&catalog)).unwrap();
    let limit = plan.engine_limit.unwrap();
    assert_eq!((limit.name.as_str(), limit.max), ("limit:emr", 3));
    // No [limits]: no engine slot.
    let unlimited = catalog_of(EMR_JOB).unwrap();
    let plan = render(&unlimited, "nightly", &input, &vars(&unlimited)).unwrap();
    assert_eq!(plan.engine_limit, None);

    let zero = catalog_of(&text.replace("emr_clusters = 3", "emr_clusters = 0")).unwrap_err();
    assert!(
        zero.contains("limits.emr_clusters") && zero.contains("at least 1"),
        "{zero}"
    );
    let misspelt = catalog_of(&text.replace("emr_clusters = 3", "emr_vcpu = 3")).unwrap_err();
    assert!(misspelt.contains("emr_vcpu"), "{misspelt}");
}
