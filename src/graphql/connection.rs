//! Relay cursor connections with `totalCount` (DESIGN.md §2): `first` defaults to 20 and may be
//! at most 100; `after` is an opaque cursor naming the last row seen (keyset pagination).

use std::borrow::Cow;

use async_graphql::connection::PageInfo;
use async_graphql::{Context, Object, ObjectType, TypeName};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::flat::{Flat, FlatList};
use crate::error::AppError;

pub const DEFAULT_PAGE_SIZE: i32 = 20;
pub const MAX_PAGE_SIZE: i32 = 100;

/// A page of `Node`s with its cursors, as every paged list answers.
pub struct CountedConnection<Node: ObjectType> {
    edges: Vec<PageEdge<Node>>,
    has_previous_page: bool,
    has_next_page: bool,
    /// `None` when the query did not select `totalCount`, so the list was not counted.
    total_count: Option<i64>,
}

/// `UserConnection` for `User` and so on, as async-graphql names its own connections.
impl<Node: ObjectType> TypeName for CountedConnection<Node> {
    fn type_name() -> Cow<'static, str> {
        format!("{}Connection", Node::type_name()).into()
    }
}

/// One page of a list, as a Relay cursor connection: `edges` (or just `nodes`), `pageInfo` to
/// ask for the next page (its `endCursor` as `after`), and `totalCount`. A page has at most
/// `first` nodes: 20 unless asked, never more than 100.
#[Object(name_type)]
impl<Node: ObjectType> CountedConnection<Node> {
    /// Information to aid in pagination.
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            has_previous_page: self.has_previous_page,
            has_next_page: self.has_next_page,
            start_cursor: self.edges.first().map(|edge| edge.cursor.clone()),
            end_cursor: self.edges.last().map(|edge| edge.cursor.clone()),
        }
    }

    /// A list of edges.
    async fn edges(&self) -> FlatList<&PageEdge<Node>> {
        FlatList(self.edges.iter().collect())
    }

    /// A list of nodes.
    async fn nodes(&self) -> FlatList<&Node> {
        FlatList(self.edges.iter().map(|edge| &edge.node).collect())
    }

    /// How many nodes the whole list has, across all pages.
    async fn total_count(&self) -> async_graphql::Result<i64> {
        self.total_count
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("totalCount was not counted")).into())
    }
}

/// One node of a page with its cursor. async-graphql's own `Edge` would resolve the node with a
/// future per field (see [`super::flat`]); this one is the same in the schema.
pub struct PageEdge<Node> {
    cursor: String,
    node: Node,
}

/// `ItemEdge` for `Item`, as async-graphql names its own edges.
impl<Node: ObjectType> TypeName for PageEdge<Node> {
    fn type_name() -> Cow<'static, str> {
        format!("{}Edge", Node::type_name()).into()
    }
}

/// An edge in a connection.
#[Object(name_type)]
impl<Node: ObjectType> PageEdge<Node> {
    /// The item at the end of the edge
    async fn node(&self) -> Flat<&Node> {
        Flat(&self.node)
    }

    /// A cursor for use in pagination
    async fn cursor(&self) -> &str {
        &self.cursor
    }
}

/// Whether the connection being resolved selects `totalCount`: counting a long list costs more
/// than fetching a page of it.
pub fn selects_total_count(ctx: &Context<'_>) -> bool {
    ctx.look_ahead().field("totalCount").exists()
}

/// Whether the connection being resolved selects `field` of its nodes, through `edges.node` or
/// `nodes`: a page can then load what that field needs for all its rows at once.
pub fn selects_node_field(ctx: &Context<'_>, field: &str) -> bool {
    let look_ahead = ctx.look_ahead();
    look_ahead
        .field("edges")
        .field("node")
        .field(field)
        .exists()
        || look_ahead.field("nodes").field(field).exists()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub size: i64,
    pub after_id: Option<i64>,
}

