//! Registered users, with the unique-email rule enforced at apply time, their roles
//! and their sanctions (bans and mutes, protocol §8).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::command::{Millis, Outcome};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    #[default]
    User,
    Admin,
}

/// A ban or a mute: why, until when, and who imposed it when. Whether it is in force
/// is a read-time rule against a clock ([`Sanction::in_force_at`]); `apply` only uses
/// times stamped into commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sanction {
    pub reason: String,
    /// `None`: until lifted.
    pub until: Option<Millis>,
    /// When it was imposed (the proposer's clock).
    pub at: Millis,
    /// Id of the admin who imposed it, or `operator` for the cluster listener.
    pub by: String,
}

impl Sanction {
    pub fn in_force_at(&self, now: Millis) -> bool {
        self.until.is_none_or(|until| now < until)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "UserRecord")]
pub struct User {
    /// 24 lowercase hex characters.
    pub id: String,
    /// Lowercased by the proposer; unique across the cluster.
    pub email: String,
    pub name: String,
    /// bcrypt hash, computed by the proposer.
    pub password_hash: String,
    /// Empty when unset.
    #[serde(default)]
    pub profile_image: String,
    pub role: Role,
    pub ban: Option<Sanction>,
    pub mute: Option<Sanction>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl User {
    /// The ban in force at `now`, if any.
    pub fn ban_at(&self, now: Millis) -> Option<&Sanction> {
        self.ban.as_ref().filter(|b| b.in_force_at(now))
    }

    /// The mute in force at `now`, if any.
    pub fn mute_at(&self, now: Millis) -> Option<&Sanction> {
        self.mute.as_ref().filter(|m| m.in_force_at(now))
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// A user as stored in snapshots and log entries of any version: fields added later
/// default, and the `banned` flag of older versions becomes a ban until lifted.
#[derive(Deserialize)]
struct UserRecord {
    id: String,
    email: String,
    name: String,
    password_hash: String,
    #[serde(default)]
    profile_image: String,
    #[serde(default)]
    role: Role,
    #[serde(default)]
    banned: bool,
    #[serde(default)]
    ban: Option<Sanction>,
    #[serde(default)]
    mute: Option<Sanction>,
    created_at: Millis,
    updated_at: Millis,
}

impl From<UserRecord> for User {
    fn from(r: UserRecord) -> Self {
        let legacy_ban = r.banned.then(|| Sanction { reason: String::new(), until: None, at: 0, by: OPERATOR.into() });
        User {
            id: r.id,
            email: r.email,
            name: r.name,
            password_hash: r.password_hash,
            profile_image: r.profile_image,
            role: r.role,
            ban: r.ban.or(legacy_ban),
            mute: r.mute,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// The actor of changes made through the cluster listener (`chatctl`, `/admin/propose`).
pub const OPERATOR: &str = "operator";

/// Users by id, with an email index rebuilt on deserialization.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<User>", into = "Vec<User>")]
pub struct Users {
    by_id: BTreeMap<String, User>,
    by_email: BTreeMap<String, String>,
}

impl Users {
    pub fn get(&self, id: &str) -> Option<&User> {
        self.by_id.get(id)
    }

    pub fn by_email(&self, email: &str) -> Option<&User> {
        self.by_email.get(email).and_then(|id| self.by_id.get(id))
    }

    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &User> {
        self.by_id.values()
    }

    pub(super) fn register(&mut self, user: User) -> Outcome {
        if self.by_email.contains_key(&user.email) {
            return Outcome::EmailTaken;
        }
        if self.by_id.contains_key(&user.id) {
            // Ids are random 96-bit values; a clash means a replayed or forged command.
            return Outcome::EmailTaken;
        }
        let user_id = user.id.clone();
        self.by_email.insert(user.email.clone(), user.id.clone());
        self.by_id.insert(user.id.clone(), user);
        Outcome::UserRegistered { user_id }
    }

    pub(super) fn update(&mut self, id: &str, name: Option<&str>, image: Option<&str>, at: Millis) -> Outcome {
        let Some(user) = self.by_id.get_mut(id) else {
            return Outcome::UnknownUser;
        };
        if let Some(name) = name {
            user.name = name.to_owned();
        }
        if let Some(image) = image {
            user.profile_image = image.to_owned();
        }
        user.updated_at = user.updated_at.max(at);
        Outcome::UserUpdated
    }

    /// Change a role; the last admin cannot be demoted.
    pub(super) fn set_role(&mut self, id: &str, role: Role) -> Outcome {
        let admins = self.admins();
        let Some(user) = self.by_id.get_mut(id) else {
            return Outcome::UnknownUser;
        };
        if user.role == role {
            return Outcome::Unchanged;
        }
        if user.role == Role::Admin && admins == 1 {
            return Outcome::LastAdmin;
        }
        user.role = role;
        Outcome::UserUpdated
    }

    pub fn admins(&self) -> usize {
        self.by_id.values().filter(|u| u.is_admin()).count()
    }

    /// Impose or lift (`None`) a ban.
    pub(super) fn set_ban(&mut self, id: &str, ban: Option<Sanction>) -> Outcome {
        match self.by_id.get_mut(id) {
            Some(user) => {
                user.ban = ban;
                Outcome::UserUpdated
            }
            None => Outcome::UnknownUser,
        }
    }

    /// Impose or lift (`None`) a mute.
    pub(super) fn set_mute(&mut self, id: &str, mute: Option<Sanction>) -> Outcome {
        match self.by_id.get_mut(id) {
            Some(user) => {
                user.mute = mute;
                Outcome::UserUpdated
            }
            None => Outcome::UnknownUser,
        }
    }

    pub(super) fn remove(&mut self, id: &str) -> Option<User> {
        let user = self.by_id.remove(id)?;
        self.by_email.remove(&user.email);
        Some(user)
    }
}

impl From<Vec<User>> for Users {
    fn from(users: Vec<User>) -> Self {
        let mut all = Users::default();
        for user in users {
            all.by_email.insert(user.email.clone(), user.id.clone());
            all.by_id.insert(user.id.clone(), user);
        }
        all
    }
}

impl From<Users> for Vec<User> {
    fn from(users: Users) -> Self {
        users.by_id.into_values().collect()
    }
}
