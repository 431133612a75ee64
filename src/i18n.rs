//! Shopper-facing text from the Fluent files under `locales/`, embedded at build time.
//! Every page gets a `Tr` for its own locale: there is no process-global language.

use std::{borrow::Cow, collections::HashMap, sync::LazyLock};

use fluent_templates::{LanguageIdentifier, Loader, fluent_bundle::FluentValue};

use crate::domain::Locale;

fluent_templates::static_loader! {
    static LOCALES = {
        locales: "./locales",
        fallback_language: "tr",
        // Unicode isolation marks would end up inside form values and signed texts.
        customise: |bundle| bundle.set_use_isolating(false),
    };
}

static TR: LazyLock<LanguageIdentifier> = LazyLock::new(|| "tr".parse().unwrap_or_default());
static EN: LazyLock<LanguageIdentifier> = LazyLock::new(|| "en".parse().unwrap_or_default());

/// A translator for one locale, handed to templates.
#[derive(Debug, Clone, Copy)]
pub struct Tr {
    pub locale: Locale,
}

impl Tr {
    pub fn new(locale: Locale) -> Self {
        Self { locale }
    }

    fn lang(&self) -> &'static LanguageIdentifier {
        match self.locale {
            Locale::Tr => &TR,
            Locale::En => &EN,
        }
    }

    /// The text for `key`; the key itself when missing (a test checks none is).
    pub fn t(&self, key: &str) -> String {
        LOCALES
            .try_lookup(self.lang(), key)
            .unwrap_or_else(|| key.to_owned())
    }

    /// The text for `key` with named arguments.
    pub fn t_with(&self, key: &str, args: &[(&'static str, &str)]) -> String {
        let map: HashMap<Cow<'static, str>, FluentValue<'_>> = args
            .iter()
            .map(|(k, v)| (Cow::Borrowed(*k), FluentValue::from(v.to_string())))
            .collect();
        LOCALES
            .try_lookup_with_args(self.lang(), key, &map)
            .unwrap_or_else(|| key.to_owned())
    }

    pub fn has(&self, key: &str) -> bool {
        LOCALES.try_lookup(self.lang(), key).is_some()
    }

    pub fn lang_code(&self) -> &'static str {
        self.locale.as_str()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::error::ErrorCode;

    fn keys(ftl: &str) -> BTreeSet<&str> {
        ftl.lines()
            .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
            .filter_map(|l| l.split_once(" =").map(|(k, _)| k.trim()))
            .collect()
    }

    #[test]
    fn both_languages_have_the_same_keys() {
        let tr = keys(include_str!("../locales/tr/main.ftl"));
        let en = keys(include_str!("../locales/en/main.ftl"));
        assert_eq!(
            tr.difference(&en).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "only in Turkish"
        );
        assert_eq!(
            en.difference(&tr).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "only in English"
        );
    }

    #[test]
    fn every_error_code_has_a_message_in_both_languages() {
        for code in ErrorCode::ALL {
            for locale in [Locale::Tr, Locale::En] {
                let tr = Tr::new(locale);
                assert!(
                    tr.has(&code.message_key()),
                    "{} in {:?}",
                    code.code(),
                    locale
                );
            }
        }
    }

    #[test]
    fn arguments_are_filled_without_isolation_marks() {
        let tr = Tr::new(Locale::Tr);
        assert_eq!(
            tr.t_with("installment-count", &[("count", "3")]),
            "3 taksit"
        );
        assert_eq!(Tr::new(Locale::En).t("bank-51"), "Insufficient funds");
        assert_eq!(tr.t("no-such-key"), "no-such-key");
    }
}
