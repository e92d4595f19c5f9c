//! EventBridge schedule expressions: `rate(value unit)` and the six-field `cron(...)`, checked the way EventBridge
//! checks them so that a bad expression fails `sparkplug validate`, not `sam deploy`; and whether one is due at a
//! given minute (the trigger's one-minute tick decides which scheduled jobs run).

use chrono::{DateTime, Timelike, Utc};
use croner::parser::{CronParser, Seconds, Year};

/// Checks an EventBridge schedule expression; the error says what is wrong with it.
pub fn check_expression(expression: &str) -> Result<(), String> {
    let expression = expression.trim();
    if let Some(body) = inner(expression, "rate") {
        check_rate(body)
    } else if let Some(body) = inner(expression, "cron") {
        check_cron(body)
    } else {
        Err(format!(
            "`{expression}` is not a schedule expression: expected `cron(minutes hours day-of-month month day-of-week year)` or `rate(value unit)`"
        ))
    }
}

fn inner<'a>(expression: &'a str, word: &str) -> Option<&'a str> {
    expression
        .strip_prefix(word)?
        .strip_prefix('(')?
        .strip_suffix(')')
}

fn check_rate(body: &str) -> Result<(), String> {
    let parts: Vec<&str> = body.split_whitespace().collect();
    let [value, unit] = parts[..] else {
        return Err(format!(
            "`rate({body})` needs a value and a unit, e.g. `rate(5 minutes)`"
        ));
    };
    let value: u32 = value
        .parse()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("rate value `{value}` is not a positive whole number"))?;
    let singular = matches!(unit, "minute" | "hour" | "day");
    let plural = matches!(unit, "minutes" | "hours" | "days");
    match (value, singular, plural) {
        (1, true, _) | (2.., _, true) => Ok(()),
        (1, _, true) => Err(format!(
            "`rate(1 {unit})` must use the singular unit `{}`",
            unit.trim_end_matches('s')
        )),
        (2.., true, _) => Err(format!(
            "`rate({value} {unit})` must use the plural unit `{unit}s`"
        )),
        _ => Err(format!(
            "rate unit `{unit}` is not one of minute(s), hour(s), day(s)"
        )),
    }
}

struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// Special characters allowed besides `, - * /`.
    extra: &'static str,
}

const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: &[&str] = &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

const FIELDS: [Field; 6] = [
    Field {
        name: "minutes",
        min: 0,
        max: 59,
        names: &[],
        extra: "",
    },
    Field {
        name: "hours",
        min: 0,
        max: 23,
        names: &[],
        extra: "",
    },
    Field {
        name: "day-of-month",
        min: 1,
        max: 31,
        names: &[],
        extra: "?LW",
    },
    Field {
        name: "month",
        min: 1,
        max: 12,
        names: MONTHS,
        extra: "",
    },
    Field {
        name: "day-of-week",
        min: 1,
        max: 7,
        names: DAYS,
        extra: "?L#",
    },
    Field {
        name: "year",
        min: 1970,
        max: 2199,
        names: &[],
        extra: "",
    },
];

fn check_cron(body: &str) -> Result<(), String> {
    let parts: Vec<&str> = body.split_whitespace().collect();
    if parts.len() != FIELDS.len() {
        return Err(format!(
            "`cron({body})` has {} fields; EventBridge cron takes 6: minutes hours day-of-month month day-of-week year",
            parts.len()
        ));
    }
    for (field, text) in FIELDS.iter().zip(&parts) {
        check_field(field, text).map_err(|why| format!("cron {} `{text}`: {why}", field.name))?;
    }
    let (day_of_month, day_of_week) = (parts[2], parts[4]);
    if (day_of_month == "?") == (day_of_week == "?") {
        return Err(format!(
            "`cron({body})`: exactly one of day-of-month (`{day_of_month}`) and day-of-week (`{day_of_week}`) must be `?`"
        ));
    }
    Ok(())
}

fn check_field(field: &Field, text: &str) -> Result<(), String> {
    if text == "*" || (text == "?" && field.extra.contains('?')) {
        return Ok(());
    }
    for item in text.split(',') {
        check_item(field, item)?;
    }
    Ok(())
}

