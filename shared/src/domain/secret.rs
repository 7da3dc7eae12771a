//! A credential as a type: it never prints, and checking a caller's value against it takes
//! the same time whatever the value.

use serde::Deserialize;

/// A credential that never prints.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is this secret, compared in constant time (for values a caller
    /// presents, such as a verify token or a shared header secret).
    pub fn matches(&self, candidate: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), candidate.as_bytes());
        // Every byte is looked at; the length is the only thing the time can tell.
        let differing = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
        std::hint::black_box(differing) == 0 && a.len() == b.len()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Equality for bookkeeping (is this the token that was refused?); a caller's value is
/// checked with [`Secret::matches`].
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}
impl Eq for Secret {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_same_value_and_never_prints() {
        let secret = Secret::new("verify-me");
        assert!(secret.matches("verify-me"));
        for other in ["verify-mE", "verify-m", "verify-me!", "", "xerify-me"] {
            assert!(!secret.matches(other), "{other}");
        }
        assert_eq!(format!("{secret:?}"), "Secret(***)");
    }
}
