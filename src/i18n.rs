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
