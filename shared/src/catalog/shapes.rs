//! The AWS request shapes that users may paste into the catalog (Airflow's JOB_FLOW_OVERRIDES, SPARK_STEPS, Glue
//! `create_job` kwargs), known down to their field names so that a typo is an error instead of a silently dropped
//! field. Values stay plain JSON: what the user wrote is what the API gets. Field names are taken from the
//! EMR and Glue API references (the SDK serializers of aws-sdk-emr 1.132 and aws-sdk-glue 1.184).

use serde_json::Value;

/// What a JSON value must look like, as far as sparkplug checks it.
pub enum Shape {
    /// Any value: its inner fields are passed through to AWS unchecked.
    Any,
    /// An object with these fields only.
    Object(&'static [(&'static str, Shape)]),
    /// An array whose items have this shape.
    List(&'static Shape),
}

use Shape::{Any, List, Object};

const TAG: Shape = Object(&[("Key", Any), ("Value", Any)]);
const CONFIGURATION: Shape = Object(&[
    ("Classification", Any),
    // Nested configurations are recursive; checking one level catches the common typos.
    ("Configurations", Any),
    ("Properties", Any),
]);
const INSTANCE_GROUP: Shape = Object(&[
    ("Name", Any),
    ("Market", Any),
    ("InstanceRole", Any),
    ("BidPrice", Any),
    ("InstanceType", Any),
    ("InstanceCount", Any),
    ("Configurations", List(&CONFIGURATION)),
    ("EbsConfiguration", Any),
    ("AutoScalingPolicy", Any),
    ("CustomAmiId", Any),
]);
const INSTANCE_FLEET: Shape = Object(&[
    ("Name", Any),
    ("InstanceFleetType", Any),
    ("TargetOnDemandCapacity", Any),
    ("TargetSpotCapacity", Any),
    ("InstanceTypeConfigs", Any),
    ("LaunchSpecifications", Any),
    ("ResizeSpecifications", Any),
    ("Context", Any),
]);
const INSTANCES: Shape = Object(&[
    ("MasterInstanceType", Any),
    ("SlaveInstanceType", Any),
    ("InstanceCount", Any),
    ("InstanceGroups", List(&INSTANCE_GROUP)),
    ("InstanceFleets", List(&INSTANCE_FLEET)),
    ("Ec2KeyName", Any),
    (
        "Placement",
        Object(&[("AvailabilityZone", Any), ("AvailabilityZones", Any)]),
    ),
    ("KeepJobFlowAliveWhenNoSteps", Any),
    ("TerminationProtected", Any),
    ("UnhealthyNodeReplacement", Any),
    ("HadoopVersion", Any),
    ("Ec2SubnetId", Any),
    ("Ec2SubnetIds", Any),
    ("EmrManagedMasterSecurityGroup", Any),
    ("EmrManagedSlaveSecurityGroup", Any),
    ("ServiceAccessSecurityGroup", Any),
    ("AdditionalMasterSecurityGroups", Any),
    ("AdditionalSlaveSecurityGroups", Any),
]);

/// An AddJobFlowSteps `StepConfig` (one item of Airflow's SPARK_STEPS).
pub const STEP_CONFIG: Shape = Object(&[
    ("Name", Any),
    ("ActionOnFailure", Any),
    (
        "HadoopJarStep",
        Object(&[
            ("Properties", Any),
            ("Jar", Any),
            ("MainClass", Any),
            ("Args", Any),
        ]),
    ),
    ("StepMonitoringConfiguration", Any),
]);

