//! Limits on the shape and cost of an operation, checked on the parsed document before
//! async-graphql walks it:
//! - at most one credential-checking field per operation, so a thousand aliased `login`s or
//!   `verifyMfa`s are refused before any password hash or code check runs;
//! - at most [`ShapeLimits::max_fields`] fields and fragment spreads per operation, each alias
//!   and each place a fragment is spread counted, so aliases cannot run a cheap field a
//!   thousand times, and fragments that spread each other cannot ask for exponentially many;
//! - nesting: data may be [`MAX_DEPTH`] fields deep. Introspection has a budget of its own,
//!   [`MAX_INTROSPECTION_DEPTH`], because the standard introspection query that GraphiQL,
//!   codegen and Apollo's tools send nests type references deeper than any data query needs
//!   (and production turns introspection off);
//!
//! and, once async-graphql has validated the document and computed its complexity (every field
//! occurrence 1, a page its nodes' cost times `first`), its cost: that complexity plus
//! [`DATABASE_FIELD_COST`] (or [`MUTATION_FIELD_COST`]) for each root field that reads the
//! database, at most [`MAX_COMPLEXITY`].
//!
//! A request whose caller has a budget (`crate::budgets`) carries its [`Ceilings`]: its depth and
//! cost are compared with those instead, after the validation outcome is found (kept or
//! computed), so a kept outcome never lets a request past its own ceilings.
//!
//! async-graphql's validation is a pure function of the schema, the document, the operation
//! name and the variables, and it was an eighth of the server's instructions for `me`: the
//! outcomes of recent requests are kept ([`Validated`]), so a client sending the same operation
//! with the same variables again skips it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextValidation,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{Request, ServerError, ServerResult, ValidationResult};

use crate::bounded::BoundedCache;
use crate::budgets::model::Ceilings;
use crate::error::code::GRAPHQL_VALIDATION_FAILED;

/// Each field costs 1 and paged lists multiply their nodes' cost by `first` (see
/// [`super::page_cost`]), so a full page of 100 items with a handful of fields fits, and ten of
/// them do not.
pub const MAX_COMPLEXITY: usize = 5_000;

/// What a root field of a query (or subscription) that reads the database costs on top of its
/// selection: 49 of them fit in [`MAX_COMPLEXITY`], so one request sends a bounded number of
/// statements (99 for 49 aliased `myItems(first: 1) { totalCount }`, where a thousand aliases
/// used to send 2,001).
///
/// A rule over root fields here rather than `#[graphql(complexity)]` on each resolver: every
/// root field opens a connection and sends statements of its own, except those in
/// [`ROOT_FIELDS_WITHOUT_DATABASE`], while nested fields read through the request's
/// DataLoaders, which batch a whole answer into one statement per loader. So a new root field
/// is priced from the start instead of when someone remembers the attribute.
pub const DATABASE_FIELD_COST: usize = 100;

/// A mutation's root fields run one after another, each a transaction of several statements
/// (seven for `createTheme`), holding its connection: 19 fit, 134 statements at most for
/// `createTheme`.
pub const MUTATION_FIELD_COST: usize = 250;

/// Root fields answered from what the request already holds: `me` is the account read with the
/// session, `myRequestLimits` its budget, the others come from the schema.
pub const ROOT_FIELDS_WITHOUT_DATABASE: [&str; 5] =
    ["me", "myRequestLimits", "__typename", "__schema", "__type"];

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
    /// `AGORA_MAX_FIELDS_PER_OPERATION`.
    pub max_fields: usize,
}

/// The limits with the validation outcomes they share between requests.
pub struct Limits {
    shape: ShapeLimits,
    validated: Arc<Validated>,
}

impl Limits {
    pub fn new(shape: ShapeLimits) -> Self {
        Self {
            shape,
            validated: Arc::default(),
        }
    }
}

impl ExtensionFactory for Limits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationLimits {
            limits: self.shape,
            database_cost: AtomicUsize::new(0),
            depth: AtomicUsize::new(0),
            validated: Arc::clone(&self.validated),
            validation_key: OnceLock::new(),
        })
    }
}

/// Successful validations of recent requests, by what decides them. Failures are not kept: a
/// refused request is rare and its errors carry positions worth computing afresh.
pub struct Validated(BoundedCache<ValidationKey, ValidationResult>);

/// The document's text, the operation's name and the variables as JSON.
type ValidationKey = (String, Option<String>, String);

const VALIDATED_CAPACITY: usize = 500;
/// Longer documents or variables are validated every time, so the cache pins at most
/// `VALIDATED_CAPACITY` × 5 KiB.
const MAX_KEPT_DOCUMENT: usize = 4096;
const MAX_KEPT_VARIABLES: usize = 1024;

