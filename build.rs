//! `fluent_templates::static_loader!` (src/i18n.rs) lists the `.ftl` files of `locales/` when
//! the crate compiles; Cargo tracks only the files it included. Rebuild when a file is added or
//! removed there too, or a new file's texts would be missing until some other change.

fn main() {
    println!("cargo::rerun-if-changed=locales");
}
