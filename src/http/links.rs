//! The pages mailed links open when no front end is configured (`AGORA_APP_URL`): one document,
//! `links.html`, in two versions, each finishing its flow through `/graphql`. Nothing is loaded
//! from elsewhere, and the CSP allows the inline script and style by hash alone. With a front
//! end, these paths send its links there.

use std::sync::LazyLock;

use axum::extract::Request;
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::auth::recovery::Purpose;

const TEMPLATE: &str = include_str!("links.html");

struct Page {
    html: String,
    csp: String,
}

impl Page {
    fn new(title: &str, main: &str) -> Self {
        let html = TEMPLATE.replace("{title}", title).replace("{main}", main);
        let csp = format!(
            "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; \
             form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
            hash_of_inline(&html, "script"),
            hash_of_inline(&html, "style"),
        );
        Self { html, csp }
    }
}

/// The CSP source allowing the text between the first `<{tag}>` and its closing tag.
fn hash_of_inline(html: &str, tag: &str) -> String {
    let inline = html
        .split_once(&format!("<{tag}>"))
        .and_then(|(_, after)| after.split_once(&format!("</{tag}>")))
        .map_or("", |(inline, _)| inline);
    super::csp_hash(inline)
}

static VERIFY: LazyLock<Page> = LazyLock::new(|| Page::new("Confirm your email address", ""));

static RESET: LazyLock<Page> = LazyLock::new(|| {
    Page::new(
        "Choose a new password",
        r#"<form id="reset">
        <label for="password">New password (at least 8 characters)</label>
        <input id="password" name="password" type="password" autocomplete="new-password" minlength="8" maxlength="256" required autofocus>
        <button type="submit">Set the new password</button>
      </form>"#,
    )
});

/// Agora's own page for `purpose`. The token stays out of the answer: it is the page's script
/// that reads it from the address.
pub(super) fn page(purpose: Purpose) -> Response {
    let page = match purpose {
        Purpose::EmailVerify => &*VERIFY,
        Purpose::PasswordReset => &*RESET,
    };
    (
        [
            (header::CONTENT_SECURITY_POLICY, page.csp.as_str()),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Html(page.html.as_str()),
    )
        .into_response()
}

/// The front end's route for the path asked for, with its query: a link mailed before the
/// front end was configured still lands there.
pub(super) fn to_app(app_url: &str, request: &Request) -> Response {
    let uri = request.uri();
    let query = uri
        .query()
        .map(|query| format!("?{query}"))
        .unwrap_or_default();
    Redirect::temporary(&format!(
        "{}{}{query}",
        app_url.trim_end_matches('/'),
        uri.path()
    ))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::{RESET, VERIFY};

    #[test]
    fn each_page_has_the_script_and_style_its_csp_allows() {
        for page in [&*VERIFY, &*RESET] {
            assert!(page.html.contains("<script>") && page.html.contains("<style>"));
            assert!(
                !page
                    .csp
                    .contains("'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='")
            );
        }
    }
}
