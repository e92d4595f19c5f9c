//! Values of the catalog's `${vars}` for one deployment: the catalog's defaults, overridden by the environment.

use std::collections::BTreeMap;

use crate::catalog::placeholders::{self, Placeholder};
use crate::catalog::Catalog;

/// Environment variables that override catalog `[vars]`: `SPARKPLUG_VAR_DATA_BUCKET` sets `${data_bucket}`.
pub const VAR_ENV_PREFIX: &str = "SPARKPLUG_VAR_";

/// A setting that names no var of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{setting}` sets no catalog var; the catalog's vars are: {}", known.join(", "))]
pub struct VarError {
    pub setting: String,
    pub known: Vec<String>,
}

/// Values of the catalog's `${vars}` for this deployment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars(BTreeMap<String, String>);

impl Vars {
    /// The catalog's defaults, overridden by `SPARKPLUG_VAR_<NAME>` variables among `env`, then by `overrides`.
    pub fn resolve<E, O>(catalog: &Catalog, env: E, overrides: O) -> Result<Vars, VarError>
    where
        E: IntoIterator<Item = (String, String)>,
        O: IntoIterator<Item = (String, String)>,
    {
        let mut values = catalog.vars.clone();
        let from_env = env.into_iter().filter_map(|(key, value)| {
            key.strip_prefix(VAR_ENV_PREFIX)
                .map(|name| (name.to_ascii_lowercase(), value, key.clone()))
        });
        let overrides = overrides
            .into_iter()
            .map(|(name, value)| (name.clone(), value, name));
        for (name, value, source) in from_env.chain(overrides) {
            match values.get_mut(&name) {
                Some(slot) => *slot = value,
                None => {
                    return Err(VarError {
                        setting: source,
                        known: catalog.vars.keys().cloned().collect(),
                    })
                }
            }
        }
        Ok(Vars(values))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Fills `${vars}` only; run placeholders are left for [`crate::run::plan::render`].
    pub fn fill(&self, text: &str) -> Result<String, String> {
        placeholders::fill(text, &|hole| match hole {
            Placeholder::Var(name) => self.get(name).map(str::to_string),
            Placeholder::Param(name) => Some(format!("{{{name}}}")),
        })
        .map_err(|hole| format!("{hole} is not a catalog var"))
    }
}
