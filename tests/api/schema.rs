#[test]
fn schema_graphql_matches_the_code() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect("schema.graphql exists");
    assert!(
        committed == agora::graphql::sdl(),
        "schema.graphql is stale: rewrite it with `cargo run -- schema > schema.graphql` and commit it"
    );
}

/// Clients learn the API from its descriptions (GraphiQL's docs, codegen's comments), so every
/// type, field, argument, input field and enum value has one, and every deprecation says why.
#[test]
fn every_part_of_the_schema_is_documented() {
    use async_graphql::parser::types::{ConstDirective, TypeKind, TypeSystemDefinition};

    let document = async_graphql::parser::parse_schema(agora::graphql::sdl()).expect("SDL parses");
    let mut problems = Vec::new();
    let mut check = |path: String,
                     description: bool,
                     directives: &[async_graphql::Positioned<ConstDirective>]| {
        if !description {
            problems.push(format!("{path}: no description"));
        }
        for directive in directives {
            let directive = &directive.node;
            let has_reason = directive
                .get_argument("reason")
                .is_some_and(|reason| !reason.node.to_string().trim_matches('"').trim().is_empty());
            if directive.name.node == "deprecated" && !has_reason {
                problems.push(format!("{path}: deprecated without a reason"));
            }
        }
    };
    for definition in &document.definitions {
        let TypeSystemDefinition::Type(definition) = definition else {
            continue;
        };
        let definition = &definition.node;
        let name = definition.name.node.as_str();
        check(
            name.to_owned(),
            definition.description.is_some(),
            &definition.directives,
        );
        match &definition.kind {
            TypeKind::Object(object) => {
                for field in &object.fields {
                    let field = &field.node;
                    let path = format!("{name}.{}", field.name.node);
                    check(path.clone(), field.description.is_some(), &field.directives);
                    for argument in &field.arguments {
                        let argument = &argument.node;
                        check(
                            format!("{path}({}:)", argument.name.node),
                            argument.description.is_some(),
                            &argument.directives,
                        );
                    }
                }
            }
            TypeKind::Interface(interface) => {
                for field in &interface.fields {
                    let field = &field.node;
                    check(
                        format!("{name}.{}", field.name.node),
                        field.description.is_some(),
                        &field.directives,
                    );
                }
            }
            TypeKind::InputObject(input) => {
                for field in &input.fields {
                    let field = &field.node;
                    check(
                        format!("{name}.{}", field.name.node),
                        field.description.is_some(),
                        &field.directives,
                    );
                }
            }
            TypeKind::Enum(enumeration) => {
                for value in &enumeration.values {
                    let value = &value.node;
                    check(
                        format!("{name}.{}", value.value.node),
                        value.description.is_some(),
                        &value.directives,
                    );
                }
            }
            TypeKind::Scalar | TypeKind::Union(_) => {}
        }
    }
    assert!(
        problems.is_empty(),
        "{} parts of the schema lack documentation (doc comments on the Rust items, \
         #[graphql(desc = \"…\")] on arguments):\n{}",
        problems.len(),
        problems.join("\n")
    );
}
