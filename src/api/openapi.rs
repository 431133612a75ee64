//! What the OpenAPI document says of every operation, in one place: the problems any
//! authenticated call, any body and any money-moving call can answer with, as
//! `application/problem+json`; and the schemas of names the server checks (payment and event
//! statuses, event types), built from the same lists the server uses.

use utoipa::{
    Modify,
    openapi::{Content, OpenApi, RefOr, Response, ResponseBuilder, path::Operation},
};

pub use crate::notify::views::{EventStatusSchema, EventTypeSchema, PaymentStatusSchema};

pub const PROBLEM_JSON: &str = "application/problem+json";

fn problem(description: &str) -> RefOr<Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM_JSON,
            Content::new(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                "ProblemDoc",
            )))),
        )
        .into()
}

fn add(op: &mut Operation, status: &str, description: &str) {
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| problem(description));
}

/// Where the id of a created or listed resource leads (OpenAPI links): `(operation, status,
/// link name, target operation, where the id is)`.
const LINKS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "createCheckoutSession",
        "201",
        "expire",
        "expireCheckoutSession",
        "$response.body#/id",
    ),
    (
        "createCheckoutSession",
        "201",
        "payment",
        "getPayment",
        "$response.body#/id",
    ),
    (
        "listPayments",
        "200",
        "payment",
        "getPayment",
        "$response.body#/data/0/id",
    ),
    (
        "listPayments",
        "200",
        "void",
        "voidPayment",
        "$response.body#/data/0/id",
    ),
    (
        "listPayments",
        "200",
        "refund",
        "refundPayment",
        "$response.body#/data/0/id",
    ),
    (
        "listPayments",
        "200",
        "capture",
        "capturePayment",
        "$response.body#/data/0/id",
    ),
    (
        "listEvents",
        "200",
        "event",
        "getEvent",
        "$response.body#/data/0/id",
    ),
    (
        "listEvents",
        "200",
        "resend",
        "resendEvent",
        "$response.body#/data/0/id",
    ),
];

/// The document as served: utoipa's, with the links added (utoipa 5 writes a link's
/// `operationId` as `operation_id`, so they are added to the JSON).
pub fn document(openapi: &OpenApi) -> serde_json::Value {
    let mut doc = serde_json::to_value(openapi).unwrap_or_default();
    let Some(paths) = doc.get_mut("paths").and_then(|p| p.as_object_mut()) else {
        return doc;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for op in item.values_mut() {
            let id = op["operationId"].as_str().unwrap_or("").to_owned();
            for (from, status, name, to, param) in LINKS {
                if *from != id {
                    continue;
                }
                if let Some(response) = op
                    .get_mut("responses")
                    .and_then(|r| r.get_mut(*status))
                    .and_then(|r| r.as_object_mut())
                {
                    let links = response
                        .entry("links")
                        .or_insert_with(|| serde_json::json!({}));
                    links[*name] = serde_json::json!({
                        "operationId": to,
                        "parameters": {"id": param},
                    });
                }
            }
        }
    }
    doc
}

/// Adds the answers every operation of a kind can give, and serves every error as a problem.
pub struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let money =
                path.ends_with("/void") || path.ends_with("/refunds") || path.ends_with("/capture");
            for op in [&mut item.get, &mut item.post].into_iter().flatten() {
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    add(op, "401", "Missing or invalid API key (`KP-6001`)");
                    add(
                        op,
                        "403",
                        "Calls from this address are not allowed (`KP-6002`)",
                    );
                    add(op, "429", "Too many calls (`KP-6050`); see `Retry-After`");
                }
                if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) {
                    add(op, "400", "Invalid parameter (`KP-6041`, `KP-6010`)");
                }
                if op.request_body.is_some() {
                    add(op, "400", "Malformed JSON (`KP-6003`)");
                    add(op, "413", "Body over 64 KiB (`KP-6007`)");
                    add(op, "415", "Body is not `application/json` (`KP-6006`)");
                    add(
                        op,
                        "422",
                        "Invalid value (`KP-6005`), or Idempotency-Key reused (`KP-6011`)",
                    );
                }
                if op.request_body.is_some() || money {
                    add(
                        op,
                        "409",
                        "The same Idempotency-Key is still in flight (`KP-6012`)",
                    );
                }
                if money {
                    add(
                        op,
                        "502",
                        "The bank did not answer; the request stays pending (`KP-4091`)",
                    );
                }
                for (status, response) in op.responses.responses.iter_mut() {
                    let error = status.starts_with('4') || status.starts_with('5');
                    if let (true, RefOr::T(response)) = (error, response) {
                        let schema = response
                            .content
                            .values()
                            .find_map(|c| c.schema.clone())
                            .unwrap_or_else(|| {
                                RefOr::Ref(utoipa::openapi::Ref::from_schema_name("ProblemDoc"))
                            });
                        response.content.clear();
                        response
                            .content
                            .insert(PROBLEM_JSON.to_owned(), Content::new(Some(schema)));
                    }
                }
            }
        }
    }
}
