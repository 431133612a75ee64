//! NestPay's XML API messages (`bank-protocols.md` §1.7): the `CC5Request` a merchant's server
//! posts to `/fim/api`, the `CC5Response` it gets back, and the two encodings clients declare
//! (`ISO-8859-9`, Turkish Latin-5, and `UTF-8`). Shared by Kapı's NestPay-compatible API and,
//! later, its NestPay bank connector.

use quick_xml::events::Event;

use crate::domain::Sensitive;

/// How deep elements may nest (Kapı reads two levels: the request's and `Extra`'s).
const MAX_DEPTH: usize = 16;

/// The largest request accepted (a real one is well under 2 KiB).
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;

/// The encoding a document declares; answers use the request's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XmlEncoding {
    Utf8,
    /// ISO-8859-9 (Latin-5): Latin-1 with Ğ, İ, Ş, ğ, ı, ş in place of six Icelandic letters.
    Latin5,
}

impl XmlEncoding {
    /// The name for the declaration and the `Content-Type` charset.
    pub fn name(self) -> &'static str {
        match self {
            Self::Utf8 => "UTF-8",
            Self::Latin5 => "ISO-8859-9",
        }
    }

    /// The encoding the XML declaration at the start of `bytes` names (UTF-8 without one).
    pub fn declared(bytes: &[u8]) -> Result<Self, XmlError> {
        let head = bytes.get(..bytes.len().min(200)).unwrap_or(bytes);
        let head: String = head.iter().map(|&b| char::from(b)).collect();
        let head = head.trim_start_matches('\u{feff}').trim_start();
        let Some(decl) = head
            .strip_prefix("<?xml")
            .and_then(|rest| rest.split_once("?>"))
            .map(|(decl, _)| decl)
        else {
            return Ok(Self::Utf8);
        };
        let Some((_, after)) = decl.split_once("encoding") else {
            return Ok(Self::Utf8);
        };
        let value: String = after
            .trim_start()
            .trim_start_matches('=')
            .trim_start()
            .trim_start_matches(['"', '\''])
            .chars()
            .take_while(|c| !matches!(c, '"' | '\'' | ' ' | '?'))
            .collect();
        match value.to_ascii_uppercase().as_str() {
            "UTF-8" | "UTF8" => Ok(Self::Utf8),
            "ISO-8859-9" | "ISO8859-9" | "ISO_8859-9" | "LATIN5" => Ok(Self::Latin5),
            _ => Err(XmlError::Encoding(value.chars().take(32).collect())),
        }
    }

    /// `bytes` as text.
    pub fn decode(self, bytes: &[u8]) -> Result<String, XmlError> {
        match self {
            Self::Utf8 => std::str::from_utf8(bytes)
                .map(|s| s.trim_start_matches('\u{feff}').to_owned())
                .map_err(|_| XmlError::Encoding("UTF-8".to_owned())),
            Self::Latin5 => Ok(bytes.iter().map(|&b| latin5_char(b)).collect()),
        }
    }

    /// `text` in this encoding; a character it cannot hold becomes a character reference.
    pub fn encode(self, text: &str) -> Vec<u8> {
        match self {
            Self::Utf8 => text.as_bytes().to_vec(),
            Self::Latin5 => {
                let mut out = Vec::with_capacity(text.len());
                for c in text.chars() {
                    match latin5_byte(c) {
                        Some(b) => out.push(b),
                        None => out.extend_from_slice(format!("&#{};", u32::from(c)).as_bytes()),
                    }
                }
                out
            }
        }
    }
}

const LATIN5_SWAPS: [(u8, char); 6] = [
    (0xD0, 'Ğ'),
    (0xDD, 'İ'),
    (0xDE, 'Ş'),
    (0xF0, 'ğ'),
    (0xFD, 'ı'),
    (0xFE, 'ş'),
];

fn latin5_char(b: u8) -> char {
    LATIN5_SWAPS
        .iter()
        .find(|(byte, _)| *byte == b)
        .map_or(char::from(b), |(_, c)| *c)
}