impl Default for Validated {
    fn default() -> Self {
        Self(BoundedCache::new(VALIDATED_CAPACITY))
    }
}

impl Validated {
    fn key_of(request: &Request) -> Option<ValidationKey> {
        if request.query.len() > MAX_KEPT_DOCUMENT {
            return None;
        }
        let variables = serde_json::to_string(&request.variables).ok()?;
        (variables.len() <= MAX_KEPT_VARIABLES).then(|| {
            (
                request.query.clone(),
                request.operation_name.clone(),
                variables,
            )
        })
    }
}

/// The limits as one request sees them: what its document's database fields cost is found
/// before async-graphql parses the document, and added to its complexity once that is known.
struct OperationLimits {
    limits: ShapeLimits,
    database_cost: AtomicUsize,
    /// How deep the document's data fields nest, found with the database cost.
    depth: AtomicUsize,
    validated: Arc<Validated>,
    /// Set once the request is prepared; `None` inside when its outcome is not to be kept.
    validation_key: OnceLock<Option<ValidationKey>>,
}

fn refusal(message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    super::set_code(&mut error, GRAPHQL_VALIDATION_FAILED);
    error
}

#[async_trait::async_trait]
impl Extension for OperationLimits {
    /// Runs before async-graphql's own parse step, whose recursion check expands every fragment
    /// wherever it is spread: a few fragments that each spread the next twice kept a core busy
    /// for minutes before any later hook could refuse them.
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        // A text that does not parse is left to the parse step, which reports it.
        if let Ok(document) = request.parsed_query() {
            let (cost, depth) = self.limits.check(document)?;
            self.database_cost.store(cost, Ordering::Relaxed);
            self.depth.store(depth, Ordering::Relaxed);
        }
        // The request as validation will see it, after every extension prepared it.
        let request = next.run(ctx, request).await?;
        let _ = self.validation_key.set(Validated::key_of(&request));
        Ok(request)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        // The HTTP layer sets them; a WebSocket's operations run under the server's.
        let (max_depth, max_complexity) = ctx
            .data_opt::<Ceilings>()
            .map_or((MAX_DEPTH, MAX_COMPLEXITY), |ceilings| {
                (ceilings.max_depth, ceilings.max_complexity)
            });
        let depth = self.depth.load(Ordering::Relaxed);
        if depth > max_depth {
            return Err(vec![refusal(format!(
                "Query is nested too deep: {depth} levels, at most {max_depth} allowed for this caller's budget"
            ))]);
        }
        let key = self.validation_key.get().and_then(Option::as_ref);
        let kept = key.and_then(|key| self.validated.0.get(key));
        let mut result = match kept {
            Some(result) => result,
            None => {
                let result = next.run(ctx).await?;
                if let Some(key) = key {
                    self.validated.0.put(key.clone(), result);
                }
                result
            }
        };
        // async-graphql's complexity, like the database cost, covers every operation of the
        // document.
        result.complexity = result
            .complexity
            .saturating_add(self.database_cost.load(Ordering::Relaxed));
        if result.complexity > max_complexity {
            return Err(vec![refusal(format!(
                "Query is too complex: it costs {}, at most {max_complexity} is allowed (each field 1, a page its fields times `first`, each top-level field that reads the database {DATABASE_FIELD_COST} more, each mutation {MUTATION_FIELD_COST})",
                result.complexity
            ))]);
        }
        Ok(result)
    }
}

