//! Who asks, and from where: the facts about an incoming request that outlive the transport.
//! The HTTP layer fills them in; stores record them (audit rows, sessions) without knowing
//! anything of HTTP or GraphQL.

/// Facts about the HTTP request that domains record with what they change (audit rows, sessions).
#[derive(Clone, Debug, Default)]
pub struct RequestInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The refresh token sent as a cookie, for `refreshSession` called without an argument.
    pub refresh_cookie: Option<String>,
    /// The server's id of this request, recorded with audit rows.
    pub request_id: Option<String>,
    /// The `x-request-id` the client sent, when usable (see [`ClientRequestId`]).
    pub client_request_id: Option<String>,
}

/// The `x-request-id` a client sent, kept apart from the request id, which the server always
/// makes itself: a client could otherwise choose the id its requests are logged and audited
/// under (and collide with, or forge, another's).
#[derive(Clone, Debug)]
pub struct ClientRequestId(pub String);
