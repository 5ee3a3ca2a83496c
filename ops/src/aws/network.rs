//! Where instances go: the region's default VPC and its default subnet in each
//! availability zone (one subnet per zone), and which image they boot (Canonical's
//! newest Ubuntu 22.04 amd64, unless `--ami`).

use super::ec2::{failed, filter, Ec2};
use crate::Error;

/// Canonical's AWS account, owner of the official Ubuntu images.
const CANONICAL: &str = "099720109477";
const UBUNTU_JAMMY: &str = "ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-amd64-server-*";

/// The default VPC and one default subnet per zone, in zone-name order.
#[derive(Debug, Clone)]
pub struct Network {
    pub vpc_id: String,
    /// (zone, subnet id)
    pub subnets: Vec<(String, String)>,
}

pub async fn default_network(ec2: &Ec2) -> Result<Network, Error> {
    let vpcs = ec2
        .client
        .describe_vpcs()
        .filters(filter("is-default", &["true"]))
        .send()
        .await
        .map_err(failed("DescribeVpcs"))?;
    let vpc_id = vpcs.vpcs().first().and_then(|v| v.vpc_id()).map(str::to_string).ok_or_else(|| {
        Error::Usage(format!(
            "region {} has no default VPC; create one with `aws ec2 create-default-vpc` (chatctl uses its default subnets)",
            ec2.region
        ))
    })?;
    let answer = ec2
        .client
        .describe_subnets()
        .filters(filter("vpc-id", &[&vpc_id]))
        .filters(filter("default-for-az", &["true"]))
        .send()
        .await
        .map_err(failed("DescribeSubnets"))?;
    let mut subnets: Vec<(String, String)> = answer
        .subnets()
        .iter()
        .filter_map(|s| Some((s.availability_zone()?.to_string(), s.subnet_id()?.to_string())))
        .collect();
    subnets.sort();
    subnets.dedup_by(|a, b| a.0 == b.0);
    Ok(Network { vpc_id, subnets })
}

/// `--ami`, or the newest Ubuntu 22.04 amd64 image Canonical publishes in the region.
pub async fn image(ec2: &Ec2, ami: Option<&str>) -> Result<String, Error> {
    if let Some(ami) = ami {
        return Ok(ami.to_string());
    }
    let answer = ec2
        .client
        .describe_images()
        .owners(CANONICAL)
        .filters(filter("name", &[UBUNTU_JAMMY]))
        .filters(filter("state", &["available"]))
        .send()
        .await
        .map_err(failed("DescribeImages"))?;
    let newest =
        answer.images().iter().filter(|i| i.image_id().is_some()).max_by_key(|i| i.creation_date().unwrap_or_default());
    newest.and_then(|i| i.image_id()).map(str::to_string).ok_or_else(|| {
        Error::Usage(format!(
            "no Canonical Ubuntu 22.04 amd64 image found in {}; pass --ami AMI_ID (an Ubuntu 22.04 image)",
            ec2.region
        ))
    })
}