impl ShapeLimits {
    /// Refuses a document over the shape limits; otherwise what its root fields that read the
    /// database add to its cost, and how deep its data fields nest.
    fn check(&self, document: &ExecutableDocument) -> ServerResult<(usize, usize)> {
        if !self.introspection && most_root_fields(document, is_introspection) > 0 {
            return Err(refusal(
                "Introspection is turned off on this server, but the query asks for __schema or __type".to_owned(),
            ));
        }
        if most_root_fields(document, is_credential_check) > 1 {
            return Err(refusal(format!(
                "An operation may check credentials once: send one of {} per request",
                CREDENTIAL_FIELDS.join(", ")
            )));
        }
        // Before the depth, whose walk is only bounded once this count is.
        for (_, operation) in document.operations.iter() {
            let mut left = self.max_fields;
            let selections = &operation.node.selection_set.node;
            match count_selections(document, selections, &mut Vec::new(), &mut left) {
                Ok(()) => {}
                Err(Overflow::Selections) => {
                    return Err(refusal(format!(
                        "The operation selects more than {} fields (AGORA_MAX_FIELDS_PER_OPERATION): every alias counts, and a fragment's fields and the spread itself count each time it is spread",
                        self.max_fields
                    )));
                }
                Err(Overflow::Cycle(name)) => {
                    return Err(refusal(format!(
                        "Fragment \"{name}\" spreads itself, directly or through other fragments"
                    )));
                }
            }
        }
        let mut data_depth = 0;
        for (_, operation) in document.operations.iter() {
            let selections = &operation.node.selection_set.node;
            let mut path = Vec::new();
            let nested = depth(document, selections, Introspection::Skipped, &mut path);
            if depth(document, selections, Introspection::Counted, &mut path)
                > MAX_INTROSPECTION_DEPTH
                || nested > MAX_DEPTH
            {
                return Err(refusal("Query is nested too deep.".to_owned()));
            }
            data_depth = data_depth.max(nested);
        }
        let cost = document
            .operations
            .iter()
            .map(|(_, operation)| {
                let fields = root_fields(
                    document,
                    &operation.node.selection_set.node,
                    reads_database,
                    &mut HashSet::new(),
                );
                let each = match operation.node.ty {
                    OperationType::Mutation => MUTATION_FIELD_COST,
                    OperationType::Query | OperationType::Subscription => DATABASE_FIELD_COST,
                };
                fields.saturating_mul(each)
            })
            .fold(0, usize::saturating_add);
        Ok((cost, data_depth))
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

/// Why [`count_selections`] stopped.
enum Overflow<'a> {
    Selections,
    /// This fragment is spread inside itself (a document validation refuses anyway).
    Cycle(&'a str),
}

/// Counts the fields and fragment spreads of `selections` against `left`, each fragment
/// expanded wherever it is spread, and stops as soon as `left` is used up: a document of
/// fragments that spread the next one twice, level after level, asks for exponentially many.
/// `path` holds the fragments being expanded.
fn count_selections<'a>(
    document: &'a ExecutableDocument,
    selections: &'a SelectionSet,
    path: &mut Vec<&'a str>,
    left: &mut usize,
) -> Result<(), Overflow<'a>> {
    for selection in &selections.items {
        match &selection.node {
            Selection::Field(field) => {
                take_one(left)?;
                count_selections(document, &field.node.selection_set.node, path, left)?;
            }
            Selection::InlineFragment(fragment) => {
                count_selections(document, &fragment.node.selection_set.node, path, left)?;
            }
            Selection::FragmentSpread(spread) => {
                take_one(left)?;
                let name = spread.node.fragment_name.node.as_str();
                if path.contains(&name) {
                    return Err(Overflow::Cycle(name));
                }
                if let Some(fragment) = document.fragments.get(name) {
                    path.push(name);
                    count_selections(document, &fragment.node.selection_set.node, path, left)?;
                    path.pop();
                }
            }
        }
    }
    Ok(())
}

fn take_one<'a>(left: &mut usize) -> Result<(), Overflow<'a>> {
    *left = left.checked_sub(1).ok_or(Overflow::Selections)?;
    Ok(())
}

pub(crate) fn reads_database(field: &str) -> bool {
    !ROOT_FIELDS_WITHOUT_DATABASE.contains(&field)
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

    fn selections(query: &str, limit: usize) -> Result<usize, String> {
        let document = async_graphql::parser::parse_query(query).unwrap();
        let (_, operation) = document.operations.iter().next().unwrap();
        let mut left = limit;
        match count_selections(
            &document,
            &operation.node.selection_set.node,
            &mut Vec::new(),
            &mut left,
        ) {
            Ok(()) => Ok(limit - left),
            Err(Overflow::Selections) => Err("too many".to_owned()),
            Err(Overflow::Cycle(name)) => Err(name.to_owned()),
        }
    }

    #[test]
    fn selections_count_aliases_and_each_use_of_a_fragment() {
        assert_eq!(selections("{ me { id } }", 10), Ok(2));
        assert_eq!(selections("{ a: me { id } b: me { id } }", 10), Ok(4));
        assert_eq!(
            selections(
                "{ me { ...U roles { ...R } } } fragment U on User { id } fragment R on Role { ...N ...N } fragment N on Role { name }",
                20
            ),
            // me, the spread of U and its id, roles, the spread of R, and twice N with its name.
            Ok(9)
        );
        assert_eq!(selections("{ ... on Query { me { id } } }", 10), Ok(2));
        assert_eq!(
            selections("{ a: me { id } b: me { id } }", 3),
            Err("too many".to_owned())
        );
        assert_eq!(
            selections(
                "{ me { ...A } } fragment A on User { ...B } fragment B on User { ...A }",
                10
            ),
            Err("A".to_owned())
        );
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
