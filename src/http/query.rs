//! Query strings and path parameters of the admin API, read strictly: a parameter given twice,
//! or a value with a control character (PostgreSQL cannot even hold NUL), is a 400 problem that
//! points at it, not a plain-text rejection or a database error.

use std::collections::BTreeMap;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;

use super::problem::Problem;
use crate::domain::FieldError;

/// The query parameters of a request, each given at most once.
#[derive(Debug, Default)]
pub struct QueryParams(BTreeMap<String, String>);

impl QueryParams {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Parse a query string (without `?`).
    pub fn parse(query: &str) -> Result<QueryParams, Problem> {
        let mut params = BTreeMap::new();
        let mut errors = Vec::new();
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            let pointer = format!("/query/{}", k.replace('~', "~0").replace('/', "~1"));
            if params.contains_key(k.as_ref()) {
                if !errors.iter().any(|e: &FieldError| e.pointer == pointer) {
                    errors.push(FieldError::new(pointer, "given more than once"));
                }
                continue;
            }
            if v.chars().any(char::is_control) || k.chars().any(char::is_control) {
                errors.push(FieldError::new(
                    pointer,
                    "must not contain control characters",
                ));
                continue;
            }
            params.insert(k.into_owned(), v.into_owned());
        }
        if errors.is_empty() {
            Ok(QueryParams(params))
        } else {
            Err(invalid(errors))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        QueryParams::parse(parts.uri.query().unwrap_or(""))
    }
}

/// A 400 for these query or path parameters.
pub fn invalid(errors: Vec<FieldError>) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "invalid-query",
        "invalid query or path parameters",
    )
    .with_errors(errors)
}

/// A path parameter naming something stored (an event id): no control characters, at most
/// 255 bytes.
pub fn path_id<'a>(name: &str, value: &'a str) -> Result<&'a str, Problem> {
    if value.chars().any(char::is_control) {
        return Err(invalid(vec![FieldError::new(
            format!("/path/{name}"),
            "must not contain control characters",
        )]));
    }
    if value.len() > 255 {
        return Err(invalid(vec![FieldError::new(
            format!("/path/{name}"),
            "at most 255 bytes",
        )]));
    }
    Ok(value)
}
