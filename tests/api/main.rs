//! Integration tests: one binary, one module per area, each test on its own database.

// A test fails by panicking, and checks what the server did against the machine's clock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

mod accounts;
mod admin_cli;
mod api_tokens;
mod audit;
mod budgets;
mod cleanup;
mod clock;
mod connections;
mod cost;
mod credentials;
mod deletion;
mod embedded;
mod faults;
mod habit_io;
mod habits;
mod http;
mod input_limits;
mod instances;
mod layering;
mod limits;
mod links;
mod mail;
mod market;
mod measurable;
mod mfa;
mod migrations;
mod nulls;
mod observability;
mod oidc;
mod oidc_harness;
mod pagination;
mod passkeys;
mod payments;
mod persisted;
mod plans;
mod quotes;
mod rbac;
mod readme;
mod reauthentication;
mod reminders;
mod resumable_events;
mod schema;
mod scripts;
mod sessions;
mod shutdown;
mod startup;
mod stats;
mod stripe_harness;
mod subscriptions;
mod sweep;
mod tasks;
mod themes;
mod traces;
mod trusted;
mod webhooks;
