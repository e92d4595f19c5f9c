//! Environments as SAM names them: `--config-env prod` reads `samconfig.toml`'s parameter overrides for `prod` and
//! turns them into the catalog vars that stack's functions get (`SPARKPLUG_VAR_<NAME>` in `template.yaml`), so that
//! `sparkplug plan|validate|match` show what that stack would run.
//!
//! SAM's configuration file: `[<env>.<command>.parameters]`, with `[<env>.global.parameters]` for every command
//! (AWS SAM Developer Guide, "AWS SAM CLI configuration file"); `parameter_overrides` is a list of `Key=Value` or
//! one string of them, space-separated and shell-quoted, as `sam deploy --parameter-overrides` takes them.

use std::collections::BTreeMap;
use std::path::Path;

/// Where a catalog var's deployed value comes from: how `template.yaml` sets `SPARKPLUG_VAR_<NAME>` on the functions.
/// `tests/deploy_files.rs` checks this table against the template, so the two cannot drift apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeployedVar {
    /// `!Ref <Parameter>`.
    Parameter(&'static str),
    /// `!If [CreateRoles, <a resource of the stack>, !Ref <Parameter>]`: the parameter when `CreateRoles` is
    /// `false`; otherwise a resource the stack creates, whose name is known only once deployed.
    RoleParameter {
        created: &'static str,
        parameter: &'static str,
    },
    /// `!If [CreateRoles, <a resource of the stack>, !Sub arn:…:iam::${AWS::AccountId}:role/${<Parameter>}]`:
    /// an ARN that holds the account, which a file does not say.
    RoleArnParameter {
        created: &'static str,
        parameter: &'static str,
    },
}

/// Every catalog var the template sets, by var name.
pub const DEPLOYED_VARS: &[(&str, DeployedVar)] = &[
    ("env", DeployedVar::Parameter("Environment")),
    ("data_bucket", DeployedVar::Parameter("DataBucketName")),
    (
        "artifacts_bucket",
        DeployedVar::Parameter("ArtifactsBucketName"),
    ),
    ("log_bucket", DeployedVar::Parameter("LogBucketName")),
    (
        "emr_service_role",
        DeployedVar::RoleParameter {
            created: "EmrServiceRole",
            parameter: "EmrServiceRoleName",
        },
    ),
    (
        "emr_instance_profile",
        DeployedVar::RoleParameter {
            created: "EmrInstanceProfile",
            parameter: "EmrInstanceProfileName",
        },
    ),
    ("subnet_id", DeployedVar::Parameter("SubnetId")),
    (
        "glue_role",
        DeployedVar::RoleParameter {
            created: "GlueRole",
            parameter: "GlueRoleName",
        },
    ),
    ("glue_script", DeployedVar::Parameter("GlueScriptLocation")),
    (
        "emr_serverless_role",
        DeployedVar::RoleArnParameter {
            created: "EmrServerlessJobRole",
            parameter: "EmrServerlessRoleName",
        },
    ),
];

/// The template parameters' defaults that decide a var (`CreateRoles` is `"true"` unless overridden).
const PARAMETER_DEFAULTS: &[(&str, &str)] = &[
    ("CreateRoles", "true"),
    ("EmrServiceRoleName", "EMR_DefaultRole_V2"),
    ("EmrInstanceProfileName", "EMR_EC2_DefaultRole"),
    ("GlueRoleName", "sparkplug-glue"),
    ("EmrServerlessRoleName", "sparkplug-emr-serverless"),
];

/// One environment of `samconfig.toml`, as catalog vars.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigEnv {
    pub name: String,
    /// The catalog vars this environment's stack gives its functions.
    pub vars: BTreeMap<String, String>,
    /// The vars a file cannot tell (a role the stack creates; an ARN that holds the account), and why: they keep the
    /// catalog's value unless `--set` gives one.
    pub unknown: Vec<(String, String)>,
}

