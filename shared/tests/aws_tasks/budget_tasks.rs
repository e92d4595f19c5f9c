//! The month's spend over the SDK: one TransactWriteItems per run end (a conditional marker and the two counters),
//! a repeated end cancelled by the marker's condition and counted as already done.

use super::*;
use sparkplug::engine::ports::SpendStore;
use sparkplug::run::budget::Budgets;

/// A $0.41 run of sales_daily in November 2026, its marker kept until now and the month's counters 400 days.
async fn add_041(
    aws: &FakeAws,
    run: &str,
    budgets: &Budgets,
) -> Result<bool, sparkplug::engine::errors::AwsError> {
    aws.tokens()
        .add_spend(
            run,
            "sales_daily",
            "2026-11",
            0.41,
            budgets,
            now(),
            now() + chrono::Duration::days(400),
        )
        .await
}

#[tokio::test]
async fn a_runs_cost_is_added_in_one_transaction_once() {
    let aws = FakeAws::new();
    aws.ok("TransactWriteItems", json!({}));
    let budgets = Budgets {
        job_usd: Some(400.0),
        all_jobs_usd: None,
    };
    let added = add_041(&aws, "sales_daily-1", &budgets).await.unwrap();
    assert!(added);
    let request = &aws.requests("TransactWriteItems")[0];
    let items = request["TransactItems"].as_array().unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(
        items[0]["Put"]["Item"]["key"],
        json!({"S": "spent#sales_daily-1"})
    );
    assert_eq!(
        items[0]["Put"]["ConditionExpression"],
        "attribute_not_exists(#key)"
    );
    // The marker goes with its TTL; the month's spend stays.
    assert_eq!(
        items[0]["Put"]["Item"]["expires"],
        json!({"N": now().timestamp().to_string()})
    );
    let kept = (now() + chrono::Duration::days(400))
        .timestamp()
        .to_string();
    assert_eq!(
        items[1]["Update"]["ExpressionAttributeValues"][":expires"],
        json!({"N": kept})
    );
    assert_eq!(
        items[1]["Update"]["Key"],
        json!({"key": {"S": "spend#sales_daily#2026-11"}})
    );
    assert_eq!(
        items[1]["Update"]["UpdateExpression"],
        "SET expires = :expires, budget_usd = :budget ADD usd :usd, runs :one"
    );
    assert_eq!(
        items[1]["Update"]["ExpressionAttributeValues"][":usd"],
        json!({"N": "0.41000"})
    );
    assert_eq!(
        items[2]["Update"]["Key"],
        json!({"key": {"S": "spendall#2026-11"}})
    );
    assert_eq!(
        items[2]["Update"]["UpdateExpression"],
        "SET expires = :expires ADD usd :usd, runs :one"
    );

    // The same run's end again: DynamoDB cancels the transaction on the marker's condition.
    let aws = FakeAws::new();
    aws.answer(
        "TransactWriteItems",
        400,
        json!({"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "message": "Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed, None, None]",
            "CancellationReasons": [{"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"},
                {"Code": "None"}, {"Code": "None"}]}),
    );
    let again = add_041(&aws, "sales_daily-1", &budgets).await.unwrap();
    assert!(!again);

    // A transaction cancelled for another reason (a conflict with another write) is an error the task retries.
    let aws = FakeAws::new();
    aws.answer(
        "TransactWriteItems",
        400,
        json!({"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
            "message": "Transaction cancelled [None, TransactionConflict, None]",
            "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}, {"Code": "None"}]}),
    );
    let conflict = add_041(&aws, "sales_daily-2", &budgets).await.unwrap_err();
    assert_eq!(conflict.code, "TransactionCanceledException");
}

#[tokio::test]
async fn the_months_spend_is_two_reads() {
    let aws = FakeAws::new();
    aws.ok("GetItem", json!({"Item": {"key": {"S": "spend#sales_daily#2026-11"}, "usd": {"N": "12.5"}, "runs": {"N": "3"}}}));
    aws.ok("GetItem", json!({}));
    let spend = aws.tokens().spend("sales_daily", "2026-11").await.unwrap();
    assert_eq!((spend.job_usd, spend.job_runs), (12.5, 3));
    assert_eq!((spend.all_jobs_usd, spend.all_jobs_runs), (0.0, 0));
    assert_eq!(aws.actions(), ["GetItem", "GetItem"]);
}
