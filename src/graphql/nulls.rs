//! Errors and nulls as the GraphQL spec has them ("Handling Execution Errors"): a field that
//! raises an error answers `null`, its key still present, and a `null` in a non-null position
//! moves to the nearest nullable parent (an object's field or a list's item), up to
//! `data: null`.
//!
//! async-graphql 7 does neither: an object leaves an erroring field's key out, and an object
//! never turns `null` for a field inside it. Objects are resolved by code we do not own (its
//! containers, and our [`super::flat`] for page nodes), but every field passes through an
//! extension's `resolve` hook and through `flat`, which both know the field's declared type.
//! So each field's answer is completed there:
//! - an error is kept aside and the field answers `null` (the container then keeps the key);
//! - a `null` in a non-null position flags its parent position (the object, or the list item,
//!   it belongs to) as having to be `null`;
//! - a field whose own position, or one of whose list items' positions, was flagged by a field
//!   inside it answers `null` there, and so on upwards;
//! - the root's flag nulls `data`, and each nullable position a propagated `null` came to rest
//!   in is nulled again in the final answer (two selections of one response key are merged by
//!   the container after both resolved, which could bring the object back).
//!
//! Nothing here costs more than an atomic load and a look at the value while no error has
//! happened in the request.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextPrepareRequest, NextResolve,
    NextSubscribe, ResolveInfo,
};
use async_graphql::futures_util::stream::BoxStream;
use async_graphql::{
    QueryPathNode, QueryPathSegment, Request, Response, ServerError, ServerResult, Value,
};
use futures_util::StreamExt;

/// One step of a position in the answer: a response key (the alias where there is one) or a
/// list index.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// A position in the answer, from the root.
pub type Position = Vec<Step>;

/// The position `node` names; `None` is the root.
pub fn position(node: Option<&QueryPathNode<'_>>) -> Position {
    let mut steps = Vec::new();
    let mut current = node;
    while let Some(node) = current {
        steps.push(match node.segment {
            QueryPathSegment::Name(key) => Step::Key(key.to_owned()),
            QueryPathSegment::Index(index) => Step::Index(index),
        });
        current = node.parent;
    }
    steps.reverse();
    steps
}

/// What one request's execution has learnt about errors so far.
#[derive(Default)]
pub struct Completion {
    /// Whether `flagged` has anything: the one check a field makes while nothing went wrong.
    any_flagged: AtomicBool,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Objects and list items that must answer null, because a non-null field or item in them
    /// is null.
    flagged: HashSet<Position>,
    /// Errors of fields that now answer null, which their container would otherwise have
    /// recorded while dropping the key.
    errors: Vec<ServerError>,
    /// Nullable positions where a propagated null came to rest.
    landed: Vec<Position>,
}

/// A GraphQL type reference as the registry writes it (`[Item!]!`).
struct TypeRef<'a>(&'a str);

impl<'a> TypeRef<'a> {
    fn is_non_null(&self) -> bool {
        self.0.ends_with('!')
    }

    /// The item type, when this is a list type.
    fn item(&self) -> Option<TypeRef<'a>> {
        let nullable = self.0.strip_suffix('!').unwrap_or(self.0);
        nullable
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
            .map(TypeRef)
    }
}

impl Completion {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps a field's error for the answer; the field itself answers null.
    pub fn keep_error(&self, error: ServerError) {
        self.lock().errors.push(error);
    }

    /// Whether [`Self::complete`] may change `value`: only a null or an error anywhere before
    /// it calls for the field's declared type.
    pub fn may_change(&self, value: &Value) -> bool {
        *value == Value::Null || self.any_flagged.load(Ordering::Acquire)
    }

    /// The answer of the field at `node`, declared as `field_type`, with the nulls that errors
    /// inside it call for. Returns whether the answer is a null in a non-null position, which
    /// makes the parent position null too (it is flagged for whoever resolves that).
    pub fn complete(
        &self,
        node: &QueryPathNode<'_>,
        field_type: &str,
        value: Value,
    ) -> (Value, bool) {
        let field_type = TypeRef(field_type);
        let any_flagged = self.any_flagged.load(Ordering::Acquire);
        let null_in_non_null = value == Value::Null && field_type.is_non_null();
        if !any_flagged && !null_in_non_null {
            return (value, false);
        }
        let mut at = position(Some(node));
        let mut state = self.lock();
        let value = if any_flagged {
            state.apply(&mut at, &field_type, value)
        } else {
            value
        };
        let propagates = value == Value::Null && field_type.is_non_null();
        if propagates {
            at.pop();
            state.flagged.insert(at);
            self.any_flagged.store(true, Ordering::Release);
        }
        (value, propagates)
    }

    /// Adds the kept errors to the answer and applies the nulls that reached the root or came
    /// to rest, then starts afresh (a subscription's next event).
    pub fn finish(&self, response: &mut Response) {
        let state = std::mem::take(&mut *self.lock());
        self.any_flagged.store(false, Ordering::Release);
        response.errors.extend(state.errors);
        if state.flagged.contains(&Vec::new()) {
            response.data = Value::Null;
            return;
        }
        for at in &state.landed {
            null_at(&mut response.data, at);
        }
    }
}

