//! Merchant return URLs and the origins they must belong to.

use std::fmt;

use super::Invalid;

/// `scheme://host:port`, normalised (lower-case host, explicit port).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin(String);

impl Origin {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let bad = |reason| Invalid::new("origin", reason);
        let url = ::url::Url::parse(s.trim()).map_err(|_| bad("not a URL"))?;
        // An origin is only scheme, host and port: anything more is a mistake worth reporting.
        let path_ok = url.path() == "/" || url.path().is_empty();
        if !path_ok || url.query().is_some() || url.fragment().is_some() {
            return Err(bad("only scheme, host and port"));
        }
        Self::of(&url).ok_or(bad("an http(s) scheme and a host, no user name"))
    }

    fn of(url: &::url::Url) -> Option<Self> {
        if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() {
            return None;
        }
        let host = url.host_str()?;
        let port = url.port_or_known_default()?;
        Some(Self(format!(
            "{}://{}:{}",
            url.scheme(),
            host.to_ascii_lowercase(),
            port
        )))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An absolute http(s) URL without credentials, at most 2048 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnUrl {
    url: ::url::Url,
    origin: Origin,
}

impl ReturnUrl {
    pub fn parse(s: &str) -> Result<Self, Invalid> {
        let bad = |reason| Invalid::new("return URL", reason);
        if s.len() > 2048 {
            return Err(bad("longer than 2048 characters"));
        }
        let url = ::url::Url::parse(s).map_err(|_| bad("not an absolute URL"))?;
        if url.password().is_some() {
            return Err(bad("has credentials"));
        }
        let origin = Origin::of(&url).ok_or(bad("not http(s) with a host"))?;
        Ok(Self { url, origin })
    }

    pub fn origin(&self) -> &Origin {
        &self.origin
    }

    pub fn as_str(&self) -> &str {
        self.url.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalised() {
        assert_eq!(
            Origin::parse("https://Shop.Example.com").unwrap().as_str(),
            "https://shop.example.com:443"
        );
        assert_eq!(
            Origin::parse("http://127.0.0.1:8081/").unwrap().as_str(),
            "http://127.0.0.1:8081"
        );
        assert!(Origin::parse("https://shop.example.com/path").is_err());
        assert!(Origin::parse("javascript:alert(1)").is_err());
        assert!(Origin::parse("ftp://x.example").is_err());
    }

    #[test]
    fn return_urls_know_their_origin() {
        let u = ReturnUrl::parse("https://shop.example.com/pay/ok?x=1").unwrap();
        assert_eq!(u.origin().as_str(), "https://shop.example.com:443");
        let u = ReturnUrl::parse("https://shop.example.com:443/ok").unwrap();
        assert_eq!(
            u.origin(),
            &Origin::parse("https://shop.example.com").unwrap()
        );
        assert!(ReturnUrl::parse("https://user:pw@shop.example.com/").is_err());
        assert!(ReturnUrl::parse("/relative").is_err());
        assert!(ReturnUrl::parse("data:text/html,hi").is_err());
    }
}