/// Reads environment `env` of the SAM configuration file at `path`.
pub fn read(path: &Path, env: &str) -> Result<ConfigEnv, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--config-env {env}: cannot read {}: {e}", path.display()))?;
    parse(&text, env).map_err(|e| format!("--config-env {env}: {}: {e}", path.display()))
}

/// Parses the text of a SAM configuration file and resolves environment `env`.
pub fn parse(text: &str, env: &str) -> Result<ConfigEnv, String> {
    let config: toml::Table = toml::from_str(text).map_err(|e| format!("not TOML: {e}"))?;
    let Some(environment) = config.get(env).and_then(toml::Value::as_table) else {
        let known: Vec<&str> = config
            .iter()
            .filter(|(name, value)| value.is_table() && name.as_str() != "default")
            .map(|(name, _)| name.as_str())
            .collect();
        return Err(format!(
            "no environment `{env}` (it has: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ));
    };
    // `sam deploy` reads its own section first, then the environment's global one.
    let overrides = ["deploy", "global"].iter().find_map(|command| {
        environment
            .get(*command)
            .and_then(|c| c.get("parameters"))
            .and_then(|p| p.get("parameter_overrides"))
    });
    let mut parameters: BTreeMap<String, String> = PARAMETER_DEFAULTS
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if let Some(overrides) = overrides {
        for (key, value) in parameter_overrides(overrides)? {
            parameters.insert(key, value);
        }
    }
    Ok(resolve(env, &parameters))
}

/// `parameter_overrides`: a list of `Key=Value`, or one string of them separated by spaces and shell-quoted.
fn parameter_overrides(value: &toml::Value) -> Result<Vec<(String, String)>, String> {
    let tokens: Vec<String> = match value {
        toml::Value::String(text) => shlex::split(text)
            .ok_or_else(|| format!("parameter_overrides: unbalanced quotes in `{text}`"))?,
        toml::Value::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_string).ok_or_else(|| {
                    format!("parameter_overrides: `{item}` is not a \"Key=Value\" string")
                })
            })
            .collect::<Result<_, _>>()?,
        other => {
            return Err(format!(
            "parameter_overrides: expected a list of \"Key=Value\" or one string, found `{other}`"
        ))
        }
    };
    tokens
        .iter()
        .map(|token| {
            token
                .split_once('=')
                .filter(|(key, _)| !key.is_empty())
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .ok_or_else(|| format!("parameter_overrides: `{token}` is not Key=Value"))
        })
        .collect()
}