fn check_item(field: &Field, item: &str) -> Result<(), String> {
    if field.extra.contains('L') && item == "L" {
        return Ok(());
    }
    if let Some((day, nth)) = item.split_once('#').filter(|_| field.extra.contains('#')) {
        number(field, day)?;
        return match nth.parse::<u32>() {
            Ok(1..=5) => Ok(()),
            _ => Err(format!("`#{nth}` must be 1 to 5")),
        };
    }
    if let Some(day) = item.strip_suffix('W').filter(|_| field.extra.contains('W')) {
        return number(field, day).map(|_| ());
    }
    if let Some(day) = item.strip_suffix('L').filter(|_| field.extra.contains('L')) {
        return number(field, day).map(|_| ());
    }
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => (range, Some(step)),
        None => (item, None),
    };
    if let Some(step) = step {
        match step.parse::<u32>() {
            Ok(s) if s > 0 => {}
            _ => return Err(format!("step `/{step}` must be a positive whole number")),
        }
    }
    if range == "*" {
        return Ok(());
    }
    match range.split_once('-') {
        Some((low, high)) => {
            number(field, low)?;
            number(field, high)?;
            Ok(())
        }
        None => number(field, range).map(|_| ()),
    }
}

fn number(field: &Field, text: &str) -> Result<u32, String> {
    if let Some(index) = field
        .names
        .iter()
        .position(|n| n.eq_ignore_ascii_case(text))
    {
        return Ok(field.min + index as u32);
    }
    match text.parse::<u32>() {
        Ok(n) if (field.min..=field.max).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{text}` is not a value from {} to {}{}",
            field.min,
            field.max,
            if field.names.is_empty() {
                String::new()
            } else {
                format!(
                    " or {}-{}",
                    field.names[0],
                    field.names[field.names.len() - 1]
                )
            }
        )),
    }
}

// ------------------------------------------------------------------------------------------------ is it due?

/// Whether a (valid) schedule expression fires at `minute` (seconds ignored), as sparkplug's one-minute tick evaluates
/// it. cron: every field as EventBridge reads it (`L`, `W`, `#` included; day-of-week 1 is Sunday; times in UTC),
/// evaluated by the `croner` crate.
/// rate: anchored at 00:00 UTC — `rate(1 day)` fires at midnight, `rate(6 hours)` at 00, 06, 12 and 18 UTC —
/// where an EventBridge rule would count from its creation.
pub fn is_due(expression: &str, minute: DateTime<Utc>) -> Result<bool, String> {
    check_expression(expression)?;
    let expression = expression.trim();
    if let Some(body) = inner(expression, "rate") {
        let parts: Vec<&str> = body.split_whitespace().collect();
        let value: i64 = parts[0].parse().map_err(|_| format!("bad rate `{body}`"))?;
        let unit = match parts[1].trim_end_matches('s') {
            "minute" => 1,
            "hour" => 60,
            _ => 24 * 60,
        };
        let minutes = minute.timestamp().div_euclid(60);
        return Ok(minutes.rem_euclid(value * unit) == 0);
    }
    let (body, cron) = cron_of(expression)?;
    let minute = minute.with_second(0).unwrap_or(minute);
    cron.is_time_matching(&minute)
        .map_err(|e| format!("`cron({body})` at {minute}: {e}"))
}

/// A valid `cron(…)` expression, parsed for croner.
fn cron_of(expression: &str) -> Result<(&str, croner::Cron), String> {
    let body = inner(expression.trim(), "cron").unwrap_or_default();
    // croner evaluates the fields (`L`, `W`, `#`, `?`, names and ranges) once EventBridge's own rules above passed:
    // a seconds field of 0 first, Quartz-style weekdays (1 is Sunday, as EventBridge numbers them), the year
    // field, and EventBridge's `0/15` (a start and a step, which croner calls sloppy).
    let parser = CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Required)
        .alternative_weekdays(true)
        .sloppy_ranges(true)
        .build();
    let cron = parser
        .parse(&format!("0 {body}"))
        .map_err(|e| format!("`cron({body})`: {e}"))?;
    Ok((body, cron))
}

/// The last minute before `time` a (valid) `cron(…)` expression fires at; none in its whole past (a year field that
/// has gone by). `rate(…)` is refused: a deadline or an expectation is a time of day.
pub fn previous(expression: &str, time: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, String> {
    occurrence(expression, time, false)
}

/// The first minute at or after `time` a (valid) `cron(…)` expression fires at.
pub fn next(expression: &str, time: DateTime<Utc>) -> Result<Option<DateTime<Utc>>, String> {
    occurrence(expression, time, true)
}

fn occurrence(
    expression: &str,
    time: DateTime<Utc>,
    forward: bool,
) -> Result<Option<DateTime<Utc>>, String> {
    check_expression(expression)?;
    if inner(expression.trim(), "cron").is_none() {
        return Err(format!(
            "`{expression}` is not a cron(…) expression: a deadline is a time of day, e.g. cron(0 9 * * ? *)"
        ));
    }
    let (_, cron) = cron_of(expression)?;
    let found = if forward {
        cron.find_next_occurrence(&time, true)
    } else {
        cron.find_previous_occurrence(&time, false)
    };
    Ok(found.ok())
}

#[cfg(test)]
mod tests {
    use super::{check_expression, is_due};
    use chrono::{TimeZone, Utc};

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn due_minutes_are_the_ones_eventbridge_would_fire_at() {
        // 2026-11-27 is a Friday; November 2026 has 30 days; its last Friday is the 27th.
        for (expression, minute, due) in [
            ("cron(0 6 * * ? *)", at(2026, 11, 27, 6, 0), true),
            ("cron(0 6 * * ? *)", at(2026, 11, 27, 6, 1), false),
            ("cron(0/15 * * * ? *)", at(2026, 11, 27, 9, 45), true),
            ("cron(0/15 * * * ? *)", at(2026, 11, 27, 9, 50), false),
            (
                "cron(0/5 8-17 ? * MON-FRI *)",
                at(2026, 11, 27, 17, 55),
                true,
            ),
            (
                "cron(0/5 8-17 ? * MON-FRI *)",
                at(2026, 11, 28, 9, 0),
                false,
            ),
            ("cron(0 18 ? * 6 *)", at(2026, 11, 27, 18, 0), true),
            ("cron(0 0 L * ? *)", at(2026, 11, 30, 0, 0), true),
            ("cron(0 0 L * ? *)", at(2026, 11, 29, 0, 0), false),
            ("cron(30 6 ? * 6L *)", at(2026, 11, 27, 6, 30), true),
            ("cron(30 6 ? * 6L *)", at(2026, 11, 20, 6, 30), false),
            ("cron(0 9 ? * 2#1 *)", at(2026, 11, 2, 9, 0), true),
            ("cron(0 9 ? * 2#1 *)", at(2026, 11, 9, 9, 0), false),
            // The 15th of November 2026 is a Sunday: 15W is Monday the 16th.
            ("cron(0 0 15W * ? *)", at(2026, 11, 16, 0, 0), true),
            ("cron(0 0 15W * ? *)", at(2026, 11, 15, 0, 0), false),
            (
                "cron(0 8 1 JAN,JUL ? 2026-2030)",
                at(2027, 7, 1, 8, 0),
                true,
            ),
            (
                "cron(0 8 1 JAN,JUL ? 2026-2030)",
                at(2031, 7, 1, 8, 0),
                false,
            ),
            ("rate(1 minute)", at(2026, 11, 27, 9, 7), true),
            ("rate(6 hours)", at(2026, 11, 27, 12, 0), true),
            ("rate(6 hours)", at(2026, 11, 27, 13, 0), false),
            ("rate(1 day)", at(2026, 11, 27, 0, 0), true),
            ("rate(1 day)", at(2026, 11, 27, 0, 1), false),
        ] {
            assert_eq!(
                is_due(expression, minute),
                Ok(due),
                "{expression} at {minute}"
            );
        }
        assert!(is_due("every day", at(2026, 11, 27, 0, 0)).is_err());
    }

    #[test]
    fn accepts_eventbridge_examples() {
        for ok in [
            "rate(1 minute)",
            "rate(5 minutes)",
            "rate(1 day)",
            "cron(0 10 * * ? *)",
            "cron(15 12 * * ? *)",
            "cron(0 18 ? * MON-FRI *)",
            "cron(0 8 1 * ? *)",
            "cron(0/15 * * * ? *)",
            "cron(0/10 * ? * MON-FRI *)",
            "cron(0/5 8-17 ? * MON-FRI *)",
            "cron(0 9 ? * 2#1 *)",
            "cron(0 0 L * ? *)",
            "cron(0 0 15W * ? 2026-2030)",
            "cron(30 6 ? JAN,JUL 6L *)",
        ] {
            assert_eq!(check_expression(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_with_a_reason() {
        for (bad, why) in [
            ("every day", "not a schedule expression"),
            ("rate(1 minutes)", "singular"),
            ("rate(5 minute)", "plural"),
            ("rate(0 minutes)", "positive"),
            ("rate(5 weeks)", "not one of"),
            ("cron(0 6 * * *)", "has 5 fields"),
            ("cron(0 6 * * * *)", "exactly one of day-of-month"),
            ("cron(0 6 ? * ? *)", "exactly one of day-of-month"),
            ("cron(60 6 * * ? *)", "minutes `60`"),
            ("cron(0 24 * * ? *)", "hours `24`"),
            ("cron(0 6 ? * MON#6 *)", "`#6`"),
            ("cron(0 6 * FOO ? *)", "month `FOO`"),
            ("cron(0/0 6 * * ? *)", "step"),
        ] {
            let err = check_expression(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
