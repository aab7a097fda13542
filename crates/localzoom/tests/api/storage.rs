//! A database that cannot take writes (a full disk, a lost connection) gives 503 in Zoom's shape, never a 500 or a
//! partial write, and `/healthz` fails until storage works again.

use localzoom_test_macros::backend_test;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

/// Makes every change of users and of the server's own records fail in the database itself, as a full disk would
/// (`failing = true`), or work again.
fn break_storage(app: &TestApp, failing: bool) {
    let url = &app._db.url;
    let tables = ["users", "meta", "access_tokens"];
    match app._db.postgres_parts() {
        None => {
            let path = url.trim_start_matches("sqlite://");
            let conn = rusqlite::Connection::open(path).unwrap();
            for table in tables {
                let sql = if failing {
                    format!(
                        "CREATE TRIGGER full_{table}_update BEFORE UPDATE ON {table} \
                         BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END; \
                         CREATE TRIGGER full_{table}_insert BEFORE INSERT ON {table} \
                         BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;"
                    )
                } else {
                    format!("DROP TRIGGER full_{table}_update; DROP TRIGGER full_{table}_insert;")
                };
                conn.execute_batch(&sql).unwrap();
            }
        }
        Some((base, schema)) => {
            let mut sql = format!("SET search_path TO {schema};");
            if failing {
                sql.push_str(
                    "CREATE FUNCTION disk_full() RETURNS trigger AS \
                     $$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device'; END $$ \
                     LANGUAGE plpgsql;",
                );
                for table in tables {
                    sql.push_str(&format!(
                        "CREATE TRIGGER full_{table} BEFORE INSERT OR UPDATE ON {table} \
                         FOR EACH ROW EXECUTE FUNCTION disk_full();"
                    ));
                }
            } else {
                sql.push_str("DROP FUNCTION disk_full() CASCADE;");
            }
            pg_execute(&base, &sql);
        }
    }
}

