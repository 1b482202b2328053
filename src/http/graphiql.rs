//! GraphiQL (development only): the page, and the React and GraphiQL files it loads, all served
//! from the binary so development works offline. The page names each file by a URL that carries
//! its package version and pins it by subresource integrity; `scripts/vendor-graphiql.sh`
//! copies the files from `examples/web/node_modules` and rewrites those tags.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::http::header::{self, HeaderValue};
use axum::response::{Html, IntoResponse, Response};

const PAGE: &str = include_str!("graphiql/page.html");

const FILES: [(&str, &[u8]); 4] = [
    (
        "react.production.min.js",
        include_bytes!("graphiql/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        include_bytes!("graphiql/react-dom.production.min.js"),
    ),
    (
        "graphiql.min.js",
        include_bytes!("graphiql/graphiql.min.js"),
    ),
    (
        "graphiql.min.css",
        include_bytes!("graphiql/graphiql.min.css"),
    ),
];

/// Each file under the path the page asks for it by (`react@18.3.1/react.production.min.js`):
/// only those paths are served, so a URL's bytes never change and browsers may keep them.
static ASSETS: LazyLock<Vec<(&'static str, &'static [u8])>> = LazyLock::new(|| {
    PAGE.split("\"/graphiql/")
        .skip(1)
        .filter_map(|rest| {
            let (path, _) = rest.split_once('"')?;
            let (_, name) = path.rsplit_once('/')?;
            let (_, bytes) = FILES.iter().find(|(file, _)| *file == name)?;
            Some((path, *bytes))
        })
        .collect()
});

static CSP: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'self'; script-src 'self' {}; \
         style-src 'self' 'unsafe-inline'; font-src 'self' data:; img-src 'self' data:; \
         connect-src 'self' ws: wss:; frame-ancestors 'none'",
        super::csp_hash(bootstrap())
    )
});

/// The page's last inline script, the one its CSP allows by hash (a unit test checks it has one).
fn bootstrap() -> &'static str {
    PAGE.rsplit_once("<script>")
        .and_then(|(_, after_open)| after_open.split_once("</script>"))
        .map_or("", |(script, _)| script)
}

pub(super) fn page() -> Response {
    (
        [(header::CONTENT_SECURITY_POLICY, CSP.as_str())],
        Html(PAGE),
    )
        .into_response()
}

/// `/graphiql/{*path}`, which the router mounts in development only, as GraphiQL itself is.
pub(super) async fn asset(Path(path): Path<String>) -> Response {
    let Some((path, bytes)) = ASSETS.iter().find(|(served, _)| *served == path) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let content_type = if path.ends_with(".css") {
        "text/css; charset=utf-8"
    } else {
        "text/javascript; charset=utf-8"
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        *bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::{ASSETS, FILES, bootstrap};

    #[test]
    fn graphiql_has_a_bootstrap_script_for_its_csp_to_allow() {
        assert!(bootstrap().contains("GraphiQL"));
    }

    #[test]
    fn the_page_asks_for_every_embedded_file() {
        assert_eq!(ASSETS.len(), FILES.len());
    }
}