fn latin5_byte(c: char) -> Option<u8> {
    if let Some((b, _)) = LATIN5_SWAPS.iter().find(|(_, ch)| *ch == c) {
        return Some(*b);
    }
    let b = u8::try_from(u32::from(c)).ok()?;
    // The six Latin-1 letters Latin-5 replaced have no byte of their own.
    (!LATIN5_SWAPS.iter().any(|(byte, _)| *byte == b)).then_some(b)
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum XmlError {
    #[error("the request is not a CC5Request XML document")]
    NotCc5,
    #[error("the XML is malformed: {0}")]
    Malformed(String),
    #[error("encoding `{0}` is not supported (ISO-8859-9 or UTF-8)")]
    Encoding(String),
    #[error("element <{0}> appears twice")]
    Duplicate(String),
    #[error("the request is larger than {MAX_REQUEST_BYTES} bytes")]
    TooLarge,
}

/// A `CC5Request`: the elements Kapı reads, as sent (trimmed).
#[derive(Default)]
pub struct Cc5Request {
    pub name: String,
    pub password: Sensitive,
    pub client_id: String,
    pub kind: String,
    pub order_id: String,
    pub total: String,
    pub currency: String,
    /// `Number`: the card, or in the `3d` model the `md` of its authentication; never echoed.
    pub number: Sensitive,
    /// The `3d` model's 3-D Secure values: `PayerTxnId` (`xid`), `PayerSecurityLevel`
    /// (`eci`), `PayerAuthenticationCode` (`cavv`).
    pub payer_txn_id: String,
    pub payer_security_level: String,
    pub payer_authentication_code: String,
    /// `Taksit` (or `Instalment`): the installment count, empty for a single payment.
    pub taksit: String,
    /// `<Extra>`'s children, e.g. `ORDERSTATUS` = `QUERY`.
    pub extra: Vec<(String, String)>,
    /// Top-level elements Kapı does not read (a card number among them is never kept).
    pub others: Vec<String>,
}

impl std::fmt::Debug for Cc5Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cc5Request")
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("kind", &self.kind)
            .field("order_id", &self.order_id)
            .finish_non_exhaustive()
    }
}