/// A RunJobFlow request (Airflow's JOB_FLOW_OVERRIDES).
pub const RUN_JOB_FLOW: Shape = Object(&[
    ("Name", Any),
    ("LogUri", Any),
    ("LogEncryptionKmsKeyId", Any),
    ("AdditionalInfo", Any),
    ("AmiVersion", Any),
    ("ReleaseLabel", Any),
    ("Instances", INSTANCES),
    ("Steps", List(&STEP_CONFIG)),
    ("StepExecutionRoleArn", Any),
    (
        "BootstrapActions",
        List(&Object(&[("Name", Any), ("ScriptBootstrapAction", Any)])),
    ),
    ("SupportedProducts", Any),
    ("NewSupportedProducts", Any),
    (
        "Applications",
        List(&Object(&[
            ("Name", Any),
            ("Version", Any),
            ("Args", Any),
            ("AdditionalInfo", Any),
        ])),
    ),
    ("Configurations", List(&CONFIGURATION)),
    ("VisibleToAllUsers", Any),
    ("JobFlowRole", Any),
    ("ServiceRole", Any),
    ("Tags", List(&TAG)),
    ("SecurityConfiguration", Any),
    ("AutoScalingRole", Any),
    ("ScaleDownBehavior", Any),
    ("CustomAmiId", Any),
    ("EbsRootVolumeSize", Any),
    ("RepoUpgradeOnBoot", Any),
    ("KerberosAttributes", Any),
    ("StepConcurrencyLevel", Any),
    ("ManagedScalingPolicy", Any),
    ("PlacementGroupConfigs", Any),
    ("AutoTerminationPolicy", Object(&[("IdleTimeout", Any)])),
    ("OSReleaseLabel", Any),
    ("EbsRootVolumeIops", Any),
    ("EbsRootVolumeThroughput", Any),
    ("ExtendedSupport", Any),
    ("MonitoringConfiguration", Any),
    ("SessionEnabled", Any),
]);

/// A Glue CreateJob request (boto3 `create_job` kwargs, Airflow's `create_job_kwargs`).
pub const CREATE_JOB: Shape = Object(&[
    ("Name", Any),
    ("JobMode", Any),
    ("JobRunQueuingEnabled", Any),
    ("Description", Any),
    ("LogUri", Any),
    ("Role", Any),
    ("ExecutionProperty", Object(&[("MaxConcurrentRuns", Any)])),
    (
        "Command",
        Object(&[
            ("Name", Any),
            ("ScriptLocation", Any),
            ("PythonVersion", Any),
            ("Runtime", Any),
        ]),
    ),
    ("DefaultArguments", Any),
    ("NonOverridableArguments", Any),
    ("Connections", Any),
    ("MaxRetries", Any),
    ("AllocatedCapacity", Any),
    ("Timeout", Any),
    ("MaxCapacity", Any),
    ("SecurityConfiguration", Any),
    ("Tags", Any),
    ("NotificationProperty", Object(&[("NotifyDelayAfter", Any)])),
    ("GlueVersion", Any),
    ("NumberOfWorkers", Any),
    ("WorkerType", Any),
    ("CodeGenConfigurationNodes", Any),
    ("ExecutionClass", Any),
    ("SourceControlDetails", Any),
    ("MaintenanceWindow", Any),
]);

/// Field-name problems of `value` against `shape`, each as `(path, reason)`; `path` starts with `prefix`.
pub fn check(value: &Value, shape: &Shape, prefix: &str) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    walk(value, shape, prefix, &mut problems);
    problems
}

fn walk(value: &Value, shape: &Shape, path: &str, problems: &mut Vec<(String, String)>) {
    match (shape, value) {
        (Any, _) => {}
        (Object(fields), Value::Object(map)) => {
            for (key, item) in map {
                let child = format!("{path}.{key}");
                match fields.iter().find(|(name, _)| name == key) {
                    Some((_, inner)) => walk(item, inner, &child, problems),
                    None => problems.push((child, unknown_field(key, fields))),
                }
            }
        }
        (Object(_), other) => problems.push((
            path.to_string(),
            format!("expected an object, found {}", kind(other)),
        )),
        (List(item_shape), Value::Array(items)) => {
            for (index, item) in items.iter().enumerate() {
                walk(item, item_shape, &format!("{path}[{index}]"), problems);
            }
        }
        (List(_), other) => problems.push((
            path.to_string(),
            format!("expected an array, found {}", kind(other)),
        )),
    }
}

