//! OpenLineage for Spark: a job with `lineage = true` runs Spark with the listener's settings and the sparkplug run as
//! its parent, on each engine, and validation refuses what cannot work.

mod common;

use common::{catalog_of, manual_input, vars};
use sparkplug::run::lineage::{run_id, LISTENER};
use sparkplug::run::{render, RunPlan};

const CATALOG: &str = r#"
[vars]
env = "dev"
bucket = "acme-dev"

[lineage]
namespace = "sparkplug-${env}"
url = "https://marquez.example.com"

[defaults.emr]
release_label = "emr-7.5.0"
log_uri = "s3://${bucket}/emr/"
service_role = "EMR_DefaultRole_V2"
instance_profile = "EMR_EC2_DefaultRole"
subnet_id = "subnet-0123456789abcdef0"
master = { instance_type = "m5.xlarge" }
core = { instance_type = "m5.xlarge", count = 2 }

[defaults.glue]
role = "sparkplug-glue-dev"
script_location = "s3://${bucket}/sparkplug/SparkplugJarRunner.scala"
glue_version = "5.0"
worker_type = "G.1X"
number_of_workers = 2

[defaults.emr_serverless]
release_label = "emr-7.5.0"
execution_role = "arn:aws:iam::123456789012:role/sparkplug-emr-serverless-dev"

[jobs.on_emr]
engine = "emr"
jar = "s3://${bucket}/jars/a.jar"
class = "com.acme.A"
lineage = true
spark_conf = { "spark.extraListeners" = "com.acme.Metrics" }

[jobs.on_glue]
engine = "glue"
jar = "s3://${bucket}/jars/b.jar"
class = "com.acme.B"
lineage = true
spark_conf = { "spark.sql.adaptive.enabled" = "true" }

[jobs.on_serverless]
engine = "emr_serverless"
jar = "s3://${bucket}/jars/c.jar"
class = "com.acme.C"
lineage = true

[jobs.plain]
engine = "emr"
jar = "s3://${bucket}/jars/d.jar"
class = "com.acme.D"
"#;

fn plan(job: &str, at_second: u32) -> RunPlan {
    let catalog = catalog_of(CATALOG).unwrap_or_else(|e| panic!("{e}"));
    let mut input = manual_input(None);
    input.time += chrono::Duration::seconds(i64::from(at_second));
    if let sparkplug::run::Trigger::Manual { time, .. } = &mut input.trigger {
        *time = input.time;
    }
    render(&catalog, job, &input, &vars(&catalog)).unwrap()
}

#[test]
fn each_engine_runs_spark_with_the_listener_and_the_run_as_its_parent() {
    let emr = plan("on_emr", 0);
    let parent = run_id("sparkplug-dev", &emr.run_name);
    let args: Vec<String> = emr.emr.as_ref().unwrap().steps[0]["HadoopJarStep"]["Args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    for conf in [
        format!("spark.extraListeners=com.acme.Metrics,{LISTENER}"),
        "spark.openlineage.transport.type=http".to_string(),
        "spark.openlineage.transport.url=https://marquez.example.com".to_string(),
        "spark.openlineage.namespace=sparkplug-dev".to_string(),
        "spark.openlineage.parentJobNamespace=sparkplug-dev".to_string(),
        "spark.openlineage.parentJobName=on_emr".to_string(),
        format!("spark.openlineage.parentRunId={parent}"),
    ] {
        let at = args
            .iter()
            .position(|a| a == &conf)
            .unwrap_or_else(|| panic!("{conf} not in {args:?}"));
        assert_eq!(args[at - 1], "--conf");
    }

    // Glue: the per-run settings go with the run, so that the job's definition is the same for every run.
    let (first, second) = (plan("on_glue", 0), plan("on_glue", 1));
    assert_ne!(first.run_name, second.run_name);
    let glue = first.glue.as_ref().unwrap();
    assert_eq!(glue.job, second.glue.as_ref().unwrap().job);
    assert!(
        glue.job["DefaultArguments"].get("--conf").is_none(),
        "{}",
        glue.job
    );
    let conf = glue.run["Arguments"]["--conf"].as_str().unwrap();
    assert!(conf.starts_with("spark.extraListeners="), "{conf}");
    assert!(
        conf.contains(" --conf spark.sql.adaptive.enabled=true"),
        "{conf}"
    );
    assert!(
        conf.contains(&format!(
            "spark.openlineage.parentRunId={}",
            run_id("sparkplug-dev", &first.run_name)
        )),
        "{conf}"
    );

    let serverless = plan("on_serverless", 0);
    let submit = serverless.emr_serverless.as_ref().unwrap().run["jobDriver"]["sparkSubmit"]
        ["sparkSubmitParameters"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        submit.contains(&format!("--conf spark.extraListeners={LISTENER}")),
        "{submit}"
    );
    assert!(
        submit.contains(&format!(
            "--conf spark.openlineage.parentRunId={}",
            run_id("sparkplug-dev", &serverless.run_name)
        )),
        "{submit}"
    );

    // A job that does not ask gets none of it.
    let plain = serde_json::to_string(&plan("plain", 0)).unwrap();
    assert!(!plain.contains("openlineage"), "{plain}");
}

#[test]
fn validation_refuses_lineage_that_cannot_work() {
    let problems = |text: &str| match catalog_of(text) {
        Ok(_) => String::new(),
        Err(e) => e,
    };
    let no_section = CATALOG.replace(
        "[lineage]\nnamespace = \"sparkplug-${env}\"\nurl = \"https://marquez.example.com\"\n",
        "",
    );
    let e = problems(&no_section);
    assert!(
        e.contains("on_emr.lineage: needs the catalog's [lineage] section"),
        "{e}"
    );
    let bad_url = CATALOG.replace(
        "url = \"https://marquez.example.com\"",
        "url = \"marquez:5000\"",
    );
    let e = problems(&bad_url);
    assert!(
        e.contains("lineage.url: `marquez:5000` is not an http(s) URL"),
        "{e}"
    );
    let own_parent = CATALOG.replace(
        "spark_conf = { \"spark.extraListeners\" = \"com.acme.Metrics\" }",
        "spark_conf = { \"spark.openlineage.parentRunId\" = \"x\" }",
    );
    let e = problems(&own_parent);
    assert!(
        e.contains(
            "on_emr.spark_conf.spark.openlineage.parentRunId: set by sparkplug for each run"
        ),
        "{e}"
    );
    let unknown = CATALOG.replace(
        "url = \"https://marquez.example.com\"",
        "url = \"https://m\"\ntransport = \"kafka\"",
    );
    assert!(
        problems(&unknown).contains("transport"),
        "{}",
        problems(&unknown)
    );
    // The shipped catalog stays valid.
    assert!(problems(CATALOG).is_empty(), "{}", problems(CATALOG));
}