fn resolve(env: &str, parameters: &BTreeMap<String, String>) -> ConfigEnv {
    let creates_roles = parameters.get("CreateRoles").map(String::as_str) != Some("false");
    let mut resolved = ConfigEnv {
        name: env.to_string(),
        ..ConfigEnv::default()
    };
    for (var, source) in DEPLOYED_VARS {
        let value = match source {
            DeployedVar::Parameter(parameter) => parameters
                .get(*parameter)
                .cloned()
                .ok_or_else(|| format!("samconfig.toml [{env}] does not set {parameter}")),
            DeployedVar::RoleParameter { created, .. }
            | DeployedVar::RoleArnParameter { created, .. }
                if creates_roles =>
            {
                Err(format!(
                    "the stack creates it ({created}, CreateRoles=true): its name is known once deployed"
                ))
            }
            DeployedVar::RoleParameter { parameter, .. } => parameters
                .get(*parameter)
                .cloned()
                .ok_or_else(|| format!("samconfig.toml [{env}] does not set {parameter}")),
            DeployedVar::RoleArnParameter { parameter, .. } => Err(format!(
                "the stack makes the ARN of role {} in its own account, which samconfig.toml does not say",
                parameters.get(*parameter).map(String::as_str).unwrap_or("?")
            )),
        };
        match value {
            Ok(value) => {
                resolved.vars.insert(var.to_string(), value);
            }
            Err(why) => resolved.unknown.push((var.to_string(), why)),
        }
    }
    resolved
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMCONFIG: &str = r#"
version = 0.1
[default.global.parameters]
beta_features = true

[dev.deploy.parameters]
stack_name = "sparkplug-dev"
parameter_overrides = ["Environment=dev", "DataBucketName=acme-data-dev", "SubnetId=subnet-1"]

[prod.deploy.parameters]
parameter_overrides = "Environment=prod DataBucketName=acme-data-prod ArtifactsBucketName='acme artifacts' LogBucketName=logs SubnetId=subnet-2 GlueScriptLocation=s3://a/b.scala CreateRoles=false GlueRoleName=glue-prod"
"#;

    #[test]
    fn a_list_of_overrides_gives_the_vars_and_names_what_it_cannot_know() {
        let dev = parse(SAMCONFIG, "dev").unwrap();
        assert_eq!(dev.vars["env"], "dev");
        assert_eq!(dev.vars["data_bucket"], "acme-data-dev");
        assert_eq!(dev.vars["subnet_id"], "subnet-1");
        let unknown: Vec<&str> = dev.unknown.iter().map(|(var, _)| var.as_str()).collect();
        // Not set in the file, and the four roles the stack creates.
        for var in [
            "artifacts_bucket",
            "log_bucket",
            "glue_script",
            "emr_service_role",
            "emr_instance_profile",
            "glue_role",
            "emr_serverless_role",
        ] {
            assert!(unknown.contains(&var), "{var} in {unknown:?}");
        }
        assert!(dev.unknown.iter().any(|(var, why)| var == "glue_role"
            && why.contains("GlueRole")
            && why.contains("CreateRoles=true")));
    }

    #[test]
    fn a_quoted_string_of_overrides_and_roles_named_by_parameters() {
        let prod = parse(SAMCONFIG, "prod").unwrap();
        assert_eq!(prod.vars["env"], "prod");
        assert_eq!(prod.vars["artifacts_bucket"], "acme artifacts");
        assert_eq!(prod.vars["glue_script"], "s3://a/b.scala");
        assert_eq!(prod.vars["glue_role"], "glue-prod");
        // The template's default for a parameter the file leaves out.
        assert_eq!(prod.vars["emr_service_role"], "EMR_DefaultRole_V2");
        assert_eq!(prod.unknown.len(), 1, "{:?}", prod.unknown);
        assert_eq!(prod.unknown[0].0, "emr_serverless_role");
    }

    #[test]
    fn an_unknown_environment_or_a_bad_override_is_refused_with_what_is_there() {
        let error = parse(SAMCONFIG, "staging").unwrap_err();
        assert!(error.contains("no environment `staging`"), "{error}");
        assert!(error.contains("dev, prod"), "{error}");
        let bad = "[qa.deploy.parameters]\nparameter_overrides = [\"Environment\"]\n";
        let error = parse(bad, "qa").unwrap_err();
        assert!(error.contains("`Environment` is not Key=Value"), "{error}");
        let bad = "[qa.deploy.parameters]\nparameter_overrides = \"Environment='dev\"\n";
        assert!(parse(bad, "qa").unwrap_err().contains("unbalanced quotes"));
        assert!(parse("not toml [", "qa").unwrap_err().contains("not TOML"));
    }

    #[test]
    fn the_shipped_samconfig_resolves_both_environments() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../samconfig.toml"))
                .unwrap();
        let prod = parse(&text, "prod").unwrap();
        assert_eq!(prod.vars["data_bucket"], "acme-data-prod");
        assert_eq!(prod.vars["emr_instance_profile"], "EMR_EC2_DefaultRole");
        assert_eq!(prod.vars["glue_role"], "sparkplug-glue-prod");
        let dev = parse(&text, "dev").unwrap();
        assert_eq!(dev.vars["log_bucket"], "acme-logs-dev");
    }
}
