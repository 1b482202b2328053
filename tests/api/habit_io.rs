//! Habits in and out: Loop Habit Tracker's CSV export written and read, and the JSON export,
//! against golden files under `tests/golden/`. `AGORA_UPDATE_GOLDEN=1` rewrites the export's
//! golden files from what the server writes (then read the diff before committing it).

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::common::{Reply, TestApp, Tokens};
use crate::habits::{at, complete, create_id};
use crate::measurable::{record, water};

const EXPORT: &str =
    "query($f: HabitExportFormat!) { exportHabits(format: $f) { filename contentType base64 } }";
const IMPORT: &str = "mutation($v: ImportHabitsInput!) { importHabits(input: $v) { habitsCreated habitsMatched daysAdded daysUnchanged rowsIgnored refused { file line reason message } } }";
const HABITS: &str = "{ habits(first: 100) { edges { node { name description archived startsOn schedule { kind days } measure { unit target direction } completions(from: \"2026-02-01\") skips(from: \"2026-02-01\") values(from: \"2026-02-01\") { date value met } notes(from: \"2026-02-01\") { date note } } } } }";

fn golden(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(path)
}

/// The files of a zip, in archive order.
fn unzip(bytes: &[u8]) -> Vec<(String, String)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|index| {
            let mut file = archive.by_index(index).unwrap();
            let mut text = String::new();
            file.read_to_string(&mut text).unwrap();
            (file.name().unwrap().into_owned(), text)
        })
        .collect()
}

