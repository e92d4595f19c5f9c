//! The `sparkplug` binary's contract: exit codes, stdout/stderr, and JSON a user can paste.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The test catalog (the shared crate's fixture), so that editing the example `jobs.toml` breaks no test here.
const CATALOG: &str = "shared/tests/fixtures/catalog.toml";

fn sparkplug(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sparkplug"))
        .args(args)
        .current_dir(repo())
        .env("SPARKPLUG_CATALOG", CATALOG)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&output.stdout)))
}

#[test]
fn validate_summarises_a_valid_catalog() {
    let out = sparkplug(&["validate"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        format!("{CATALOG}: 5 job(s) valid (3 emr, 2 glue, 0 emr_serverless); 1 S3 trigger(s), 1 schedule(s), 1 chained job(s), 0 warm pool(s)")
    );
    // The Airflow job's KeepJobFlowAliveWhenNoSteps: false is a warning, not an error.
    assert!(text(&out.stderr)
        .contains("warning: airflow_pi.job_flow_overrides.Instances.KeepJobFlowAliveWhenNoSteps"));
}

#[test]
fn validate_lists_every_problem_and_exits_1() {
    let dir = std::env::temp_dir().join(format!("sparkplug-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let catalog = dir.join("bad.toml");
    std::fs::write(
        &catalog,
        "[jobs.a]\nengine = \"emr\"\nclass = \"com.acme.A\"\n[jobs.a.trigger]\nschedule = \"cron(0 6 * * *)\"\n\
         [jobs.b]\nengine = \"glue\"\njar = \"s3://bkt/b.jar\"\nclass = \"com.acme.B\"\n[jobs.b.glue]\nmax_capacity = 2.0\nworker_type = \"G.1X\"\n",
    )
    .unwrap();
    let out = sparkplug(&["validate", "--catalog", catalog.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    for line in [
        "a.jar: missing",
        "a.trigger.schedule: `cron(0 6 * * *)` has 5 fields",
        "b.glue.max_capacity: MaxCapacity cannot be used together with worker_type/number_of_workers",
    ] {
        assert!(stderr.lines().any(|l| l.starts_with(line)), "{line}\n{stderr}");
    }
    assert!(out.stdout.is_empty());

    // SPARKPLUG_CATALOG names the catalog too.
    let out = Command::new(env!("CARGO_BIN_EXE_sparkplug"))
        .arg("validate")
        .env("SPARKPLUG_CATALOG", &catalog)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = sparkplug(&[
        "validate",
        "--catalog",
        dir.join("missing.toml").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read the catalog"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn plan_prints_a_run_plan() {
    let out = sparkplug(&[
        "plan",
        "sales_daily",
        "--input",
        "s3://acme-data-dev/landing/sales/dt=2026-11-27/_SUCCESS",
        "--set",
        "env=prod",
        "--set",
        "output=s3://acme-data-dev/tmp/",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = json(&out);
    assert_eq!(plan["job"], "sales_daily");
    assert_eq!(plan["engine"], "emr");
    assert_eq!(plan["environment"], "prod");
    assert_eq!(
        plan["emr"]["cluster"]["Name"],
        format!("sparkplug-prod-{}", plan["run_name"].as_str().unwrap())
    );
    let steps = plan["emr"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(
        steps[1]["HadoopJarStep"]["Args"]
            .as_array()
            .unwrap()
            .last()
            .unwrap(),
        "s3://acme-data-dev/tmp/"
    );

    let out = sparkplug(&["plan", "customer_scores"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = json(&out);
    assert_eq!(plan["glue"]["run"]["JobName"], plan["glue"]["job"]["Name"]);
}

#[test]
fn plan_from_an_event_and_its_errors() {
    let out = sparkplug(&[
        "plan",
        "sales_daily",
        "--event",
        "tests/events/eventbridge-object-created-sales.json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(json(&out)["trigger"]["type"], "s3");

    let out = sparkplug(&[
        "plan",
        "hello_world",
        "--event",
        "tests/events/eventbridge-object-created-sales.json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("starts no run of `hello_world`"),
        "{}",
        text(&out.stderr)
    );

    let out = sparkplug(&["plan", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("unknown job `nope`"));

    let out = sparkplug(&["plan", "hello_world", "--input", "s3:/bad"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--input: `s3:/bad` is not an S3 URI"));

    let out = sparkplug(&["plan", "hello_world", "--event", "Cargo.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("is not valid JSON"));
}

#[test]
fn match_prints_every_run_an_event_starts() {
    let out = sparkplug(&[
        "match",
        "--event",
        "tests/events/s3-notification-sales.json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let runs = json(&out);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["job"], "sales_daily");
    assert_eq!(runs[0]["run_name"], runs[0]["plan"]["run_name"]);
    assert!(text(&out.stderr).contains("ignored: s3://someone-elses-bucket/"));

    let out = sparkplug(&[
        "match",
        "--event",
        "tests/events/aws-s3-notification-sample.json",
    ]);
    assert!(out.status.success());
    assert_eq!(json(&out), Value::Array(vec![]));

    let out = sparkplug(&[
        "match",
        "--event",
        "tests/events/aws-scheduled-event-sample.json",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out), Value::Array(vec![]));
    assert!(text(&out.stderr).contains("`my-scheduled-rule` names no scheduled job"));
}

#[test]
fn a_reader_that_stops_early_ends_the_command_quietly() {
    use std::process::Stdio;

    // `sparkplug plan hello_world | head -c 0`: the pipe closes before the plan is written.
    let mut child = Command::new(env!("CARGO_BIN_EXE_sparkplug"))
        .args(["plan", "hello_world"])
        .current_dir(repo())
        .env("SPARKPLUG_CATALOG", CATALOG)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The process needs milliseconds to start: the read end is closed long before it writes.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        text(&out.stderr)
    );
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_chained_job_is_planned_after_an_upstream_run() {
    let out = sparkplug(&[
        "plan",
        "scores_report",
        "--after",
        "customer_scores-20261127T060000Z",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["trigger"]["type"], "upstream");
    assert_eq!(plan["trigger"]["run"], "customer_scores-20261127T060000Z");
    // Without --after: no value for {upstream_run}, and how to preview one.
    let out = sparkplug(&["plan", "scores_report"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sparkplug plan --after RUN"));
    // --after for a job that follows none.
    let out = sparkplug(&["plan", "hello_world", "--after", "x"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("runs after no job"));
}

#[test]
fn plan_with_config_env_shows_what_that_stack_would_run() {
    // The shipped catalog and samconfig.toml: prod's buckets, subnet and roles, not dev's.
    let out = Command::new(env!("CARGO_BIN_EXE_sparkplug"))
        .args([
            "plan",
            "sales_daily",
            "--config-env",
            "prod",
            "--input",
            "s3://acme-data-prod/landing/sales/dt=2026-11-27/_SUCCESS",
        ])
        .current_dir(repo())
        .env_remove("SPARKPLUG_CATALOG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(plan.contains("\"environment\": \"prod\""), "{plan}");
    assert!(plan.contains("s3://acme-logs-prod/emr/"), "{plan}");
    assert!(plan.contains("subnet-0fedcba9876543210"), "{plan}");
    assert!(plan.contains("s3://acme-artifacts-prod/jars/"), "{plan}");
    assert!(!plan.contains("-dev"), "a dev value in prod's plan: {plan}");
    // What the file cannot tell is said, not guessed.
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("${emr_serverless_role} keeps the catalog's value"),
        "{stderr}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_sparkplug"))
        .args(["validate", "--config-env", "staging"])
        .current_dir(repo())
        .env_remove("SPARKPLUG_CATALOG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no environment `staging` (it has: dev, prod)"),
        "{}",
        text(&out.stderr)
    );
}

/// The `sparkplug` commands the documentation shows that need no AWS account (`validate`, `plan`, `match`): each
/// line of a fenced block and each inline example with arguments and without placeholders (`JOB`, `<run name>`,
/// `[--follow]`, `…`).
fn documented_offline_commands() -> Vec<(String, String)> {
    let mut files = vec![repo().join("README.md")];
    for entry in std::fs::read_dir(repo().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    let mut commands = Vec::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut fenced = false;
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                fenced = !fenced;
                continue;
            }
            let candidates: Vec<String> = if fenced {
                vec![line.split(" # ").next().unwrap_or("").trim().to_string()]
            } else {
                // In prose, `sparkplug match` alone names the command; an example has arguments.
                line.split('`')
                    .skip(1)
                    .step_by(2)
                    .filter(|span| span.split_whitespace().count() > 2)
                    .map(str::to_string)
                    .collect()
            };
            for command in candidates {
                let Some(rest) = command.strip_prefix("sparkplug ") else {
                    continue;
                };
                let verb = rest.split_whitespace().next().unwrap_or("");
                let placeholder = rest.split_whitespace().any(|word| {
                    word.chars().any(|c| "<>[]…|".contains(c))
                        || (word.len() > 1
                            && word.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
                });
                if ["validate", "plan", "match"].contains(&verb) && !placeholder {
                    commands.push((name.clone(), command.clone()));
                }
            }
        }
    }
    commands
}

#[test]
fn every_offline_command_the_docs_show_runs_as_written() {
    let commands = documented_offline_commands();
    // The README's `sparkplug validate` and the plan examples of cli.md and deploy.md at least.
    assert!(commands.len() >= 3, "{commands:?}");
    for (file, command) in commands {
        let args = shlex::split(command.strip_prefix("sparkplug ").unwrap())
            .unwrap_or_else(|| panic!("{file}: `{command}`: unbalanced quotes"));
        let out = Command::new(env!("CARGO_BIN_EXE_sparkplug"))
            .args(&args)
            .current_dir(repo())
            .env_remove("SPARKPLUG_CATALOG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{file}: `{command}` failed: {}",
            text(&out.stderr)
        );
    }
}
