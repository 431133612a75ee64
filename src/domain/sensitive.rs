//! A string that must not be printed: card numbers inside protocol messages, for example.

use std::fmt;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Serialises as the plain string (it has to travel to the ACS or bank), but `Debug` and
/// `Display` print `***`, and the memory is wiped on drop.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sensitive(Zeroizing<String>);

impl Sensitive {
    pub fn new(s: impl Into<String>) -> Self {
        Self(Zeroizing::new(s.into()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Sensitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_but_serialises() {
        let s = Sensitive::new("4111111111111111");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"4111111111111111\"");
    }
}
