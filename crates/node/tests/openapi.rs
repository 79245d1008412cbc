//! docs/openapi.json is the document the agent serves: generated from the API's Rust
//! types, it must not drift from what is committed. After a change to the API, run
//! `HEARSAY_UPDATE_OPENAPI=1 cargo test --release -p hearsay-node --test openapi` and
//! commit the file (CI also validates it with openapi-spec-validator).

use std::path::Path;

#[test]
fn the_committed_openapi_document_is_the_generated_one() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let generated = hearsay_node::openapi::document();
    if std::env::var_os("HEARSAY_UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json differs from the API's types: regenerate it with \
         HEARSAY_UPDATE_OPENAPI=1 cargo test --release -p hearsay-node --test openapi"
    );
    let doc: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for schema in ["StatusReport", "DeployRequest", "ErrorBody", "BudgetUsage"] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "no {schema} schema"
        );
    }
}
