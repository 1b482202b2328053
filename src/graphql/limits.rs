//! Limits on the shape of an operation that the schema's depth and complexity limits do not
//! cover: at most one credential-checking field per operation, so a thousand aliased `login`s
//! or `verifyMfa`s are refused before any password hash or code check runs.

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};

/// Fields that check a password, a code or a token.
pub const CREDENTIAL_FIELDS: [&str; 5] = [
    "login",
    "verifyMfa",
    "resetPassword",
    "refreshSession",
    "requestPasswordReset",
];

pub struct OneCredentialCheck;

impl ExtensionFactory for OneCredentialCheck {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OneCredentialCheck)
    }
}

#[async_trait::async_trait]
impl Extension for OneCredentialCheck {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        if most_credential_fields(&document) > 1 {
            return Err(ServerError::new(
                "An operation may check credentials once: send one login, verifyMfa, resetPassword, refreshSession or requestPasswordReset per request",
                None,
            ));
        }
        Ok(document)
    }
}

/// The most credential fields any one operation of the document holds.
fn most_credential_fields(document: &ExecutableDocument) -> usize {
    document
        .operations
        .iter()
        .map(|(_, operation)| {
            credential_fields(
                document,
                &operation.node.selection_set.node,
                &mut HashSet::new(),
            )
        })
        .max()
        .unwrap_or(0)
}

/// Credential fields at the top of `selections`, through fragments (each fragment once, so a
/// cyclic document, refused later by validation, cannot loop here).
fn credential_fields<'a>(
    document: &'a ExecutableDocument,
    selections: &'a SelectionSet,
    seen_fragments: &mut HashSet<&'a str>,
) -> usize {
    selections
        .items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(field) => {
                usize::from(CREDENTIAL_FIELDS.contains(&field.node.name.node.as_str()))
            }
            Selection::InlineFragment(fragment) => {
                credential_fields(document, &fragment.node.selection_set.node, seen_fragments)
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                match document.fragments.get(name) {
                    Some(fragment) if seen_fragments.insert(name) => credential_fields(
                        document,
                        &fragment.node.selection_set.node,
                        seen_fragments,
                    ),
                    _ => 0,
                }
            }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(query: &str) -> usize {
        let document = async_graphql::parser::parse_query(query).unwrap();
        document
            .operations
            .iter()
            .map(|(_, operation)| {
                credential_fields(
                    &document,
                    &operation.node.selection_set.node,
                    &mut HashSet::new(),
                )
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn aliases_fragments_and_inline_fragments_all_count() {
        assert_eq!(count("mutation { login(input: $a) { __typename } }"), 1);
        assert_eq!(
            count(
                "mutation { a: login(input: $a) { __typename } b: login(input: $b) { __typename } }"
            ),
            2
        );
        assert_eq!(
            count(
                "mutation { ...F ... on Mutation { verifyMfa(input: $v) { accessToken } } } fragment F on Mutation { login(input: $a) { __typename } }"
            ),
            2
        );
        assert_eq!(
            count(
                "mutation { ...F } fragment F on Mutation { ...F login(input: $a) { __typename } }"
            ),
            1
        );
        assert_eq!(count("{ me { id } }"), 0);
    }
}
