//! `GET /api/v2/resources/{name}`: one resource, or 404 `resource "NAME" does not exist`.
//! The dashboard's resource page and `mason describe` read it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use mason_store::Error as StoreError;

use crate::error::ApiError;
use crate::respond;
use crate::state::AppState;

pub(super) async fn handle(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let resource = state.store().get(&name).await.map_err(|e| match e {
        StoreError::ResourceNotFound(_) => ApiError::new(
            StatusCode::NOT_FOUND,
            format!("resource {name:?} does not exist"),
        ),
        other => ApiError::from_store(None, other),
    })?;
    Ok(respond::json(
        serde_json::to_string(&resource).expect("a resource serializes"),
    ))
}
