//! Bounds on the size of a request in elements, checked on the raw text before async-graphql
//! builds anything from it. The body is at most 1 MiB, but 1 MiB of `[0,0,0,…]` becomes half a
//! million `Value`s (about 40 MB) once parsed; a few such requests at once would exhaust the
//! server's memory long before any resolver could refuse the list.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// The longest array anywhere in a request's JSON (variables, extensions). Every list argument
/// has its own, smaller maximum; this one only keeps them from being materialised first.
pub const MAX_LIST_ITEMS: usize = 1000;
/// The longest query document. Real operations are a few KiB; a document is parsed into a
/// tree several times its size, list literals included.
pub const MAX_DOCUMENT_BYTES: usize = 128 * 1024;

/// Refuses JSON holding an array longer than [`MAX_LIST_ITEMS`], reading it without building
/// values. Malformed JSON passes: the parser that follows reports it.
pub fn check_json(bytes: &[u8]) -> Result<(), String> {
    let too_long = Cell::new(false);
    let mut reader = serde_json::Deserializer::from_slice(bytes);
    let _ = Scan(&too_long).deserialize(&mut reader);
    if too_long.get() {
        Err(format!(
            "A list in the request has more than {MAX_LIST_ITEMS} items"
        ))
    } else {
        Ok(())
    }
}

pub fn check_document(query: &str) -> Result<(), String> {
    if query.len() > MAX_DOCUMENT_BYTES {
        Err(format!(
            "The query document exceeds {} KiB",
            MAX_DOCUMENT_BYTES / 1024
        ))
    } else {
        Ok(())
    }
}

/// Visits every value, keeping nothing; stops at the first array that is too long.
#[derive(Clone, Copy)]
struct Scan<'a>(&'a Cell<bool>);

impl<'de> DeserializeSeed<'de> for Scan<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Scan<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        let mut count = 0;
        while items.next_element_seed(self)?.is_some() {
            count += 1;
            if count > MAX_LIST_ITEMS {
                self.0.set(true);
                return Err(de::Error::custom("list too long"));
            }
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut entries: A) -> Result<(), A::Error> {
        while entries.next_key::<IgnoredAny>()?.is_some() {
            entries.next_value_seed(self)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: usize) -> String {
        format!("[{}]", vec!["0"; items].join(","))
    }

    #[test]
    fn arrays_are_counted_wherever_they_are() {
        assert!(check_json(list(MAX_LIST_ITEMS).as_bytes()).is_ok());
        assert!(check_json(list(MAX_LIST_ITEMS + 1).as_bytes()).is_err());
        let nested = format!(
            r#"{{"query": "{{ a }}", "variables": {{"x": {{"y": [1, "s", null, {}]}}}}}}"#,
            list(MAX_LIST_ITEMS + 1)
        );
        assert!(check_json(nested.as_bytes()).unwrap_err().contains("1000"));
        let many_short = format!(r#"{{"a": [{}]}}"#, vec![list(3); MAX_LIST_ITEMS].join(","));
        assert!(check_json(many_short.as_bytes()).is_ok());
    }

    #[test]
    fn malformed_json_is_left_to_the_parser() {
        assert!(check_json(b"{\"query\": ").is_ok());
        assert!(check_json(b"not json").is_ok());
        // Cut off after more than the maximum: still refused for its length.
        let cut = &list(MAX_LIST_ITEMS + 5)[..2 * MAX_LIST_ITEMS + 8];
        assert!(check_json(cut.as_bytes()).is_err());
    }

    #[test]
    fn documents_are_bounded_in_bytes() {
        assert!(check_document(&"a".repeat(MAX_DOCUMENT_BYTES)).is_ok());
        assert!(check_document(&"a".repeat(MAX_DOCUMENT_BYTES + 1)).is_err());
    }
}
