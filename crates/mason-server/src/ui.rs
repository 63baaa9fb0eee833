//! The dashboard at `GET /ui`: one HTML page, one stylesheet and one script, written
//! here by hand (no front-end build chain, no third-party front-end code) and embedded in
//! the binary with `include_str!`, so nothing is fetched from anywhere else at run time;
//! the `Content-Security-Policy` of every asset says so to the browser as well.
//!
//! The page is a small single-page app with hash routes (`#/`, `#/resources`,
//! `#/resource/NAME`, `#/events`), so `/ui` is the only document path and `/` stays
//! upstream's catch-all. It reads the read-only JSON routes (`/api/v2/overview`,
//! `/api/v2/resources` paged, `/api/v2/resources/NAME`, `/api/v2/status`,
//! `/api/v2/events`) and follows `/api/v2/events/stream` (Server-Sent Events) to update
//! itself without reloading. With an auth file every one of those, `/ui` included, is a
//! `read` route.
//!
//! Assets (in `src/ui/assets/`): `index.html`, `style.css`, `app.js`.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

const INDEX_HTML: &str = include_str!("ui/assets/index.html");
const STYLE_CSS: &str = include_str!("ui/assets/style.css");
const APP_JS: &str = include_str!("ui/assets/app.js");

/// Everything comes from this server; no inline script, no frames, no plugins.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// `GET /ui` and `GET /ui/`: the page.
pub(crate) async fn page() -> Response {
    asset_response(INDEX_HTML, "text/html; charset=utf-8")
}

/// `GET /ui/{file}`: the stylesheet and the script; anything else is 404.
pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    match file.as_str() {
        "style.css" => asset_response(STYLE_CSS, "text/css; charset=utf-8"),
        "app.js" => asset_response(APP_JS, "text/javascript; charset=utf-8"),
        _ => (StatusCode::NOT_FOUND, "no such dashboard file\n").into_response(),
    }
}

fn asset_response(body: &'static str, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Small files: always revalidate, so a new binary's page is never mixed with an old
    // cached script.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_only_its_own_assets() {
        assert!(INDEX_HTML.contains("src=\"/ui/app.js\""));
        assert!(INDEX_HTML.contains("href=\"/ui/style.css\""));
        for text in [INDEX_HTML, STYLE_CSS, APP_JS] {
            assert!(!text.contains("http://"), "an absolute URL in an asset");
            assert!(!text.contains("https://"), "an absolute URL in an asset");
            assert!(!text.contains("//cdn"), "a CDN in an asset");
        }
        assert!(
            !INDEX_HTML.contains("<script>"),
            "inline scripts break the CSP"
        );
    }
}
