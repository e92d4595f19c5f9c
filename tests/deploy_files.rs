//! Consistency of what `sam deploy` ships: the state machine, the template, the catalog and the function crates
//! must agree, and no EMR failure path may skip Terminate.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use sparkplug::engine::ErrorKind;
use sparkplug::load;
use yaml_rust2::{Yaml, YamlLoader};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The template, with CloudFormation's short tags (`!Ref X`, `!GetAtt X.Arn`) read as their plain values.
fn template() -> Yaml {
    let text = std::fs::read_to_string(repo().join("template.yaml")).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

fn resources(template: &Yaml) -> Vec<(String, &Yaml)> {
    template["Resources"]
        .as_hash()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_string(), v))
        .collect()
}

fn state_machines() -> Vec<(PathBuf, Value)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(repo().join("statemachines")).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".asl.json") {
            let text = std::fs::read_to_string(&path).unwrap();
            let value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            found.push((path, value));
        }
    }
    assert!(!found.is_empty());
    found
}

fn placeholders(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after.find('}').unwrap();
        names.insert(after[..end].to_string());
        rest = &after[end..];
    }
    names
}

#[test]
fn every_asl_placeholder_has_a_substitution_and_every_substitution_is_used() {
    let template = template();
    for (path, _) in state_machines() {
        let file = path.file_name().unwrap().to_str().unwrap();
        let machine = resources(&template)
            .into_iter()
            .find(|(_, r)| {
                r["Properties"]["DefinitionUri"].as_str() == Some(&format!("statemachines/{file}"))
            })
            .unwrap_or_else(|| panic!("no state machine in template.yaml uses {file}"));
        let substitutions: BTreeSet<String> = machine.1["Properties"]["DefinitionSubstitutions"]
            .as_hash()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap().to_string())
            .collect();
        let used = placeholders(&std::fs::read_to_string(&path).unwrap());
        assert_eq!(
            used, substitutions,
            "{file}: placeholders vs DefinitionSubstitutions"
        );
    }
}

