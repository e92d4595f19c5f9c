//! Budgets: a job's month-to-date spend crossing 80 % and then 100 % of its budget alerts once each; its next run
//! then fails at once with BudgetExceeded and starts nothing, unless its input says over_budget.

use aws_sdk_dynamodb::types::AttributeValue;

use crate::harness::*;

/// airflow_pi's budget in jobs.toml.
const BUDGET: f64 = 150.0;

impl Aws {
    /// Sets airflow_pi's spend this month (as if earlier runs had cost that much).
    async fn set_spend(&self, usd: f64) {
        let month = sparkplug::run::budget::month_of(chrono::Utc::now());
        aws_sdk_dynamodb::Client::new(&self.config)
            .put_item()
            .table_name("sparkplug-dev-tokens")
            .item(
                "key",
                AttributeValue::S(format!("spend#airflow_pi#{month}")),
            )
            .item("usd", AttributeValue::N(format!("{usd:.5}")))
            .item("runs", AttributeValue::N("10".into()))
            .send()
            .await
            .unwrap();
    }

    /// The budget alerts on the bus, their `detail`, each checked against its committed schema.
    fn budget_alerts(&self) -> Vec<Value> {
        let entries = self.stack.control_get("/bus").unwrap();
        let alerts: Vec<Value> = entries
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["DetailType"] == "sparkplug Budget Alert")
            .filter_map(|e| serde_json::from_str::<Value>(e["Detail"].as_str()?).ok())
            .filter(|d| d["job"] == "airflow_pi")
            .collect();
        for alert in &alerts {
            let event = json!({"source": "sparkplug", "detail-type": "sparkplug Budget Alert", "detail": alert});
            follows_schema("budget-alert", &event);
        }
        alerts
    }

    async fn budget_alerts_at_least(&self, count: usize) -> Vec<Value> {
        within(
            Duration::from_secs(90),
            "the budget alert went out",
            || async { self.budget_alerts().len() >= count },
        )
        .await;
        self.budget_alerts()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_budget_alerts_at_80_and_100_percent_then_refuses_runs_unless_over_budget() {
    let aws = aws().await;
    // Just under 80 %: the next run's cost crosses it.
    aws.set_spend(BUDGET * 0.8 - 0.000_01).await;
    let first = unique("airflow_pi-budget");
    aws.start("airflow_pi", &first).await;
    assert_eq!(aws.wait(&first, RUN).await.status, "SUCCEEDED");
    let alerts = aws.budget_alerts_at_least(1).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["percent"], 80);
    assert_eq!(alerts[0]["run_name"], first.as_str());
    assert!(alerts[0]["spent_usd"].as_f64().unwrap() >= BUDGET * 0.8);

    // Just under 100 %: the next run crosses it; the alert says new runs fail.
    aws.set_spend(BUDGET - 0.000_01).await;
    let second = unique("airflow_pi-budget");
    aws.start("airflow_pi", &second).await;
    assert_eq!(aws.wait(&second, RUN).await.status, "SUCCEEDED");
    let alerts = aws.budget_alerts_at_least(2).await;
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert_eq!(alerts[1]["percent"], 100);
    let sns = aws.stack.control_get("/sns").unwrap();
    let email = sns
        .as_array()
        .unwrap()
        .iter()
        .find(|m| {
            m["subject"]
                .as_str()
                .is_some_and(|s| s.contains("airflow_pi at 100 %"))
        })
        .expect("the 100 % alert on the topic");
    assert!(
        email["email"]
            .as_str()
            .unwrap()
            .contains("New runs fail with BudgetExceeded"),
        "{email}"
    );

    // Over budget: the next run fails at once, saying why, and starts no cluster…
    let refused = unique("airflow_pi-budget");
    aws.start("airflow_pi", &refused).await;
    let finished = aws.wait(&refused, RUN).await;
    assert_eq!(finished.status, "FAILED");
    assert_eq!(finished.error.as_deref(), Some("BudgetExceeded"));
    let cause = finished.cause.unwrap_or_default();
    assert!(cause.contains("job airflow_pi spent $150.0"), "{cause}");
    assert!(aws.clusters(&refused).await.is_empty());

    // …unless its input says over_budget.
    let forced = unique("airflow_pi-budget");
    aws.start_input(
        &forced,
        &json!({"job": "airflow_pi", "run_name": forced, "over_budget": true}),
    )
    .await;
    assert_eq!(aws.wait(&forced, RUN).await.status, "SUCCEEDED");
    // Both thresholds alerted once, whatever ran after.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(aws.budget_alerts().len(), 2);
}
