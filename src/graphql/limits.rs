//! Limits on the shape of an operation, checked as soon as it parses:
//! - at most one credential-checking field per operation, so a thousand aliased `login`s or
//!   `verifyMfa`s are refused before any password hash or code check runs;
//! - nesting: data may be [`MAX_DEPTH`] fields deep. Introspection has a budget of its own,
//!   [`MAX_INTROSPECTION_DEPTH`], because the standard introspection query that GraphiQL,
//!   codegen and Apollo's tools send nests type references deeper than any data query needs
//!   (and production turns introspection off).

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};

/// Fields that check a password, a code or a token. The re-authenticating ones count too: a
/// stolen session could otherwise test thousands of guessed passwords in one request.
pub const CREDENTIAL_FIELDS: [&str; 12] = [
    "login",
    "verifyMfa",
    "resetPassword",
    "refreshSession",
    "requestPasswordReset",
    "changePassword",
    "changeEmail",
    "createApiToken",
    "beginTwoFactorSetup",
    "confirmTwoFactorSetup",
    "disableTwoFactor",
    "regenerateRecoveryCodes",
];

/// Deeper data queries are refused before execution (DESIGN.md §6).
pub const MAX_DEPTH: usize = 12;
/// graphql-js's `getIntrospectionQuery` (as GraphiQL 4 sends it) is 13 deep.
pub const MAX_INTROSPECTION_DEPTH: usize = 20;

#[derive(Clone, Copy)]
pub struct ShapeLimits {
    /// Off in production. async-graphql's own switch answers `__schema: null` without an
    /// error, a null in a non-null field; the document is refused here instead, as Apollo
    /// Server does.
    pub introspection: bool,
}

impl ExtensionFactory for ShapeLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

#[async_trait::async_trait]
impl Extension for ShapeLimits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        if !self.introspection && most_root_fields(&document, is_introspection) > 0 {
            let mut error = ServerError::new(
                "Introspection is turned off on this server, but the query asks for __schema or __type",
                None,
            );
            super::set_code(&mut error, crate::error::code::GRAPHQL_VALIDATION_FAILED);
            return Err(error);
        }
        if most_root_fields(&document, is_credential_check) > 1 {
            return Err(ServerError::new(
                format!(
                    "An operation may check credentials once: send one of {} per request",
                    CREDENTIAL_FIELDS.join(", ")
                ),
                None,
            ));
        }
        let too_deep = document.operations.iter().any(|(_, operation)| {
            let selections = &operation.node.selection_set.node;
            let mut path = Vec::new();
            depth(&document, selections, Introspection::Counted, &mut path)
                > MAX_INTROSPECTION_DEPTH
                || depth(&document, selections, Introspection::Skipped, &mut path) > MAX_DEPTH
        });
        if too_deep {
            return Err(ServerError::new("Query is nested too deep.", None));
        }
        Ok(document)
    }
}

#[derive(Clone, Copy)]
enum Introspection {
    Counted,
    /// `__schema` and `__type` count as one level, whatever they select.
    Skipped,
}

/// How many fields deep `selections` nest, through fragments. `path` holds the fragments being
/// expanded, so a cyclic document (refused later by validation) cannot loop here.
fn depth<'a>(
    document: &'a ExecutableDocument,
    selections: &'a SelectionSet,
    introspection: Introspection,
    path: &mut Vec<&'a str>,
) -> usize {
    selections
        .items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(field) => {
                let field = &field.node;
                let is_introspection = matches!(field.name.node.as_str(), "__schema" | "__type");
                if is_introspection && matches!(introspection, Introspection::Skipped) {
                    1
                } else {
                    1 + depth(document, &field.selection_set.node, introspection, path)
                }
            }
            Selection::InlineFragment(fragment) => depth(
                document,
                &fragment.node.selection_set.node,
                introspection,
                path,
            ),
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                match document.fragments.get(name) {
                    Some(fragment) if !path.contains(&name) => {
                        path.push(name);
                        let nested = depth(
                            document,
                            &fragment.node.selection_set.node,
                            introspection,
                            path,
                        );
                        path.pop();
                        nested
                    }
                    _ => 0,
                }
            }
        })
        .max()
        .unwrap_or(0)
}

fn is_credential_check(field: &str) -> bool {
    CREDENTIAL_FIELDS.contains(&field)
}

fn is_introspection(field: &str) -> bool {
    matches!(field, "__schema" | "__type")
}

/// The most root fields named as `wanted` says that any one operation of the document holds.
fn most_root_fields(document: &ExecutableDocument, wanted: fn(&str) -> bool) -> usize {
    document
        .operations
        .iter()
        .map(|(_, operation)| {
            root_fields(
                document,
                &operation.node.selection_set.node,
                wanted,
                &mut HashSet::new(),
            )
        })
        .max()
        .unwrap_or(0)
}

/// Fields `wanted` at the top of `selections`, through fragments (each fragment once, so a
/// cyclic document, refused later by validation, cannot loop here).
fn root_fields<'a>(
    document: &'a ExecutableDocument,
    selections: &'a SelectionSet,
    wanted: fn(&str) -> bool,
    seen_fragments: &mut HashSet<&'a str>,
) -> usize {
    selections
        .items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(field) => usize::from(wanted(field.node.name.node.as_str())),
            Selection::InlineFragment(fragment) => root_fields(
                document,
                &fragment.node.selection_set.node,
                wanted,
                seen_fragments,
            ),
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                match document.fragments.get(name) {
                    Some(fragment) if seen_fragments.insert(name) => root_fields(
                        document,
                        &fragment.node.selection_set.node,
                        wanted,
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
        most_root_fields(&document, is_credential_check)
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

    #[test]
    fn introspection_is_found_through_fragments() {
        let found = |query: &str| {
            let document = async_graphql::parser::parse_query(query).unwrap();
            most_root_fields(&document, is_introspection)
        };
        assert_eq!(found("{ __schema { types { name } } }"), 1);
        assert_eq!(
            found("{ ...Q } fragment Q on Query { __type(name: \"User\") { name } }"),
            1
        );
        assert_eq!(found("{ me { __typename id } __typename }"), 0);
    }

    fn depths(query: &str) -> (usize, usize) {
        let document = async_graphql::parser::parse_query(query).unwrap();
        let (_, operation) = document.operations.iter().next().unwrap();
        let selections = &operation.node.selection_set.node;
        (
            depth(
                &document,
                selections,
                Introspection::Skipped,
                &mut Vec::new(),
            ),
            depth(
                &document,
                selections,
                Introspection::Counted,
                &mut Vec::new(),
            ),
        )
    }

    #[test]
    fn depth_follows_fragments_each_time_they_are_used() {
        assert_eq!(depths("{ me { id } }"), (2, 2));
        assert_eq!(
            depths("{ me { ...U roles { users { ...U } } } } fragment U on User { id }"),
            (4, 4)
        );
        assert_eq!(
            depths("{ ...Q } fragment Q on Query { ...Q me { id } }"),
            (2, 2)
        );
        assert_eq!(
            depths("{ me { id } __schema { types { fields { type { ofType { name } } } } } }"),
            (2, 6)
        );
    }
}