#[test]
fn every_function_the_asl_names_is_a_template_function_built_from_a_crate() {
    let template = template();
    let resources: BTreeMap<String, &Yaml> = resources(&template).into_iter().collect();
    let machine = resources["RunStateMachine"];
    for (key, value) in machine["Properties"]["DefinitionSubstitutions"]
        .as_hash()
        .unwrap()
    {
        let key = key.as_str().unwrap();
        if !key.ends_with("FunctionArn") {
            continue;
        }
        // `!GetAtt XFunction.Arn` reads as "XFunction.Arn".
        let target = value.as_str().unwrap().trim_end_matches(".Arn");
        let function = resources
            .get(target)
            .unwrap_or_else(|| panic!("{key} names {target}, not in template.yaml"));
        assert_eq!(
            function["Type"].as_str(),
            Some("AWS::Serverless::Function"),
            "{target}"
        );
        let binary = function["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap();
        assert!(
            repo()
                .join("functions")
                .join(binary)
                .join("src/main.rs")
                .exists(),
            "{target}: no crate functions/{binary}"
        );
        // And the state machine may invoke it.
        let invokes = machine["Properties"]["Policies"]
            .as_vec()
            .unwrap()
            .iter()
            .any(|p| p["LambdaInvokePolicy"]["FunctionName"].as_str() == Some(target));
        assert!(invokes, "the state machine's role cannot invoke {target}");
    }
    // Every function crate is deployed.
    for entry in std::fs::read_dir(repo().join("functions")).unwrap() {
        let binary = entry.unwrap().file_name().into_string().unwrap();
        let deployed = resources
            .values()
            .any(|r| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(binary.as_str()));
        assert!(deployed, "functions/{binary} is not in template.yaml");
    }
}

#[test]
fn the_trigger_hears_every_bucket_and_ticks_every_minute_so_the_catalog_alone_decides() {
    let template = template();
    let resources: BTreeMap<String, &Yaml> = resources(&template).into_iter().collect();
    let events = resources["TriggerFunction"]["Properties"]["Events"]
        .as_hash()
        .unwrap();
    let schedules: Vec<&Yaml> = events
        .values()
        .filter(|e| matches!(e["Type"].as_str(), Some("ScheduleV2" | "Schedule")))
        .collect();
    let ticks: Vec<&&Yaml> = schedules
        .iter()
        .filter(|s| {
            s["Properties"]["Input"]
                .as_str()
                .unwrap_or("")
                .contains("tick")
        })
        .collect();
    assert_eq!(ticks.len(), 1, "one tick, no per-job schedule");
    let tick = &ticks[0]["Properties"];
    assert_eq!(tick["ScheduleExpression"].as_str(), Some("rate(1 minute)"));
    let input: Value = serde_json::from_str(tick["Input"].as_str().unwrap()).unwrap();
    assert_eq!(
        input,
        serde_json::json!({"tick": true, "time": "<aws.scheduler.scheduled-time>"})
    );
    let rules: Vec<&Yaml> = events
        .values()
        .filter(|e| e["Type"].as_str() == Some("EventBridgeRule"))
        .collect();
    let arrivals = rules
        .iter()
        .find(|r| r["Properties"]["Pattern"]["source"][0].as_str() == Some("aws.s3"))
        .unwrap();
    assert!(
        arrivals["Properties"]["Pattern"]["detail"].is_badvalue(),
        "the S3 rule filters on a bucket: a job watching another bucket would never fire"
    );
    // …so every write of the account reaches it: a burst of part files is held to the trigger's reserved
    // concurrency (a parameter, on by default; 0 turns it off for an account too small to reserve any).
    // `!If [condition, value, AWS::NoValue]` (the loader keeps a tagged sequence's items).
    let reserved = &resources["TriggerFunction"]["Properties"]["ReservedConcurrentExecutions"];
    assert_eq!(reserved[0].as_str(), Some("ReserveTriggerConcurrency"));
    assert_eq!(reserved[1].as_str(), Some("TriggerConcurrency"));
    let parameter = &template["Parameters"]["TriggerConcurrency"];
    let default = parameter["Default"].as_i64().unwrap();
    assert!((1..=50).contains(&default), "TriggerConcurrency {default}");
    // The functions that keep started runs moving keep a share of their own, so that the flood cannot starve them.
    for function in [
        "NotifyFunction",
        "QueueFunction",
        "JanitorFunction",
        "AlertFunction",
    ] {
        let reserved = &resources[function]["Properties"]["ReservedConcurrentExecutions"];
        assert_eq!(
            reserved[0].as_str(),
            Some("ReserveKeepMovingConcurrency"),
            "{function}"
        );
        assert_eq!(reserved[1].as_str(), Some("KeepMovingConcurrency"));
    }
    let default = template["Parameters"]["KeepMovingConcurrency"]["Default"]
        .as_i64()
        .unwrap();
    // All reserved together stay far below the default account's 1,000 less the 100 Lambda keeps unreserved.
    assert!(
        (1..=50).contains(&default) && 10 + 4 * default <= 200,
        "KeepMovingConcurrency {default}"
    );
}

#[test]
fn the_janitor_looks_at_the_pools_every_minute_at_the_scheduled_time_warming_them() {
    let template = template();
    let resources: BTreeMap<String, &Yaml> = resources(&template).into_iter().collect();
    let events = resources["JanitorFunction"]["Properties"]["Events"]
        .as_hash()
        .unwrap();
    let minute = events
        .values()
        .find(|e| e["Properties"]["ScheduleExpression"].as_str() == Some("rate(1 minute)"))
        .expect("the janitor's minute schedule");
    // Scheduler fills in the scheduled time: a `warm` expression is matched against it, not the delivery's.
    let input = minute["Properties"]["Input"]
        .as_str()
        .unwrap()
        .replace("<aws.scheduler.scheduled-time>", "2026-11-30T08:00:00Z");
    let event: Value = serde_json::from_str(&input).unwrap();
    assert_eq!(
        sparkplug::engine::handlers::janitor::JanitorEvent::parse(&event).unwrap(),
        sparkplug::engine::handlers::janitor::JanitorEvent::ReleaseIdle {
            pool: None,
            time: Some("2026-11-30T08:00:00Z".parse().unwrap()),
            warm_up: true,
        }
    );
}

#[test]
fn the_functions_that_read_the_catalog_get_every_var_and_no_other() {
    let catalog = load::from_file(&repo().join("jobs.toml")).unwrap().catalog;
    let expected: BTreeSet<String> = catalog
        .vars
        .keys()
        .map(|v| format!("SPARKPLUG_VAR_{}", v.to_uppercase()))
        .collect();
    let template = template();
    // The functions whose crate embeds the catalog (a build script) and resolves its vars at start-up (the queue
    // embeds it for its [limits] only, which take no var).
    let readers: Vec<(String, &Yaml)> = resources(&template)
        .into_iter()
        .filter(|(_, r)| {
            r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .is_some_and(|binary| {
                    let crate_dir = repo().join("functions").join(binary);
                    crate_dir.join("build.rs").exists()
                        && std::fs::read_to_string(crate_dir.join("src/main.rs"))
                            .is_ok_and(|main| main.contains("Vars::resolve"))
                })
        })
        .collect();
    assert!(
        readers.len() >= 3,
        "trigger, resolve and janitor embed the catalog"
    );
    for (name, resource) in readers {
        let set: BTreeSet<String> = resource["Properties"]["Environment"]["Variables"]
            .as_hash()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap().to_string())
            .filter(|k| k.starts_with("SPARKPLUG_VAR_"))
            .collect();
        assert_eq!(
            set, expected,
            "{name}: every catalog var must be set per environment"
        );
    }
}

fn transitions(state: &Value) -> Vec<String> {
    let mut next: Vec<String> = Vec::new();
    for key in ["Next", "Default"] {
        next.extend(state[key].as_str().map(str::to_string));
    }
    for list in ["Choices", "Catch"] {
        for item in state[list].as_array().into_iter().flatten() {
            next.extend(item["Next"].as_str().map(str::to_string));
        }
    }
    next
}

