#[test]
fn schema_graphql_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql exists");
    assert!(
        committed == agora::graphql::sdl(),
        "schema.graphql is stale: rewrite it with `cargo run -- schema > schema.graphql` and commit it"
    );
}
