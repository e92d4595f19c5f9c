//! What a run cost, estimated: EMR instance-seconds per instance type and market, or Glue DPU-seconds, priced from
//! the table in `prices.toml`, plus the control plane (state transitions and Lambda). An estimate: EC2 bills by the
//! second after a minute, spot prices move, a fleet's chosen types are not known until it runs; each estimate says
//! what it assumed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalog::Engine;
use crate::run::timeline::Timeline;
use crate::run::RunPlan;

const PRICES: &str = include_str!("prices.toml");

#[derive(Debug, Clone, Deserialize)]
struct GluePrices {
    dpu_hour: f64,
    flex_dpu_hour: f64,
}

/// EMR Serverless, per architecture: vCPU-hour, GB-hour of memory, GB-hour of storage past the free 20 GB a worker.
#[derive(Debug, Clone, Deserialize)]
struct ServerlessPrices {
    x86_64: [f64; 3],
    arm64: [f64; 3],
}

#[derive(Debug, Clone, Deserialize)]
struct RegionPrices {
    /// Instance type → [EC2 per hour, EMR uplift per hour].
    instances: BTreeMap<String, [f64; 2]>,
    glue: GluePrices,
    #[serde(default)]
    emr_serverless: Option<ServerlessPrices>,
}

#[derive(Debug, Clone, Deserialize)]
struct ControlPlane {
    transition: f64,
    lambda_request: f64,
    lambda_gb_second: f64,
    lambda_memory_gb: f64,
    lambda_seconds_per_invocation: f64,
    emr_transitions: u32,
    emr_invocations: u32,
    glue_transitions: u32,
    glue_invocations: u32,
    emr_serverless_transitions: u32,
    emr_serverless_invocations: u32,
}

/// The price table (`prices.toml`).
#[derive(Debug, Clone, Deserialize)]
pub struct PriceBook {
    fallback_region: String,
    spot_fraction: f64,
    regions: BTreeMap<String, RegionPrices>,
    control_plane: ControlPlane,
}

impl PriceBook {
    /// The table shipped with this build.
    pub fn shipped() -> Result<PriceBook, String> {
        toml::from_str(PRICES).map_err(|e| format!("cost/prices.toml: {e}"))
    }
}

/// The price table and the region runs are priced in (the functions' own region).
#[derive(Debug, Clone)]
pub struct Pricing {
    pub book: PriceBook,
    pub region: String,
}

impl Pricing {
    /// The shipped table, for `region`.
    pub fn shipped(region: impl Into<String>) -> Result<Pricing, String> {
        Ok(Pricing {
            book: PriceBook::shipped()?,
            region: region.into(),
        })
    }
}

/// A run's cost estimate, in USD.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostEstimate {
    /// compute + control plane.
    pub usd: f64,
    /// EMR instances (EC2 + EMR uplift) or Glue DPUs.
    pub compute_usd: f64,
    /// Step Functions transitions and Lambda.
    pub control_plane_usd: f64,
    /// What it was made of and what it assumed, in a line.
    pub basis: String,
}

/// Rounds to 0.00001 USD (a micro-dollar is noise).
fn round(usd: f64) -> f64 {
    (usd * 100_000.0).round() / 100_000.0
}

/// Glue's DPUs per worker (Glue Developer Guide, "Defining job properties": G.025X is a quarter DPU, G.1X one, …).
fn dpus_per_worker(worker_type: &str) -> Option<f64> {
    let number = worker_type
        .strip_prefix("G.")
        .or(worker_type.strip_prefix("Z."))?;
    match number.strip_suffix('X')? {
        "025" => Some(0.25),
        n => n.parse().ok(),
    }
}

/// One line of instances: how many, of which type, in which market.
struct Instances {
    count: f64,
    instance_type: String,
    spot: bool,
}

/// The instances a RunJobFlow request asks for: instance groups, instance fleets (capacity units over the first
/// type's weight) or the uniform `MasterInstanceType`/`SlaveInstanceType` form.
fn instances_of(request: &Value) -> Vec<Instances> {
    let instances = &request["Instances"];
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    if let Some(groups) = instances["InstanceGroups"].as_array() {
        return groups
            .iter()
            .map(|g| Instances {
                count: g["InstanceCount"].as_f64().unwrap_or(1.0),
                instance_type: text(&g["InstanceType"]),
                spot: g["Market"] == "SPOT",
            })
            .collect();
    }
    if let Some(fleets) = instances["InstanceFleets"].as_array() {
        let mut lines = Vec::new();
        for fleet in fleets {
            let first = &fleet["InstanceTypeConfigs"][0];
            let weight = first["WeightedCapacity"].as_f64().unwrap_or(1.0).max(1.0);
            for (key, spot) in [
                ("TargetOnDemandCapacity", false),
                ("TargetSpotCapacity", true),
            ] {
                let units = fleet[key].as_f64().unwrap_or(0.0);
                if units > 0.0 {
                    lines.push(Instances {
                        count: (units / weight).ceil(),
                        instance_type: text(&first["InstanceType"]),
                        spot,
                    });
                }
            }
        }
        return lines;
    }
    let count = instances["InstanceCount"].as_f64().unwrap_or(1.0);
    let mut lines = vec![Instances {
        count: 1.0,
        instance_type: text(&instances["MasterInstanceType"]),
        spot: false,
    }];
    if count > 1.0 {
        lines.push(Instances {
            count: count - 1.0,
            instance_type: text(&instances["SlaveInstanceType"]),
            spot: false,
        });
    }
    lines
}

