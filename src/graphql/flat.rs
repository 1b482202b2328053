//! Resolves the nodes of a page without a future per field.
//!
//! async-graphql resolves every field of every object as its own boxed future in a
//! `FuturesUnordered`, and every list item through the extension chain (building its type names
//! with `format!` each time). For a page of 50 items with four fields that is some 500 heap
//! allocations and task wake-ups to read data already in memory: 43 % of the server's
//! instructions for such a page (bench/RESULTS.md, step 5). Here an object's fields are resolved one after the
//! other inside one future, and the items of a list concurrently with each other, so a field that
//! awaits a DataLoader still batches with the same field of the other items.
//!
//! What this gives up, and why that is sound in this schema: per-field extension hooks (of our
//! extensions, `ShapeLimits` works on the whole document before execution, and the one field
//! hook, `NullPropagation`'s, is applied here directly: see [`super::nulls`]), and concurrency
//! between two slow fields of the same object (node fields read loaded rows, or a DataLoader
//! batched across the page). Objects with a custom directive on a field take async-graphql's own
//! path; `@skip` and `@include` have been applied before execution starts.

use std::borrow::Cow;
use std::sync::Arc;

use async_graphql::indexmap::IndexMap;
use async_graphql::indexmap::map::Entry;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::resolve_container;
use async_graphql::{
    ContextSelectionSet, Name, ObjectType, OutputType, Positioned, ServerError, ServerResult, Value,
};
use futures_util::future::try_join_all;

use super::nulls::Completion;

/// One object (or a reference to one), resolved field after field in one future. Its GraphQL
/// type is `Node`'s.
pub struct Flat<Node>(pub Node);

/// A list of objects, each resolved as [`Flat`]. Its GraphQL type is `[Node!]!`.
pub struct FlatList<Node>(pub Vec<Node>);

impl<Node: ObjectType> OutputType for Flat<Node> {
    fn type_name() -> Cow<'static, str> {
        Node::type_name()
    }

    fn qualified_type_name() -> String {
        Node::qualified_type_name()
    }

    fn introspection_type_name(&self) -> Cow<'static, str> {
        self.0.introspection_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        Node::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        resolve_object(ctx, &self.0).await
    }
}

impl<Node: ObjectType> OutputType for FlatList<Node> {
    fn type_name() -> Cow<'static, str> {
        Vec::<Node>::type_name()
    }

    fn qualified_type_name() -> String {
        Vec::<Node>::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        Vec::<Node>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<Field>,
    ) -> ServerResult<Value> {
        let Some(first) = self.0.first() else {
            return Ok(Value::List(Vec::new()));
        };
        // Every item is of the one object type, so the same fragments apply to each.
        let fields = selected_fields(ctx, first)?;
        let fields = fields.as_deref();
        let completion = ctx.data_opt::<Arc<Completion>>().map(Arc::as_ref);
        let items = self.0.iter().enumerate().map(|(index, node)| async move {
            let ctx_item = ctx.with_index(index);
            match fields {
                Some(fields) => resolve_fields(&ctx_item, node, fields, completion).await,
                None => resolve_container(&ctx_item, node).await,
            }
            .map_err(|error| ctx_item.set_error_path(error))
        });
        Ok(Value::List(try_join_all(items).await?))
    }
}

/// The object's selected fields in query order, with fragments that apply to it spread in;
/// `None` when a field carries a custom directive (only async-graphql's own path applies those).
fn selected_fields<'a, Node: ObjectType>(
    ctx: &ContextSelectionSet<'a>,
    node: &Node,
) -> ServerResult<Option<Vec<&'a Positioned<Field>>>> {
    let mut fields = Vec::new();
    Ok(collect_fields(ctx, node, &ctx.item.node, &mut fields)?.then_some(fields))
}

