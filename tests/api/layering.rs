//! The layering rules of README's "Layout", read from `src/`: a store uses only the database
//! layer, models, errors and other stores; rules do no I/O and know no GraphQL; no `graphql.rs`
//! imports another module's `graphql.rs`, nor opens a connection or calls a store (resolvers go
//! through domain functions); SQL and diesel's query builder appear only in stores and
//! `src/db/`; and SQL reads no clock of its own. Each broken rule is reported as
//! `file:line`, with the line.

use std::path::{Path, PathBuf};

#[derive(Debug, PartialEq)]
struct Violation {
    line: usize,
    rule: &'static str,
    found: String,
}

const STORE: &str = "a store uses only crate::db, crate::error, crate::request, models and stores";
const RULES: &str = "rules do no I/O and know no GraphQL";
const GRAPHQL: &str = "a graphql.rs imports no other module's graphql";
const RESOLVER: &str = "a resolver reaches the database only through a domain function";
const SQL: &str = "SQL and diesel's query builder only in stores and src/db";
const CLOCK: &str = "SQL takes now as a bind parameter from the app clock";

#[derive(Clone, Copy, PartialEq, Debug)]
enum Role {
    Store,
    Rules,
    Graphql,
    Model,
    Database,
    Other,
}

/// What a file under `src/` is, from its path relative to `src/`.
fn role(relative: &str) -> Role {
    let parts: Vec<&str> = relative.split('/').collect();
    let name = parts.last().copied().unwrap_or_default();
    if parts[0] == "db" {
        Role::Database
    } else if name == "store.rs" || parts[..parts.len() - 1].contains(&"store") {
        Role::Store
    } else if name == "rules.rs" {
        Role::Rules
    } else if name == "model.rs" {
        Role::Model
    } else if name == "graphql.rs" {
        Role::Graphql
    } else {
        Role::Other
    }
}

/// The module path of a file: `auth/mfa/graphql.rs` is `["auth", "mfa", "graphql"]`.
fn module_of(relative: &str) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The source with comments removed and string literals emptied (their text returned apart,
/// with the line each starts on), newlines kept so line numbers hold. Code after a top-level
/// `#[cfg(test)]` is unit tests, which the rules do not cover.
fn code_and_strings(source: &str) -> (String, Vec<(usize, String)>) {
    let cut = source
        .lines()
        .scan(0, |offset, line| {
            let start = *offset;
            *offset += line.len() + 1;
            Some((start, line))
        })
        .find(|(_, line)| line.starts_with("#[cfg(test)]"))
        .map_or(source.len(), |(start, _)| start);
    let chars: Vec<char> = source[..cut].chars().collect();
    let (mut code, mut strings) = (String::new(), Vec::new());
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                if chars[i] == '\n' {
                    code.push('\n');
                    line += 1;
                }
                i += 1;
            }
            i += 2;
        } else if c == '\'' && next.is_some() && chars.get(i + 2) == Some(&'\'') {
            // A character literal such as '"' must not open a string.
            code.push_str("' '");
            i += 3;
        } else if c == '"'
            || (c == 'r' && matches!(next, Some('"' | '#')) && is_raw_start(&chars, i))
        {
            let start_line = line;
            let hashes = if c == 'r' {
                i += 1;
                let mut count = 0;
                while chars[i] == '#' {
                    count += 1;
                    i += 1;
                }
                Some(count)
            } else {
                None
            };
            i += 1;
            let mut text = String::new();
            while i < chars.len() {
                let ch = chars[i];
                if hashes.is_none() && ch == '\\' {
                    text.push(ch);
                    text.extend(chars.get(i + 1));
                    i += 2;
                    continue;
                }
                if ch == '"' {
                    let closing = hashes.unwrap_or(0);
                    if (1..=closing).all(|k| chars.get(i + k) == Some(&'#')) {
                        i += 1 + closing;
                        break;
                    }
                }
                if ch == '\n' {
                    code.push('\n');
                    line += 1;
                }
                text.push(ch);
                i += 1;
            }
            code.push_str("\"\"");
            strings.push((start_line, text));
        } else {
            if c == '\n' {
                line += 1;
            }
            code.push(c);
            i += 1;
        }
    }
    (code, strings)
}