/// The cost of a run of `plan` in `region`, from its timeline: EMR from its cluster's life (created → `ended`, or
/// `now` when the cluster is being terminated), Glue from its execution seconds, EMR Serverless from what it was
/// billed for.
pub fn estimate(
    book: &PriceBook,
    region: &str,
    plan: &RunPlan,
    measured: &Timeline,
    now: DateTime<Utc>,
) -> CostEstimate {
    let (cluster_created, ended) = (measured.created, measured.ended);
    let (glue_execution_seconds, billed) = (measured.execution_seconds, measured.billed.as_ref());
    let mut notes = Vec::new();
    let prices = book.regions.get(region).unwrap_or_else(|| {
        notes.push(format!(
            "{region} not in the price table: {} prices",
            book.fallback_region
        ));
        &book.regions[&book.fallback_region]
    });
    let fallback = &book.regions[&book.fallback_region];
    let control = &book.control_plane;
    let (transitions, invocations) = match plan.engine {
        Engine::Emr => (control.emr_transitions, control.emr_invocations),
        Engine::Glue => (control.glue_transitions, control.glue_invocations),
        Engine::EmrServerless => (
            control.emr_serverless_transitions,
            control.emr_serverless_invocations,
        ),
    };
    let control_plane_usd = f64::from(transitions) * control.transition
        + f64::from(invocations)
            * (control.lambda_request
                + control.lambda_memory_gb
                    * control.lambda_seconds_per_invocation
                    * control.lambda_gb_second);
    let compute_usd = match plan.engine {
        Engine::Emr => {
            let request = plan
                .emr
                .as_ref()
                .map(|e| &e.cluster)
                .unwrap_or(&Value::Null);
            let seconds = cluster_created
                .map(|created| (ended.unwrap_or(now) - created).num_seconds().max(0))
                .unwrap_or(0);
            // EC2 and EMR bill per second with a one-minute minimum; no cluster, no bill.
            let hours = if cluster_created.is_some() {
                (seconds.max(60) as f64) / 3600.0
            } else {
                0.0
            };
            if cluster_created.is_none() {
                notes.push("no cluster ran".into());
            }
            let mut total = 0.0;
            let mut spot_used = false;
            for line in instances_of(request) {
                let Some([ec2, emr]) = prices
                    .instances
                    .get(&line.instance_type)
                    .or_else(|| fallback.instances.get(&line.instance_type))
                    .copied()
                else {
                    notes.push(format!(
                        "{} not in the price table: not counted",
                        line.instance_type
                    ));
                    continue;
                };
                let ec2 = if line.spot {
                    spot_used = true;
                    ec2 * book.spot_fraction
                } else {
                    ec2
                };
                total += line.count * (ec2 + emr) * hours;
            }
            if cluster_created.is_some() {
                notes.insert(0, format!("{:.0} cluster-seconds", hours * 3600.0));
            }
            if spot_used {
                notes.push(format!(
                    "spot at {:.0} % of on-demand",
                    book.spot_fraction * 100.0
                ));
            }
            total
        }
        Engine::EmrServerless => {
            let arm = plan
                .emr_serverless
                .as_ref()
                .and_then(|s| s.application.get("architecture"))
                .and_then(Value::as_str)
                == Some("ARM64");
            let table = prices.emr_serverless.as_ref().or_else(|| {
                notes.push(format!(
                    "no EMR Serverless prices for {region}: {}'s",
                    book.fallback_region
                ));
                fallback.emr_serverless.as_ref()
            });
            match (table, billed) {
                (Some(table), Some(billed)) => {
                    let [vcpu, memory, storage] = if arm { table.arm64 } else { table.x86_64 };
                    notes.insert(
                        0,
                        format!(
                            "billed {:.4} vCPU-hours, {:.4} GB-hours{}",
                            billed.vcpu_hours,
                            billed.memory_gb_hours,
                            if arm { " (ARM64)" } else { "" }
                        ),
                    );
                    billed.vcpu_hours * vcpu
                        + billed.memory_gb_hours * memory
                        + billed.storage_gb_hours * storage
                }
                (_, None) => {
                    notes.push("no billed usage reported (the job run never ran, or ended before its end was read)".into());
                    0.0
                }
                (None, _) => 0.0,
            }
        }
        Engine::Glue => {
            let job = plan.glue.as_ref().map(|g| &g.job).unwrap_or(&Value::Null);
            let dpus = match (job["WorkerType"].as_str(), job["NumberOfWorkers"].as_f64()) {
                (Some(worker), Some(workers)) => dpus_per_worker(worker).map(|d| d * workers),
                _ => job["MaxCapacity"].as_f64(),
            };
            let flex = job["ExecutionClass"] == "FLEX";
            let rate = if flex {
                prices.glue.flex_dpu_hour
            } else {
                prices.glue.dpu_hour
            };
            match (dpus, glue_execution_seconds) {
                (Some(dpus), Some(seconds)) => {
                    // Glue 2.0 and later bill per second with a one-minute minimum.
                    let billed = seconds.max(60) as f64;
                    notes.insert(
                        0,
                        format!(
                            "{:.0} DPU-seconds{}",
                            dpus * billed,
                            if flex { " (Flex)" } else { "" }
                        ),
                    );
                    dpus * billed / 3600.0 * rate
                }
                (None, _) => {
                    notes.push("the job's DPUs are unknown".into());
                    0.0
                }
                (_, None) => {
                    notes.push("no execution time".into());
                    0.0
                }
            }
        }
    };
    let basis = format!(
        "estimate, {region} list prices: {}; control plane {transitions} transitions, {invocations} invocations",
        if notes.is_empty() { "-".to_string() } else { notes.join(", ") }
    );
    CostEstimate {
        usd: round(compute_usd + control_plane_usd),
        compute_usd: round(compute_usd),
        control_plane_usd: round(control_plane_usd),
        basis,
    }
}