#[backend_test]
async fn a_failing_database_answers_503_and_fails_the_health_check_until_it_recovers() {
    let app = TestApp::spawn().await;
    let id = app.member("stored@example.com").await;
    let health = || async {
        app.send(app.http.get(format!("{}/healthz", app.base)))
            .await
    };
    health().await.assert_status(200);

    break_storage(&app, true);
    let refused = app
        .call(
            Method::PATCH,
            &format!("/users/{id}"),
            Some(json!({ "job_title": "Lost" })),
        )
        .await;
    refused.assert_error(
        503,
        503,
        "The service cannot store or read data right now; the request was not carried out. Try again later.",
    );
    // Clients and load balancers are told when to try again.
    assert_eq!(refused.headers["retry-after"], "1");
    // The OAuth endpoints answer in their own shape, with RFC 6749's code for it.
    let token = app
        .send(
            app.http
                .post(format!(
                    "{}/oauth/token?grant_type=account_credentials&account_id={ACCOUNT_ID}",
                    app.base
                ))
                .basic_auth(CLIENT_ID, Some(CLIENT_SECRET)),
        )
        .await;
    token.assert_status(503);
    assert_eq!(token.body["error"], "temporarily_unavailable");
    assert_eq!(token.headers["retry-after"], "1");
    // Readiness fails; liveness does not (restarting the node would not bring storage back).
    let unhealthy = health().await;
    unhealthy.assert_status(503);
    assert_eq!(unhealthy.body["status"], "unavailable");
    assert_eq!(unhealthy.headers["retry-after"], "1");
    let live = app.send(app.http.get(format!("{}/livez", app.base))).await;
    live.assert_status(200);
    assert_eq!(live.body["status"], "ok");
    // Reads still work, and the refused write left nothing behind.
    assert_ne!(
        app.get(&format!("/users/{id}")).await.body["job_title"],
        "Lost"
    );

    break_storage(&app, false);
    // The health check probes storage with a write at most once a second: it clears within about that.
    let mut recovered = false;
    for _ in 0..40 {
        if health().await.status == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(recovered, "/healthz still fails after storage recovered");
    app.call(
        Method::PATCH,
        &format!("/users/{id}"),
        Some(json!({ "job_title": "Found" })),
    )
    .await
    .assert_status(204);
    assert_eq!(
        app.get(&format!("/users/{id}")).await.body["job_title"],
        "Found"
    );
}

/// A write that runs a statement the database refuses and carries on as if it had not (PostgreSQL then refuses the
/// rest of the transaction) fails alone: the writes batched with it commit, and nothing of its own is kept.
#[backend_test]
async fn a_write_that_ignores_a_failed_statement_fails_alone() {
    use localzoom_server::store::{StoreError, WriteScope};
    let app = TestApp::spawn().await;
    app.member("hides@example.com").await;
    let kept = app.member("kept@example.com").await;
    let scope = || WriteScope::Account(ACCOUNT_ID.into());
    let ignoring = app.db().write_in(scope(), move |tx| async move {
        let s = &tx;
        let result: Result<(), StoreError> = {
            let mut copy = s
                .user_by_email(ACCOUNT_ID, "hides@example.com")
                .await?
                .unwrap();
            copy.id = "CopyOfHides000000000".into();
            copy.pmi += 1;
            // Refused (the e-mail is taken), and ignored.
            let _ = s.insert_user(&copy).await;
            Ok(())
        };
        result
    });
    let kept_id = kept.clone();
    let honest = app.db().write_in(scope(), move |tx| async move {
        let s = &tx;

        let mut user = s.user_by_id(ACCOUNT_ID, &kept_id).await?.unwrap();
        user.dept = "Kept".into();
        s.update_user(&user).await
    });
    let (ignoring, honest) = tokio::join!(ignoring, honest);
    honest.unwrap();
    match app._db.postgres_parts() {
        Some(_) => assert_eq!(
            ignoring,
            Err(StoreError::Unavailable(
                "a statement of the write failed".into()
            ))
        ),
        // SQLite undoes the refused statement alone; the write goes on and commits what it did.
        None => ignoring.unwrap(),
    }
    assert_eq!(
        app.get(&format!("/users/{kept}")).await.body["dept"],
        "Kept"
    );
    app.get("/users/CopyOfHides000000000").await.assert_error(
        404,
        1001,
        "User does not exist: CopyOfHides000000000.",
    );
}

/// A write that moved a user between the counts `GET /users` reports (`total_records`) and then failed leaves
/// nothing of that move behind for a write committed in the same batch: the next update of the user counts it
/// where its row says, not where the failed write had put it.
#[backend_test]
async fn a_failed_write_leaves_the_user_counts_to_the_writes_batched_after_it() {
    use localzoom_server::domain::user::Status;
    use localzoom_server::store::{StoreError, WriteScope};
    let app = TestApp::spawn().await;
    let user = app.member("moved@example.com").await;
    let total = |status: &'static str| {
        let app = &app;
        async move { app.get(&format!("/users?status={status}")).await.body["total_records"].clone() }
    };
    let (active, inactive) = (total("active").await, total("inactive").await);
    let scope = || WriteScope::Account(ACCOUNT_ID.into());
    // Holds the writer, so that the two writes after it wait together and commit as one batch.
    let holding = app.db().write_in(scope(), move |tx| async move {
        let _ = &tx;
        let result: Result<(), StoreError> = {
            std::thread::sleep(std::time::Duration::from_millis(300));
            Ok(())
        };
        result
    });
    let id = user.clone();
    let failing = app.db().write_in(scope(), move |tx| async move {
        let s = &tx;

        let mut moved = s.user_by_id(ACCOUNT_ID, &id).await?.unwrap();
        moved.status = Status::Inactive;
        s.update_user(&moved).await?;
        Err::<(), _>(StoreError::Corrupt("refused on purpose".into()))
    });
    let id = user.clone();
    let later = app.db().write_in(scope(), move |tx| async move {
        let s = &tx;

        let mut found = s.find_user(&id).await?.unwrap();
        found.dept = "Later".into();
        s.update_user(&found).await
    });
    let after_a_while = std::time::Duration::from_millis(50);
    let (held, failed, committed) = tokio::join!(
        holding,
        async {
            tokio::time::sleep(after_a_while).await;
            failing.await
        },
        async {
            tokio::time::sleep(after_a_while).await;
            later.await
        },
    );
    held.unwrap();
    assert_eq!(
        failed,
        Err(StoreError::Corrupt("refused on purpose".into()))
    );
    committed.unwrap();
    let read = app.get(&format!("/users/{user}")).await;
    assert_eq!(
        (read.body["status"].as_str(), read.body["dept"].as_str()),
        (Some("active"), Some("Later"))
    );
    assert_eq!(
        (total("active").await, total("inactive").await),
        (active, inactive)
    );
}

