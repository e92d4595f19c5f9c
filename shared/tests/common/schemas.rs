//! The JSON Schemas of what sparkplug sends out (`docs/schemas/`): every event it puts on the bus, found by its
//! `detail-type`, and the chat notification. A fake sink checks each message against them, so every test that sends
//! one checks its shape.

use std::path::Path;

use serde_json::{json, Value};

fn schema(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn check(schema: &Value, instance: &Value, what: &str) {
    let validator =
        jsonschema::draft4::new(schema).unwrap_or_else(|e| panic!("{what}'s schema: {e}"));
    let problems: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        problems.is_empty(),
        "{what} does not follow its schema: {problems:?}\n{instance}"
    );
}

/// Panics unless the event (as PutEvents sends it) follows the schema in `docs/schemas/` whose `detail-type` it has;
/// an event kind with no schema is an error too.
pub fn check_bus_event(source: &str, detail_type: &str, detail: &Value) {
    let folder = super::repo().join("docs/schemas");
    let schemas: Vec<Value> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|entry| schema(&entry.unwrap().path()))
        .collect();
    let Some(found) = schemas
        .iter()
        .find(|s| s.pointer("/properties/detail-type/enum/0") == Some(&json!(detail_type)))
    else {
        panic!("no schema in docs/schemas for detail-type {detail_type:?}");
    };
    let event = json!({"source": source, "detail-type": detail_type, "detail": detail});
    check(found, &event, detail_type);
}

/// Panics unless `message` follows the custom notification format of Amazon Q Developer in chat applications.
pub fn check_chat_notification(message: &Value) {
    let found = schema(&super::repo().join("docs/schemas/chat-notification.schema.json"));
    check(&found, message, "the chat notification");
}
