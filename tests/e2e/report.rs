//! The run report: one HTML page about the window's runs, checked in a real headless Chromium (dev/browser installs
//! it and playwright-core): it renders with no console error and fetches nothing, every run of the window is drawn,
//! a failure carries its log tail, and a screenshot is written for the docs.

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn the_report_draws_every_run_of_its_window_in_a_real_browser() {
    let aws = aws().await;
    let since = chrono::Utc::now() - chrono::TimeDelta::seconds(5);
    let ok = unique("hello_world-report");
    let glue = unique("customer_scores-report");
    let failed = unique("hello_world-report-failed");
    aws.fault(
        &failed,
        json!({"fail_step": {"name": "hello_world", "reason": "Unknown Error.",
            "message": "java.lang.IllegalStateException: the report's failure"}}),
    )
    .await;
    for (job, run) in [
        ("hello_world", &ok),
        ("customer_scores", &glue),
        ("hello_world", &failed),
    ] {
        aws.start(job, run).await;
    }
    assert_eq!(aws.wait(&ok, RUN).await.status, "SUCCEEDED");
    assert_eq!(aws.wait(&glue, RUN).await.status, "SUCCEEDED");
    assert_eq!(aws.wait(&failed, RUN).await.status, "FAILED");
    // The failed step's stderr.gz is where EMR writes it once its alert has found it.
    aws.one_alert_about(&failed).await;

    let logs = sparkplug::aws::alerts::Logs::new(&aws.config);
    let report = sparkplug_cli::report::collect(
        &aws.sfn,
        &aws.run_table(),
        &logs,
        &aws.stack.state_machine_arn,
        &[],
        since,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let names: Vec<&str> = report
        .runs
        .iter()
        .map(|r| r.run.run_name.as_str())
        .collect();
    for run in [&ok, &glue, &failed] {
        assert!(names.contains(&run.as_str()), "{run} not in {names:?}");
    }
    let the_failure = report
        .runs
        .iter()
        .find(|r| r.run.run_name == failed)
        .unwrap();
    let (tail, from) = the_failure.tail.clone().unwrap().unwrap();
    assert!(from.starts_with("s3://"), "{from}");
    assert!(
        tail.iter().any(|l| l.contains("the report's failure")),
        "{tail:?}"
    );

    let folder = std::env::temp_dir().join(format!("sparkplug-report-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    let page = folder.join("report.html");
    std::fs::write(&page, sparkplug_cli::report::render(&report)).unwrap();
    let screenshot = folder.join("report.png");
    let seen = in_a_browser(&page, &screenshot);
    assert_eq!(seen["console"], json!([]), "{seen}");
    assert_eq!(seen["page_errors"], json!([]), "{seen}");
    assert_eq!(seen["failed_requests"], json!([]), "{seen}");
    let mut drawn: Vec<&str> = seen["drawn_runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let mut expected = names.clone();
    drawn.sort_unstable();
    expected.sort_unstable();
    assert_eq!(drawn, expected, "every run of the window is drawn, once");
    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    println!("report screenshot: {}", screenshot.display());
}

/// `tests/browser/check_page.mjs` on `page`, as installed by `dev/browser`: what the browser saw.
fn in_a_browser(page: &Path, screenshot: &Path) -> Value {
    let setup = std::process::Command::new("bash")
        .arg(repo().join("dev/browser"))
        .output()
        .unwrap();
    assert!(
        setup.status.success(),
        "dev/browser: {}",
        String::from_utf8_lossy(&setup.stderr)
    );
    let folder = String::from_utf8_lossy(&setup.stdout).trim().to_string();
    let checked = std::process::Command::new("node")
        .arg(Path::new(&folder).join("check_page.mjs"))
        .arg(page)
        .arg(screenshot)
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "check_page.mjs: {}",
        String::from_utf8_lossy(&checked.stderr)
    );
    serde_json::from_slice(&checked.stdout).unwrap()
}