impl Cc5Request {
    /// The extra element `name` (any case), trimmed.
    pub fn extra(&self, name: &str) -> Option<&str> {
        self.extra
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Parses the document: a `CC5Request` root, its simple children, and `Extra`'s.
    pub fn parse(xml: &str) -> Result<Self, XmlError> {
        if xml.len() > MAX_REQUEST_BYTES {
            return Err(XmlError::TooLarge);
        }
        let mut reader = quick_xml::Reader::from_str(xml);
        // Not trimmed per text event: "a &amp; b" keeps its spaces (each value is trimmed whole).
        reader.config_mut().trim_text(false);
        let mut req = Self::default();
        // The open elements, root first.
        let mut path: Vec<String> = Vec::new();
        let mut text = String::new();
        let mut seen: Vec<String> = Vec::new();
        let mut root_seen = false;
        let malformed = |e: &dyn std::fmt::Display| XmlError::Malformed(e.to_string());
        loop {
            match reader.read_event().map_err(|e| malformed(&e))? {
                Event::Start(e) => {
                    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                    if path.is_empty() {
                        if name != "CC5Request" || root_seen {
                            return Err(XmlError::NotCc5);
                        }
                        root_seen = true;
                    }
                    // Deeper structures (order items, addresses) are read past, to a limit.
                    if path.len() >= MAX_DEPTH {
                        return Err(XmlError::Malformed("nested too deeply".to_owned()));
                    }
                    path.push(name);
                    text.clear();
                }
                Event::Empty(e) => {
                    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                    if path.is_empty() {
                        return Err(XmlError::NotCc5);
                    }
                    req.set(&path, name, String::new(), &mut seen)?;
                }
                Event::Text(t) => {
                    let t = t.decode().map_err(|e| malformed(&e))?;
                    let t = quick_xml::escape::unescape(&t).map_err(|e| malformed(&e))?;
                    text.push_str(&t);
                }
                Event::CData(t) => text.push_str(&String::from_utf8_lossy(&t)),
                Event::GeneralRef(r) => {
                    let name = r.decode().map_err(|e| malformed(&e))?;
                    let entity = format!("&{name};");
                    let t = quick_xml::escape::unescape(&entity).map_err(|e| malformed(&e))?;
                    text.push_str(&t);
                }
                Event::End(_) => {
                    let Some(name) = path.pop() else {
                        return Err(XmlError::Malformed("unbalanced".to_owned()));
                    };
                    if !path.is_empty() {
                        let value = std::mem::take(&mut text).trim().to_owned();
                        req.set(&path, name, value, &mut seen)?;
                    }
                    text.clear();
                }
                Event::Eof => break,
                Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
                Event::DocType(_) => {
                    return Err(XmlError::Malformed("a DOCTYPE is not accepted".to_owned()));
                }
            }
        }
        if !path.is_empty() {
            return Err(XmlError::Malformed("unclosed element".to_owned()));
        }
        if !root_seen {
            return Err(XmlError::NotCc5);
        }
        Ok(req)
    }

    /// Records element `name` with `value` under `parents` (root first).
    fn set(
        &mut self,
        parents: &[String],
        name: String,
        value: String,
        seen: &mut Vec<String>,
    ) -> Result<(), XmlError> {
        match parents {
            [_root] => {
                if name == "Extra" {
                    return Ok(());
                }
                if seen.contains(&name) {
                    return Err(XmlError::Duplicate(name));
                }
                seen.push(name.clone());
                match name.as_str() {
                    "Name" => self.name = value,
                    "Password" => self.password = Sensitive::new(value),
                    "ClientId" => self.client_id = value,
                    "Type" => self.kind = value,
                    "OrderId" => self.order_id = value,
                    "Total" => self.total = value,
                    "Currency" => self.currency = value,
                    "Number" => self.number = Sensitive::new(value),
                    "PayerTxnId" => self.payer_txn_id = value,
                    "PayerSecurityLevel" => self.payer_security_level = value,
                    "PayerAuthenticationCode" => self.payer_authentication_code = value,
                    "Taksit" | "Instalment" => self.taksit = value,
                    _ => self.others.push(name),
                }
            }
            [_root, extra] if extra == "Extra" => {
                if self.extra.iter().any(|(n, _)| *n == name) {
                    return Err(XmlError::Duplicate(name));
                }
                self.extra.push((name, value));
            }
            // Deeper structures (addresses, order items) are not read.
            _ => {}
        }
        Ok(())
    }
}

impl Cc5Request {
    /// The document as a client sends it (UTF-8, with its declaration): the elements that are
    /// set, then `Extra`'s. The one place the `Number` (`md`) is written out.
    pub fn render(&self) -> String {
        let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CC5Request>\n");
        for (name, value) in [
            ("Name", self.name.as_str()),
            ("Password", self.password.expose()),
            ("ClientId", self.client_id.as_str()),
            ("Type", self.kind.as_str()),
            ("OrderId", self.order_id.as_str()),
            ("Total", self.total.as_str()),
            ("Currency", self.currency.as_str()),
            ("Number", self.number.expose()),
            ("PayerTxnId", self.payer_txn_id.as_str()),
            ("PayerSecurityLevel", self.payer_security_level.as_str()),
            (
                "PayerAuthenticationCode",
                self.payer_authentication_code.as_str(),
            ),
            ("Taksit", self.taksit.as_str()),
        ] {
            if !value.is_empty() {
                out.push_str(&format!("  <{name}>{}</{name}>\n", esc(value)));
            }
        }
        if !self.extra.is_empty() {
            out.push_str("  <Extra>");
            for (name, value) in &self.extra {
                out.push_str(&format!("<{name}>{}</{name}>", esc(value)));
            }
            out.push_str("</Extra>\n");
        }
        out.push_str("</CC5Request>\n");
        out
    }
}

/// A `CC5Response`: its elements in order, then `Extra`'s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cc5Response {
    pub order_id: String,
    pub group_id: String,
    pub response: String,
    pub auth_code: String,
    pub host_ref_num: String,
    pub proc_return_code: String,
    pub trans_id: String,
    pub err_msg: String,
    pub extra: Vec<(String, String)>,
}

