//! Data-aware runs in the catalog and in the event's resolution: what validation refuses (naming the job and the
//! field), and what an arrival resolves to (an input of a set, an object of a batch, or a run).

mod common;

use common::{now, vars};
use serde_json::json;
use sparkplug::run::resolve_event;

/// The catalog `text` with the Glue settings every job here needs.
fn catalog_of(text: &str) -> Result<sparkplug::Catalog, String> {
    common::catalog_of(&format!(
        "[defaults.glue]\nrole = \"glue-role\"\nscript_location = \"s3://artifacts/runner.scala\"\n{text}"
    ))
}

const JOB: &str = r#"
[jobs.margin]
engine = "glue"
jar = "s3://artifacts/app.jar"
class = "com.acme.Margin"
args = ["--prices", "{input_prices}", "--stock", "{input_stock}", "--missing", "{missing_inputs}"]
"#;

fn with_trigger(trigger: &str) -> Result<sparkplug::Catalog, String> {
    catalog_of(&format!("{JOB}[jobs.margin.trigger]\n{trigger}\n"))
}

const TWO: &str = r#"all_of = ["s3://data/landing/prices/dt={date}/_SUCCESS", "s3://data/landing/stock/dt={date}/_SUCCESS"]"#;

#[test]
fn an_input_set_that_cannot_work_is_refused_naming_the_job_and_field() {
    assert!(with_trigger(TWO).is_ok());
    assert!(with_trigger(&format!(
        "{TWO}\ndeadline = \"cron(0 9 * * ? *)\"\non_deadline = \"run\""
    ))
    .is_ok());

    let refused = |trigger: &str| with_trigger(trigger).unwrap_err();
    // A partition key one input does not carry.
    let keys = refused(
        r#"all_of = ["s3://data/landing/prices/dt={date}/_SUCCESS", "s3://data/landing/stock/{region}/_SUCCESS"]"#,
    );
    assert!(
        keys.contains("margin.trigger.all_of[1]")
            && keys.contains("every input must name the same partition"),
        "{keys}"
    );
    // No partition at all: one run, ever.
    let none = refused(
        r#"all_of = ["s3://data/landing/prices/_SUCCESS", "s3://data/landing/stock/_SUCCESS"]"#,
    );
    assert!(
        none.contains("margin.trigger.all_of[0]") && none.contains("names no partition"),
        "{none}"
    );
    // An input no bucket can deliver: a placeholder in the bucket, or no s3:// location.
    let bucket =
        refused(r#"all_of = ["s3://{date}/x", "s3://data/landing/stock/dt={date}/_SUCCESS"]"#);
    assert!(
        bucket.contains("margin.trigger.all_of[0]")
            && bucket.contains("the bucket cannot have a placeholder"),
        "{bucket}"
    );
    let location = refused(
        r#"all_of = ["landing/prices/{date}", "s3://data/landing/stock/dt={date}/_SUCCESS"]"#,
    );
    assert!(location.contains("is not an s3:// location"), "{location}");
    // A deadline finds its partition by its time: a key of one's own tells none.
    let timeless = refused(
        r#"all_of = ["s3://data/in/{region}/_SUCCESS", "s3://data/ref/{region}/_SUCCESS"]
deadline = "cron(0 9 * * ? *)""#,
    );
    assert!(
        timeless.contains("margin.trigger.deadline") && timeless.contains("{region} tells no time"),
        "{timeless}"
    );
    let rate = refused(&format!("{TWO}\ndeadline = \"rate(1 day)\""));
    assert!(rate.contains("a deadline is a time of day"), "{rate}");
    let lonely =
        refused("s3 = [{ bucket = \"data\", prefix = \"x/\" }]\ndeadline = \"cron(0 9 * * ? *)\"");
    assert!(
        lonely.contains("trigger.deadline") && lonely.contains("set trigger.all_of"),
        "{lonely}"
    );
    let action = refused(&format!("{TWO}\non_deadline = \"alert\""));
    assert!(
        action.contains("trigger.on_deadline") && action.contains("set trigger.deadline"),
        "{action}"
    );
    let misspelt = refused(&format!(
        "{TWO}\ndeadline = \"cron(0 9 * * ? *)\"\non_deadline = \"warn\""
    ));
    assert!(misspelt.contains("warn"), "{misspelt}");
}

#[test]
fn an_input_sets_placeholders_are_its_own_and_a_batchs_limits_are_checked() {
    // {input_<name>} exists only for the set's inputs.
    let unknown = catalog_of(&format!(
        "{}[jobs.margin.trigger]\n{TWO}\n",
        JOB.replace("{input_stock}", "{input_stocks}")
    ))
    .unwrap_err();
    assert!(
        unknown.contains("unknown placeholder {input_stocks}"),
        "{unknown}"
    );
    // A key of the set's own is a run value too.
    let own = catalog_of(&format!(
        "{}[jobs.margin.trigger]\nall_of = [\"s3://data/in/{{region}}/{{date}}/a\", \"s3://data/in/{{region}}/{{date}}/b\"]\n",
        JOB.replace("{input_prices}", "{region}").replace("{input_stock}", "{input_a}")
    ));
    assert!(own.is_ok(), "{own:?}");

    let batch = |limits: &str| {
        catalog_of(&format!(
            "[jobs.compact]\nengine = \"glue\"\njar = \"s3://artifacts/a.jar\"\nclass = \"c.C\"\nargs = [\"{{manifest}}\"]\n\
             [jobs.compact.trigger]\ns3 = [{{ bucket = \"data\", prefix = \"e/\", batch = {{ {limits} }} }}]\n"
        ))
    };
    assert!(batch("max_objects = 100, window_seconds = 300").is_ok());
    let zero = batch("max_objects = 0, window_seconds = 300").unwrap_err();
    assert!(
        zero.contains("compact.trigger.s3[0].batch.max_objects"),
        "{zero}"
    );
    let long = batch("max_objects = 10, window_seconds = 90000").unwrap_err();
    assert!(
        long.contains("trigger.s3[0].batch.window_seconds"),
        "{long}"
    );
}

#[test]
fn an_expectation_before_the_schedule_it_watches_is_refused() {
    let job = |schedule: &str, by: &str| {
        catalog_of(&format!(
            "[jobs.report]\nengine = \"glue\"\njar = \"s3://artifacts/a.jar\"\nclass = \"c.C\"\n\
             expect = {{ succeeded_by = \"{by}\" }}\n[jobs.report.trigger]\nschedule = \"{schedule}\"\n"
        ))
    };
    assert!(job("cron(0 6 * * ? *)", "cron(0 8 * * ? *)").is_ok());
    let early = job("cron(0 6 * * ? *)", "cron(0 5 * * ? *)").unwrap_err();
    assert!(
        early.contains("report.expect.succeeded_by")
            && early.contains("comes before the job's schedule"),
        "{early}"
    );
    // Weekly on Monday 07:30: expected by Monday 09:00, fine; by Monday 07:00, before it runs.
    assert!(job("cron(30 7 ? * MON *)", "cron(0 9 ? * MON *)").is_ok());
    assert!(job("cron(30 7 ? * MON *)", "cron(0 7 ? * MON *)").is_err());
    let bad = job("cron(0 6 * * ? *)", "rate(1 day)").unwrap_err();
    assert!(bad.contains("expect.succeeded_by"), "{bad}");
}

#[test]
fn an_arrival_is_an_input_of_a_set_an_object_of_a_batch_or_a_run() {
    let catalog = catalog_of(&format!(
        "{JOB}[jobs.margin.trigger]\n{TWO}\n\
         [jobs.compact]\nengine = \"glue\"\njar = \"s3://artifacts/a.jar\"\nclass = \"c.C\"\nargs = [\"{{manifest}}\"]\n\
         [jobs.compact.trigger]\ns3 = [{{ bucket = \"data\", prefix = \"landing/\", suffix = \".json\", batch = {{ max_objects = 10, window_seconds = 60 }} }}]\n\
         [jobs.each]\nengine = \"glue\"\njar = \"s3://artifacts/a.jar\"\nclass = \"c.C\"\n\
         [jobs.each.trigger]\ns3 = [{{ bucket = \"data\", prefix = \"landing/stock/\" }}]\n"
    ))
    .unwrap();
    let event = |key: &str| {
        json!({"version": "0", "id": "1", "detail-type": "Object Created", "source": "aws.s3", "account": "1",
            "time": "2026-12-03T07:00:00Z", "region": "eu-west-1", "resources": [],
            "detail": {"version": "0", "bucket": {"name": "data"}, "object": {"key": key, "size": 1, "etag": "e",
            "sequencer": "01"}, "request-id": "r", "requester": "x", "reason": "PutObject"}})
    };
    let vars = vars(&catalog);
    let stock = resolve_event(
        &catalog,
        &event("landing/stock/dt=2026-12-03/_SUCCESS"),
        &vars,
        now(),
    )
    .unwrap();
    assert_eq!(stock.set_arrivals.len(), 1);
    assert_eq!(stock.set_arrivals[0].job, "margin");
    assert_eq!(stock.set_arrivals[0].index, 1);
    assert_eq!(stock.set_arrivals[0].partition.id(), "date=2026-12-03");
    // The other job watching the prefix runs for the object itself; the set does not start a run by itself.
    let runs: Vec<&str> = stock.matches.iter().map(|m| m.job.as_str()).collect();
    assert_eq!(runs, ["each"]);
    let file = resolve_event(&catalog, &event("landing/clicks/a.json"), &vars, now()).unwrap();
    assert!(file.matches.is_empty());
    assert_eq!(file.batch_arrivals.len(), 1);
    assert_eq!(
        (
            file.batch_arrivals[0].job.as_str(),
            file.batch_arrivals[0].rule
        ),
        ("compact", 0)
    );
    let nothing = resolve_event(&catalog, &event("elsewhere/x"), &vars, now()).unwrap();
    assert!(nothing.ignored[0].contains("matches no job"), "{nothing:?}");
}
