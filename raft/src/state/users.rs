//! Registered users, with the unique-email rule enforced at apply time.

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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    #[serde(default)]
    pub role: Role,
    #[serde(default)]
    pub banned: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
}

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

    pub(super) fn set_role(&mut self, id: &str, role: Role) -> Outcome {
        match self.by_id.get_mut(id) {
            Some(user) => {
                user.role = role;
                Outcome::UserUpdated
            }
            None => Outcome::UnknownUser,
        }
    }

    pub(super) fn set_banned(&mut self, id: &str, banned: bool) -> Outcome {
        match self.by_id.get_mut(id) {
            Some(user) => {
                user.banned = banned;
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
