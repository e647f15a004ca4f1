//! The JSON body extractor of every handler: `web::Json` with one more rule, that the body
//! is a JSON object. serde reads a struct from an array too (`[null, null]` fills the fields
//! in order), which no client means and the OpenAPI document does not allow.

use actix_web::dev::Payload;
use actix_web::http::{StatusCode, header};
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;
use crate::error_code::ErrorCode;

/// A JSON object body read into `T` (size, content type and syntax as `web::Json`, with
/// the errors of [`crate::error::json_config`]).
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

/// An optional JSON object body: absent (no bytes) or `null` is `None`; anything else must
/// be a valid object.
#[derive(Debug)]
pub struct MaybeJsonBody<T>(pub Option<T>);

fn object<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    if !value.is_object() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidBody,
            "the body must be a JSON object",
        ));
    }
    serde_json::from_value(value).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidBody,
            format!("the JSON body does not fit: {e}"),
        )
    })
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = web::Json::<Value>::from_request(req, payload);
        Box::pin(async move { Ok(Self(object(json.await?.into_inner())?)) })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for MaybeJsonBody<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let headers = req.headers();
        let empty = match headers.get(header::CONTENT_LENGTH) {
            Some(len) => len.as_bytes() == b"0",
            None => !headers.contains_key(header::TRANSFER_ENCODING),
        };
        if empty {
            return Box::pin(async { Ok(Self(None)) });
        }
        let json = web::Json::<Value>::from_request(req, payload);
        Box::pin(async move {
            match json.await?.into_inner() {
                Value::Null => Ok(Self(None)),
                value => Ok(Self(Some(object(value)?))),
            }
        })
    }
}
