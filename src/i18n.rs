//! Shopper-facing text from the Fluent files under `locales/`, embedded at build time.
//! Every page gets a `Tr` for its own locale: there is no process-global language.

use std::{borrow::Cow, collections::HashMap, sync::LazyLock};

use fluent_templates::{LanguageIdentifier, Loader, fluent_bundle::FluentValue};

use crate::domain::Locale;

// Every `.ftl` file of a language folder (`walkdir`), all in one bundle per language: a key
// must be unique across the files of a language (a test checks it). build.rs rebuilds the
// crate when a file is added.
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

    /// A calendar day as the locale writes it (`date-format` in `dates.ftl`).
    pub fn date(&self, date: time::Date) -> String {
        let month = u8::from(date.month());
        self.t_with(
            "date-format",
            &[
                ("day", &date.day().to_string()),
                ("dd", &format!("{:02}", date.day())),
                ("month", &month.to_string()),
                ("mm", &format!("{month:02}")),
                ("month_name", &self.t(&format!("month-{month}"))),
                ("year", &date.year().to_string()),
            ],
        )
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
    use std::{
        collections::{BTreeMap, BTreeSet},
        path::{Path, PathBuf},
    };

    use fluent_templates::fluent_bundle::FluentResource;

    use super::*;
    use crate::error::ErrorCode;

    fn keys(ftl: &str) -> Vec<String> {
        ftl.lines()
            .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
            .filter_map(|l| l.split_once(" =").map(|(k, _)| k.trim().to_owned()))
            .collect()
    }

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("locales")
    }

    /// Every `.ftl` file under `dir` (as the loader finds them, subfolders included), by its
    /// path relative to `dir`.
    fn ftl_files(dir: &Path) -> BTreeMap<String, String> {
        fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
            for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
                let path = entry.path();
                if path.is_dir() {
                    walk(base, &path, out);
                } else if path.extension().is_some_and(|e| e == "ftl") {
                    let name = path.strip_prefix(base).unwrap().display().to_string();
                    out.insert(name, std::fs::read_to_string(&path).unwrap());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(dir, dir, &mut out);
        out
    }

    /// Every language folder, by name.
    fn languages() -> BTreeMap<String, BTreeMap<String, String>> {
        std::fs::read_dir(root())
            .unwrap()
            .map(Result::unwrap)
            .filter(|e| e.path().is_dir())
            .map(|e| {
                (
                    e.file_name().to_string_lossy().into_owned(),
                    ftl_files(&e.path()),
                )
            })
            .collect()
    }

    #[test]
    fn both_languages_have_the_same_files_and_keys() {
        let langs = languages();
        assert_eq!(
            langs.keys().map(String::as_str).collect::<Vec<_>>(),
            ["en", "tr"],
            "one folder per language under locales/"
        );
        let (tr, en) = (&langs["tr"], &langs["en"]);
        assert!(tr.contains_key("main.ftl") && tr.contains_key("documents.ftl"));
        assert_eq!(
            tr.keys().collect::<Vec<_>>(),
            en.keys().collect::<Vec<_>>(),
            "the same .ftl files in both languages"
        );
        for (file, text) in tr {
            let tr_keys: BTreeSet<String> = keys(text).into_iter().collect();
            let en_keys: BTreeSet<String> = keys(&en[file]).into_iter().collect();
            assert!(!tr_keys.is_empty(), "{file} has no messages");
            assert_eq!(
                tr_keys.difference(&en_keys).collect::<Vec<_>>(),
                Vec::<&String>::new(),
                "only in Turkish {file}"
            );
            assert_eq!(
                en_keys.difference(&tr_keys).collect::<Vec<_>>(),
                Vec::<&String>::new(),
                "only in English {file}"
            );
        }
    }

    /// A bundle refuses a file with a syntax error or a key defined twice (in one file or
    /// across files), and the loader then panics on first use.
    #[test]
    fn every_file_parses_and_no_key_is_defined_twice() {
        for (lang, files) in languages() {
            let mut seen: BTreeMap<String, String> = BTreeMap::new();
            for (file, text) in files {
                if let Err((_, errors)) = FluentResource::try_new(text.clone()) {
                    panic!("{lang}/{file}: {errors:?}");
                }
                for key in keys(&text) {
                    if let Some(first) = seen.insert(key.clone(), file.clone()) {
                        panic!("{lang}: {key} is in both {first} and {file}");
                    }
                }
            }
        }
    }

    /// The keys written literally in templates and code (`t("…")`, `t_with("…"`), which no
    /// page test may happen to show.
    #[test]
    fn every_key_used_literally_exists_in_both_languages() {
        fn sources(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
            for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
                let path = entry.path();
                if path.is_dir() {
                    sources(&path, out);
                } else if path.extension().is_some_and(|e| e == "rs" || e == "html")
                    && !path.ends_with("i18n.rs")
                {
                    out.push((path.clone(), std::fs::read_to_string(&path).unwrap()));
                }
            }
        }
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = vec![];
        sources(&manifest.join("src"), &mut files);
        sources(&manifest.join("templates"), &mut files);
        // From the files: `Tr::has` cannot tell a missing key from one that needs arguments.
        let defined: BTreeMap<String, BTreeSet<String>> = languages()
            .into_iter()
            .map(|(lang, files)| (lang, files.values().flat_map(|t| keys(t)).collect()))
            .collect();
        let mut used = 0;
        for (path, text) in &files {
            for pattern in [".t(\"", ".t_with(\""] {
                for (at, _) in text.match_indices(pattern) {
                    let rest = &text[at + pattern.len()..];
                    let Some(key) = rest.split('"').next() else {
                        continue;
                    };
                    used += 1;
                    for (lang, keys) in &defined {
                        assert!(
                            keys.contains(key),
                            "{key} ({}) is missing in {lang}",
                            path.display()
                        );
                    }
                }
            }
        }
        assert!(used > 100, "found only {used} keys");
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

    #[test]
    fn dates_follow_the_locale() {
        let day = time::macros::date!(2026 - 11 - 29);
        assert_eq!(Tr::new(Locale::Tr).date(day), "29.11.2026");
        assert_eq!(Tr::new(Locale::En).date(day), "29 November 2026");
        let day = time::macros::date!(2027 - 03 - 07);
        assert_eq!(Tr::new(Locale::Tr).date(day), "07.03.2027");
        assert_eq!(Tr::new(Locale::En).date(day), "7 March 2027");
    }
}
