//! The quote of the day: quotes from a provider (`AGORA_QUOTES_URL`, ZenQuotes' shape) or a
//! built-in list, one picked for each user and local day.

pub mod model;
pub mod rules;