fn collect_fields<'a, Node: ObjectType>(
    ctx: &ContextSelectionSet<'a>,
    node: &Node,
    selection_set: &'a SelectionSet,
    fields: &mut Vec<&'a Positioned<Field>>,
) -> ServerResult<bool> {
    for selection in &selection_set.items {
        let (type_condition, nested) = match &selection.node {
            Selection::Field(field) => {
                if !field.node.directives.is_empty() {
                    return Ok(false);
                }
                fields.push(field);
                continue;
            }
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                let fragment = ctx.query_env.fragments.get(name).ok_or_else(|| {
                    ServerError::new(format!(r#"Unknown fragment "{name}"."#), Some(spread.pos))
                })?;
                (
                    Some(&fragment.node.type_condition),
                    &fragment.node.selection_set,
                )
            }
            Selection::InlineFragment(fragment) => (
                fragment.node.type_condition.as_ref(),
                &fragment.node.selection_set,
            ),
        };
        let applies = type_condition.is_none_or(|condition| {
            let condition = condition.node.on.node.as_str();
            let own_name = node.introspection_type_name();
            own_name == condition
                || ctx
                    .schema_env
                    .registry
                    .implements
                    .get(own_name.as_ref())
                    .is_some_and(|interfaces| interfaces.contains(condition))
        });
        if applies && !collect_fields(ctx, node, &nested.node, fields)? {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn resolve_object<Node: ObjectType>(
    ctx: &ContextSelectionSet<'_>,
    node: &Node,
) -> ServerResult<Value> {
    match selected_fields(ctx, node)? {
        Some(fields) => {
            let completion = ctx.data_opt::<Arc<Completion>>().map(Arc::as_ref);
            resolve_fields(ctx, node, &fields, completion).await
        }
        None => resolve_container(ctx, node).await,
    }
}

/// As async-graphql's serial container resolution, but as the spec has it: a field that fails
/// answers null and the error is reported, and a null in a non-null field makes the object null
/// (see [`super::nulls`]). A field selected twice under one name has its selections merged.
async fn resolve_fields<Node: ObjectType>(
    ctx: &ContextSelectionSet<'_>,
    node: &Node,
    fields: &[&Positioned<Field>],
    completion: Option<&Completion>,
) -> ServerResult<Value> {
    let mut values = IndexMap::with_capacity(fields.len());
    let mut nulled = false;
    for &field in fields {
        let ctx_field = ctx.with_field(field);
        let key = field.node.response_key().node.clone();
        let resolved = if field.node.name.node == "__typename" {
            Ok(Some(Value::String(
                node.introspection_type_name().into_owned(),
            )))
        } else {
            node.resolve_field(&ctx_field).await
        };
        let value = match resolved {
            Ok(value) => value.unwrap_or_default(),
            Err(error) => {
                ctx.add_error(error);
                Value::Null
            }
        };
        let value = match (completion, ctx_field.path_node.as_ref()) {
            (Some(completion), Some(path)) if completion.may_change(&value) => {
                let field_type = declared_type(ctx, node, field.node.name.node.as_str());
                let (value, propagates) = completion.complete(path, field_type, value);
                nulled |= propagates;
                value
            }
            _ => value,
        };
        insert_value(&mut values, key, value);
    }
    Ok(if nulled {
        Value::Null
    } else {
        Value::Object(values)
    })
}

/// The field's type as the schema declares it (`[Item!]!`); empty, so nullable, if unknown.
fn declared_type<'a, Node: ObjectType>(
    ctx: &ContextSelectionSet<'a>,
    node: &Node,
    field: &str,
) -> &'a str {
    ctx.schema_env
        .registry
        .types
        .get(node.introspection_type_name().as_ref())
        .and_then(|object| object.field_by_name(field))
        .map_or("", |field| field.ty.as_str())
}

fn insert_value(target: &mut IndexMap<Name, Value>, name: Name, value: Value) {
    // One hash of the name per field, where looking up and then inserting would take two.
    let existing = match target.entry(name) {
        Entry::Vacant(vacant) => {
            vacant.insert(value);
            return;
        }
        Entry::Occupied(occupied) => occupied.into_mut(),
    };
    match (existing, value) {
        (Value::Object(existing), Value::Object(more)) => {
            for (name, value) in more {
                insert_value(existing, name, value);
            }
        }
        (Value::List(existing), Value::List(more)) => {
            for (existing, more) in existing.iter_mut().zip(more) {
                if let (Value::Object(existing), Value::Object(more)) = (existing, more) {
                    for (name, value) in more {
                        insert_value(existing, name, value);
                    }
                }
            }
        }
        _ => {}
    }
}
