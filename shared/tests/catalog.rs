//! Catalog parsing and validation: the example catalog is valid, and each kind of mistake is reported as
//! `<job>.<field path>: <reason>`.

mod common;

use common::fixtures;
use sparkplug::catalog::Engine;
use sparkplug::load::{self, CatalogError};

const HEADER: &str = r#"
[vars]
env = "dev"
data_bucket = "acme-data-dev"

[defaults.emr]
release_label = "emr-7.5.0"
service_role = "EMR_DefaultRole_V2"
instance_profile = "EMR_EC2_DefaultRole"
master = { instance_type = "m5.xlarge" }
core = { instance_type = "m5.xlarge", count = 2 }

[defaults.glue]
role = "glue-role"
script_location = "s3://artifacts-bucket/runner.scala"
"#;

/// The problem lines of a catalog made of [`HEADER`] and `jobs`.
fn problems(jobs: &str) -> Vec<String> {
    match load::from_toml(&format!("{HEADER}\n{jobs}"), &fixtures()) {
        Ok(_) => Vec::new(),
        Err(CatalogError::Invalid(problems)) => problems.iter().map(ToString::to_string).collect(),
        Err(other) => vec![other.to_string()],
    }
}

fn warnings(jobs: &str) -> Vec<String> {
    match load::from_toml(&format!("{HEADER}\n{jobs}"), &fixtures()) {
        Ok(loaded) => loaded.warnings.iter().map(ToString::to_string).collect(),
        Err(e) => panic!("expected a valid catalog: {e}"),
    }
}

fn assert_problem(jobs: &str, expected: &str) {
    let found = problems(jobs);
    assert!(
        found.iter().any(|line| line.contains(expected)),
        "expected a problem containing {expected:?}, found {found:#?}"
    );
}

const GOOD_EMR: &str = r#"
[jobs.etl]
engine = "emr"
jar = "s3://artifacts-bucket/etl.jar"
class = "com.acme.Etl"
"#;

#[test]
fn the_fixture_catalog_is_valid() {
    let loaded = load::from_file(&fixtures().join("catalog.toml")).unwrap();
    let catalog = loaded.catalog;
    assert_eq!(catalog.jobs["sales_daily"].engine, Engine::Emr);
    assert_eq!(catalog.jobs["sales_daily"].steps.len(), 2);
    assert_eq!(catalog.jobs["customer_scores"].engine, Engine::Glue);
    // The Airflow files are inlined at load time.
    assert!(catalog.jobs["airflow_pi"]
        .job_flow_overrides
        .as_ref()
        .unwrap()
        .is_object());
    assert!(catalog.jobs["airflow_pi"]
        .spark_steps
        .as_ref()
        .unwrap()
        .is_array());
    // The Airflow config carries KeepJobFlowAliveWhenNoSteps: false, which sparkplug overrides and says so.
    assert_eq!(
        loaded.warnings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        vec![
            "airflow_pi.job_flow_overrides.Instances.KeepJobFlowAliveWhenNoSteps: false is replaced by true: \
             sparkplug adds the steps after the cluster starts, and terminates it itself"
        ]
    );
}

#[test]
fn a_resolved_catalog_round_trips_through_json() {
    let catalog = common::catalog();
    let json = serde_json::to_string(&catalog).unwrap();
    assert_eq!(load::from_embedded(&json).unwrap(), catalog);
}

#[test]
fn a_minimal_job_is_valid() {
    assert_eq!(problems(GOOD_EMR), Vec::<String>::new());
}

#[test]
fn structural_mistakes_name_the_field() {
    assert_problem(
        "[jobs.x]\nengine = \"spark\"\n",
        "x.engine: unknown variant `spark`, expected one of `emr`, `glue`, `emr_serverless`",
    );
    assert_problem(
        &GOOD_EMR.replace("class =", "tigger = {}\nclass ="),
        "etl.tigger: unknown field `tigger`",
    );
    assert_problem(
        &format!("{GOOD_EMR}\n[jobs.etl.emr]\ntask = {{ instance_type = \"m5.xlarge\", market = \"spott\" }}\n"),
        "etl.emr.task.market: unknown variant `spott`",
    );
    assert_problem("[jobz.x]\n", "jobz: unknown section");
    assert_problem("[jobs.x\n", "catalog: not valid TOML");
}

