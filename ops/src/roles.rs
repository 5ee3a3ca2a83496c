//! `chatctl admin grant|revoke` (protocol §8.1): make an account an admin or an
//! ordinary user again, by email, through the cluster listener. The change is one
//! `SetRole` command stamped with the operator and the time; the cluster refuses to
//! demote its last admin.

use chat_raft::state::{Role, OPERATOR};
use chat_raft::{Command, Outcome, Stamp};

use crate::status;
use crate::target::Target;
use crate::Error;

/// What a role change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleChange {
    Changed {
        user_id: String,
    },
    /// The account had the role already.
    Unchanged {
        user_id: String,
    },
}

/// Give the account with `email` the `role`.
pub async fn set_role(target: &Target, email: &str, role: Role) -> Result<RoleChange, Error> {
    let email = email.trim().to_lowercase();
    let (client, probes, merged) = status::gather(target).await?;
    let (id, addr) = status::admin_node(&probes, &merged).ok_or(Error::NoLeader)?;
    let label = format!("{id} ({addr})");
    let state = client.state(&addr).await.map_err(Error::api(&label))?;
    let user = state
        .users
        .by_email(&email)
        .ok_or_else(|| Error::Usage(format!("no account has the email {email}; it must register first")))?;
    let user_id = user.id.clone();
    let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let by = Some(Stamp { actor: OPERATOR.into(), at });
    let command = Command::SetRole { user_id: user_id.clone(), role, by };
    let answer = client.propose(&addr, command).await.map_err(Error::api(&label))?;
    match answer.outcome {
        Outcome::UserUpdated => Ok(RoleChange::Changed { user_id }),
        Outcome::Unchanged => Ok(RoleChange::Unchanged { user_id }),
        Outcome::LastAdmin => Err(Error::Usage(format!("{email} is the last admin and cannot be demoted"))),
        Outcome::UnknownUser => Err(Error::Usage(format!("the account {email} was deleted meanwhile"))),
        other => Err(Error::Usage(format!("unexpected outcome {other:?}"))),
    }
}
