//! The chat nodes' IAM role and instance profile (`chat-NAME-node`, both): EC2 may
//! assume the role, and its one inline policy ([`names::node_policy`]) lets a node
//! read its cluster's SSM parameters and nothing else. `up` creates what is
//! missing and always writes the policy again (so a newer chatctl's policy
//! replaces an older one); `down` takes it all apart in the order IAM requires.

use aws_sdk_iam::types::Tag;

use super::ec2::{failed_at, Ec2, TAG_CLUSTER};
use super::names;
use crate::Error;

fn client(ec2: &Ec2) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&ec2.config)
}

fn not_found<E: aws_sdk_iam::error::ProvideErrorMetadata>(err: &E) -> bool {
    err.code() == Some("NoSuchEntity")
}

/// Create the role, its policy and the instance profile that carries it, as far as
/// they are missing. Returns the instance profile's name.
pub async fn ensure(ec2: &Ec2, cluster: &str, created: &mut Vec<String>) -> Result<String, Error> {
    let iam = client(ec2);
    let name = names::node_role(cluster);
    let tag = Tag::builder().key(TAG_CLUSTER).value(cluster).build().expect("key and value are set");
    match iam.get_role().role_name(&name).send().await {
        Ok(_) => {}
        Err(err) if err.as_service_error().is_some_and(not_found) => {
            iam.create_role()
                .role_name(&name)
                .description(format!("chat cluster {cluster}: chat nodes (chatctl aws up)"))
                .assume_role_policy_document(names::ec2_trust_policy())
                .tags(tag.clone())
                .send()
                .await
                .map_err(failed_at("IAM", "CreateRole"))?;
            println!("created IAM role {name}");
            created.push(format!("IAM role {name}"));
        }
        Err(err) => return Err(failed_at("IAM", "GetRole")(err)),
    }
    iam.put_role_policy()
        .role_name(&name)
        .policy_name(names::node_policy_name(cluster))
        .policy_document(names::node_policy(cluster, &ec2.region))
        .send()
        .await
        .map_err(failed_at("IAM", "PutRolePolicy"))?;
    let profile = match iam.get_instance_profile().instance_profile_name(&name).send().await {
        Ok(answer) => answer.instance_profile,
        Err(err) if err.as_service_error().is_some_and(not_found) => {
            iam.create_instance_profile()
                .instance_profile_name(&name)
                .tags(tag)
                .send()
                .await
                .map_err(failed_at("IAM", "CreateInstanceProfile"))?;
            println!("created IAM instance profile {name}");
            created.push(format!("IAM instance profile {name}"));
            None
        }
        Err(err) => return Err(failed_at("IAM", "GetInstanceProfile")(err)),
    };
    let has_role = profile.is_some_and(|p| p.roles().iter().any(|r| r.role_name() == name));
    if !has_role {
        iam.add_role_to_instance_profile()
            .instance_profile_name(&name)
            .role_name(&name)
            .send()
            .await
            .map_err(failed_at("IAM", "AddRoleToInstanceProfile"))?;
    }
    Ok(name)
}

/// Whether the role or the instance profile of the cluster exists.
pub async fn exists(ec2: &Ec2, cluster: &str) -> Result<bool, Error> {
    let iam = client(ec2);
    let name = names::node_role(cluster);
    let role = match iam.get_role().role_name(&name).send().await {
        Ok(_) => true,
        Err(err) if err.as_service_error().is_some_and(not_found) => false,
        Err(err) => return Err(failed_at("IAM", "GetRole")(err)),
    };
    let profile = match iam.get_instance_profile().instance_profile_name(&name).send().await {
        Ok(_) => true,
        Err(err) if err.as_service_error().is_some_and(not_found) => false,
        Err(err) => return Err(failed_at("IAM", "GetInstanceProfile")(err)),
    };
    Ok(role || profile)
}

/// Remove the role from the profile, delete the profile, the inline policy and the
/// role; each step that finds nothing to do is skipped.
pub async fn delete(ec2: &Ec2, cluster: &str) -> Result<(), Error> {
    let iam = client(ec2);
    let name = names::node_role(cluster);
    let gone = |result: Result<(), Error>| match result {
        Err(Error::Ec2 { ref detail, .. }) if detail.starts_with("NoSuchEntity") => Ok(()),
        other => other,
    };
    gone(
        iam.remove_role_from_instance_profile()
            .instance_profile_name(&name)
            .role_name(&name)
            .send()
            .await
            .map(drop)
            .map_err(failed_at("IAM", "RemoveRoleFromInstanceProfile")),
    )?;
    gone(
        iam.delete_instance_profile()
            .instance_profile_name(&name)
            .send()
            .await
            .map(drop)
            .map_err(failed_at("IAM", "DeleteInstanceProfile")),
    )?;
    gone(
        iam.delete_role_policy()
            .role_name(&name)
            .policy_name(names::node_policy_name(cluster))
            .send()
            .await
            .map(drop)
            .map_err(failed_at("IAM", "DeleteRolePolicy")),
    )?;
    gone(iam.delete_role().role_name(&name).send().await.map(drop).map_err(failed_at("IAM", "DeleteRole")))?;
    println!("deleted IAM role and instance profile {name}");
    Ok(())
}