/// Runs `middle` between two writes that each set a user's department, the three in one batch (the writer is held
/// meanwhile, so that they wait together, and they are queued in that order); checks that both of those commit,
/// whatever `middle` does. Returns `middle`'s outcome.
async fn between_two_writes<R>(
    app: &TestApp,
    middle: impl std::future::Future<Output = Result<R, localzoom_server::store::StoreError>>,
) -> Result<R, localzoom_server::store::StoreError> {
    use localzoom_server::store::{StoreError, WriteScope};
    let (first, last) = (
        app.member("first@example.com").await,
        app.member("last@example.com").await,
    );
    let scope = || WriteScope::Account(ACCOUNT_ID.into());
    let holding = app.db().write_in(scope(), move |tx| async move {
        let _ = &tx;
        std::thread::sleep(std::time::Duration::from_millis(300));
        Ok::<(), StoreError>(())
    });
    let dept = |id: String, dept: &'static str| {
        app.db().write_in(scope(), move |tx| async move {
            let mut user = tx.user_by_id(ACCOUNT_ID, &id).await?.unwrap();
            user.dept = dept.into();
            tx.update_user(&user).await
        })
    };
    let (before, after) = (dept(first.clone(), "First"), dept(last.clone(), "Last"));
    let batches = || {
        let (sizes, writes) = app.db().writer_stats().batches();
        (sizes.iter().sum::<u64>(), writes)
    };
    let batched = batches();
    let after_a_while = || tokio::time::sleep(std::time::Duration::from_millis(50));
    let (held, before, middle, after) = tokio::join!(
        biased;
        holding,
        async {
            after_a_while().await;
            before.await
        },
        async {
            after_a_while().await;
            middle.await
        },
        async {
            after_a_while().await;
            after.await
        },
    );
    let (now, then) = (batches(), batched);
    assert_eq!(
        (now.0 - then.0, now.1 - then.1),
        (2, 4),
        "the holding write alone, then the three in one batch"
    );
    held.unwrap();
    before.unwrap();
    after.unwrap();
    for (id, dept) in [(first, "First"), (last, "Last")] {
        assert_eq!(app.get(&format!("/users/{id}")).await.body["dept"], dept);
    }
    middle
}

/// A write that fails before it sends anything, batched between two that wrote, undoes nothing of the write before
/// it (on PostgreSQL, that write's savepoint is still open: its end goes with the next statement sent).
#[backend_test]
async fn a_write_that_fails_before_any_statement_leaves_the_writes_batched_around_it() {
    use localzoom_server::store::{StoreError, WriteScope};
    let app = TestApp::spawn().await;
    let refusing = app
        .db()
        .write_in(WriteScope::Account(ACCOUNT_ID.into()), |tx| async move {
            let _ = &tx;
            Err::<(), _>(StoreError::Corrupt("refused before any statement".into()))
        });
    assert_eq!(
        between_two_writes(&app, refusing).await,
        Err(StoreError::Corrupt("refused before any statement".into()))
    );
}

/// A write whose first statement cannot even be prepared (its table is gone), batched between two that wrote,
/// fails alone: on PostgreSQL the statement's preparation follows the end of the previous write's savepoint, so
/// the failure falls in its own.
#[backend_test]
async fn a_write_whose_statement_cannot_be_prepared_leaves_the_writes_batched_around_it() {
    use localzoom_server::store::WriteScope;
    let app = TestApp::spawn().await;
    let user = app.member("assisted@example.com").await;
    // Not used yet on this server, so not prepared on the writer's connection.
    execute_sql(&app, "ALTER TABLE assistants RENAME TO assistants_gone");
    let unpreparable = app.db().write_in(
        WriteScope::Account(ACCOUNT_ID.into()),
        move |tx| async move { tx.assistants(&user).await.map(|_| ()) },
    );
    assert!(between_two_writes(&app, unpreparable).await.is_err());
}

/// Takes `users` whole, on a connection and thread of its own, once this returns; lets it go when the sender is
/// used or dropped, and the thread ends then.
fn lock_users(
    base: String,
    schema: String,
) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let (locked_tx, locked) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let locker = std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&base, postgres::NoTls).unwrap();
        client
            .batch_execute(&format!(
                "SET search_path TO {schema}; BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE"
            ))
            .unwrap();
        locked_tx.send(()).unwrap();
        let _ = released.recv();
        client.batch_execute("COMMIT").unwrap();
    });
    locked.recv().unwrap();
    (release, locker)
}

