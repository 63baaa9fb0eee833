//! `GET /api/v2/status`: the loop status of this process as JSON
//! ([`mason_types::status::ProcessStatus`]; what each process reports is described in
//! [`crate::status`]).

use axum::extract::{FromRef, State};
use axum::response::Response;

use crate::respond;
use crate::state::AppState;
use crate::status::StatusBoard;

impl FromRef<AppState> for StatusBoard {
    fn from_ref(state: &AppState) -> Self {
        state.status().clone()
    }
}

pub(super) async fn handle(State(board): State<StatusBoard>) -> Response {
    respond::json(serde_json::to_string(&board.snapshot()).expect("status serializes"))
}
