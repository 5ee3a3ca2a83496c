//! What an EC2 failure means for the operator: the error code EC2 answered (or the
//! way the call failed before any answer) classified into the few cases an operator
//! acts on differently, each with its advice. Pure, so the classification of codes
//! that no emulator produces on demand (throttling, capacity) is unit-tested.

use std::fmt;

/// The kind of an EC2 failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ec2Problem {
    /// EC2 throttles this account's API calls.
    Throttled,
    /// The zone has no t3.small capacity right now.
    InsufficientCapacity,
    /// An account limit (instances, vCPUs, groups, rules) is reached.
    AccountLimit,
    /// The credentials are missing, wrong, expired or lack permission.
    BadCredentials,
    /// The endpoint could not be reached (network, DNS, wrong --endpoint-url).
    Unreachable,
    /// Anything else EC2 refused.
    Refused,
}

impl Ec2Problem {
    /// Classify an EC2 error code (`Response/Errors/Error/Code`).
    pub fn from_code(code: &str) -> Ec2Problem {
        match code {
            "RequestLimitExceeded"
            | "Throttling"
            | "ThrottlingException"
            | "TooManyRequestsException"
            | "SlowDown"
            | "RequestThrottled"
            | "EC2ThrottledException" => Ec2Problem::Throttled,
            "InsufficientInstanceCapacity"
            | "InsufficientCapacity"
            | "InsufficientHostCapacity"
            | "InsufficientAddressCapacity"
            | "Unsupported" => Ec2Problem::InsufficientCapacity,
            "InstanceLimitExceeded"
            | "VcpuLimitExceeded"
            | "SecurityGroupLimitExceeded"
            | "RulesPerSecurityGroupLimitExceeded" => Ec2Problem::AccountLimit,
            "AuthFailure"
            | "UnauthorizedOperation"
            | "InvalidClientTokenId"
            | "SignatureDoesNotMatch"
            | "ExpiredToken"
            | "RequestExpired"
            | "OptInRequired"
            | "Blocked"
            | "PendingVerification"
            | "AccessDenied"
            | "MissingAuthenticationToken" => Ec2Problem::BadCredentials,
            _ => Ec2Problem::Refused,
        }
    }

    /// What the operator should do about it.
    pub fn advice(self) -> &'static str {
        match self {
            Ec2Problem::Throttled => {
                "EC2 is throttling API requests; wait a minute and run the command again (it creates only what is missing)"
            }
            Ec2Problem::InsufficientCapacity => {
                "AWS has no t3.small capacity in that zone right now; run the command again later (it creates only \
                 what is missing), or use another region"
            }
            Ec2Problem::AccountLimit => "an account limit is reached; raise it in the Service Quotas console or plan fewer instances",
            Ec2Problem::BadCredentials => {
                "the AWS credentials are missing, wrong, expired or not allowed to do this; check AWS_PROFILE / \
                 AWS_ACCESS_KEY_ID (standard AWS chain) and the IAM permissions for EC2"
            }
            Ec2Problem::Unreachable => "the EC2 endpoint could not be reached; check the network, the region and --endpoint-url",
            Ec2Problem::Refused => "EC2 refused the request",
        }
    }
}

impl fmt::Display for Ec2Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.advice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_what_the_operator_does_next() {
        let table = [
            ("RequestLimitExceeded", Ec2Problem::Throttled),
            ("Throttling", Ec2Problem::Throttled),
            ("InsufficientInstanceCapacity", Ec2Problem::InsufficientCapacity),
            ("InstanceLimitExceeded", Ec2Problem::AccountLimit),
            ("VcpuLimitExceeded", Ec2Problem::AccountLimit),
            ("AuthFailure", Ec2Problem::BadCredentials),
            ("UnauthorizedOperation", Ec2Problem::BadCredentials),
            ("InvalidClientTokenId", Ec2Problem::BadCredentials),
            ("ExpiredToken", Ec2Problem::BadCredentials),
            ("InvalidAMIID.NotFound", Ec2Problem::Refused),
        ];
        for (code, problem) in table {
            assert_eq!(Ec2Problem::from_code(code), problem, "{code}");
        }
        assert!(Ec2Problem::Throttled.to_string().contains("run the command again"));
        assert!(Ec2Problem::InsufficientCapacity.to_string().contains("no t3.small capacity"));
        assert!(Ec2Problem::BadCredentials.to_string().contains("credentials"));
    }
}