#[test]
fn no_emr_path_skips_terminate() {
    let (_, machine) = state_machines()
        .into_iter()
        .find(|(p, _)| p.ends_with("run.asl.json"))
        .unwrap();
    let states = machine["States"].as_object().unwrap();
    let mut seen = BTreeSet::new();
    let mut todo = vec!["CreateCluster".to_string()];
    while let Some(name) = todo.pop() {
        if name == "Terminate" || !seen.insert(name.clone()) {
            continue;
        }
        let state = &states[&name];
        let kind = state["Type"].as_str().unwrap();
        assert!(
            !matches!(kind, "Succeed" | "Fail"),
            "{name} ends an EMR run without Terminate"
        );
        let next = transitions(state);
        assert!(!next.is_empty(), "{name} has no way on");
        if kind == "Task" {
            let catches_all = state["Catch"].as_array().into_iter().flatten().any(|c| {
                c["ErrorEquals"] == serde_json::json!(["States.ALL"]) && c["Next"] == "Terminate"
            });
            assert!(catches_all, "{name}: a failure must go to Terminate");
        }
        todo.extend(next);
    }
    assert!(seen.contains("RunSteps"));
}

#[test]
fn no_glue_path_skips_finish() {
    let (_, machine) = state_machines()
        .into_iter()
        .find(|(p, _)| p.ends_with("run.asl.json"))
        .unwrap();
    let states = machine["States"].as_object().unwrap();
    let start = &states["StartGlueRun"];
    assert_eq!(start["Next"], "FinishGlue");
    assert!(start["Catch"]
        .as_array()
        .unwrap()
        .iter()
        .any(
            |c| c["ErrorEquals"] == serde_json::json!(["States.ALL"]) && c["Next"] == "FinishGlue"
        ));
}