#[test]
fn every_job_is_checked_not_only_the_first_bad_one() {
    let found = problems(
        "[jobs.a]\nengine = \"emrr\"\n[jobs.b]\nengine = \"glue\"\nclass = \"com.acme.B\"\n",
    );
    assert!(
        found.iter().any(|l| l.starts_with("a.engine:")),
        "{found:#?}"
    );
    assert!(
        found.iter().any(|l| l.starts_with("b.jar: missing")),
        "{found:#?}"
    );
}

#[test]
fn what_to_run_must_be_complete() {
    assert_problem("[jobs.x]\nengine = \"emr\"\n", "x.steps: nothing to run");
    assert_problem(
        "[jobs.x]\nengine = \"emr\"\nclass = \"com.acme.X\"\n",
        "x.jar: missing",
    );
    assert_problem(
        "[jobs.x]\nengine = \"emr\"\njar = \"s3://artifacts-bucket/x.jar\"\n",
        "x.class: missing",
    );
    assert_problem(
        &GOOD_EMR.replace("com.acme.Etl", "com acme"),
        "etl.class: `com acme` is not a JVM class name",
    );
    assert_problem(
        &GOOD_EMR.replace("s3://artifacts-bucket/etl.jar", "s3://Bad_Bucket/etl.jar"),
        "etl.jar: `s3://Bad_Bucket/etl.jar`: `Bad_Bucket` is not a valid bucket name",
    );
    assert_problem(
        &GOOD_EMR.replace("s3://artifacts-bucket/etl.jar", "artifacts/etl.jar"),
        "etl.jar: `artifacts/etl.jar` is not an S3 URI",
    );
    assert_problem(
        r#"
[jobs.x]
engine = "emr"
[[jobs.x.steps]]
name = "one"
jar = "s3://artifacts-bucket/x.jar"
class = "com.acme.A"
[[jobs.x.steps]]
name = "one"
jar = "s3://artifacts-bucket/x.jar"
class = "com.acme.B"
"#,
        "x.steps[1].name: `one` is used by an earlier step",
    );
}

#[test]
fn triggers_are_checked() {
    assert_problem(
        &format!("{GOOD_EMR}\n[jobs.etl.trigger]\nschedule = \"cron(0 6 * * *)\"\n"),
        "etl.trigger.schedule: `cron(0 6 * * *)` has 5 fields",
    );
    assert_problem(
        &format!("{GOOD_EMR}\n[jobs.etl.trigger]\nschedule = \"rate(5 minute)\"\n"),
        "etl.trigger.schedule: `rate(5 minute)` must use the plural unit",
    );
    assert_problem(
        &format!(
            "{GOOD_EMR}\n[jobs.etl.trigger]\ns3 = [{{ bucket = \"Data\", prefix = \"in/\" }}]\n"
        ),
        "etl.trigger.s3[0].bucket: `Data` is not a valid bucket name",
    );
    assert_problem(
        &format!("{GOOD_EMR}\n[jobs.etl.trigger]\ns3 = [{{ bucket = \"${{data_bucket}}\", prefix = \"/in/\" }}]\n"),
        "etl.trigger.s3[0].prefix: S3 keys do not start with `/`",
    );
    assert_problem(
        &format!("{GOOD_EMR}\n[jobs.etl.trigger]\ns3 = [{{ bucket = \"${{data_bucket}}\", prefix = \"{{date}}/\" }}]\n"),
        "etl.trigger.s3[0].prefix: a trigger can use only ${vars}",
    );
}

#[test]
fn several_jobs_on_one_prefix_are_a_fan_out_not_an_error() {
    let trigger = "[JOB.trigger]\ns3 = [{ bucket = \"${data_bucket}\", prefix = \"in/\" }]\n";
    let jobs = format!(
        "{GOOD_EMR}\n{}\n{}\n{}",
        trigger.replace("JOB", "jobs.etl"),
        GOOD_EMR.replace("jobs.etl", "jobs.etl2"),
        trigger.replace("JOB", "jobs.etl2")
    );
    assert_eq!(problems(&jobs), Vec::<String>::new());
}

