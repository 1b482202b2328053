//! The quote of the day, with the provider played by a stub on a loopback port
//! (`common::stub`): a good answer is stored and picked from, stable for the user's local day;
//! every kind of bad answer keeps what was stored; one instance of several fetches per
//! interval; the server fetches at start and warns of a failure without repeating the answer.

use std::collections::HashSet;
use std::time::Duration;

use agora::quotes::provider::Unanswered;
use agora::quotes::rules::{AnswerProblem, BUILT_IN};
use agora::quotes::{Failure, Fetch, fetch_if_due};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::common::stub::{Answer, StubServer};
use crate::common::{PASSWORD, Reply, TestApp, Tokens, eventually, free_port};

const QUOTE: &str = "{ quoteOfTheDay { text author } }";
/// The configured interval (the default, six hours) and a second more.
const PAST_INTERVAL: chrono::Duration = chrono::Duration::seconds(6 * 3600 + 1);

type Quote = (String, String);

/// `count` distinct quotes as a provider would list them.
fn quotes(prefix: &str, count: usize) -> Vec<Quote> {
    (1..=count)
        .map(|n| (format!("{prefix} quote {n}."), format!("Author {n}")))
        .collect()
}

/// A ZenQuotes answer listing `quotes`.
fn zen(quotes: &[Quote]) -> Value {
    let entries: Vec<Value> = quotes
        .iter()
        .map(|(text, author)| {
            json!({"q": text, "a": author, "h": format!("<blockquote>&ldquo;{text}&rdquo; &mdash; <footer>{author}</footer></blockquote>")})
        })
        .collect();
    Value::Array(entries)
}

fn built_in() -> HashSet<Quote> {
    BUILT_IN
        .iter()
        .map(|(text, author)| ((*text).to_owned(), (*author).to_owned()))
        .collect()
}

