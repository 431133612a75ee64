//! The signature rule's canonicaliser over arbitrary field lists.
#![no_main]
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;

fuzz_target!(|fields: Vec<(String, String)>| {
    if let Ok(canonical) = kapi::crypto::signature::canonical_string(&fields) {
        // A canonical string never holds a line that a field could have forged.
        let signed_fields = fields.iter().filter(|(n, _)| n != "signature").count();
        assert_eq!(canonical.lines().count(), signed_fields);
        let key = SecretString::from("fuzz".to_owned());
        let sig = kapi::crypto::signature::sign(&fields, &key).expect("signs what canonicalises");
        assert!(kapi::crypto::signature::verify(&fields, &key, &sig).expect("verifies"));
    }
});