impl Cc5Response {
    /// The `Extra` element `name`, if the answer has it.
    pub fn extra(&self, name: &str) -> Option<&str> {
        self.extra
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Parses a bank's answer (already decoded from its declared encoding): the root's simple
    /// elements and `Extra`'s; anything deeper is read past.
    pub fn parse(xml: &str) -> Result<Self, XmlError> {
        if xml.len() > MAX_REQUEST_BYTES {
            return Err(XmlError::TooLarge);
        }
        let mut resp = Self::default();
        let (mut roots, mut foreign) = (0, false);
        super::xml::for_each_element(xml, |path, value| {
            let parts: Vec<&str> = path.split('/').collect();
            let value = value.to_owned();
            match parts.as_slice() {
                ["CC5Response"] => roots += 1,
                [_] => foreign = true,
                [_, name] => match *name {
                    "OrderId" => resp.order_id = value,
                    "GroupId" => resp.group_id = value,
                    "Response" => resp.response = value,
                    "AuthCode" => resp.auth_code = value,
                    "HostRefNum" => resp.host_ref_num = value,
                    "ProcReturnCode" => resp.proc_return_code = value,
                    "TransId" => resp.trans_id = value,
                    "ErrMsg" => resp.err_msg = value,
                    _ => {}
                },
                // An empty one says nothing (an element written `<X/>` or `<X></X>`).
                [_, "Extra", name] if !value.is_empty() => {
                    resp.extra.push(((*name).to_owned(), value));
                }
                _ => {}
            }
        })
        .map_err(|e| XmlError::Malformed(e.0))?;
        if roots != 1 || foreign {
            return Err(XmlError::NotCc5);
        }
        Ok(resp)
    }

    /// The document in `encoding`, with its declaration.
    pub fn render(&self, encoding: XmlEncoding) -> Vec<u8> {
        let esc = |s: &str| quick_xml::escape::escape(s).into_owned();
        let mut out = format!(
            "<?xml version=\"1.0\" encoding=\"{}\"?>\n<CC5Response>\n",
            encoding.name()
        );
        for (name, value) in [
            ("OrderId", &self.order_id),
            ("GroupId", &self.group_id),
            ("Response", &self.response),
            ("AuthCode", &self.auth_code),
            ("HostRefNum", &self.host_ref_num),
            ("ProcReturnCode", &self.proc_return_code),
            ("TransId", &self.trans_id),
            ("ErrMsg", &self.err_msg),
        ] {
            out.push_str(&format!("  <{name}>{}</{name}>\n", esc(value)));
        }
        out.push_str("  <Extra>\n");
        for (name, value) in &self.extra {
            // Names are Kapı's own (upper-case letters, digits, `_`).
            out.push_str(&format!("    <{name}>{}</{name}>\n", esc(value)));
        }
        out.push_str("  </Extra>\n</CC5Response>\n");
        encoding.encode(&out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        // Hostile bodies: XML-ish noise never panics the parser, whatever the encoding says.
        #[test]
        fn noise_never_panics(text in "[<>/a-zA-Z&;#0-9 \"'=?!\\[\\]-]{0,300}", bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = Cc5Request::parse(&text);
            let _ = Cc5Response::parse(&text);
            let _ = Cc5Response::parse(&format!("<CC5Response>{text}</CC5Response>"));
            let _ = Cc5Request::parse(&format!("<CC5Request>{text}</CC5Request>"));
            if let Ok(encoding) = XmlEncoding::declared(&bytes)
                && let Ok(decoded) = encoding.decode(&bytes)
            {
                let _ = Cc5Request::parse(&decoded);
            }
            let encoded = XmlEncoding::Latin5.encode(&text);
            proptest::prop_assert_eq!(XmlEncoding::Latin5.decode(&encoded).unwrap(), text);
        }
    }

    #[test]
    fn a_rendered_request_and_response_read_back() {
        let req = Cc5Request {
            name: "api".into(),
            password: Sensitive::new("p<&>".to_owned()),
            client_id: "100200300".into(),
            kind: "Auth".into(),
            order_id: "au_1".into(),
            total: "150.00".into(),
            currency: "949".into(),
            number: Sensitive::new("md-ref".to_owned()),
            extra: vec![("ORDERSTATUS".into(), "QUERY".into())],
            ..Cc5Request::default()
        };
        let back = Cc5Request::parse(&req.render()).unwrap();
        assert_eq!(
            (back.name.as_str(), back.password.expose()),
            ("api", "p<&>")
        );
        assert_eq!(
            (back.kind.as_str(), back.total.as_str()),
            ("Auth", "150.00")
        );
        assert_eq!(back.number.expose(), "md-ref");
        assert_eq!(back.extra("ORDERSTATUS"), Some("QUERY"));
        let resp = Cc5Response {
            order_id: "au_1".into(),
            response: "Approved".into(),
            proc_return_code: "00".into(),
            err_msg: "a < b".into(),
            extra: vec![("TRANS_STAT".into(), "S".into())],
            ..Cc5Response::default()
        };
        let text = XmlEncoding::Utf8
            .decode(&resp.render(XmlEncoding::Utf8))
            .unwrap();
        assert_eq!(Cc5Response::parse(&text).unwrap(), resp);
        assert!(Cc5Response::parse("<CC5Request/>").is_err());
        // Spaces around a character reference stay.
        let req = Cc5Request::parse("<CC5Request><Name> a &amp; b </Name></CC5Request>").unwrap();
        assert_eq!(req.name, "a & b");
    }

    #[test]
    fn latin5_round_trips_turkish_letters() {
        let text = "ĞİŞğış çöü ÇÖÜ";
        let bytes = XmlEncoding::Latin5.encode(text);
        assert_eq!(bytes.len(), text.chars().count());
        assert_eq!(XmlEncoding::Latin5.decode(&bytes).unwrap(), text);
        // A character Latin-5 lacks becomes a character reference.
        assert_eq!(XmlEncoding::Latin5.encode("€"), b"&#8364;".to_vec());
    }

    #[test]
    fn the_declaration_names_the_encoding() {
        let d = |s: &str| XmlEncoding::declared(s.as_bytes());
        assert_eq!(
            d("<?xml version=\"1.0\" encoding=\"ISO-8859-9\"?><CC5Request/>"),
            Ok(XmlEncoding::Latin5)
        );
        assert_eq!(
            d("<?xml version='1.0' encoding='utf-8'?><CC5Request/>"),
            Ok(XmlEncoding::Utf8)
        );
        assert_eq!(d("<CC5Request/>"), Ok(XmlEncoding::Utf8));
        assert!(matches!(
            d("<?xml version=\"1.0\" encoding=\"EBCDIC\"?>"),
            Err(XmlError::Encoding(_))
        ));
    }

    #[test]
    fn deeper_structures_are_read_past() {
        let xml = "<CC5Request><ClientId>1</ClientId><OrderItemList><OrderItem><ItemNumber>a</ItemNumber><Price>2</Price></OrderItem></OrderItemList><OrderId>X</OrderId></CC5Request>";
        let r = Cc5Request::parse(xml).unwrap();
        assert_eq!(r.order_id, "X");
        assert_eq!(r.client_id, "1");
    }

    #[test]
    fn a_request_parses_with_its_extra() {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CC5Request>\n <Name>api</Name>\n <Password>p&amp;w</Password>\n <ClientId>700655000200</ClientId>\n <OrderId>ORD-1</OrderId>\n <Extra><ORDERSTATUS>QUERY</ORDERSTATUS></Extra>\n</CC5Request>";
        let r = Cc5Request::parse(xml).unwrap();
        assert_eq!(r.name, "api");
        assert_eq!(r.password.expose(), "p&w");
        assert_eq!(r.client_id, "700655000200");
        assert_eq!(r.extra("orderstatus"), Some("QUERY"));
        assert_eq!(r.kind, "");
    }

    #[test]
    fn hostile_documents_are_refused() {
        assert_eq!(Cc5Request::parse("<Other/>").unwrap_err(), XmlError::NotCc5);
        assert!(
            Cc5Request::parse("<CC5Request><Name>a</Name><Name>b</Name></CC5Request>").is_err()
        );
        assert!(Cc5Request::parse("<!DOCTYPE x [<!ENTITY a \"b\">]><CC5Request/>").is_err());
        assert!(Cc5Request::parse("<CC5Request><Name>a</CC5Request>").is_err());
        let deep = format!(
            "<CC5Request>{}{}</CC5Request>",
            "<a>".repeat(20),
            "</a>".repeat(20)
        );
        assert!(Cc5Request::parse(&deep).is_err());
        assert!(Cc5Request::parse("not xml").is_err());
    }

    #[test]
    fn the_response_escapes_and_encodes() {
        let r = Cc5Response {
            order_id: "A<1>".into(),
            err_msg: "İşlem bulunamadı".into(),
            extra: vec![("NUMCODE".into(), "99".into())],
            ..Default::default()
        };
        let bytes = r.render(XmlEncoding::Latin5);
        let text = XmlEncoding::Latin5.decode(&bytes).unwrap();
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"ISO-8859-9\"?>"));
        assert!(text.contains("<OrderId>A&lt;1&gt;</OrderId>"));
        assert!(text.contains("<ErrMsg>İşlem bulunamadı</ErrMsg>"));
        assert!(text.contains("<Extra>\n    <NUMCODE>99</NUMCODE>"));
    }
}