impl State {
    /// `value` at position `at`, with the flagged positions at and under it made null and
    /// nulls in non-null list items moved up to the list.
    fn apply(&mut self, at: &mut Position, value_type: &TypeRef<'_>, value: Value) -> Value {
        if self.flagged.contains(at) {
            if !value_type.is_non_null() {
                self.landed.push(at.clone());
            }
            return Value::Null;
        }
        let Some(item_type) = value_type.item() else {
            return value;
        };
        let items = match value {
            Value::List(items) => items,
            other => return other,
        };
        let mut completed = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            at.push(Step::Index(index));
            let item = self.apply(at, &item_type, item);
            at.pop();
            if item == Value::Null && item_type.is_non_null() {
                if !value_type.is_non_null() {
                    self.landed.push(at.clone());
                }
                return Value::Null;
            }
            completed.push(item);
        }
        Value::List(completed)
    }
}

fn null_at(data: &mut Value, at: &[Step]) {
    let Some((last, parents)) = at.split_last() else {
        *data = Value::Null;
        return;
    };
    let mut current = data;
    for step in parents {
        let next = match (step, current) {
            (Step::Key(key), Value::Object(fields)) => fields.get_mut(key.as_str()),
            (Step::Index(index), Value::List(items)) => items.get_mut(*index),
            _ => None,
        };
        match next {
            Some(next) => current = next,
            None => return,
        }
    }
    match (last, current) {
        (Step::Key(key), Value::Object(fields)) => {
            if let Some(value) = fields.get_mut(key.as_str()) {
                *value = Value::Null;
            }
        }
        (Step::Index(index), Value::List(items)) => {
            if let Some(item) = items.get_mut(*index) {
                *item = Value::Null;
            }
        }
        _ => {}
    }
}

/// The extension that completes every field async-graphql resolves; [`super::flat`] does the
/// same for the fields it resolves, through the same [`Completion`] in the request's data.
pub struct NullPropagation;

impl ExtensionFactory for NullPropagation {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PerRequest(Arc::new(Completion::default())))
    }
}

struct PerRequest(Arc<Completion>);

#[async_trait::async_trait]
impl Extension for PerRequest {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        next.run(ctx, request.data(Arc::clone(&self.0))).await
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let mut response = next.run(ctx, operation_name).await;
        self.0.finish(&mut response);
        response
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let completion = Arc::clone(&self.0);
        next.run(ctx, stream)
            .map(move |mut response| {
                completion.finish(&mut response);
                response
            })
            .boxed()
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let path_node = info.path_node;
        let field_type = info.return_type;
        let value = match next.run(ctx, info).await {
            Ok(Some(value)) => value,
            Ok(None) => return Ok(None),
            Err(error) => {
                self.0.keep_error(error);
                Value::Null
            }
        };
        Ok(Some(self.0.complete(path_node, field_type, value).0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_references() {
        assert!(TypeRef("[Item!]!").is_non_null());
        assert!(!TypeRef("[Item!]").is_non_null());
        assert_eq!(TypeRef("[Item!]!").item().map(|item| item.0), Some("Item!"));
        assert_eq!(
            TypeRef("[[Int]!]").item().map(|item| item.0),
            Some("[Int]!")
        );
        assert!(TypeRef("Item!").item().is_none());
    }

    #[test]
    fn flagged_items_null_their_list_up_to_a_nullable_one() {
        let mut state = State::default();
        let key = |name: &str| Step::Key(name.to_owned());
        state.flagged.insert(vec![key("a"), Step::Index(1)]);
        let list = || Value::List(vec![Value::from(1), Value::from(2)]);

        let mut at = vec![key("a")];
        assert_eq!(
            state.apply(&mut at, &TypeRef("[Int]!"), list()),
            Value::List(vec![Value::from(1), Value::Null])
        );
        assert_eq!(state.landed, vec![vec![key("a"), Step::Index(1)]]);
        state.landed.clear();
        assert_eq!(
            state.apply(&mut at, &TypeRef("[Int!]"), list()),
            Value::Null
        );
        assert_eq!(state.landed, vec![vec![key("a")]]);
        assert_eq!(at, vec![key("a")]);
    }

    #[test]
    fn nulls_land_where_the_answer_has_them() {
        let mut data = Value::from_json(serde_json::json!({
            "a": [{"b": 1}, {"b": 2}],
            "c": {"d": true}
        }))
        .unwrap();
        null_at(&mut data, &[Step::Key("a".into()), Step::Index(1)]);
        null_at(&mut data, &[Step::Key("c".into()), Step::Key("d".into())]);
        null_at(&mut data, &[Step::Key("x".into()), Step::Key("y".into())]);
        assert_eq!(
            data.into_json().unwrap(),
            serde_json::json!({"a": [{"b": 1}, null], "c": {"d": null}})
        );
    }
}
