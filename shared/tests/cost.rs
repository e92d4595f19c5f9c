//! Cost estimates: the price table loads, EMR instance-hours by type and market, Glue DPU-hours (standard and Flex),
//! the control plane, and what an estimate says it assumed.

mod common;

use chrono::Duration;
use common::{now, plan_of};
use sparkplug::cost::{estimate, PriceBook};
use sparkplug::run::timeline::Timeline;

/// What a run measured, as its timeline carries it.
fn measured(
    created: Option<chrono::DateTime<chrono::Utc>>,
    ended: Option<chrono::DateTime<chrono::Utc>>,
    execution_seconds: Option<i64>,
) -> Timeline {
    Timeline {
        created,
        ended,
        execution_seconds,
        ..Timeline::default()
    }
}

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() < 0.00002
}

#[test]
fn an_emr_run_costs_its_instances_for_the_clusters_life_plus_the_control_plane() {
    let book = PriceBook::shipped().unwrap();
    // hello_world: m5.xlarge master + 2 m5.xlarge core, on demand, for an hour in eu-west-1 ($0.214 + $0.048 each).
    let plan = plan_of("hello_world");
    let created = now() - Duration::hours(1);
    let cost = estimate(
        &book,
        "eu-west-1",
        &plan,
        &measured(Some(created), None, None),
        now(),
    );
    assert!(close(cost.compute_usd, 3.0 * (0.214 + 0.048)), "{cost:?}");
    // 10 transitions and 7 short invocations (BENCHMARKS.md).
    assert!(close(cost.control_plane_usd, 0.00025), "{cost:?}");
    assert!(close(cost.usd, cost.compute_usd + cost.control_plane_usd));
    assert!(
        cost.basis
            .starts_with("estimate, eu-west-1 list prices: 3600 cluster-seconds"),
        "{}",
        cost.basis
    );

    // sales_daily: an m5.xlarge master, 2 r5.xlarge core and 4 r5.xlarge spot task nodes: EC2 at the stated spot
    // fraction, EMR's uplift in full.
    let plan = plan_of("sales_daily");
    let cost = estimate(
        &book,
        "eu-west-1",
        &plan,
        &measured(Some(created), Some(now()), None),
        now(),
    );
    let expected = (0.214 + 0.048) + 2.0 * (0.282 + 0.063) + 4.0 * (0.282 * 0.35 + 0.063);
    assert!(close(cost.compute_usd, expected), "{cost:?} vs {expected}");
    assert!(
        cost.basis.contains("spot at 35 % of on-demand"),
        "{}",
        cost.basis
    );

    // Less than a minute is billed as a minute; an unknown region is priced as the fallback's and says so.
    let cost = estimate(
        &book,
        "ap-south-2",
        &plan_of("hello_world"),
        &measured(Some(now() - Duration::seconds(10)), None, None),
        now(),
    );
    assert!(
        close(cost.compute_usd, 3.0 * (0.192 + 0.048) / 60.0),
        "{cost:?}"
    );
    assert!(
        cost.basis
            .contains("ap-south-2 not in the price table: us-east-1 prices"),
        "{}",
        cost.basis
    );

    // No cluster ever ran: only the control plane.
    let cost = estimate(
        &book,
        "eu-west-1",
        &plan_of("hello_world"),
        &measured(None, None, None),
        now(),
    );
    assert_eq!(cost.compute_usd, 0.0);
    assert!(cost.basis.contains("no cluster ran"), "{}", cost.basis);
}

#[test]
fn a_glue_run_costs_its_dpu_seconds() {
    let book = PriceBook::shipped().unwrap();
    // customer_scores: 4 G.2X workers (8 DPUs) for 10 minutes at $0.44 per DPU-hour.
    let plan = plan_of("customer_scores");
    let cost = estimate(
        &book,
        "eu-west-1",
        &plan,
        &measured(None, None, Some(600)),
        now(),
    );
    assert!(
        close(cost.compute_usd, 8.0 * 600.0 / 3600.0 * 0.44),
        "{cost:?}"
    );
    assert!(cost.basis.contains("4800 DPU-seconds"), "{}", cost.basis);
    // Flex: the Flex rate.
    let mut flex = plan_of("customer_scores");
    flex.glue.as_mut().unwrap().job["ExecutionClass"] = "FLEX".into();
    let cost = estimate(
        &book,
        "eu-west-1",
        &flex,
        &measured(None, None, Some(600)),
        now(),
    );
    assert!(
        close(cost.compute_usd, 8.0 * 600.0 / 3600.0 * 0.29),
        "{cost:?}"
    );
    assert!(cost.basis.contains("(Flex)"));
}

#[test]
fn every_region_prices_every_instance_type_of_the_fallback() {
    // A region added to the table must price what the fallback prices, or its estimates silently drop instances.
    let text = std::fs::read_to_string(common::repo().join("shared/src/cost/prices.toml")).unwrap();
    let table: toml::Table = toml::from_str(&text).unwrap();
    let regions = table["regions"].as_table().unwrap();
    let fallback: Vec<&String> = regions["us-east-1"]["instances"]
        .as_table()
        .unwrap()
        .keys()
        .collect();
    for (region, prices) in regions {
        let types: Vec<&String> = prices["instances"].as_table().unwrap().keys().collect();
        assert_eq!(types, fallback, "{region}");
    }
}