fn unknown_field(key: &str, fields: &[(&str, Shape)]) -> String {
    let closest = fields
        .iter()
        .map(|(name, _)| {
            (
                strsim::jaro_winkler(&key.to_lowercase(), &name.to_lowercase()),
                *name,
            )
        })
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match closest {
        Some((score, name)) if score > 0.85 => format!("unknown field (did you mean `{name}`?)"),
        _ => "unknown field".to_string(),
    }
}

/// A short name for a JSON value's type, for error messages.
pub fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Enumerations of the EMR and Glue APIs that sparkplug checks values against. Each equals its enum in the AWS SDK's
/// service model (`shared/tests/sdk_models.rs` compares them), so that a value AWS refuses fails validation.
pub mod enums {
    /// Glue `WorkerType`.
    pub const GLUE_WORKER_TYPES: &[&str] = &[
        "G.025X", "G.12X", "G.16X", "G.1X", "G.2X", "G.4X", "G.8X", "R.1X", "R.2X", "R.4X", "R.8X",
        "Standard", "Z.2X",
    ];
    /// EMR `MarketType`.
    pub const EMR_MARKETS: &[&str] = &["ON_DEMAND", "SPOT"];
    /// EMR step `ActionOnFailure`.
    pub const EMR_ACTIONS_ON_FAILURE: &[&str] = &[
        "CANCEL_AND_WAIT",
        "CONTINUE",
        "TERMINATE_CLUSTER",
        "TERMINATE_JOB_FLOW",
    ];
    /// EMR `InstanceRoleType`.
    pub const EMR_INSTANCE_ROLES: &[&str] = &["CORE", "MASTER", "TASK"];
    /// EMR `SpotProvisioningAllocationStrategy`.
    pub const EMR_SPOT_ALLOCATION_STRATEGIES: &[&str] = &[
        "capacity-optimized",
        "capacity-optimized-prioritized",
        "diversified",
        "lowest-price",
        "price-capacity-optimized",
    ];
    /// EMR Serverless `Architecture`.
    pub const EMR_SERVERLESS_ARCHITECTURES: &[&str] = &["ARM64", "X86_64"];
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_an_airflow_job_flow_and_flags_typos_with_a_suggestion() {
        let good = json!({
            "Name": "PiCalc", "ReleaseLabel": "emr-7.1.0", "Applications": [{"Name": "Spark"}],
            "Instances": {"InstanceGroups": [{"Name": "Primary node", "Market": "ON_DEMAND", "InstanceRole": "MASTER",
                "InstanceType": "m5.xlarge", "InstanceCount": 1}], "KeepJobFlowAliveWhenNoSteps": false},
            "Steps": [], "JobFlowRole": "EMR_EC2_DefaultRole", "ServiceRole": "EMR_DefaultRole"
        });
        assert!(check(&good, &RUN_JOB_FLOW, "job_flow_overrides").is_empty());

        let bad = json!({"ReleaseLable": "emr-7.1.0", "Instances": {"InstanceGroups": [{"InstanceTyp": "m5.xlarge"}]},
            "Tags": "x"});
        let problems = check(&bad, &RUN_JOB_FLOW, "job_flow_overrides");
        assert_eq!(
            problems,
            vec![
                (
                    "job_flow_overrides.ReleaseLable".to_string(),
                    "unknown field (did you mean `ReleaseLabel`?)".to_string()
                ),
                (
                    "job_flow_overrides.Instances.InstanceGroups[0].InstanceTyp".to_string(),
                    "unknown field (did you mean `InstanceType`?)".to_string()
                ),
                (
                    "job_flow_overrides.Tags".to_string(),
                    "expected an array, found a string".to_string()
                ),
            ]
        );
    }

    #[test]
    fn checks_step_configs() {
        let step = json!({"Name": "s", "ActionOnFailure": "CONTINUE", "HadoopJarStep": {"Jar": "j", "Arg": []}});
        assert_eq!(
            check(&step, &STEP_CONFIG, "spark_steps[0]"),
            vec![(
                "spark_steps[0].HadoopJarStep.Arg".to_string(),
                "unknown field (did you mean `Args`?)".to_string()
            )]
        );
    }
}