/// The page size `first` asks for, within bounds.
pub fn page_size(first: Option<i32>) -> Result<i64, AppError> {
    let size = first.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(0..=MAX_PAGE_SIZE).contains(&size) {
        return Err(AppError::bad_input(
            "first",
            format!("first must be between 0 and {MAX_PAGE_SIZE}"),
        ));
    }
    Ok(i64::from(size))
}

impl Page {
    pub fn parse(first: Option<i32>, after: Option<&str>) -> Result<Self, AppError> {
        Ok(Self {
            size: page_size(first)?,
            after_id: after.map(decode_cursor).transpose()?,
        })
    }

    /// Rows to fetch: one more than the page, to learn whether another page follows.
    pub fn fetch_limit(&self) -> i64 {
        self.size + 1
    }
}

pub fn encode_cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("id:{id}"))
}

fn decode_cursor(cursor: &str) -> Result<i64, AppError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix("id:")?.parse().ok())
        .ok_or_else(|| AppError::bad_input("after", "Not a cursor this list gave out"))
}

/// A cursor for lists in another order than by id: the sort key of the last row seen, so the
/// next page starts right after it even if that row has since left the list.
pub fn encode_key<Key: Serialize>(key: &Key) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

pub fn decode_key<Key: DeserializeOwned>(cursor: &str) -> Result<Key, AppError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| AppError::bad_input("after", "Not a cursor this list gave out"))
}

/// Builds the connection from up to `page.fetch_limit()` rows in id order.
pub fn connection<Row, Node: ObjectType>(
    rows: Vec<Row>,
    page: Page,
    total_count: impl Into<Option<i64>>,
    id_of: impl Fn(&Row) -> i64,
    into_node: impl Fn(Row) -> Node,
) -> CountedConnection<Node> {
    keyed_connection(
        rows,
        page.size,
        page.after_id.is_some(),
        total_count,
        |row| encode_cursor(id_of(row)),
        into_node,
    )
}

/// Builds the connection from up to `size + 1` rows in list order; the extra row only tells
/// that another page follows.
pub fn keyed_connection<Row, Node: ObjectType>(
    mut rows: Vec<Row>,
    size: i64,
    has_previous_page: bool,
    total_count: impl Into<Option<i64>>,
    cursor_of: impl Fn(&Row) -> String,
    into_node: impl Fn(Row) -> Node,
) -> CountedConnection<Node> {
    let has_next_page = rows.len() as i64 > size;
    rows.truncate(usize::try_from(size).unwrap_or(0));
    CountedConnection {
        edges: rows
            .into_iter()
            .map(|row| PageEdge {
                cursor: cursor_of(&row),
                node: into_node(row),
            })
            .collect(),
        has_previous_page,
        has_next_page,
        total_count: total_count.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_bounds_and_cursors() {
        assert_eq!(
            Page::parse(None, None).unwrap(),
            Page {
                size: 20,
                after_id: None
            }
        );
        assert_eq!(Page::parse(Some(100), None).unwrap().size, 100);
        assert!(Page::parse(Some(101), None).is_err());
        assert!(Page::parse(Some(-1), None).is_err());
        let cursor = encode_cursor(42);
        assert_eq!(
            Page::parse(Some(5), Some(&cursor)).unwrap().after_id,
            Some(42)
        );
        assert!(Page::parse(None, Some("not-a-cursor")).is_err());
        assert!(Page::parse(None, Some(&URL_SAFE_NO_PAD.encode("id:x"))).is_err());
    }

    #[test]
    fn keyed_cursors_round_trip_and_refuse_strangers() {
        let cursor = encode_key(&(3, "b".to_owned(), 9_i64));
        assert_eq!(
            decode_key::<(i32, String, i64)>(&cursor).unwrap(),
            (3, "b".to_owned(), 9)
        );
        assert!(decode_key::<(i32, String, i64)>(&encode_cursor(9)).is_err());
        assert!(decode_key::<(i32, String, i64)>("%%%").is_err());
    }
}