#[test]
fn placeholders_must_be_known() {
    assert_problem(
        &GOOD_EMR.replace("class =", "args = [\"${bucket}\"]\nclass ="),
        "etl.args[0]: unknown placeholder ${bucket}: declare it in [vars] (known: data_bucket, env)",
    );
    assert_problem(
        &GOOD_EMR.replace("class =", "args = [\"{day_of_week}\"]\nclass ="),
        "etl.args[0]: unknown placeholder {day_of_week}: declare it in the job's params",
    );
    assert_problem(
        &GOOD_EMR.replace("class =", "params = { date = \"x\" }\nclass ="),
        "etl.params.date: `{date}` is filled by sparkplug and cannot be a job param",
    );
    // A job started only by a schedule has no object for `{input}`.
    assert_problem(
        &format!(
            "{}\n[jobs.etl.trigger]\nschedule = \"rate(1 day)\"\n",
            GOOD_EMR.replace("class =", "args = [\"{input}\"]\nclass =")
        ),
        "etl.steps[0].HadoopJarStep.Args[6]: {input} has no value for a run of this job (this run has no input object",
    );
    // Declared params and escapes are fine.
    let ok = GOOD_EMR.replace(
        "class =",
        "params = { out = \"s3://${data_bucket}/out/{date}/\" }\nargs = [\"{out}\", \"$${HOME}\", \"{{literal}}\"]\nclass =",
    );
    assert_eq!(problems(&ok), Vec::<String>::new());
}

#[test]
fn job_names_must_fit_in_execution_names() {
    assert_problem(
        &GOOD_EMR.replace("jobs.etl", "jobs.\"daily sales\""),
        "daily sales: job name `daily sales` must be 1-40 letters, digits",
    );
    assert_problem(
        &GOOD_EMR.replace("jobs.etl", &format!("jobs.{}", "x".repeat(41))),
        "must be 1-40 letters",
    );
}

