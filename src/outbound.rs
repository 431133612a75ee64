//! Calls Kapı makes (to the ACS, the bank, merchants): how to report what went wrong.

/// What went wrong with an outgoing request, with its causes (a refused address, a timeout,
/// a TLS failure) but never its URL, which may carry a merchant's query string.
pub fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