/// Every task that waits on a token: invoked with the token, limited by the run's limit, its function able to keep
/// the token (PutItem on the token table, TOKEN_TABLE set); and notify hears every event that ends a wait and may
/// answer the state machine's tokens.
#[test]
fn every_wait_is_answered_by_notify_and_limited_by_the_runs_limit() {
    let (_, machine) = state_machines()
        .into_iter()
        .find(|(p, _)| p.ends_with("run.asl.json"))
        .unwrap();
    let template = template();
    let resources: BTreeMap<String, &Yaml> = resources(&template).into_iter().collect();
    let substitutions = &resources["RunStateMachine"]["Properties"]["DefinitionSubstitutions"];
    let mut waits = 0;
    for (name, state) in machine["States"].as_object().unwrap() {
        // In the stack's partition: `arn:${Partition}:…`, substituted with AWS::Partition.
        if state["Resource"] != "arn:${Partition}:states:::lambda:invoke.waitForTaskToken" {
            // No Lambda task polls: only waiting tasks and plain invocations. A Wait is only the backoff before a new
            // attempt of a run (bounded by its job's retries), which starts the engine's first task again.
            if state["Type"] == "Wait" {
                assert_eq!(
                    (state["SecondsPath"].as_str(), state["OutputPath"].as_str()),
                    (
                        Some("$.summary.next_attempt.wait_seconds"),
                        Some("$.summary.next_attempt.state")
                    ),
                    "{name}: a Wait state that is no attempt's backoff (a poll loop?)"
                );
                let next = state["Next"].as_str().unwrap();
                assert!(
                    ["CreateCluster", "StartGlueRun", "StartServerlessRun"].contains(&next),
                    "{name}: a new attempt starts at the engine's first task, not {next}"
                );
            }
            continue;
        }
        waits += 1;
        assert_eq!(
            state["TimeoutSecondsPath"], "$.plan.timeout_seconds",
            "{name}"
        );
        assert_eq!(
            state["Parameters"]["Payload"]["task_token.$"], "$$.Task.Token",
            "{name}"
        );
        let function = state["Parameters"]["FunctionName"].as_str().unwrap();
        let key = function.trim_start_matches("${").trim_end_matches('}');
        let target = substitutions[key]
            .as_str()
            .unwrap()
            .trim_end_matches(".Arn");
        if name == "TakeSlot" {
            // The slot wait is answered by the queue function itself: on the spot, or when a run of the job ends.
            assert_eq!(target, "QueueFunction");
            let hears_ends = resources[target]["Properties"]["Events"]
                .as_hash()
                .unwrap()
                .values()
                .any(|e| {
                    e["Properties"]["Pattern"]["detail"]["status"]
                        .as_vec()
                        .is_some_and(|s| s.len() == 4)
                });
            assert!(
                hears_ends,
                "the queue function must hear every end of a run"
            );
            continue;
        }
        let properties = &resources[target]["Properties"];
        assert_eq!(
            properties["Environment"]["Variables"]["TOKEN_TABLE"].as_str(),
            Some("TokenTable"),
            "{target}"
        );
        let puts = properties["Policies"][0]["Statement"]
            .as_vec()
            .unwrap()
            .iter()
            .any(|s| {
                s["Action"].as_str() == Some("dynamodb:PutItem")
                    && s["Resource"].as_str() == Some("TokenTable.Arn")
            });
        assert!(puts, "{target} cannot keep its token");
    }
    assert_eq!(
        waits, 4,
        "a slot, EMR steps, the Glue run and the EMR Serverless job run"
    );

    let notify = &resources["NotifyFunction"]["Properties"];
    let heard: BTreeSet<&str> = notify["Events"]
        .as_hash()
        .unwrap()
        .values()
        .filter(|e| e["Type"].as_str() == Some("EventBridgeRule"))
        .flat_map(|e| e["Properties"]["Pattern"]["detail-type"].as_vec().unwrap())
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(
        heard,
        BTreeSet::from([
            "EMR Step Status Change",
            "EMR Cluster State Change",
            "Glue Job State Change",
            "EMR Serverless Job Run State Change"
        ])
    );
    let reconciles = notify["Events"].as_hash().unwrap().values().any(|e| {
        e["Type"].as_str() == Some("ScheduleV2")
            && e["Properties"]["Input"].as_str() == Some(r#"{"reconcile": true}"#)
    });
    assert!(reconciles, "no reconciler schedule");
    let answers = notify["Policies"][0]["Statement"]
        .as_vec()
        .unwrap()
        .iter()
        .any(|s| {
            s["Action"].as_vec().is_some_and(|a| {
                a.iter()
                    .any(|a| a.as_str() == Some("states:SendTaskSuccess"))
                // SendTaskSuccess supports no resource-level permissions (Service Authorization Reference): only "*"
                // allows it; a grant on the state machine's ARN would be refused on every answer.
            }) && s["Resource"].as_str() == Some("*")
        });
    assert!(answers, "notify cannot answer the state machine's tokens");
}

#[test]
fn every_task_retries_lambda_and_retryable_errors_with_jitter_and_never_the_others() {
    let kinds: BTreeSet<&str> = ErrorKind::ALL.iter().map(|kind| kind.as_str()).collect();
    for (path, machine) in state_machines() {
        for (name, state) in machine["States"].as_object().unwrap() {
            if state["Type"] != "Task" {
                continue;
            }
            let retries = state["Retry"]
                .as_array()
                .unwrap_or_else(|| panic!("{}: {name} has no Retry", path.display()));
            let errors: BTreeSet<&str> = retries
                .iter()
                .flat_map(|r| r["ErrorEquals"].as_array().unwrap())
                .filter_map(Value::as_str)
                .collect();
            // An error type the functions never raise is a typo: it would match nothing.
            let named = state["Catch"]
                .as_array()
                .into_iter()
                .flatten()
                .chain(retries);
            for error in named
                .flat_map(|r| r["ErrorEquals"].as_array().unwrap())
                .filter_map(Value::as_str)
            {
                assert!(
                    error.starts_with("States.") || error.starts_with("Lambda.") || kinds.contains(error),
                    "{name} names the error type {error}, which no function raises (known: {kinds:?})"
                );
            }
            for kind in ErrorKind::ALL {
                let retried = errors.contains(kind.as_str());
                match kind {
                    ErrorKind::Retryable | ErrorKind::Throttled => {
                        assert!(retried, "{name} does not retry {kind:?}")
                    }
                    _ => assert!(
                        !retried,
                        "{name} retries {kind:?}, which cannot pass on a retry"
                    ),
                }
            }
            for needed in [
                "Lambda.ServiceException",
                "Lambda.AWSLambdaException",
                "Lambda.SdkClientException",
                "Lambda.TooManyRequestsException",
            ] {
                assert!(errors.contains(needed), "{name} does not retry {needed}");
            }
            assert!(
                !errors.contains("States.ALL"),
                "{name} retries errors that cannot pass"
            );
            // A throttle — AWS's on an API, Lambda's on concurrency — met in a burst is waited out (its own
            // retrier, first, long enough).
            let throttle = &retries[0];
            assert_eq!(
                throttle["ErrorEquals"],
                serde_json::json!(["Throttled", "Lambda.TooManyRequestsException"]),
                "{name}"
            );
            assert!(throttle["MaxAttempts"].as_i64() >= Some(20), "{name}");
            assert!(retries.iter().all(|r| r["JitterStrategy"] == "FULL" && r["BackoffRate"].as_f64() > Some(1.0)), "{name}");
        }
    }
}

#[test]
fn every_function_outlasts_three_sdk_calls_and_every_task_retries_a_function_that_died() {
    let template = template();
    let default = template["Globals"]["Function"]["Timeout"].as_i64().unwrap();
    let floor = 3 * sparkplug::aws::lambda::OPERATION_TIMEOUT.as_secs() as i64;
    for (name, resource) in resources(&template) {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let timeout = resource["Properties"]["Timeout"]
            .as_i64()
            .unwrap_or(default);
        assert!(
            timeout >= floor,
            "{name}: Timeout {timeout} s is under three SDK calls ({floor} s)"
        );
    }
    // A function that times out, runs out of memory or crashes reaches Step Functions as Lambda.Unknown (or, timed out
    // on the client side, Lambda.ClientExecutionTimeoutException): the handlers are idempotent, so retry it.
    for (path, machine) in state_machines() {
        for (name, state) in machine["States"].as_object().unwrap() {
            if state["Type"] != "Task" {
                continue;
            }
            let retried: BTreeSet<&str> = state["Retry"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| r["ErrorEquals"].as_array().unwrap())
                .filter_map(Value::as_str)
                .collect();
            for error in ["Lambda.Unknown", "Lambda.ClientExecutionTimeoutException"] {
                assert!(
                    retried.contains(error),
                    "{}: {name} does not retry {error}",
                    path.display()
                );
            }
        }
    }
}

/// Every reference a resource makes to another (`!Ref`, `!GetAtt`, `${…}` in `!Sub`, `DependsOn`): the YAML reader
/// drops the tags, leaving `X`, `X.Attr` and `…${X}…` scalars.
fn references(value: &Yaml, names: &BTreeSet<String>, found: &mut BTreeSet<String>) {
    match value {
        Yaml::String(text) => {
            let head = text.split('.').next().unwrap_or_default();
            if names.contains(head) {
                found.insert(head.to_string());
            }
            for piece in text.split("${").skip(1) {
                let inner = piece.split('}').next().unwrap_or_default();
                let head = inner.split('.').next().unwrap_or_default();
                if names.contains(head) {
                    found.insert(head.to_string());
                }
            }
        }
        Yaml::Array(items) => items.iter().for_each(|v| references(v, names, found)),
        Yaml::Hash(map) => map.values().for_each(|v| references(v, names, found)),
        _ => {}
    }
}

#[test]
fn no_two_resources_depend_on_each_other() {
    // CloudFormation refuses a template whose resources refer to each other in a circle ("Circular dependency").
    let template = template();
    let resources = resources(&template);
    let names: BTreeSet<String> = resources.iter().map(|(n, _)| n.clone()).collect();
    let edges: BTreeMap<String, BTreeSet<String>> = resources
        .iter()
        .map(|(name, resource)| {
            let mut found = BTreeSet::new();
            references(&resource["Properties"], &names, &mut found);
            references(&resource["DependsOn"], &names, &mut found);
            found.remove(name);
            (name.clone(), found)
        })
        .collect();
    // Depth-first search for a path back to where it started.
    fn back_to(
        start: &str,
        at: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        edges[at].iter().any(|next| {
            next == start || (seen.insert(next.clone()) && back_to(start, next, edges, seen))
        })
    }
    for name in &names {
        assert!(
            !back_to(name, name, &edges, &mut BTreeSet::new()),
            "{name} depends on itself through {:?}",
            edges[name]
        );
    }
}

/// The functions an EventBridge rule drives, and what each does on its backstop schedule's input.
const BACKSTOPS: &[(&str, &str)] = &[
    ("TriggerFunction", r#"{"catch_up": true}"#),
    ("AlertFunction", r#"{"catch_up": true}"#),
    ("QueueFunction", r#"{"drain": true}"#),
    ("JanitorFunction", r#"{"sweep": true}"#),
    ("NotifyFunction", r#"{"reconcile": true}"#),
];

#[test]
fn every_function_an_event_drives_has_a_schedule_that_converges_from_state() {
    // Every event EventBridge delivers is best effort: what a rule's event sets off, a periodic look also reaches.
    let template = template();
    let mut driven = BTreeSet::new();
    for (name, resource) in resources(&template) {
        let Some(events) = resource["Properties"]["Events"].as_hash() else {
            continue;
        };
        if !events
            .values()
            .any(|e| e["Type"].as_str() == Some("EventBridgeRule"))
        {
            continue;
        }
        driven.insert(name.clone());
        let (_, expected) = BACKSTOPS
            .iter()
            .find(|(function, _)| *function == name)
            .unwrap_or_else(|| {
                panic!("{name} is driven by an event rule and has no backstop listed")
            });
        let expected: Value = serde_json::from_str(expected).unwrap();
        let schedule = events
            .values()
            .filter(|e| e["Type"].as_str() == Some("ScheduleV2"))
            .find(|e| {
                serde_json::from_str::<Value>(e["Properties"]["Input"].as_str().unwrap_or("null"))
                    .ok()
                    .as_ref()
                    == Some(&expected)
            })
            .unwrap_or_else(|| panic!("{name}: no schedule sends {expected}"));
        let every = schedule["Properties"]["ScheduleExpression"]
            .as_str()
            .unwrap();
        assert!(
            every.starts_with("rate("),
            "{name}: the backstop runs at a fixed rate, not {every}"
        );
    }
    assert_eq!(driven.len(), BACKSTOPS.len(), "{driven:?}");
}

#[test]
fn no_topic_an_alarm_or_an_aws_service_publishes_to_uses_the_aws_managed_key() {
    let template = template();
    let resources: BTreeMap<String, &Yaml> = resources(&template).into_iter().collect();
    // Topics the alarms publish to (every action list), and topics EventBridge could target.
    let mut published_by_services = BTreeSet::new();
    for resource in resources.values() {
        if resource["Type"].as_str() != Some("AWS::CloudWatch::Alarm") {
            continue;
        }
        for actions in ["AlarmActions", "OKActions", "InsufficientDataActions"] {
            for action in resource["Properties"][actions]
                .as_vec()
                .into_iter()
                .flatten()
            {
                published_by_services.insert(action.as_str().unwrap().to_string());
            }
        }
    }
    assert!(published_by_services.contains("AlertsTopic"));
    for (name, resource) in &resources {
        if resource["Type"].as_str() != Some("AWS::SNS::Topic") {
            continue;
        }
        let key = resource["Properties"]["KmsMasterKeyId"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} is not encrypted"));
        assert!(
            !key.starts_with("alias/aws/"),
            "{name} uses the AWS-managed key {key}: CloudWatch alarms and EventBridge cannot publish to it"
        );
        if !published_by_services.contains(name) {
            continue;
        }
        let policy = &resources
            .get(key)
            .unwrap_or_else(|| panic!("{name}: its key {key} is not a key of this template"))
            ["Properties"]["KeyPolicy"];
        for service in ["cloudwatch.amazonaws.com", "events.amazonaws.com"] {
            let grant = policy["Statement"]
                .as_vec()
                .unwrap()
                .iter()
                .find(|statement| {
                    statement["Principal"]["Service"]
                        .as_vec()
                        .is_some_and(|services| {
                            services.iter().any(|s| s.as_str() == Some(service))
                        })
                })
                .unwrap_or_else(|| panic!("{key}'s policy does not let {service} use it"));
            let actions: Vec<&str> = grant["Action"]
                .as_vec()
                .unwrap()
                .iter()
                .filter_map(Yaml::as_str)
                .collect();
            assert!(
                actions.contains(&"kms:GenerateDataKey*") && actions.contains(&"kms:Decrypt"),
                "{key}: {service} needs kms:GenerateDataKey* and kms:Decrypt, has {actions:?}"
            );
            assert!(
                grant["Condition"].is_badvalue(),
                "{key}: a condition on {service}'s grant (EventBridge's KMS requests carry no aws:SourceArn) \
                 would drop its deliveries silently"
            );
        }
    }
}

#[test]
fn every_function_is_named_as_the_operators_commands_find_it() {
    // `sparkplug doctor --fix` invokes sparkplug-<env>-<binary> (cli/src/operator.rs).
    let template = template();
    for (name, resource) in resources(&template) {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap();
        assert_eq!(
            resource["Properties"]["FunctionName"].as_str(),
            Some(format!("sparkplug-${{Environment}}-{binary}").as_str()),
            "{name}"
        );
    }
    for (function, _) in sparkplug_cli::operator::BACKSTOPS {
        assert!(
            resources(&template).iter().any(|(_, r)| {
                r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(function)
            }),
            "the backstop {function} is no function of the template"
        );
    }
}

#[test]
fn no_arn_or_service_principal_is_the_commercial_partitions_alone() {
    // The state machine's service integrations take the stack's partition; every ARN the template writes does.
    let template_text = std::fs::read_to_string(repo().join("template.yaml")).unwrap();
    for (number, line) in template_text.lines().enumerate() {
        let code = line.split(" #").next().unwrap_or_default();
        assert!(
            !code.contains("arn:aws:"),
            "template.yaml:{}: `arn:aws:` (use ${{AWS::Partition}})",
            number + 1
        );
    }
    for (path, machine) in state_machines() {
        let text = machine.to_string();
        assert!(
            !text.contains("arn:aws:"),
            "{}: `arn:aws:` (use ${{Partition}})",
            path.display()
        );
    }
    let template = template();
    let resources: BTreeMap<String, &Yaml> = resources(&template).into_iter().collect();
    assert_eq!(
        resources["RunStateMachine"]["Properties"]["DefinitionSubstitutions"]["Partition"].as_str(),
        Some("AWS::Partition")
    );
    // iam:PassedToService as AWS's own EMR policies match it: StringLike `ec2.amazonaws.com*` (China's end in .cn).
    assert!(template_text.contains("- ec2.amazonaws.com*"));
}

/// Every metric the dashboard shows is one something emits: sparkplug's own (the metric lines of `emf_line` and
/// `metrics::pool_line`: namespace, metric names and dimensions, searched as a whole schema), or AWS's own about the
/// template's resources —
/// every function's errors and throttles, the run state machine's executions (Step Functions Developer Guide,
/// "Execution metrics"), the failed-events queue's depth. A renamed metric or dimension would leave a widget blank
/// without a word; and every metric sparkplug emits has its widget.
#[test]
fn every_metric_on_the_dashboard_is_one_that_is_emitted() {
    use sparkplug::engine::summary::{emf_line, RunSummary};

    let template = template();
    let resources: BTreeMap<String, &Yaml> = resources(&template).into_iter().collect();
    let body = resources["Dashboard"]["Properties"]["DashboardBody"]
        .as_str()
        .expect("the dashboard's body, a !Sub string");
    for name in placeholders(body) {
        let head = name.split('.').next().unwrap();
        assert!(
            name.starts_with("AWS::")
                || !template["Parameters"][head].is_badvalue()
                || resources.contains_key(head),
            "the dashboard names ${{{name}}}, which the template does not have"
        );
    }
    // `${…}` stand inside JSON strings: the body is JSON before CloudFormation substitutes them.
    let body: Value = serde_json::from_str(body).expect("the dashboard's body is JSON");

    let summary: RunSummary = serde_json::from_value(serde_json::json!({
        "job": "j", "engine": "emr", "run_name": "r", "environment": "dev", "status": "succeeded",
        "timeline": {"startup_seconds": 60, "execution_seconds": 30}, "queued_seconds": 12,
        "cost": {"usd": 0.5, "compute_usd": 0.4, "control_plane_usd": 0.1, "basis": "test"},
    }))
    .unwrap();
    // Every metric line the code prints: a run's, and a pool's (the janitor's look).
    let now = chrono::Utc::now();
    let mut emitted: BTreeMap<Vec<String>, BTreeSet<String>> = BTreeMap::new();
    for line in [
        emf_line(&summary, now),
        sparkplug::engine::metrics::pool_line("p", "dev", 1, 2, now),
        sparkplug::engine::metrics::queue_line("j", "dev", 1, 2, now),
    ] {
        let line: Value = serde_json::from_str(&line).expect("a JSON line");
        let block = &line["_aws"]["CloudWatchMetrics"][0];
        let schema: Vec<String> = std::iter::once(&block["Namespace"])
            .chain(block["Dimensions"][0].as_array().unwrap())
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        for metric in block["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(!line[name].is_null(), "the line carries {name}'s value");
            emitted
                .entry(schema.clone())
                .or_default()
                .insert(name.to_string());
        }
    }
    let functions: BTreeSet<String> = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .map(|(name, _)| format!("${{{name}}}"))
        .collect();
    let execution_metrics = [
        "ExecutionsStarted",
        "ExecutionsSucceeded",
        "ExecutionsFailed",
        "ExecutionsAborted",
        "ExecutionsTimedOut",
        "ExecutionThrottled",
    ];

    let mut searched: BTreeMap<Vec<String>, BTreeSet<String>> = BTreeMap::new();
    let mut per_function: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for widget in body["widgets"].as_array().unwrap() {
        if widget["type"] != "metric" {
            continue;
        }
        let title = widget["properties"]["title"].as_str().unwrap_or("?");
        for row in widget["properties"]["metrics"].as_array().unwrap() {
            let row = row.as_array().unwrap();
            if let Some(expression) = row[0]["expression"].as_str() {
                // SEARCH('{namespace,dimension,…} … MetricName="X"', 'Stat', period)
                let inner = &expression[expression.find('{').unwrap() + 1..];
                let searched_schema: Vec<String> = inner[..inner.find('}').unwrap()]
                    .split(',')
                    .map(str::to_string)
                    .collect();
                let metric = expression
                    .split("MetricName=\"")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .unwrap_or_else(|| panic!("{title}: no MetricName in {expression}"));
                // A SEARCH matches a metric only with its whole dimension schema.
                let names = emitted.get(&searched_schema).unwrap_or_else(|| {
                    panic!("{title}: no metric line has the schema {searched_schema:?}")
                });
                assert!(names.contains(metric), "{title}: {metric} is not emitted");
                searched
                    .entry(searched_schema)
                    .or_default()
                    .insert(metric.to_string());
                continue;
            }
            let row: Vec<&str> = row.iter().map(|v| v.as_str().unwrap()).collect();
            match row.as_slice() {
                ["AWS/Lambda", metric @ ("Errors" | "Throttles"), "FunctionName", function] => {
                    assert!(functions.contains(*function), "{title}: {function}");
                    per_function
                        .entry(metric)
                        .or_default()
                        .insert(function.to_string());
                }
                ["AWS/States", metric, "StateMachineArn", "${RunStateMachine}"] => {
                    assert!(execution_metrics.contains(metric), "{title}: {metric}")
                }
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${FailedEventsQueue.QueueName}"] =>
                    {}
                other => panic!("{title}: a metric this test does not know: {other:?}"),
            }
        }
    }
    assert_eq!(
        searched, emitted,
        "every metric sparkplug emits has its widget"
    );
    for metric in ["Errors", "Throttles"] {
        assert_eq!(per_function[metric], functions, "every function's {metric}");
    }
}

/// `sparkplug … --config-env ENV` turns samconfig.toml's parameters into catalog vars by a table of how the template
/// sets `SPARKPLUG_VAR_<NAME>`: every function that gets a var must get it exactly so, and the table must hold every
/// var any function gets.
#[test]
fn config_env_reads_each_var_as_the_template_sets_it() {
    use sparkplug_cli::samconfig::{DeployedVar, DEPLOYED_VARS};
    let template = template();
    let table: BTreeMap<&str, DeployedVar> = DEPLOYED_VARS.iter().copied().collect();
    let mut seen = BTreeSet::new();
    for (name, resource) in resources(&template) {
        let Some(variables) = resource["Properties"]["Environment"]["Variables"].as_hash() else {
            continue;
        };
        for (key, value) in variables {
            let Some(var) = key.as_str().unwrap().strip_prefix("SPARKPLUG_VAR_") else {
                continue;
            };
            let var = var.to_ascii_lowercase();
            let Some(source) = table.get(var.as_str()) else {
                panic!("{name} sets ${{{var}}}, which --config-env does not know");
            };
            // The short tags (`!Ref`, `!If`, `!GetAtt`, `!Sub`) are read as their plain values.
            let plain = |yaml: &Yaml| yaml.as_str().map(str::to_string);
            let matches = match *source {
                DeployedVar::Parameter(parameter) => plain(value).as_deref() == Some(parameter),
                DeployedVar::RoleParameter { created, parameter } => {
                    let arms = value
                        .as_vec()
                        .map(|v| v.iter().map(plain).collect::<Vec<_>>());
                    arms == Some(vec![
                        Some("CreateRoles".into()),
                        Some(created.into()),
                        Some(parameter.into()),
                    ])
                }
                DeployedVar::RoleArnParameter { created, parameter } => {
                    let arms = value
                        .as_vec()
                        .map(|v| v.iter().map(plain).collect::<Vec<_>>());
                    arms.is_some_and(|arms| {
                        arms.len() == 3
                            && arms[0].as_deref() == Some("CreateRoles")
                            && arms[1].as_deref() == Some(&format!("{created}.Arn"))
                            && arms[2].as_deref().is_some_and(|sub| {
                                sub.ends_with(&format!(":role/${{{parameter}}}"))
                            })
                    })
                }
            };
            assert!(
                matches,
                "{name}: SPARKPLUG_VAR_{} is {value:?}, --config-env reads it as {source:?}",
                var.to_ascii_uppercase()
            );
            seen.insert(var);
        }
    }
    let table_vars: BTreeSet<String> = table.keys().map(|v| v.to_string()).collect();
    assert_eq!(
        seen, table_vars,
        "vars the template sets vs --config-env's table"
    );
}

/// Every event schema in docs/schemas (a schema with a `detail-type`) is registered in the stack's schema registry
/// with that very content, as JSONSchemaDraft4, and every registered schema is one of them.
#[test]
fn every_event_schema_is_registered_in_the_template_as_committed() {
    let template = template();
    let mut committed = BTreeMap::new();
    for entry in std::fs::read_dir(repo().join("docs/schemas")).unwrap() {
        let path = entry.unwrap().path();
        let schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // A schema must itself be a valid Draft 4 schema.
        jsonschema::draft4::new(&schema).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if let Some(detail_type) = schema.pointer("/properties/detail-type/enum/0") {
            committed.insert(detail_type.as_str().unwrap().to_string(), schema);
        }
    }
    assert!(
        committed.contains_key("sparkplug Run Alert"),
        "{committed:?}"
    );
    let registries: Vec<String> = resources(&template)
        .into_iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::EventSchemas::Registry"))
        .map(|(name, _)| name)
        .collect();
    assert_eq!(registries.len(), 1, "one registry: {registries:?}");
    let mut registered = BTreeMap::new();
    for (name, resource) in resources(&template) {
        if resource["Type"].as_str() != Some("AWS::EventSchemas::Schema") {
            continue;
        }
        let properties = &resource["Properties"];
        assert_eq!(
            properties["Type"].as_str(),
            Some("JSONSchemaDraft4"),
            "{name}"
        );
        assert_eq!(
            properties["RegistryName"].as_str(),
            Some(format!("{}.RegistryName", registries[0]).as_str()),
            "{name}"
        );
        let content: Value = serde_json::from_str(properties["Content"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{name}: Content: {e}"));
        let detail_type = content
            .pointer("/properties/detail-type/enum/0")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{name}: no detail-type"))
            .to_string();
        registered.insert(detail_type, content);
    }
    assert_eq!(registered, committed, "registered vs docs/schemas");
}

/// Tracing is one parameter, off by default: on, every function traces actively and the run state machine traces its
/// executions (passing the trace header to its tasks) with the X-Ray rights to write its segments.
#[test]
fn tracing_is_one_switch_for_every_function_and_the_state_machine() {
    let template = template();
    let parameter = &template["Parameters"]["Tracing"];
    assert_eq!(parameter["Default"].as_str(), Some("off"));
    let condition: Vec<String> = template["Conditions"]["TracingOn"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(condition, ["Tracing", "on"]);
    let plain = |yaml: &Yaml| {
        yaml.as_vec()
            .map(|v| v.iter().map(|x| format!("{x:?}")).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    let globals = plain(&template["Globals"]["Function"]["Tracing"]);
    assert_eq!(globals.len(), 3, "{globals:?}");
    assert!(
        globals[0].contains("TracingOn")
            && globals[1].contains("Active")
            && globals[2].contains("PassThrough")
    );
    // The functions' own switch for their invocation spans (sparkplug::aws::telemetry), from the same parameter.
    assert_eq!(
        template["Globals"]["Function"]["Environment"]["Variables"]
            [sparkplug::aws::telemetry::SWITCH]
            .as_str(),
        Some("Tracing"),
        "every function's {} is the Tracing parameter",
        sparkplug::aws::telemetry::SWITCH
    );
    for (name, resource) in resources(&template) {
        match resource["Type"].as_str() {
            Some("AWS::Serverless::Function") => {
                assert!(
                    resource["Properties"]["Tracing"].is_badvalue(),
                    "{name} sets its own Tracing: the parameter would not reach it"
                );
                assert!(
                    resource["Properties"]["Environment"]["Variables"]
                        [sparkplug::aws::telemetry::SWITCH]
                        .is_badvalue(),
                    "{name} sets its own {}",
                    sparkplug::aws::telemetry::SWITCH
                );
            }
            Some("AWS::Serverless::StateMachine") => {
                let enabled = plain(&resource["Properties"]["Tracing"]["Enabled"]);
                assert!(
                    enabled.first().is_some_and(|c| c.contains("TracingOn")),
                    "{name}: {enabled:?}"
                );
                let policies = format!("{:?}", resource["Properties"]["Policies"]);
                for action in ["xray:PutTraceSegments", "xray:PutTelemetryRecords"] {
                    assert!(
                        policies.contains(action),
                        "{name} may not write its segments: {action}"
                    );
                }
            }
            _ => {}
        }
    }
}
