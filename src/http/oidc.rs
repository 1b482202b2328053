//! The browser flow of provider sign-in over plain HTTP: `/auth/oidc/{provider}/start` sends the
//! browser to the provider, `/auth/oidc/{provider}/callback` takes it back, sets the session
//! cookies, and sends it on to the front end. What the front end must act on travels in the URL
//! fragment, which browsers send to no server and put in no `Referer`: `#mfaChallenge=…` (2FA
//! is on: `verifyMfa`), `#linkToken=…&provider=…` (`confirmIdentityLink`), `#linked=…`, or
//! `#error=CODE&message=…`.

use axum::extract::{Path, Query, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use url::Url;

use super::{HttpState, client};
use crate::auth::cookies::{oidc_cookie, read_cookie};
use crate::error::AppError;
use crate::oidc::{self, Begin, Outcome, rules::FLOW_LIFETIME};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StartQuery {
    return_to: Option<String>,
}

pub(super) async fn start(
    State(state): State<HttpState>,
    Path(provider): Path<String>,
    Query(query): Query<StartQuery>,
    request: Request,
) -> Response {
    let (mut parts, _) = request.into_parts();
    let origin = client::request_info(&mut parts, &state).await;
    let app = &state.app;
    let begun = oidc::begin(
        app,
        &origin,
        Begin {
            provider: &provider,
            return_to: query.return_to.as_deref(),
            redirect_uri: None,
            link_user: None,
            reauth: None,
            browser: read_cookie(&parts.headers, state.cookies.oidc).as_deref(),
        },
    )
    .await;
    match begun {
        Ok(begun) => {
            let mut response = Redirect::to(&begun.authorization_url).into_response();
            if let Some(browser) = begun.new_browser
                && let Ok(value) = oidc_cookie(&app.config, &browser, FLOW_LIFETIME).parse()
            {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
            no_store(response)
        }
        Err(error) => to_front(&app.config.links_base(), &[], Some(&error)),
    }
}

#[derive(Deserialize)]
pub(super) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

pub(super) async fn callback(
    State(state): State<HttpState>,
    Path(provider): Path<String>,
    Query(query): Query<CallbackQuery>,
    request: Request,
) -> Response {
    let (mut parts, _) = request.into_parts();
    let origin = client::request_info(&mut parts, &state).await;
    let app = &state.app;
    let front = app.config.links_base();
    let (Some(code), Some(flow_state)) = (query.code, query.state) else {
        // The provider's own refusal (the user cancelled, say) names no code.
        let why = query.error.unwrap_or_else(|| "no code".to_owned());
        let error = AppError::Rejected(format!("The provider did not sign you in ({why})").into());
        return to_front(&front, &[], Some(&error));
    };
    let finished = oidc::complete(
        app,
        &origin,
        (&code, &flow_state),
        origin.oidc_cookie.as_deref(),
        Some(&provider),
    )
    .await;
    let finished = match finished {
        Ok(finished) => finished,
        Err(error) => return to_front(&front, &[], Some(&error)),
    };
    let return_to = finished.return_to;
    match finished.outcome {
        Ok(Outcome::SignedIn(signed_in)) => {
            let mut response = to_front(&return_to, &[], None);
            for cookie in signed_in.cookies(&app.config, app.clock.now()) {
                if let Ok(value) = cookie.parse() {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
            }
            response
        }
        Ok(Outcome::Challenge(challenge)) => {
            to_front(&return_to, &[("mfaChallenge", &challenge.token)], None)
        }
        Ok(Outcome::LinkRequired {
            link_token,
            provider,
            ..
        }) => to_front(
            &return_to,
            &[("linkToken", &link_token), ("provider", &provider)],
            None,
        ),
        Ok(Outcome::Linked(identity)) => {
            to_front(&return_to, &[("linked", &identity.provider)], None)
        }
        Ok(Outcome::Reauthenticated(proved)) => to_front(
            &return_to,
            &[("reauthenticated", &proved.valid_until.to_rfc3339())],
            None,
        ),
        Err(error) => to_front(&return_to, &[], Some(&error)),
    }
}

/// A redirect to `target` with `facts` (and the error, if any) as its fragment.
fn to_front(target: &str, facts: &[(&str, &str)], error: Option<&AppError>) -> Response {
    let mut fragment = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in facts {
        fragment.append_pair(name, value);
    }
    if let Some(error) = error {
        fragment.append_pair("error", error.code());
        fragment.append_pair("message", &error.message());
    }
    let fragment = fragment.finish();
    let location = match Url::parse(target) {
        Ok(mut url) => {
            url.set_fragment((!fragment.is_empty()).then_some(fragment.as_str()));
            url.to_string()
        }
        Err(_) => format!("/#{fragment}"),
    };
    no_store(Redirect::to(&location).into_response())
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}