/// On PostgreSQL a request waiting for the database holds no thread: on a runtime of one thread, a read held up
/// by a lock waits while another read is answered, and is answered itself once the lock goes. (SQLite answers at
/// once: nothing waits there.)
#[backend_test]
async fn a_read_waiting_for_postgresql_holds_up_no_other_read() {
    let app = TestApp::spawn().await;
    let Some((base, schema)) = app._db.postgres_parts() else {
        return;
    };
    let url = app._db.url.clone();
    // The lock, on a connection of its own: `users` taken whole until told to let go.
    let (release, locker) = lock_users(base, schema);
    let (owner, accounts) = tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let db = localzoom_server::store::Database::open(&url).await.unwrap();
            let mut held = std::pin::pin!(db.read(|s| async move {
                s.user_by_email(ACCOUNT_ID, OWNER_EMAIL).await
            }));
            let other = db.read(|s| async move { s.accounts().await });
            let accounts = tokio::select! {
                _ = &mut held => panic!("the read of a locked table was answered"),
                accounts = tokio::time::timeout(std::time::Duration::from_secs(10), other) => accounts,
            };
            release.send(()).unwrap();
            let owner = tokio::time::timeout(std::time::Duration::from_secs(10), held).await;
            (owner, accounts)
        })
    })
    .await
    .unwrap();
    locker.join().unwrap();
    let accounts = accounts.expect("the other read was held up").unwrap();
    assert!(accounts.iter().any(|a| a.id == ACCOUNT_ID), "{accounts:?}");
    let owner = owner.expect("the held read never ended").unwrap().unwrap();
    assert_eq!(owner.email, OWNER_EMAIL);
}

/// A read cancelled while PostgreSQL still works on its statement (its client went away) does not hand its busy
/// connection to the next read, which would wait behind the statement: with a pool of one, the next read is
/// answered while the cancelled one's statement still waits for a lock.
#[backend_test]
async fn a_cancelled_read_leaves_no_busy_connection_to_the_next() {
    let app = TestApp::spawn().await;
    let Some((base, schema)) = app._db.postgres_parts() else {
        return;
    };
    let db = localzoom_server::store::Database::open_with_pool(&app._db.url, 1)
        .await
        .unwrap();
    let (release, locker) = lock_users(base, schema);
    let held = db.read(|s| async move { s.user_by_email(ACCOUNT_ID, OWNER_EMAIL).await });
    let cancelled = tokio::time::timeout(std::time::Duration::from_millis(300), held).await;
    assert!(
        cancelled.is_err(),
        "the read of a locked table was answered"
    );
    let next = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        db.read(|s| async move { s.accounts().await }),
    )
    .await;
    release.send(()).unwrap();
    tokio::task::spawn_blocking(move || locker.join().unwrap())
        .await
        .unwrap();
    let accounts = next
        .expect("the next read waited behind the cancelled one")
        .unwrap();
    assert!(accounts.iter().any(|a| a.id == ACCOUNT_ID), "{accounts:?}");
}

/// A write checks its caller again inside its own transaction, against the token and user as they are then: a
/// role changed, a token expired or revoked after the gate let the request in is what the write sees.
#[backend_test]
async fn a_write_sees_its_token_and_its_user_s_role_as_they_are_when_it_runs() {
    use localzoom_server::domain::user::Role;
    use localzoom_server::error::ApiError;
    use localzoom_server::gate::{Bearer, authenticate};

    let app = TestApp::spawn().await;
    let state = &app.server.as_ref().unwrap().state;
    let bearer = Bearer::of_token(&app.token);
    let now = state.now();
    let principal = state
        .db
        .read(|s| async move { authenticate(&s, &bearer, now).await })
        .await
        .unwrap();
    assert_eq!(principal.role, Role::Owner);
    let role_in_write = |principal| {
        state.write_as(
            principal,
            |_store, principal| async move { Ok(principal.role) },
        )
    };

    app.edit_user(OWNER_EMAIL, |u| u.role = Role::Admin).await;
    assert_eq!(role_in_write(principal.clone()).await, Ok(Role::Admin));

    app.clock.advance_ms(3_600_000);
    assert_eq!(
        role_in_write(principal.clone()).await,
        Err(ApiError::ExpiredToken)
    );

    let digest = localzoom_server::crypto::sha256(app.token.as_bytes());
    app.db()
        .write(move |tx| async move { tx.revoke_token(&digest).await })
        .await
        .unwrap();
    assert_eq!(role_in_write(principal).await, Err(ApiError::InvalidToken));
}