#[test]
fn emr_cluster_requirements() {
    let bare = "[jobs.x]\nengine = \"emr\"\njar = \"s3://artifacts-bucket/x.jar\"\nclass = \"com.acme.X\"\n";
    let catalog = format!("[vars]\nenv = \"dev\"\n{bare}");
    let found = match load::from_toml(&catalog, &fixtures()) {
        Err(CatalogError::Invalid(p)) => p.iter().map(ToString::to_string).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    for expected in [
        "x.emr.service_role: missing",
        "x.emr.instance_profile: missing",
        "x.emr.release_label: missing",
        "x.emr.master: the cluster has no nodes",
    ] {
        assert!(
            found.iter().any(|l| l.starts_with(expected)),
            "{expected}: {found:#?}"
        );
    }
    assert_problem(
        &format!("{GOOD_EMR}\n[jobs.etl.emr]\nidle_timeout_seconds = 30\n"),
        "etl.emr.idle_timeout_seconds: must be from 60",
    );
}

#[test]
fn airflow_overrides_are_checked_for_typos_and_dangerous_values() {
    assert_problem(
        r#"
[jobs.x]
engine = "emr"
spark_steps = [{ Name = "a", ActionOnFailure = "CONTINUE", HadoopJarStep = { Jar = "command-runner.jar", Arg = [] } }]
job_flow_overrides = { ReleaseLable = "emr-7.1.0" }
"#,
        "x.job_flow_overrides.ReleaseLable: unknown field (did you mean `ReleaseLabel`?)",
    );
    assert_problem(
        r#"
[jobs.x]
engine = "emr"
spark_steps = [{ Name = "a", ActionOnFailure = "CONTINUE", HadoopJarStep = { Jar = "command-runner.jar", Arg = [] } }]
"#,
        "x.spark_steps[0].HadoopJarStep.Arg: unknown field (did you mean `Args`?)",
    );
    assert_problem(
        r#"
[jobs.x]
engine = "emr"
spark_steps = [{ Name = "a", ActionOnFailure = "STOP", HadoopJarStep = { Jar = "command-runner.jar" } }]
"#,
        "x.spark_steps[0].ActionOnFailure: `STOP` is not one of",
    );
    assert_problem(
        r#"
[jobs.x]
engine = "emr"
spark_steps = [{ Name = "a", HadoopJarStep = { Jar = "command-runner.jar" } }]
job_flow_overrides = { Instances = { InstanceGroups = [{ InstanceRole = "MASTER", InstanceType = "m5.xlarge", InstanceCount = 1 }], TerminationProtected = true } }
"#,
        "x.job_flow_overrides.Instances.TerminationProtected: true would stop sparkplug from terminating",
    );
    assert_problem(
        "[jobs.x]\nengine = \"emr\"\nspark_steps = \"airflow/missing.json\"\n",
        "x.spark_steps: cannot read",
    );
    assert_problem(
        "[jobs.x]\nengine = \"emr\"\nspark_steps = \"catalog.toml\"\n",
        "is not valid JSON",
    );
    assert_problem(
        &format!("{GOOD_EMR}\ncreate_job = {{ Name = \"x\" }}\n"),
        "etl.create_job: this job's engine is emr",
    );
}

const GOOD_GLUE: &str = r#"
[jobs.score]
engine = "glue"
jar = "s3://artifacts-bucket/score.jar"
class = "com.acme.Score"
"#;

#[test]
fn glue_jobs_are_checked() {
    assert_eq!(problems(GOOD_GLUE), Vec::<String>::new());
    assert_problem(
        &format!("{GOOD_GLUE}\n[jobs.score.glue]\nmax_capacity = 2.0\nworker_type = \"G.1X\"\n"),
        "score.glue.max_capacity: MaxCapacity cannot be used together with worker_type",
    );
    // With an `env` var, a Glue job name of the job's own must name it: dev and prod would share the job otherwise.
    let with_env = GOOD_GLUE;
    assert_problem(
        &format!("{with_env}\n[jobs.score.glue]\njob_name = \"sparkplug-score\"\n"),
        "score.glue.job_name: `sparkplug-score` names no environment: put `${env}` in it",
    );
    assert_eq!(
        problems(&format!(
            "{with_env}\n[jobs.score.glue]\njob_name = \"sparkplug-score-${{env}}\"\n"
        )),
        Vec::<String>::new()
    );
    // A Glue retry is another job run, which the run does not wait on: refused, with the reason.
    assert_problem(
        &format!("{GOOD_GLUE}\n[jobs.score.glue]\nmax_retries = 2\n"),
        "score.glue.max_retries: must be 0: a Glue retry is a new job run",
    );
    // Glue 2.0 and later refuse MaxCapacity for Spark jobs (CreateJob): said, with the way to size instead.
    assert_problem(
        &format!("{GOOD_GLUE}\ncreate_job = {{ MaxCapacity = 2.0 }}\n"),
        "score.create_job.MaxCapacity: Glue 5.0 refuses MaxCapacity for Spark jobs (2.0 and later): size the job with \
         worker_type and number_of_workers",
    );
    // Sizing given in create_job replaces sparkplug's default sizing: no conflict of the user's making.
    assert_eq!(
        problems(&format!(
            "{GOOD_GLUE}\ncreate_job = {{ WorkerType = \"G.2X\", NumberOfWorkers = 4 }}\n"
        )),
        Vec::<String>::new()
    );
    assert_problem(
        &format!("{GOOD_GLUE}\ncreate_job = {{ MaxCapacity = 2.0, WorkerType = \"G.1X\" }}\n"),
        "score.create_job.MaxCapacity: MaxCapacity cannot be used together with WorkerType",
    );
    assert_problem(
        &format!("{GOOD_GLUE}\ncreate_job = {{ MaxCapacity = 2.0 }}\n[jobs.score.glue]\nnumber_of_workers = 4\n"),
        "score.create_job: the job is sized twice",
    );
    assert_problem(
        &format!("{GOOD_GLUE}\ncreate_job = {{ Comand = {{}} }}\n"),
        "score.create_job.Comand: unknown field (did you mean `Command`?)",
    );
    assert_problem(
        &format!("{GOOD_GLUE}\n[jobs.score.glue]\narguments = {{ input = \"x\" }}\n"),
        "score.glue.arguments.input: Glue argument names start with `--`",
    );
    assert_problem(
        &format!("{GOOD_GLUE}\n[jobs.score.emr]\nrelease_label = \"emr-7.5.0\"\n"),
        "score.emr: this job's engine is glue",
    );
    // A job with its own script (an Airflow Glue job as it was) needs no jar.
    assert_eq!(
        problems(
            "[jobs.own]\nengine = \"glue\"\ncreate_job = { Command = { Name = \"glueetl\", ScriptLocation = \"s3://b-b-b/x.py\" } }\n"
        ),
        Vec::<String>::new()
    );
}

#[test]
fn end_of_life_glue_versions_warn_but_pass() {
    assert_eq!(
        warnings(&format!(
            "{GOOD_GLUE}\n[jobs.score.glue]\nglue_version = \"2.0\"\n"
        )),
        vec!["score.glue.glue_version: Glue 2.0 is end of life: use 4.0 or 5.0"]
    );
    assert_eq!(
        warnings(&format!(
            "{GOOD_GLUE}\ncreate_job = {{ GlueVersion = \"1.0\" }}\n"
        )),
        vec!["score.create_job.GlueVersion: Glue 1.0 is end of life: use 4.0 or 5.0"]
    );
}

#[test]
fn one_pass_reports_the_field_problems_and_the_request_problems_together() {
    // A bad trigger bucket must not hide the missing roles: every problem in one pass.
    let found = match load::from_toml(
        r#"
[defaults.emr]
release_label = "emr-7.5.0"
master = { instance_type = "m5.xlarge" }

[jobs.etl]
engine = "emr"
jar = "s3://artifacts-bucket/etl.jar"
class = "com.acme.Etl"
trigger = { s3 = [{ bucket = "Bad_Bucket", prefix = "in/" }] }
"#,
        &fixtures(),
    ) {
        Err(CatalogError::Invalid(problems)) => {
            problems.iter().map(ToString::to_string).collect::<Vec<_>>()
        }
        other => panic!("expected problems, got {other:?}"),
    };
    for expected in [
        "etl.trigger.s3[0].bucket:",
        "etl.emr.service_role: missing",
        "etl.emr.instance_profile: missing",
    ] {
        assert!(
            found.iter().any(|line| line.starts_with(expected)),
            "{expected} not in {found:#?}"
        );
    }
}

#[test]
fn max_capacity_beside_worker_settings_is_said_once() {
    let found = problems(
        r#"
[jobs.g]
engine = "glue"
jar = "s3://artifacts-bucket/app.jar"
class = "com.acme.App"
glue = { max_capacity = 10.0, worker_type = "G.1X" }
"#,
    );
    let said: Vec<&String> = found.iter().filter(|l| l.contains("MaxCapacity")).collect();
    assert_eq!(said.len(), 1, "{found:#?}");
}

#[test]
fn values_aws_refuses_are_refused() {
    assert_problem(
        &format!("{GOOD_GLUE}\n[jobs.score.glue]\nworker_type = \"G.9X\"\n"),
        "score.glue.worker_type: `G.9X` is not a Glue WorkerType",
    );
    assert_problem(
        &format!("{GOOD_GLUE}\ntimeout_minutes = 99999\n"),
        "score.timeout_minutes: 99999 is over the glue limit of 10079 minutes",
    );
    assert_problem(
        &format!("{GOOD_EMR}\ntimeout_minutes = 99999\n"),
        "etl.timeout_minutes: 99999 is over the emr limit of 10079 minutes",
    );
    assert_eq!(
        problems(&format!("{GOOD_GLUE}\ntimeout_minutes = 10079\n")),
        Vec::<String>::new()
    );
    assert_problem(
        &format!("{GOOD_GLUE}\n[jobs.score.glue]\njob_name = \"score-nightly\"\n"),
        "score.glue.job_name: `score-nightly` does not start with `sparkplug-`",
    );
}

#[test]
fn steps_side_by_side_take_only_continue() {
    // With StepConcurrencyLevel > 1, EMR's AddJobFlowSteps refuses CANCEL_AND_WAIT and TERMINATE_CLUSTER.
    assert_problem(
        &format!(
            "{GOOD_EMR}\njob_flow_overrides = {{ StepConcurrencyLevel = 4 }}\n[jobs.etl.emr]\naction_on_failure = \"CANCEL_AND_WAIT\"\n"
        ),
        "etl.spark_steps[0].ActionOnFailure: `CANCEL_AND_WAIT` is refused by EMR when StepConcurrencyLevel is 4",
    );
    // Unset, sparkplug's default becomes CONTINUE there.
    let jobs = format!("{GOOD_EMR}\njob_flow_overrides = {{ StepConcurrencyLevel = 4 }}\n");
    assert_eq!(problems(&jobs), Vec::<String>::new());
}

#[test]
fn a_plan_too_large_for_the_execution_state_is_refused() {
    let args: Vec<String> = (0..5000)
        .map(|i| format!("\"--argument-number-{i:05}-with-some-length\""))
        .collect();
    let jobs = format!("{GOOD_EMR}args = [{}]\n", args.join(", "));
    assert_problem(&jobs, "etl: a run plan of this job is");
}

#[test]
fn what_emr_refuses_of_fleets_is_refused() {
    let fleets = |extra: &str| {
        format!(
            "{GOOD_EMR}\n[jobs.etl.emr.fleets]\nmaster = {{ instance_types = [{{ type = \"m5.xlarge\" }}], on_demand = 1 }}\n{extra}"
        )
    };
    // The job's fleets replace the defaults' instance groups.
    assert_eq!(problems(&fleets("")), Vec::<String>::new());
    // Both at one level is what EMR refuses.
    let both = format!("{GOOD_EMR}\n[jobs.etl.emr]\nmaster = {{ instance_type = \"m5.xlarge\" }}\n[jobs.etl.emr.fleets]\nmaster = {{ instance_types = [{{ type = \"m5.xlarge\" }}], on_demand = 1 }}\n");
    assert_problem(
        &both,
        "etl.emr.fleets: a cluster has instance groups (master/core/task) or fleets, not both",
    );
    assert_problem(
        &fleets("allocation_strategy = \"cheapest\"\n"),
        "etl.emr.fleets.allocation_strategy: `cheapest` is not one of",
    );
    assert_problem(
        &fleets("core = { instance_types = [], on_demand = 0 }\n"),
        "etl.emr.fleets.core.instance_types: is empty",
    );
    assert_problem(
        &fleets("core = { instance_types = [{ type = \"r5.xlarge\" }] }\n"),
        "etl.emr.fleets.core: has no capacity",
    );
    assert_problem(
        &fleets("spot_timeout_minutes = 2\n"),
        "etl.emr.fleets.spot_timeout_minutes: must be from 5",
    );
}

#[test]
fn chained_jobs_name_jobs_that_exist_and_never_come_round() {
    let chain = |name: &str, after: &str| {
        format!(
            "\n[jobs.{name}]\nengine = \"glue\"\njar = \"s3://artifacts-bucket/{name}.jar\"\nclass = \"com.acme.X\"\n\
             [jobs.{name}.trigger]\nafter = [{after}]\n"
        )
    };
    // a → b is fine; b may use {upstream_run} and {input}.
    let fine = format!(
        "{}{}",
        GOOD_EMR,
        chain("report", "\"etl\"").replace(
            "class = \"com.acme.X\"",
            "class = \"com.acme.X\"\nargs = [\"{upstream_run}\", \"{upstream_job}\", \"{input}\"]"
        )
    );
    assert_eq!(problems(&fine), Vec::<String>::new());
    assert_problem(
        &chain("report", "\"nightly\""),
        "report.trigger.after[0]: `nightly` is not a job of the catalog; it has: report",
    );
    // a → b → c → a, reported once, from its first job.
    let circle = format!(
        "{}{}{}",
        chain("a", "\"c\""),
        chain("b", "\"a\""),
        chain("c", "\"b\"")
    );
    let found = problems(&circle);
    let circles: Vec<&String> = found.iter().filter(|p| p.contains("in a circle")).collect();
    assert_eq!(circles.len(), 1, "{found:#?}");
    assert!(
        circles[0].contains("a.trigger.after") && circles[0].contains("a → c → b → a"),
        "{}",
        circles[0]
    );
    assert_problem(&chain("loner", "\"loner\""), "loner → loner");
    // {upstream_run} in a job that no upstream starts: no value, and why.
    let orphan = GOOD_EMR.replace(
        "class = \"com.acme.Etl\"",
        "class = \"com.acme.Etl\"\nargs = [\"{upstream_run}\"]",
    );
    assert_problem(&orphan, "only a run started by an upstream job's success");
}
