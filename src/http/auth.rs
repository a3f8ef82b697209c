//! Bearer tokens and roles: who is calling, and what each role may see and do.
//!
//! Tokens are random, shown once by `kinga token create`, and stored only as SHA-256 hashes.
//! What a role may see is decided here, in one place ([`Role`]'s capability methods), and
//! applied by the serialisation chokepoint in `views`.

use std::collections::HashMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::store::{Store, StoreError, TokenRecord, hex};

/// A caller's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// No token (can be switched off for a private deployment).
    Public,
    /// Submits reports (monitors, hotline staff).
    Reporter,
    /// Checks reports and sets their verification.
    Verifier,
    /// Police and security providers: hotspots and patrol plans, aggregates only.
    Planner,
    /// Analysts: point-level data (without reporter identity), exports.
    Analyst,
    /// Administrators and case handlers: everything, including reporter details and GBV points.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 6] =
        [Self::Public, Self::Reporter, Self::Verifier, Self::Planner, Self::Analyst, Self::Admin];

    /// The slug used by `kinga token create --role`.
    #[must_use]
    pub const fn slug(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Reporter => "reporter",
            Self::Verifier => "verifier",
            Self::Planner => "planner",
            Self::Analyst => "analyst",
            Self::Admin => "admin",
        }
    }

    /// Parses a slug.
    #[must_use]
    pub fn from_slug(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.slug() == s)
    }

    /// Sees exact coordinates and free text of (non-GBV) reports, and unverified reports.
    #[must_use]
    pub const fn sees_points(self) -> bool {
        matches!(self, Self::Verifier | Self::Analyst | Self::Admin)
    }

    /// Sees reporter identity and GBV reports as points (the case-handling role).
    #[must_use]
    pub const fn handles_cases(self) -> bool {
        matches!(self, Self::Admin)
    }

    /// Receives early warnings (the alert list, CAP feed and `alert` events).
    #[must_use]
    pub const fn receives_alerts(self) -> bool {
        matches!(self, Self::Verifier | Self::Planner | Self::Analyst | Self::Admin)
    }

    /// Gets aggregates with small-cell suppression, at the one publication resolution.
    #[must_use]
    pub const fn suppressed(self) -> bool {
        matches!(self, Self::Public | Self::Reporter | Self::Planner)
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The role.
    pub role: Role,
    /// The token's name (the actor in audit records), `"public"` without a token.
    pub name: String,
    /// Rate-limit key: the token hash, or the client address for the public role.
    pub key: String,
}

/// Hex SHA-256 of a token.
#[must_use]
pub fn hash_token(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// A new random token: `kinga_` + 64 hex digits (256 bits).
#[must_use]
pub fn new_token() -> String {
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    format!("kinga_{}{}", a.simple(), b.simple())
}

/// Creates and stores a token for a role; returns the token (shown once).
///
/// # Errors
/// [`StoreError`] when the store fails.
pub async fn create_token(store: &dyn Store, role: Role, name: &str) -> Result<String, StoreError> {
    let token = new_token();
    store
        .insert_token(TokenRecord {
            hash: hash_token(&token),
            role: role.slug().to_string(),
            name: name.to_string(),
            created_at: chrono::Utc::now(),
        })
        .await?;
    Ok(token)
}

/// Resolves tokens to callers, caching found tokens (tokens are never edited in place).
#[derive(Debug, Default)]
pub struct TokenCache {
    known: Mutex<HashMap<String, Caller>>,
}

impl TokenCache {
    /// The caller a bearer token stands for, `None` when unknown.
    ///
    /// # Errors
    /// [`StoreError`] when the store cannot be asked.
    pub async fn resolve(&self, store: &dyn Store, token: &str) -> Result<Option<Caller>, StoreError> {
        let hash = hash_token(token);
        if let Some(c) = self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&hash) {
            return Ok(Some(c.clone()));
        }
        let Some(record) = store.find_token(hash.clone()).await? else { return Ok(None) };
        let Some(role) = Role::from_slug(&record.role) else { return Ok(None) };
        let caller = Caller { role, name: record.name, key: hash.clone() };
        self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(hash, caller.clone());
        Ok(Some(caller))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 6 + 64);
        assert_eq!(hash_token(&a).len(), 64);
        assert_ne!(hash_token(&a), a);
    }

    #[test]
    fn only_admin_handles_cases_and_aggregates_are_suppressed_for_the_non_privileged() {
        let handles: Vec<_> = Role::ALL.into_iter().filter(|r| r.handles_cases()).collect();
        assert_eq!(handles, [Role::Admin]);
        let suppressed: Vec<_> = Role::ALL.into_iter().filter(|r| r.suppressed()).collect();
        assert_eq!(suppressed, [Role::Public, Role::Reporter, Role::Planner]);
        assert!(Role::ALL.into_iter().all(|r| !(r.suppressed() && r.sees_points())));
    }
}
