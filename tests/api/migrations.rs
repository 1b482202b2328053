use diesel_async::{AsyncConnection, AsyncMigrationHarness, AsyncPgConnection};
use diesel_migrations::MigrationHarness;

use crate::common::TestApp;

/// Every migration's down.sql must undo its up.sql: revert them all on a migrated database,
/// then apply them again.
#[tokio::test(flavor = "multi_thread")]
async fn migrations_revert_and_reapply_cleanly() {
    let t = TestApp::new().await;
    let conn = AsyncPgConnection::establish(&t.app.config.database_url)
        .await
        .unwrap();
    let mut harness = AsyncMigrationHarness::new(conn);
    tokio::task::block_in_place(|| {
        let reverted = harness
            .revert_all_migrations(agora::db::MIGRATIONS)
            .expect("down.sql runs")
            .len();
        assert!(reverted > 0);
        let reapplied = harness
            .run_pending_migrations(agora::db::MIGRATIONS)
            .expect("up.sql runs again")
            .len();
        assert_eq!(reapplied, reverted);
    });
    drop(harness);
    t.user("after_redo").await;
}