/// Whether the `r` at `i` opens a raw string rather than ending an identifier (`for"`).
fn is_raw_start(chars: &[char], i: usize) -> bool {
    i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// Every path the code names, with its line: the trees of `use` items spelled out
/// (`use a::{b, c::d}` names `a::b` and `a::c::d`) and the paths written in expressions and
/// types (`crate::db::conn(...)`).
fn paths(code: &str) -> Vec<(usize, Vec<String>)> {
    let mut found = Vec::new();
    let tokens = tokenize(code);
    let mut i = 0;
    while i < tokens.len() {
        let (line, token) = &tokens[i];
        if token == "use" {
            let end = tokens[i..]
                .iter()
                .position(|(_, t)| t == ";")
                .map_or(tokens.len(), |at| i + at);
            let tree: Vec<&str> = tokens[i + 1..end].iter().map(|(_, t)| t.as_str()).collect();
            for path in expand_use(&tree) {
                found.push((*line, path));
            }
            i = end + 1;
            continue;
        }
        let starts_path = is_ident(token) && (i == 0 || tokens[i - 1].1 != "::");
        if starts_path && tokens.get(i + 1).is_some_and(|(_, t)| t == "::") {
            let mut path = vec![token.clone()];
            let mut j = i + 1;
            while tokens.get(j).is_some_and(|(_, t)| t == "::")
                && tokens.get(j + 1).is_some_and(|(_, t)| is_ident(t))
            {
                path.push(tokens[j + 1].1.clone());
                j += 2;
            }
            found.push((*line, path));
            i = j;
            continue;
        }
        i += 1;
    }
    found
}

fn is_ident(token: &str) -> bool {
    token
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

fn tokenize(code: &str) -> Vec<(usize, String)> {
    let mut tokens = Vec::new();
    for (number, text) in code.lines().enumerate() {
        let chars: Vec<char> = text.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c.is_alphanumeric() || c == '_' {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                tokens.push((number + 1, chars[start..i].iter().collect()));
            } else if c == ':' && chars.get(i + 1) == Some(&':') {
                tokens.push((number + 1, "::".to_owned()));
                i += 2;
            } else {
                if !c.is_whitespace() {
                    tokens.push((number + 1, c.to_string()));
                }
                i += 1;
            }
        }
    }
    tokens
}

/// `a :: { b , c :: d as e , self }` as tokens → `a::b`, `a::c::d`, `a`.
fn expand_use(tree: &[&str]) -> Vec<Vec<String>> {
    fn walk(tree: &[&str], prefix: &[String], out: &mut Vec<Vec<String>>) {
        let mut path = prefix.to_vec();
        let mut i = 0;
        while i < tree.len() {
            match tree[i] {
                "::" | "pub" => i += 1,
                "{" => {
                    let mut depth = 0;
                    let mut start = i + 1;
                    for j in i..tree.len() {
                        match tree[j] {
                            "{" => depth += 1,
                            "}" => depth -= 1,
                            "," if depth == 1 => {
                                walk(&tree[start..j], &path, out);
                                start = j + 1;
                            }
                            _ => {}
                        }
                        if depth == 0 {
                            walk(&tree[start..j], &path, out);
                            return;
                        }
                    }
                    return;
                }
                "as" => break,
                "self" => {
                    i += 1;
                }
                segment => {
                    path.push(segment.to_owned());
                    i += 1;
                }
            }
        }
        if !path.is_empty() && path.len() > prefix.len() || tree.contains(&"self") {
            out.push(path);
        }
    }
    let mut out = Vec::new();
    walk(tree, &[], &mut out);
    out
}

/// A path as seen from the crate root: `super::store` in `auth/mfa/graphql.rs` is
/// `auth::mfa::store`. Paths into other crates (and child modules named without `self::`)
/// are returned as written, with `false`.
fn resolve(module: &[String], path: &[String]) -> (Vec<String>, bool) {
    match path.first().map(String::as_str) {
        Some("crate") => (path[1..].to_vec(), true),
        Some("super") | Some("self") => {
            let mut base = module.to_vec();
            let mut rest = path;
            while let Some(first) = rest.first() {
                match first.as_str() {
                    "super" => {
                        base.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            (base, true)
        }
        _ => (path.to_vec(), false),
    }
}

const IO_CRATES: [&str; 9] = [
    "async_graphql",
    "diesel",
    "diesel_async",
    "tokio",
    "redis",
    "lettre",
    "axum",
    "reqwest",
    "hyper",
];
const QUERY_BUILDER: [&str; 7] = [
    "insert_into",
    "update",
    "delete",
    "select",
    "sql_query",
    "dsl",
    "prelude",
];
const QUERY_TRAITS: [&str; 4] = [
    "RunQueryDsl",
    "QueryDsl",
    "ExpressionMethods",
    "BoolExpressionMethods",
];

/// The violations in one file, `relative` to `src/`.
fn check(relative: &str, source: &str) -> Vec<Violation> {
    let role = role(relative);
    let module = module_of(relative);
    let (code, strings) = code_and_strings(source);
    let mut violations = Vec::new();
    let mut flag = |line: usize, rule: &'static str, found: String| {
        let seen = |v: &Violation| v.line == line && v.rule == rule;
        if !violations.iter().any(seen) {
            violations.push(Violation { line, rule, found });
        }
    };
    for (line, path) in paths(&code) {
        let (absolute, in_crate) = resolve(&module, &path);
        let written = path.join("::");
        let segment = |at: usize| absolute.get(at).map(String::as_str);
        let names = |name: &str| absolute.iter().skip(1).any(|part| part == name);
        if in_crate {
            let allowed_in_store = matches!(segment(0), Some("db" | "error" | "request"))
                || names("model")
                || names("store");
            if role == Role::Store && !allowed_in_store && absolute != module {
                flag(line, STORE, written.clone());
            }
            if role == Role::Rules
                && (matches!(segment(0), Some("db" | "graphql" | "http"))
                    || names("store")
                    || names("graphql")
                    || names("loader"))
            {
                flag(line, RULES, written.clone());
            }
            let own_domain_graphql =
                absolute.len() >= module.len() && absolute[..module.len()] == module[..];
            if role == Role::Graphql && names("graphql") && !own_domain_graphql {
                flag(line, GRAPHQL, written.clone());
            }
            // A store's types (filters, cursors) are input to its domain's functions; its
            // functions, the store module itself and a connection are not for resolvers.
            let store_function = names("store")
                && absolute
                    .last()
                    .is_some_and(|last| last.starts_with(|c: char| c.is_lowercase()));
            if role == Role::Graphql && (segment(0) == Some("db") || store_function) {
                flag(line, RESOLVER, written.clone());
            }
            if !matches!(role, Role::Store | Role::Database | Role::Model)
                && absolute.starts_with(&["db".to_owned(), "schema".to_owned()])
            {
                flag(line, SQL, written.clone());
            }
        } else {
            let root = absolute.first().map(String::as_str).unwrap_or_default();
            if role == Role::Rules && IO_CRATES.contains(&root) {
                flag(line, RULES, written.clone());
            }
            if role == Role::Store && root == "async_graphql" {
                flag(line, STORE, written.clone());
            }
            let builder = matches!(root, "diesel" | "diesel_async")
                && absolute.iter().skip(1).any(|part| {
                    QUERY_BUILDER.contains(&part.as_str()) || QUERY_TRAITS.contains(&part.as_str())
                });
            let builder_outside_models = builder && role != Role::Model;
            let query_trait = absolute
                .last()
                .is_some_and(|last| QUERY_TRAITS.contains(&last.as_str()))
                && matches!(root, "diesel" | "diesel_async");
            if !matches!(role, Role::Store | Role::Database)
                && (builder_outside_models || (query_trait && role == Role::Model))
            {
                flag(line, SQL, written.clone());
            }
            if absolute.ends_with(&["dsl".to_owned(), "now".to_owned()]) {
                flag(line, CLOCK, written.clone());
            }
        }
    }
    for (number, text) in code.lines().enumerate() {
        let calls_sql = tokenize(text).iter().any(|(_, token)| token == "sql_query");
        if calls_sql && !matches!(role, Role::Store | Role::Database) {
            flag(number + 1, SQL, text.trim().to_owned());
        }
    }
    for (line, text) in strings {
        let sql = text.to_lowercase();
        let reads_clock = [
            "now()",
            "current_timestamp",
            "current_date",
            "localtimestamp",
        ]
        .iter()
        .any(|clock| sql.contains(clock));
        if reads_clock && role != Role::Database {
            flag(line, CLOCK, text.trim().chars().take(80).collect());
        }
    }
    violations
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("src/ is readable")
        .map(|entry| entry.expect("a readable entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            into.push(path);
        }
    }
}

#[test]
fn src_keeps_its_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut report = Vec::new();
    for file in &files {
        let relative = file
            .strip_prefix(&src)
            .expect("under src/")
            .to_string_lossy()
            .into_owned();
        let source = std::fs::read_to_string(file).expect("a readable source file");
        for violation in check(&relative, &source) {
            report.push(format!(
                "src/{relative}:{}: {} ({})",
                violation.line, violation.rule, violation.found
            ));
        }
    }
    assert!(
        files.len() > 50,
        "found only {} files under src/",
        files.len()
    );
    assert!(
        report.is_empty(),
        "layering rules broken:\n{}",
        report.join("\n")
    );
}

/// The checker itself: each rule, planted in a file where it applies, is found on its line;
/// the same code where it is allowed is not.
#[test]
fn a_planted_violation_is_named_by_its_line() {
    let found = |relative: &str, source: &str| -> Vec<(usize, &'static str)> {
        check(relative, source)
            .into_iter()
            .map(|v| (v.line, v.rule))
            .collect()
    };
    let store = "use diesel::prelude::*;\nuse crate::db::schema::users;\nuse super::model::User;\nuse crate::auth::{store::live, rules::name};\n";
    assert_eq!(found("auth/store.rs", store), [(4, STORE)]);
    let store_call = "fn f() {\n    let x = 1;\n    crate::text::fold_identifier(\"x\");\n}\n";
    assert_eq!(found("accounts/store.rs", store_call), [(3, STORE)]);
    assert_eq!(found("accounts/mod.rs", store_call), []);

    let rules = "use chrono::NaiveDate;\n\nuse async_graphql::Enum;\n";
    assert_eq!(found("tasks/rules.rs", rules), [(3, RULES)]);
    let rules_store = "fn f() { super::store::load(); }\n";
    assert_eq!(found("tasks/rules.rs", rules_store), [(1, RULES)]);

    let graphql = "use crate::graphql::ContextExt;\nuse super::store;\nuse crate::habits::graphql::{calendar, listed};\n";
    assert_eq!(
        found("stats/graphql.rs", graphql),
        [(2, RESOLVER), (3, GRAPHQL)]
    );
    let sub_domain = "use super::mfa::graphql::reauthenticate;\n";
    assert_eq!(found("auth/graphql.rs", sub_domain), [(1, GRAPHQL)]);
    assert_eq!(
        found(
            "graphql/mod.rs",
            "use crate::habits::graphql::HabitQuery;\n"
        ),
        []
    );

    let resolver = "use super::store::{self, UserFilter};\nfn f() {\n    let c = crate::db::conn(pool);\n    super::store::list_roles(c);\n}\n";
    assert_eq!(
        found("rbac/graphql.rs", resolver),
        [(1, RESOLVER), (3, RESOLVER), (4, RESOLVER)]
    );
    assert_eq!(found("rbac/mod.rs", resolver), []);

    let sql =
        "use diesel_async::RunQueryDsl;\n\nfn f() {\n    diesel::sql_query(\"SELECT 1\");\n}\n";
    assert_eq!(found("admin.rs", sql), [(1, SQL), (4, SQL)]);
    assert_eq!(found("admin/store.rs", sql), []);
    let model = "use diesel::prelude::*;\nuse crate::db::schema::users;\n";
    assert_eq!(found("accounts/model.rs", model), []);
    assert_eq!(
        found("accounts/graphql.rs", model),
        [(1, SQL), (2, RESOLVER), (2, SQL)]
    );

    let clock = "const Q: &str = \"UPDATE sessions\n SET seen = now()\";\n";
    assert_eq!(found("auth/store.rs", clock), [(1, CLOCK)]);

    let commented = "// use crate::habits::graphql::calendar;\n/// crate::db::schema::users\nfn f() -> &'static str { \"crate::habits::graphql\" }\n#[cfg(test)]\nmod tests { use crate::habits::graphql::calendar; }\n";
    assert_eq!(found("stats/graphql.rs", commented), []);
}

/// README's "Layout" is the map a newcomer reads first: every path it names exists, and every
/// module under `src/` (file or folder, at any depth of folders) is on it.
#[test]
fn readme_layout_matches_the_tree() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md is readable");
    let section = readme
        .split("\n## Layout\n")
        .nth(1)
        .expect("README has a Layout section");
    let block = section
        .split("```")
        .nth(1)
        .expect("the Layout section opens with a code block");
    let listed: Vec<&str> = block
        .lines()
        .filter(|line| !line.starts_with(' '))
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    let missing: Vec<&&str> = listed
        .iter()
        .filter(|path| !root.join(path.trim_end_matches('/')).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "README's Layout names paths that do not exist: {missing:?}"
    );

    let mut modules = Vec::new();
    let mut folders = vec![root.join("src")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("a readable folder") {
            let path = entry.expect("a readable entry").path();
            let relative = path.strip_prefix(root).expect("under the root");
            let name = relative.to_string_lossy().into_owned();
            if path.is_dir() {
                modules.push(format!("{name}/"));
                folders.push(path);
            } else if folder == root.join("src") {
                modules.push(name);
            }
        }
    }
    let unlisted: Vec<&String> = modules
        .iter()
        .filter(|module| !listed.contains(&module.as_str()))
        .collect();
    assert!(
        unlisted.is_empty(),
        "README's Layout leaves out: {unlisted:?}"
    );
}
