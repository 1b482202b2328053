//! GraphQL subscriptions over WebSocket (graphql-transport-ws, and the older graphql-ws): the
//! upgrade and its origin check, the viewer from `connection_init`, and the socket's life until
//! either side ends it, its session ends, or the server shuts down.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::Data;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::{Request, State, WebSocketUpgrade};
use axum::http::header::{self, HeaderMap};
use axum::response::Response;

use super::{HttpState, MAX_BODY_BYTES, client};
use crate::App;
use crate::auth::authenticate;
use crate::auth::cookies::read_cookie;
use crate::error::AppError;
use crate::request::RequestInfo;

/// GraphQL subscriptions over WebSocket (graphql-transport-ws, and the older graphql-ws).
/// Browsers cannot set headers on a WebSocket, so the access or API token comes in the
/// `connection_init` payload as `{"Authorization": "Bearer ..."}`; an invalid one closes the
/// connection, a missing one leaves it anonymous.
pub(super) async fn upgrade(
    State(state): State<HttpState>,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
    request: Request,
) -> Response {
    let (mut parts, _) = request.into_parts();
    let info = client::request_info(&mut parts, &state).await;
    let cookie_token = read_cookie(&parts.headers, state.cookies.access)
        .filter(|_| websocket_origin_allowed(&parts.headers, &state.app.config));
    // A socket message is parsed by async-graphql as it arrives, with no chance to scan it
    // first: bound it as the HTTP body is (the default allows 64 MiB).
    upgrade
        .max_message_size(MAX_BODY_BYTES)
        .max_frame_size(MAX_BODY_BYTES)
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            let sockets = state.app.sockets.clone();
            sockets.track_future(serve_socket(state, protocol, info, cookie_token, socket))
        })
}

/// Browsers send cookies with a WebSocket upgrade from any site and apply no CORS to it, so the
/// access cookie counts only when the page that opened the socket is this server's own origin
/// or one of `AGORA_CORS_ORIGINS` (no cross-site WebSocket hijacking).
fn websocket_origin_allowed(headers: &HeaderMap, config: &crate::config::Config) -> bool {
    let Some(origin) = headers
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    let origin = url.origin().ascii_serialization();
    let same_origin = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .is_some_and(|host| origin == format!("{}://{host}", url.scheme()));
    same_origin || config.cors_origins().any(|allowed| allowed == origin)
}

/// Runs one subscription socket until either side ends it. When the server begins to shut down,
/// the message being sent is finished, then the socket is closed with 1001 (going away), so
/// clients reconnect, to another instance behind the balancer.
async fn serve_socket(
    state: HttpState,
    protocol: GraphQLProtocol,
    info: RequestInfo,
    cookie_token: Option<String>,
    socket: axum::extract::ws::WebSocket,
) {
    use axum::extract::ws::{CloseFrame, Message, close_code};
    use futures_util::{SinkExt, StreamExt};

    let app = state.app.clone();
    let mut stopping = app.stopping.subscribe();
    let mut stopping_input = app.stopping.subscribe();
    let (mut to_client, from_client) = socket.split();
    let from_client = from_client.take_until(async move {
        let _ = stopping_input.wait_for(|stop| *stop).await;
    });
    let (outgoing, mut queued) = futures_channel::mpsc::channel::<Message>(16);
    // graphql-transport-ws allows one connection_init per socket, so the token is set once.
    let viewer_token = Arc::new(std::sync::OnceLock::<String>::new());
    let init_app = app.clone();
    let init_token = viewer_token.clone();
    let graphql = GraphQLWebSocket::new_with_pair(outgoing, from_client, state.schema, protocol)
        .on_connection_init(move |payload| async move {
            let (data, token) = connection_data(&init_app, info, cookie_token, &payload).await?;
            if let Some(token) = token {
                let _ = init_token.set(token);
            }
            Ok(data)
        })
        .serve();
    let period = Duration::from_secs(app.config.socket_recheck_secs.max(1));
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    let deliver = async move {
        loop {
            tokio::select! {
                // The guard `wait_for` returns must not live across a send.
                () = async { drop(stopping.wait_for(|stop| *stop).await) } => break,
                message = queued.next() => {
                    // The queue also ends when shutdown ended the GraphQL side first.
                    let Some(message) = message else { break };
                    if to_client.send(message).await.is_err() {
                        return;
                    }
                }
                _ = recheck.tick() => {
                    let Some(token) = viewer_token.get() else { continue };
                    // A database error is no proof the session ended: the next check decides.
                    if let Ok(None) = authenticate::viewer(&app, token, app.clock.now()).await {
                        let _ = to_client
                            .send(Message::Close(Some(CloseFrame {
                                code: 4403,
                                reason: "session ended or token expired".into(),
                            })))
                            .await;
                        return;
                    }
                }
            }
        }
        if *stopping.borrow() {
            let _ = to_client
                .send(Message::Close(Some(CloseFrame {
                    code: close_code::AWAY,
                    reason: "server shutting down".into(),
                })))
                .await;
        }
    };
    tokio::join!(graphql, deliver);
}

/// The socket's viewer: from `connection_init`'s `Authorization` (refused when it does not
/// authenticate), else from the access cookie of the upgrade (anonymous when it has expired, as
/// on HTTP). Also the token it was found by, which the socket checks again while it is open.
async fn connection_data(
    app: &App,
    info: RequestInfo,
    cookie_token: Option<String>,
    payload: &serde_json::Value,
) -> async_graphql::Result<(Data, Option<String>)> {
    let header = ["Authorization", "authorization"]
        .iter()
        .find_map(|key| payload.get(*key).and_then(serde_json::Value::as_str));
    let now = app.clock.now();
    let mut data = Data::default();
    crate::graphql::insert_loaders(&mut data, &app.pool);
    data.insert(info);
    let (viewer, token) = match (header, cookie_token) {
        (Some(header), _) => {
            let token = client::bearer_token(header).ok_or(AppError::Unauthenticated)?;
            let viewer = authenticate::viewer(app, &token, now).await?;
            (Some(viewer.ok_or(AppError::Unauthenticated)?), token)
        }
        (None, Some(token)) => (authenticate::viewer(app, &token, now).await?, token),
        (None, None) => return Ok((data, None)),
    };
    let Some(viewer) = viewer else {
        return Ok((data, None));
    };
    data.insert(viewer);
    Ok((data, Some(token)))
}
