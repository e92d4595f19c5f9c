//! `sparkplug match`: the runs a trigger event would start; starts nothing.

use std::path::Path;

use sparkplug::catalog::Catalog;
use sparkplug::run::resolve_event;

use super::*;

pub(crate) fn matches(
    catalog: &Catalog,
    event: &Path,
    set: Vec<(String, String)>,
) -> Result<(), String> {
    let vars = vars(catalog, set)?;
    let event = read_event(event)?;
    let resolution =
        resolve_event(catalog, &event, &vars, chrono::Utc::now()).map_err(|e| e.to_string())?;
    for ignored in &resolution.ignored {
        eprintln!("ignored: {ignored}");
    }
    for failure in &resolution.failures {
        eprintln!("failed: {failure}");
    }
    print_json(&serde_json::to_value(&resolution.matches).map_err(|e| e.to_string())?);
    if resolution.failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} part(s) of the event start nothing (see above)",
            resolution.failures.len()
        ))
    }
}
