//! The cluster's log group and alarms on CloudWatch ([`monitoring`] defines them):
//! `up` creates the log group (with its retention) when missing and writes every
//! alarm (PutMetricAlarm replaces one of the same name, so a newer chatctl's
//! thresholds win); `down` deletes both.

use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic};

use super::ec2::{failed_at, Ec2};
use super::monitoring::{self, Crossing, ALARMS, LOG_RETENTION_DAYS, NAMESPACE, PERIOD_S};
use crate::Error;

fn logs(ec2: &Ec2) -> aws_sdk_cloudwatchlogs::Client {
    aws_sdk_cloudwatchlogs::Client::new(&ec2.config)
}

fn alarms(ec2: &Ec2) -> aws_sdk_cloudwatch::Client {
    aws_sdk_cloudwatch::Client::new(&ec2.config)
}

/// Whether the cluster's log group exists.
async fn log_group_exists(ec2: &Ec2, cluster: &str) -> Result<bool, Error> {
    let name = monitoring::log_group(cluster);
    let answer = logs(ec2)
        .describe_log_groups()
        .log_group_name_prefix(&name)
        .send()
        .await
        .map_err(failed_at("CloudWatch Logs", "DescribeLogGroups"))?;
    Ok(answer.log_groups().iter().any(|g| g.log_group_name() == Some(name.as_str())))
}

/// The log group and the alarms, created or brought up to date. `alarm_actions`:
/// ARNs (an SNS topic) notified when an alarm fires.
pub async fn ensure(
    ec2: &Ec2,
    cluster: &str,
    alarm_actions: &[String],
    created: &mut Vec<String>,
) -> Result<(), Error> {
    let name = monitoring::log_group(cluster);
    if !log_group_exists(ec2, cluster).await? {
        let client = logs(ec2);
        client
            .create_log_group()
            .log_group_name(&name)
            .tags(super::ec2::TAG_CLUSTER, cluster)
            .send()
            .await
            .map_err(failed_at("CloudWatch Logs", "CreateLogGroup"))?;
        client
            .put_retention_policy()
            .log_group_name(&name)
            .retention_in_days(LOG_RETENTION_DAYS)
            .send()
            .await
            .map_err(failed_at("CloudWatch Logs", "PutRetentionPolicy"))?;
        println!("created log group {name} ({LOG_RETENTION_DAYS} days)");
        created.push(format!("log group {name}"));
    }
    let client = alarms(ec2);
    for alarm in &ALARMS {
        let operator = match alarm.crossing {
            Crossing::Below => ComparisonOperator::LessThanThreshold,
            Crossing::Above => ComparisonOperator::GreaterThanThreshold,
        };
        client
            .put_metric_alarm()
            .alarm_name(alarm.name(cluster))
            .alarm_description(alarm.description)
            .namespace(NAMESPACE)
            .metric_name(alarm.metric)
            .dimensions(Dimension::builder().name("Cluster").value(cluster).build())
            .statistic(Statistic::from(alarm.statistic))
            .period(PERIOD_S)
            .evaluation_periods(alarm.periods)
            .threshold(alarm.threshold)
            .comparison_operator(operator)
            .treat_missing_data(if alarm.missing_breaches { "breaching" } else { "notBreaching" })
            .set_alarm_actions((!alarm_actions.is_empty()).then(|| alarm_actions.to_vec()))
            .send()
            .await
            .map_err(failed_at("CloudWatch", "PutMetricAlarm"))?;
    }
    let names: Vec<String> = ALARMS.iter().map(|a| a.name(cluster)).collect();
    println!("alarms in place: {}", names.join(", "));
    Ok(())
}

/// The cluster's alarms that exist now, and whether its log group does.
pub async fn existing(ec2: &Ec2, cluster: &str) -> Result<(Vec<String>, bool), Error> {
    let answer = alarms(ec2)
        .describe_alarms()
        .alarm_name_prefix(format!("chat-{cluster}-"))
        .send()
        .await
        .map_err(failed_at("CloudWatch", "DescribeAlarms"))?;
    let ours: Vec<String> = ALARMS.iter().map(|a| a.name(cluster)).collect();
    let found = answer
        .metric_alarms()
        .iter()
        .filter_map(|a| a.alarm_name())
        .filter(|n| ours.iter().any(|o| o == n))
        .map(str::to_string)
        .collect();
    Ok((found, log_group_exists(ec2, cluster).await?))
}

/// Delete `alarm_names` and, when `log_group`, the cluster's log group.
pub async fn delete(ec2: &Ec2, cluster: &str, alarm_names: &[String], log_group: bool) -> Result<(), Error> {
    if !alarm_names.is_empty() {
        alarms(ec2)
            .delete_alarms()
            .set_alarm_names(Some(alarm_names.to_vec()))
            .send()
            .await
            .map_err(failed_at("CloudWatch", "DeleteAlarms"))?;
        println!("deleted alarms {}", alarm_names.join(", "));
    }
    if log_group {
        let name = monitoring::log_group(cluster);
        logs(ec2)
            .delete_log_group()
            .log_group_name(&name)
            .send()
            .await
            .map_err(failed_at("CloudWatch Logs", "DeleteLogGroup"))?;
        println!("deleted log group {name}");
    }
    Ok(())
}
