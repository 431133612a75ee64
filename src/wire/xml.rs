//! A small reader of the flat XML messages banks exchange (Garanti's `GVPSRequest`, PayFor's
//! `PayforRequest`, …): every element's text by its slash-joined path, entities and CDATA
//! resolved, no document type declaration accepted, nesting bounded.

use quick_xml::{Reader, events::Event};

/// How deep a message may nest.
const MAX_DEPTH: usize = 16;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed XML: {0}")]
pub struct XmlError(pub String);

/// Calls `f(path, text)` for every element when it closes (`Root/Child/Leaf`), with its text
/// trimmed (empty for an element that holds only other elements, or none).
pub fn for_each_element(xml: &str, mut f: impl FnMut(&str, &str)) -> Result<(), XmlError> {
    let malformed = |e: &dyn std::fmt::Display| XmlError(e.to_string());
    let mut reader = Reader::from_str(xml);
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    loop {
        match reader.read_event().map_err(|e| malformed(&e))? {
            Event::Start(e) => {
                if path.len() >= MAX_DEPTH {
                    return Err(XmlError("nested too deeply".into()));
                }
                path.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned());
                text.clear();
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                let mut full = path.join("/");
                if !full.is_empty() {
                    full.push('/');
                }
                full.push_str(&name);
                f(&full, "");
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
                if path.is_empty() {
                    return Err(XmlError("unbalanced".into()));
                }
                f(&path.join("/"), std::mem::take(&mut text).trim());
                path.pop();
            }
            Event::DocType(_) => return Err(XmlError("a DOCTYPE is not accepted".into())),
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
        }
    }
    if path.is_empty() {
        Ok(())
    } else {
        Err(XmlError("unclosed element".into()))
    }
}

/// Text with `<`, `>`, `&`, `'` and `"` escaped.
pub fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_read_by_path_with_entities_and_cdata() {
        let mut seen = Vec::new();
        for_each_element(
            "<?xml version=\"1.0\"?><A><B>x &amp; y</B><C><D><![CDATA[<z>]]></D></C><E/></A>",
            |p, t| seen.push(format!("{p}={t}")),
        )
        .unwrap();
        assert_eq!(seen, ["A/B=x & y", "A/C/D=<z>", "A/C=", "A/E=", "A="]);
        assert!(for_each_element("<!DOCTYPE a><A/>", |_, _| {}).is_err());
        assert!(for_each_element("<A><B>", |_, _| {}).is_err());
        let deep = "<a>".repeat(20) + &"</a>".repeat(20);
        assert!(for_each_element(&deep, |_, _| {}).is_err());
    }
}