/// A zip of the files under `dir`, as Loop writes its export: paths relative to the folder.
fn zip_folder(dir: &Path) -> Vec<u8> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "csv") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for path in files {
        let name = path
            .strip_prefix(dir)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        zip.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(&std::fs::read(&path).unwrap()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

async fn export(t: &TestApp, who: &Tokens, format: &str) -> (Value, Vec<u8>) {
    let reply = t.gql_as(&who.access, EXPORT, json!({"f": format})).await;
    let file = reply.assert_ok()["exportHabits"].clone();
    let bytes = STANDARD.decode(file["base64"].as_str().unwrap()).unwrap();
    (file, bytes)
}

async fn import(t: &TestApp, who: &Tokens, bytes: &[u8]) -> Reply {
    let input = json!({"format": "LOOP_CSV", "data": STANDARD.encode(bytes)});
    t.gql_as(&who.access, IMPORT, json!({"v": input})).await
}

async fn habits(t: &TestApp, who: &Tokens) -> Vec<Value> {
    let reply = t.gql_as(&who.access, HABITS, json!({})).await;
    reply.assert_ok()["habits"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|edge| edge["node"].clone())
        .collect()
}

/// Ada's habits on Thursday 2026-03-05: a twice-weekly walk with a note that needs quoting and
/// a skip, and a measurable habit with a value short of its target and a zero.
async fn plan_ada(t: &TestApp, ada: &Tokens) {
    at(t, "2026-03-05T12:00:00Z");
    let walk = create_id(
        t,
        ada,
        "Walk",
        json!({"weekly": {"days": ["MONDAY", "THURSDAY"]}}),
        "2026-02-23",
    )
    .await;
    t.gql_as(
        &ada.access,
        "mutation($v: CompleteHabitInput!) { completeHabit(input: $v) { changed } }",
        json!({"v": {"habitId": walk, "date": "2026-02-23", "note": "brisk, \"cold\""}}),
    )
    .await
    .assert_ok();
    t.gql_as(
        &ada.access,
        "mutation($v: SkipHabitInput!) { skipHabit(input: $v) { changed } }",
        json!({"v": {"habitId": walk, "date": "2026-02-26", "note": "rain"}}),
    )
    .await
    .assert_ok();
    complete(t, ada, &walk, "2026-03-02").await.assert_ok();
    let water = water(t, ada, "2026-03-01").await;
    for (date, value) in [
        ("2026-03-01", 8.0),
        ("2026-03-02", 4.5),
        ("2026-03-04", 0.0),
    ] {
        let input = json!({"habitId": water, "date": date, "value": value});
        record(t, ada, input).await.assert_ok();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_loop_csv_export_is_loop_s_layout_file_for_file() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    plan_ada(&t, &ada).await;
    let (file, bytes) = export(&t, &ada, "LOOP_CSV").await;
    assert_eq!(file["filename"], "Loop Habits CSV 2026-03-05.zip");
    assert_eq!(file["contentType"], "application/zip");
    let files = unzip(&bytes);
    let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Habits.csv",
            "001 Walk/Scores.csv",
            "001 Walk/Checkmarks.csv",
            "002 Water/Scores.csv",
            "002 Water/Checkmarks.csv",
            "Scores.csv",
            "Checkmarks.csv",
        ]
    );
    let update = std::env::var("AGORA_UPDATE_GOLDEN").is_ok_and(|value| value == "1");
    for (name, text) in &files {
        let path = golden(&format!("loop-export/{name}"));
        if update {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
        }
        let expected = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, &expected, "{name} differs from its golden file");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_json_export_holds_every_habit_and_marked_day() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    plan_ada(&t, &ada).await;
    let (file, bytes) = export(&t, &ada, "JSON").await;
    assert_eq!(file["filename"], "agora-habits-2026-03-05.json");
    let exported: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(exported["format"], "agora-habits/1");
    let walk = &exported["habits"][0];
    assert_eq!(walk["schedule"], json!({"kind": "WEEKLY", "days": [0, 3]}));
    assert_eq!(
        walk["days"],
        json!([
            {"date": "2026-02-23", "done": true, "skipped": false, "value": null, "note": "brisk, \"cold\""},
            {"date": "2026-02-26", "done": false, "skipped": true, "value": null, "note": "rain"},
            {"date": "2026-03-02", "done": true, "skipped": false, "value": null, "note": ""},
        ])
    );
    let water = &exported["habits"][1];
    assert_eq!(
        water["measure"],
        json!({"unit": "glasses", "target": 8.0, "direction": "AT_LEAST"})
    );
    let values: Vec<(Value, Value)> = water["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|day| (day["value"].clone(), day["done"].clone()))
        .collect();
    assert_eq!(
        values,
        [
            (json!(8.0), json!(true)),
            (json!(4.5), json!(false)),
            (json!(0.0), json!(false)),
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_loop_export_imports_once_with_every_refused_row_reported() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    at(&t, "2026-03-05T12:00:00Z");
    let archive = zip_folder(&golden("loop-import"));
    let first = import(&t, &ada, &archive).await;
    let report = first.assert_ok()["importHabits"].clone();
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(golden("loop-import.report.json")).unwrap())
            .unwrap();
    assert_eq!(report, expected);

    let seen = habits(&t, &ada).await;
    let by_name = |name: &str| {
        seen.iter()
            .find(|habit| habit["name"] == name)
            .unwrap()
            .clone()
    };
    let meditate = by_name("Meditate");
    assert_eq!(meditate["schedule"]["kind"], "DAILY");
    assert_eq!(meditate["completions"], json!(["2026-03-01", "2026-03-04"]));
    assert_eq!(meditate["skips"], json!(["2026-03-02"]));
    assert_eq!(
        meditate["notes"],
        json!([{"date": "2026-03-02", "note": "travel"}, {"date": "2026-03-04", "note": "calm, quiet"}])
    );
    // Twice a week on the weekdays checked most.
    let gym = by_name("Gym");
    assert_eq!(
        (
            gym["schedule"].clone(),
            gym["startsOn"].clone(),
            gym["description"].clone()
        ),
        (
            json!({"kind": "WEEKLY", "days": ["MONDAY", "THURSDAY"]}),
            json!("2026-02-23"),
            json!("Strength days, twice a week")
        )
    );
    assert_eq!(
        gym["completions"],
        json!(["2026-02-23", "2026-02-26", "2026-03-02", "2026-03-05"])
    );
    // Loop's thousandths become values; its NO of a measurable habit is a zero.
    let run = by_name("Run");
    assert_eq!(
        run["measure"],
        json!({"unit": "km", "target": 5.0, "direction": "AT_LEAST"})
    );
    assert_eq!(
        run["values"],
        json!([
            {"date": "2026-03-01", "value": 0.0, "met": false},
            {"date": "2026-03-02", "value": 2.5, "met": false},
            {"date": "2026-03-05", "value": 6.5, "met": true},
        ])
    );
    assert_eq!(run["skips"], json!(["2026-03-03"]));
    let coffee = by_name("Coffee");
    assert_eq!(coffee["archived"], true);
    assert_eq!(coffee["measure"]["direction"], "AT_MOST");

    // Again, after the user changed a day: nothing new, and the changed day is kept.
    let run = habit_id_named(&t, &ada, "Run").await;
    record(&t, &ada, json!({"habitId": run, "value": 7}))
        .await
        .assert_ok();
    let again = import(&t, &ada, &archive).await;
    let again = again.assert_ok()["importHabits"].clone();
    assert_eq!(
        (
            again["habitsCreated"].clone(),
            again["habitsMatched"].clone(),
            again["daysAdded"].clone(),
            again["daysUnchanged"].clone(),
        ),
        (json!(0), json!(4), json!(0), json!(12))
    );
    let conflicts: Vec<&Value> = again["refused"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["reason"] == "CONFLICT")
        .collect();
    assert_eq!(
        conflicts,
        [
            &json!({"file": "003 Run/Checkmarks.csv", "line": 2, "reason": "CONFLICT",
                 "message": "2026-03-05 already holds another check-in"})
        ]
    );
    assert_eq!(habits(&t, &ada).await.len(), 4);
    assert_eq!(
        t.count("SELECT count(*) FROM habit_completions").await,
        13,
        "nothing was written twice"
    );
}

async fn habit_id_named(t: &TestApp, who: &Tokens, name: &str) -> String {
    let reply = t
        .gql_as(
            &who.access,
            "query($s: String) { habits(filter: {search: $s}, first: 5) { edges { node { id name } } } }",
            json!({"s": name}),
        )
        .await;
    reply.assert_ok()["habits"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|edge| edge["node"]["name"] == name)
        .unwrap()["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_export_imported_by_another_user_gives_the_same_days() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let bob = t.user("bob").await;
    plan_ada(&t, &ada).await;
    let (_, bytes) = export(&t, &ada, "LOOP_CSV").await;
    let reply = import(&t, &bob, &bytes).await;
    let report = reply.assert_ok()["importHabits"].clone();
    assert_eq!(report["refused"], json!([]), "{report}");
    let strip = |habits: Vec<Value>| -> Vec<Value> {
        habits
            .into_iter()
            .map(|habit| {
                json!([
                    habit["name"],
                    habit["schedule"],
                    habit["measure"],
                    habit["completions"],
                    habit["skips"],
                    habit["values"],
                    habit["notes"]
                ])
            })
            .collect()
    };
    assert_eq!(strip(habits(&t, &bob).await), strip(habits(&t, &ada).await));
}

#[tokio::test(flavor = "multi_thread")]
async fn files_that_are_not_loop_exports_are_refused_whole() {
    let t = TestApp::new().await;
    let ada = t.user("ada").await;
    let mut empty = zip::ZipWriter::new(Cursor::new(Vec::new()));
    empty
        .start_file("notes.txt", zip::write::SimpleFileOptions::default())
        .unwrap();
    let no_habits = empty.finish().unwrap().into_inner();
    for (data, message) in [
        ("%%%".to_owned(), "Not standard base64"),
        (STANDARD.encode(b"plain text"), "This is not a zip archive"),
        (
            STANDARD.encode(&no_habits),
            "No Habits.csv: this is not a Loop Habit Tracker CSV export",
        ),
    ] {
        let reply = t
            .gql_as(
                &ada.access,
                IMPORT,
                json!({"v": {"format": "LOOP_CSV", "data": data}}),
            )
            .await;
        assert_eq!(reply.error()["extensions"]["code"], "BAD_USER_INPUT");
        assert_eq!(reply.error()["extensions"]["field"], "data");
        assert_eq!(reply.error()["message"], message);
    }
    assert_eq!(t.count("SELECT count(*) FROM habits").await, 0);
}