fn instant(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// Agora asking `provider` for quotes, with a one-second timeout.
async fn agora(provider: &StubServer) -> TestApp {
    let url = provider.url("/api/quotes");
    TestApp::with_config(|config| {
        config.quotes_url = Some(url);
        config.quotes_timeout_secs = 1;
    })
    .await
}

async fn quote_of(t: &TestApp, who: &Tokens) -> Quote {
    quote_in(&t.gql_as(&who.access, QUOTE, json!({})).await)
}

fn quote_in(reply: &Reply) -> Quote {
    let quote = &reply.assert_ok()["quoteOfTheDay"];
    (
        quote["text"].as_str().unwrap().to_owned(),
        quote["author"].as_str().unwrap().to_owned(),
    )
}

/// The stored quotes, in id order, with their ids and fetch times.
async fn stored(t: &TestApp) -> String {
    t.text(
        "SELECT coalesce(string_agg(id || '|' || text || '|' || author || '|' || fetched_at, E'\\n' ORDER BY id), '') AS t FROM quotes",
    )
    .await
}

/// The stored quotes in id order.
async fn stored_quotes(t: &TestApp) -> Vec<Quote> {
    let rows = t
        .text("SELECT coalesce(string_agg(text || '|' || author, E'\\n' ORDER BY id), '') AS t FROM quotes")
        .await;
    rows.lines()
        .map(|row| {
            let (text, author) = row.split_once('|').unwrap();
            (text.to_owned(), author.to_owned())
        })
        .collect()
}

async fn set_time_zone(t: &TestApp, who: &Tokens, zone: &str) {
    t.gql_as(
        &who.access,
        "mutation($z: String!) { updateProfile(input: {timeZone: $z}) { user { timeZone } } }",
        json!({ "z": zone }),
    )
    .await
    .assert_ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn before_any_fetch_a_signed_in_user_gets_a_built_in_quote() {
    let t = TestApp::new().await;
    assert_eq!(fetch_if_due(&t.app).await.unwrap(), Fetch::Off);
    let anonymous = t.gql(QUOTE, json!({})).await;
    assert_eq!(anonymous.code(), Some("UNAUTHENTICATED"));
    let ada = t.user("ada").await;
    assert!(built_in().contains(&quote_of(&t, &ada).await));

    // Any signed-in caller, whatever their permissions: a script's token for tasks will do.
    let created = crate::api_tokens::create(&t, &ada.access, &["tasks:manage"], None, PASSWORD);
    let created = created.await;
    let token = created.assert_ok()["createApiToken"]["token"]
        .as_str()
        .unwrap();
    let reply = t.gql_as(token, QUOTE, json!({})).await;
    assert!(built_in().contains(&quote_in(&reply)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_good_fetch_stores_the_valid_quotes_once_and_the_quote_comes_from_them() {
    let good = quotes("Good", 12);
    let mut answer = zen(&good);
    let entries = answer.as_array_mut().unwrap();
    entries.push(json!({"q": "Ring\u{7} a bell.", "a": "Ann"}));
    entries.push(json!({"q": "No author.", "a": "  "}));
    entries.push(json!({"q": "x".repeat(501), "a": "Ann"}));
    entries.push(json!({"q": good[0].0, "a": good[0].1}));
    let provider = StubServer::start(Answer::json(&answer)).await;
    let t = agora(&provider).await;
    let ada = t.user("ada").await;
    let t0 = instant("2025-06-01T00:00:00Z");
    t.app.clock.pin(t0);

    assert_eq!(fetch_if_due(&t.app).await.unwrap(), Fetch::Stored(12));
    assert_eq!(provider.requests(), 1);
    assert_eq!(stored_quotes(&t).await, good, "the valid ones, in order");
    let first = stored(&t).await;
    assert!(good.contains(&quote_of(&t, &ada).await));

    // The same answer an interval later writes the same rows: each quote keeps its id.
    t.app.clock.pin(t0 + PAST_INTERVAL);
    assert_eq!(fetch_if_due(&t.app).await.unwrap(), Fetch::Stored(12));
    assert_eq!(provider.requests(), 2);
    assert_eq!(stored_quotes(&t).await, good);
    assert_eq!(
        t.count(
            "SELECT count(*) FROM quotes WHERE fetched_at = (SELECT max(fetched_at) FROM quotes)"
        )
        .await,
        12,
        "seen again now"
    );
    assert_ne!(stored(&t).await, first, "only the fetch time moved");
    assert_eq!(
        t.text("SELECT string_agg(id::text, ',' ORDER BY id) AS t FROM quotes")
            .await,
        first
            .lines()
            .map(|row| row.split('|').next().unwrap())
            .collect::<Vec<_>>()
            .join(",")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_quote_holds_all_local_day_and_moves_with_the_date_and_the_user() {
    let provider = StubServer::start(Answer::json(&zen(&quotes("Daily", 20)))).await;
    let t = agora(&provider).await;
    let kiri = t.user("kiri").await;
    set_time_zone(&t, &kiri, "Pacific/Auckland").await;

    // Before any fetch, the built-in quote holds all day too.
    let morning = instant("2025-12-09T20:00:00Z"); // 09:00 on 10 December in Auckland
    let evening = instant("2025-12-10T08:00:00Z"); // 21:00 the same local day, a UTC day later
    t.app.clock.pin(morning);
    let built_in_morning = quote_of(&t, &kiri).await;
    t.app.clock.pin(evening);
    assert_eq!(quote_of(&t, &kiri).await, built_in_morning);

    t.app.clock.pin(instant("2025-12-01T00:00:00Z"));
    assert_eq!(fetch_if_due(&t.app).await.unwrap(), Fetch::Stored(20));
    let stored = stored_quotes(&t).await;

    t.app.clock.pin(morning);
    let today = quote_of(&t, &kiri).await;
    assert!(stored.contains(&today));
    // Quotes fetched during the day wait for the next one: the day's quote stays.
    provider.answer_with(Answer::json(&zen(&quotes("Later", 200))));
    t.app.clock.pin(morning + chrono::Duration::hours(6));
    assert_eq!(fetch_if_due(&t.app).await.unwrap(), Fetch::Stored(200));
    t.app.clock.pin(evening);
    assert_eq!(quote_of(&t, &kiri).await, today, "the same all local day");
    // The next day picks among all 220.
    let later = quotes("Later", 200);
    let mut from_later = false;
    for day in 1..=10 {
        t.app.clock.pin(morning + chrono::Duration::days(day));
        from_later |= later.contains(&quote_of(&t, &kiri).await);
    }
    assert!(
        from_later,
        "ten days never picked one of the 200 new quotes"
    );
    let stored = stored_quotes(&t).await;

    // Later local days (each at 09:00 in Auckland) pick by their own date.
    let mut seen = HashSet::from([today]);
    for day in 1..=10 {
        t.app.clock.pin(morning + chrono::Duration::days(day));
        let quote = quote_of(&t, &kiri).await;
        assert!(stored.contains(&quote));
        seen.insert(quote);
    }
    assert!(seen.len() >= 3, "eleven days gave {seen:?}");

    // Other users on the same day are spread over the quotes too.
    t.app.clock.pin(morning);
    let mut picks = HashSet::new();
    for name in ["ann", "bob", "cyd", "dee", "eve", "fay"] {
        let who = t.user(name).await;
        picks.insert(quote_of(&t, &who).await);
    }
    assert!(picks.len() >= 2, "six users all saw {picks:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_failed_fetch_keeps_the_stored_quotes_or_the_built_in_ones() {
    let good = quotes("Kept", 8);
    let provider = StubServer::start(Answer::json(&zen(&good))).await;
    let t = agora(&provider).await;
    let ada = t.user("ada").await;
    // Valid quotes, only too many of them, with and without a Content-Length.
    let oversized = zen(&quotes(&"long ".repeat(80), 3000)).to_string();
    assert!(oversized.len() > 1024 * 1024);
    let failures = [
        (
            Answer::json(&zen(&good)).after(Duration::from_secs(3)),
            Failure::Unanswered(Unanswered::TimedOut),
        ),
        (
            Answer::new(200, "application/json", r#"[{"q": "cut", "a": "#),
            Failure::Unusable(AnswerProblem::NotJson),
        ),
        (
            Answer::new(
                200,
                "text/html",
                "<html><body><h1>Maintenance</h1></body></html>",
            ),
            Failure::Unusable(AnswerProblem::NotJson),
        ),
        (
            Answer::json(&json!({"q": "An object", "a": "Not a list"})),
            Failure::Unusable(AnswerProblem::NotAnArray),
        ),
        (
            Answer::json(&json!([])),
            Failure::Unusable(AnswerProblem::NoValidQuote),
        ),
        (
            Answer::json(
                &json!([{"q": "", "a": "Nobody"}, {"q": "Too many requests. Obtain an auth key for unlimited access.", "a": "zenquotes.io"}]),
            ),
            Failure::Unusable(AnswerProblem::NoValidQuote),
        ),
        (
            Answer::new(500, "text/plain", "internal error"),
            Failure::Unanswered(Unanswered::Status(500)),
        ),
        (
            Answer::new(429, "application/json", zen(&good).to_string()),
            Failure::Unanswered(Unanswered::Status(429)),
        ),
        (
            Answer::new(302, "text/plain", ""),
            Failure::Unanswered(Unanswered::Status(302)),
        ),
        (
            Answer::new(200, "application/json", oversized.clone()),
            Failure::Unanswered(Unanswered::TooLarge),
        ),
        (
            Answer::new(200, "application/json", oversized).streamed(),
            Failure::Unanswered(Unanswered::TooLarge),
        ),
    ];
    let mut now = instant("2025-06-01T00:00:00Z");
    let mut asked = 0;
    let mut fetch = async |answer: &Answer| {
        provider.answer_with(answer.clone());
        now += PAST_INTERVAL;
        t.app.clock.pin(now);
        let fetched = fetch_if_due(&t.app).await.unwrap();
        asked += 1;
        assert_eq!(provider.requests(), asked);
        fetched
    };

    // With nothing stored, a failure leaves the built-in quotes.
    for (answer, failure) in &failures {
        assert_eq!(fetch(answer).await, Fetch::Failed(failure.clone()));
        assert_eq!(t.count("SELECT count(*) FROM quotes").await, 0);
        assert!(built_in().contains(&quote_of(&t, &ada).await));
    }

    assert_eq!(fetch(&Answer::json(&zen(&good))).await, Fetch::Stored(8));
    let kept = stored(&t).await;
    for (answer, failure) in &failures {
        assert_eq!(fetch(answer).await, Fetch::Failed(failure.clone()));
        assert_eq!(stored(&t).await, kept, "after {failure:?}");
        // Quotes serve from the day after they were first stored.
        let tomorrow = t.app.clock.now() + chrono::Duration::days(1);
        t.app.clock.pin(tomorrow);
        assert!(good.contains(&quote_of(&t, &ada).await));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_nobody_answers_for_is_a_failed_fetch() {
    let port = free_port();
    let t = TestApp::with_config(|config| {
        config.quotes_url = Some(format!("http://127.0.0.1:{port}/api/quotes"));
    })
    .await;
    let fetched = fetch_if_due(&t.app).await.unwrap();
    assert!(
        matches!(
            fetched,
            Fetch::Failed(Failure::Unanswered(Unanswered::Unreachable(_)))
        ),
        "{fetched:?}"
    );
    assert_eq!(t.count("SELECT count(*) FROM quotes").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_fetching_at_once_ask_the_provider_once_per_interval() {
    // A slow answer keeps the first fetch going while the others try.
    let answer = Answer::json(&zen(&quotes("Shared", 10))).after(Duration::from_millis(300));
    let provider = StubServer::start(answer).await;
    let t = agora(&provider).await;
    let other = agora::App::build(t.app.config.clone()).await.unwrap();
    let mut now = instant("2025-06-01T00:00:00Z");
    for round in 1..=3 {
        t.app.clock.pin(now);
        other.clock.pin(now);
        let (a, b, c, d) = tokio::join!(
            fetch_if_due(&t.app),
            fetch_if_due(&other),
            fetch_if_due(&t.app),
            fetch_if_due(&other),
        );
        let outcomes = [a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap()];
        let fetched = outcomes
            .iter()
            .filter(|outcome| **outcome == Fetch::Stored(10))
            .count();
        let skipped = outcomes
            .iter()
            .filter(|outcome| **outcome == Fetch::NotDue(now + chrono::Duration::hours(6)))
            .count();
        assert_eq!((fetched, skipped), (1, 3), "round {round}: {outcomes:?}");
        assert_eq!(provider.requests(), round);
        now += PAST_INTERVAL;
    }
    assert_eq!(t.count("SELECT count(*) FROM quotes").await, 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fetch_waits_out_the_interval_since_the_last_attempt() {
    let provider = StubServer::start(Answer::new(503, "text/plain", "down")).await;
    let t = agora(&provider).await;
    let t0 = instant("2025-06-01T00:00:00Z");
    let interval = chrono::Duration::hours(6);
    t.app.clock.pin(t0);
    let failed = Fetch::Failed(Failure::Unanswered(Unanswered::Status(503)));
    assert_eq!(fetch_if_due(&t.app).await.unwrap(), failed);

    // A failed attempt counts: the provider is not asked again within the interval.
    provider.answer_with(Answer::json(&zen(&quotes("Later", 5))));
    for at in [
        t0,
        t0 + chrono::Duration::minutes(1),
        t0 + interval - chrono::Duration::seconds(1),
    ] {
        t.app.clock.pin(at);
        assert_eq!(
            fetch_if_due(&t.app).await.unwrap(),
            Fetch::NotDue(t0 + interval)
        );
    }
    assert_eq!(provider.requests(), 1);

    t.app.clock.pin(t0 + interval);
    assert_eq!(fetch_if_due(&t.app).await.unwrap(), Fetch::Stored(5));
    assert_eq!(provider.requests(), 2);
    t.app.clock.pin(t0 + interval + chrono::Duration::hours(1));
    assert_eq!(
        fetch_if_due(&t.app).await.unwrap(),
        Fetch::NotDue(t0 + interval * 2)
    );
    assert_eq!(provider.requests(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_table_keeps_the_most_recently_fetched_thousand() {
    let first = quotes("First", 1000);
    let provider = StubServer::start(Answer::json(&zen(&first))).await;
    let t = agora(&provider).await;
    let t0 = instant("2025-06-01T00:00:00Z");
    t.app.clock.pin(t0);
    assert_eq!(fetch_if_due(&t.app).await.unwrap(), Fetch::Stored(1000));

    // Fifty new quotes and ten of the first seen again: fifty of those seen only then go.
    let mut second = quotes("Second", 50);
    second.extend(first[..10].iter().cloned());
    provider.answer_with(Answer::json(&zen(&second)));
    t.app.clock.pin(t0 + PAST_INTERVAL);
    assert_eq!(fetch_if_due(&t.app).await.unwrap(), Fetch::Stored(60));
    let kept: HashSet<Quote> = stored_quotes(&t).await.into_iter().collect();
    assert_eq!(kept.len(), 1000);
    assert!(second.iter().all(|quote| kept.contains(quote)));
    let dropped: Vec<&Quote> = first.iter().filter(|quote| !kept.contains(quote)).collect();
    // Seen equally long ago, the first listed (lowest ids) go first.
    assert_eq!(dropped, first[10..60].iter().collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_quote_costs_one_statement_however_many_are_stored() {
    let provider = StubServer::start(Answer::json(&zen(&quotes("Counted", 1000)))).await;
    let t = agora(&provider).await;
    let ada = t.user("ada").await;
    let statements = async |query: &str| {
        let before = agora::metrics::statements_sent();
        t.gql_as(&ada.access, query, json!({})).await.assert_ok();
        agora::metrics::statements_sent() - before
    };
    // The first request of a session also reads its permissions, kept for the next ones.
    statements("{ me { id } }").await;
    let me = statements("{ me { id } }").await;
    assert_eq!(
        statements("{ me { id } quoteOfTheDay { text } }").await,
        me + 1
    );
    assert_eq!(fetch_if_due(&t.app).await.unwrap(), Fetch::Stored(1000));
    assert_eq!(
        statements("{ me { id } quoteOfTheDay { text } }").await,
        me + 1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_server_fetches_at_start_and_warns_of_a_failure_without_the_answer() {
    let good = quotes("Served", 5);
    let provider = StubServer::start(Answer::json(&zen(&good))).await;
    let t = TestApp::new().await;
    // The key a provider's URL may carry stays out of the logs, like its answers.
    let url = provider.url("/api/quotes/key-SECRET-IN-URL");
    let server = t
        .binary(&[
            ("AGORA_QUOTES_URL", &url),
            ("AGORA_QUOTES_TIMEOUT_SECS", "2"),
        ])
        .await;
    eventually(
        Duration::from_secs(20),
        "quotes fetched at start",
        async || (t.count("SELECT count(*) FROM quotes").await == 5).then_some(()),
    )
    .await;
    // The server shares the test's database and secret: the test's tokens work there. Its day
    // began before the fetch, so it keeps a built-in quote; tomorrow's comes from the fetch.
    let ada = t.user("ada").await;
    let quote = quote_in(&server.gql(Some(&ada.access), QUOTE, json!({})).await);
    assert!(built_in().contains(&quote));
    t.app.clock.pin(Utc::now() + chrono::Duration::days(1));
    let tomorrow = t.sign_in("ada").await;
    assert!(good.contains(&quote_of(&t, &tomorrow).await));
    drop(server);

    // A second server, once the interval is over, fetches at its start and fails.
    t.sql("UPDATE quote_fetches SET last_attempt_at = now() - interval '7 hours'")
        .await;
    provider.answer_with(Answer::new(
        200,
        "text/html",
        "<html>SECRET-ANSWER-MARKER</html>",
    ));
    let server = t.binary(&[("AGORA_QUOTES_URL", &url)]).await;
    let warned = eventually(Duration::from_secs(20), "a warning", async || {
        let logs = server.logs();
        logs.iter()
            .any(|line| line.contains("fetching quotes failed"))
            .then_some(logs)
    })
    .await;
    assert_eq!(provider.requests(), 2);
    assert!(
        warned.iter().any(|line| line.contains("NotJson")),
        "{warned:#?}"
    );
    for line in &warned {
        assert!(!line.contains("SECRET"), "{line}");
    }
    assert_eq!(t.count("SELECT count(*) FROM quotes").await, 5);
}

#[test]
fn quote_settings_are_checked_at_start() {
    let valid = agora::config::Config::from_env().unwrap();
    assert!(valid.validate().is_ok());
    let refused = |adjust: fn(&mut agora::config::Config)| {
        let mut config = valid.clone();
        adjust(&mut config);
        config.validate().unwrap_err().to_string()
    };
    let message = refused(|c| c.quotes_url = Some("zenquotes.io/api/quotes?key=SECRET".into()));
    assert!(message.contains("AGORA_QUOTES_URL"), "{message}");
    assert!(!message.contains("SECRET"), "{message}");
    let message = refused(|c| c.quotes_url = Some("ftp://zenquotes.io/api/quotes".into()));
    assert!(message.contains("AGORA_QUOTES_URL"), "{message}");
    for interval in [0, 59, 8 * 24 * 3600] {
        let mut config = valid.clone();
        config.quotes_interval_secs = interval;
        let message = config.validate().unwrap_err().to_string();
        assert!(message.contains("AGORA_QUOTES_INTERVAL_SECS"), "{message}");
    }
    let message = refused(|c| c.quotes_timeout_secs = 0);
    assert!(message.contains("AGORA_QUOTES_TIMEOUT_SECS"), "{message}");
    let message = refused(|c| {
        c.quotes_interval_secs = 60;
        c.quotes_timeout_secs = 60;
    });
    assert!(message.contains("AGORA_QUOTES_TIMEOUT_SECS"), "{message}");

    let mut config = valid.clone();
    config.quotes_url = Some("https://zenquotes.io/api/quotes".into());
    config.quotes_interval_secs = 60;
    config.quotes_timeout_secs = 59;
    assert!(config.validate().is_ok());
}
