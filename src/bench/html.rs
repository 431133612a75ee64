//! Just enough HTML for the benchmark's browser: the forms of a page, their action, id and
//! fields (inputs with a name, checkboxes left out as a browser leaves unticked ones), with
//! entities decoded. Kapı's and the simulators' pages are the only input.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form {
    pub id: Option<String>,
    pub action: String,
    pub fields: Vec<(String, String)>,
}

impl Form {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The value of `name="…"` in a tag's text, decoded.
fn attr(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let rest = tag.get(start..)?;
    let end = rest.find('"')?;
    Some(decode(rest.get(..end)?))
}

fn decode(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Every `<form>` of `html`, in order.
pub fn forms(html: &str) -> Vec<Form> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<form") {
        let Some(after) = rest.get(start..) else {
            break;
        };
        let Some(tag_end) = after.find('>') else {
            break;
        };
        let tag = after.get(..tag_end).unwrap_or("");
        let body_end = after.find("</form>").unwrap_or(after.len());
        let body = after.get(tag_end..body_end).unwrap_or("");
        let mut form = Form {
            id: attr(tag, "id"),
            action: attr(tag, "action").unwrap_or_default(),
            fields: Vec::new(),
        };
        let mut inputs = body;
        while let Some(i) = inputs.find("<input") {
            let Some(from) = inputs.get(i..) else { break };
            let end = from.find('>').unwrap_or(from.len());
            let input = from.get(..end).unwrap_or("");
            if attr(input, "type").as_deref() != Some("checkbox")
                && let Some(name) = attr(input, "name")
            {
                form.fields
                    .push((name, attr(input, "value").unwrap_or_default()));
            }
            inputs = from.get(end..).unwrap_or("");
        }
        out.push(form);
        rest = after.get(body_end.max(1)..).unwrap_or("");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_fields_and_entities() {
        let html = r#"<p><form id="merchant-return" method="post" action="https://shop.example/ok?a=1&amp;b=2">
            <input type="hidden" name="status" value="approved">
            <input type="checkbox" name="consent" value="yes">
            <input type="hidden" name="detail" value="&quot;quoted&quot; &amp; more">
            <input type="submit" value="Go">
          </form>
          <form action="/next"><input name="x" value=""></form>"#;
        let got = forms(html);
        assert_eq!(got.len(), 2);
        let first = got.first().unwrap();
        assert_eq!(first.id.as_deref(), Some("merchant-return"));
        assert_eq!(first.action, "https://shop.example/ok?a=1&b=2");
        assert_eq!(
            first.fields,
            vec![
                ("status".to_owned(), "approved".to_owned()),
                ("detail".to_owned(), "\"quoted\" & more".to_owned()),
            ]
        );
        assert_eq!(got.get(1).unwrap().field("x"), Some(""));
    }
}
