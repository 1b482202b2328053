//! Trusted documents: with `AGORA_TRUSTED_DOCUMENTS` naming a manifest (a JSON object from each
//! document's SHA-256, in hex, to its text), the server runs only those documents, for everyone
//! but holders of `documents:any`. A client names a document by its hash (the APQ extension,
//! `persistedQuery.sha256Hash`) or sends its exact text; anything else is refused with
//! `PERSISTED_QUERY_NOT_IN_LIST` before it is parsed.
//!
//! The manifest is made from the clients' own sources (`examples/web`'s
//! `npm run trusted-documents`), so an attacker can run only what the clients already run, with
//! variables of their choosing: the shapes, depths and costs of the operations are known in
//! advance.
//!
//! Over HTTP, the check runs before the request is parsed (`http::graphql`); over a socket,
//! where async-graphql parses each message itself, [`TrustedOverSockets`] runs it as the
//! request is prepared, which is also before parsing.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest,
};
use async_graphql::{Request, ServerError, ServerResult, Value};

use super::persisted::document_hash;
use crate::error::code;
use crate::rbac::perm;
use crate::request::Viewer;

pub struct TrustedDocuments {
    by_hash: HashMap<String, String>,
}

impl TrustedDocuments {
    /// Reads the manifest at `path`, refusing one whose hashes do not match their texts (a
    /// stale or hand-edited manifest would otherwise refuse the clients it was made for).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading AGORA_TRUSTED_DOCUMENTS ({})", path.display()))?;
        let by_hash: HashMap<String, String> = serde_json::from_str(&text).with_context(|| {
            format!(
                "AGORA_TRUSTED_DOCUMENTS ({}) must be a JSON object from SHA-256 hashes to \
                 documents",
                path.display()
            )
        })?;
        for (hash, document) in &by_hash {
            anyhow::ensure!(
                document_hash(document) == *hash,
                "AGORA_TRUSTED_DOCUMENTS ({}): {hash} is not the SHA-256 of its document",
                path.display()
            );
        }
        tracing::info!(
            documents = by_hash.len(),
            manifest = %path.display(),
            "only trusted documents run, but for holders of documents:any"
        );
        Ok(Self { by_hash })
    }

    /// Whether `request` runs a trusted document. One named by hash alone gets its text here.
    pub fn admit(&self, request: &mut Request) -> bool {
        match persisted_hash(request) {
            Some(hash) => match self.by_hash.get(&hash.to_ascii_lowercase()) {
                Some(text) if request.query.is_empty() => {
                    request.query.clone_from(text);
                    true
                }
                Some(text) => request.query == *text,
                None => false,
            },
            None => self.by_hash.contains_key(&document_hash(&request.query)),
        }
    }
}

fn persisted_hash(request: &Request) -> Option<&str> {
    match request.extensions.get("persistedQuery")? {
        Value::Object(fields) => match fields.get("sha256Hash")? {
            Value::String(hash) => Some(hash),
            _ => None,
        },
        _ => None,
    }
}

/// Whether a viewer may send documents outside the manifest.
pub fn may_send_any(viewer: Option<&Viewer>) -> bool {
    viewer.is_some_and(|viewer| viewer.can(perm::DOCUMENTS_ANY))
}

pub fn not_in_list() -> ServerError {
    let mut error = ServerError::new(
        "This server runs only its trusted documents; this one is not among them",
        None,
    );
    super::set_code(&mut error, code::PERSISTED_QUERY_NOT_IN_LIST);
    error
}

/// Set on a request the HTTP layer has already judged.
pub struct Admitted;

/// The check for requests that arrive over a socket.
pub struct TrustedOverSockets(pub Arc<TrustedDocuments>);

impl ExtensionFactory for TrustedOverSockets {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(TrustedOverSockets(Arc::clone(&self.0)))
    }
}

#[async_trait::async_trait]
impl Extension for TrustedOverSockets {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let admitted = request
            .data
            .contains_key(&std::any::TypeId::of::<Admitted>())
            || self.0.admit(&mut request)
            || may_send_any(ctx.data_opt::<Viewer>());
        if !admitted {
            return Err(not_in_list());
        }
        next.run(ctx, request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(documents: &[&str]) -> TrustedDocuments {
        TrustedDocuments {
            by_hash: documents
                .iter()
                .map(|text| (document_hash(text), (*text).to_owned()))
                .collect(),
        }
    }

    fn with_hash(query: &str, hash: &str) -> Request {
        let mut request = Request::new(query);
        request.extensions.insert(
            "persistedQuery".to_owned(),
            serde_json::from_value(serde_json::json!({ "version": 1, "sha256Hash": hash }))
                .unwrap(),
        );
        request
    }

    #[test]
    fn a_trusted_hash_brings_its_text_and_an_exact_text_is_trusted() {
        let me = "query Me { me { username } }";
        let trusted = manifest(&[me]);
        let mut by_hash = with_hash("", &document_hash(me).to_ascii_uppercase());
        assert!(trusted.admit(&mut by_hash));
        assert_eq!(by_hash.query, me);
        assert!(trusted.admit(&mut Request::new(me)));
        assert!(trusted.admit(&mut with_hash(me, &document_hash(me))));
    }

    #[test]
    fn anything_else_is_not_trusted() {
        let me = "query Me { me { username } }";
        let trusted = manifest(&[me]);
        let other = "query Me { me { username email } }";
        assert!(!trusted.admit(&mut Request::new(other)));
        assert!(!trusted.admit(&mut Request::new(format!("{me} "))));
        assert!(!trusted.admit(&mut with_hash("", &document_hash(other))));
        // A trusted hash does not vouch for another text sent with it.
        assert!(!trusted.admit(&mut with_hash(other, &document_hash(me))));
    }
}
