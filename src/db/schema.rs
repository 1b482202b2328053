// @generated automatically by Diesel CLI.

diesel::table! {
    account_tokens (id) {
        id -> Int8,
        user_id -> Int8,
        purpose -> Text,
        token_hash -> Bytea,
        email -> Text,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Int8,
        user_id -> Int8,
        name -> Text,
        token_hash -> Bytea,
        permissions -> Array<Text>,
        created_at -> Timestamptz,
        expires_at -> Nullable<Timestamptz>,
        last_used_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    use diesel::sql_types::*;

    audit_log (id) {
        id -> Int8,
        actor_id -> Nullable<Int8>,
        action -> Text,
        target_type -> Nullable<Text>,
        target_id -> Nullable<Int8>,
        metadata -> Jsonb,
        ip -> Nullable<Inet>,
        user_agent -> Nullable<Text>,
        request_id -> Nullable<Text>,
        created_at -> Timestamptz,
        client_request_id -> Nullable<Text>,
    }
}

diesel::table! {
    email_outbox (id) {
        id -> Int8,
        kind -> Text,
        recipient -> Text,
        subject -> Text,
        text_body -> Nullable<Text>,
        html_body -> Nullable<Text>,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_error -> Nullable<Text>,
        sent_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    habit_completions (habit_id, completed_on) {
        habit_id -> Int8,
        completed_on -> Date,
        created_at -> Timestamptz,
        skipped -> Bool,
        note -> Text,
        value -> Nullable<Float8>,
    }
}

diesel::table! {
    habit_reminder_deliveries (reminder_id, habit_day) {
        reminder_id -> Int8,
        habit_day -> Date,
        sent_at -> Timestamptz,
    }
}

diesel::table! {
    habit_reminders (id) {
        id -> Int8,
        habit_id -> Int8,
        local_time -> Time,
        due_day -> Date,
        due_at -> Timestamptz,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    habit_imports (user_id, source) {
        user_id -> Int8,
        source -> Text,
        habit_id -> Int8,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    habits (id) {
        id -> Int8,
        user_id -> Int8,
        name -> Text,
        description -> Text,
        theme_id -> Nullable<Int8>,
        kind -> Text,
        schedule -> Jsonb,
        starts_on -> Date,
        ends_on -> Nullable<Date>,
        archived_at -> Nullable<Timestamptz>,
        auto_archived -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        skips_per_month -> Nullable<Int4>,
        measure -> Nullable<Jsonb>,
    }
}

diesel::table! {
    items (id) {
        id -> Int8,
        name -> Text,
        price -> Int8,
        barcode -> Text,
        description -> Text,
        owner_id -> Nullable<Int8>,
        created_by -> Nullable<Int8>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    market_events (id) {
        id -> Int8,
        tx -> Int8,
        kind -> Text,
        item -> Jsonb,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    market_transactions (id) {
        id -> Int8,
        item_id -> Nullable<Int8>,
        buyer_id -> Nullable<Int8>,
        seller_id -> Nullable<Int8>,
        amount -> Int8,
        kind -> Text,
        balance_after -> Int8,
        idempotency_key -> Nullable<Text>,
        created_at -> Timestamptz,
        top_up_id -> Nullable<Int8>,
        top_up_refund_id -> Nullable<Int8>,
    }
}

diesel::table! {
    mfa_challenges (id) {
        id -> Int8,
        user_id -> Int8,
        token_hash -> Bytea,
        expires_at -> Timestamptz,
        attempts -> Int4,
        used_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        first_factor -> Text,
    }
}

diesel::table! {
    oidc_flows (id) {
        id -> Int8,
        state_hash -> Bytea,
        browser_hash -> Bytea,
        provider -> Text,
        nonce -> Text,
        pkce_verifier -> Text,
        redirect_uri -> Text,
        return_to -> Text,
        link_user_id -> Nullable<Int8>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
        reauth_session_id -> Nullable<Int8>,
        reauth_second_factor -> Nullable<Text>,
    }
}

diesel::table! {
    oidc_pending_links (id) {
        id -> Int8,
        token_hash -> Bytea,
        browser_hash -> Bytea,
        user_id -> Int8,
        provider -> Text,
        subject -> Text,
        email -> Nullable<Text>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    passkeys (id) {
        id -> Int8,
        user_id -> Int8,
        credential_id -> Bytea,
        passkey -> Jsonb,
        name -> Text,
        counter -> Int8,
        backup_eligible -> Bool,
        backup_state -> Bool,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
        possibly_cloned_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    permissions (id) {
        id -> Int8,
        name -> Text,
        description -> Text,
        is_system -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    quote_fetches (only_row) {
        only_row -> Bool,
        last_attempt_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    quotes (id) {
        id -> Int8,
        text -> Text,
        author -> Text,
        fetched_at -> Timestamptz,
        first_fetched_at -> Timestamptz,
    }
}

diesel::table! {
    rbac_epoch (only_row) {
        only_row -> Bool,
        epoch -> Int8,
    }
}

diesel::table! {
    rate_events (id) {
        bucket -> Text,
        key -> Text,
        at -> Timestamptz,
        id -> Int8,
    }
}

diesel::table! {
    recovery_codes (id) {
        id -> Int8,
        user_id -> Int8,
        code_hash -> Bytea,
        used_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Int8,
        session_id -> Int8,
        token_hash -> Bytea,
        created_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    role_permissions (role_id, permission_id) {
        role_id -> Int8,
        permission_id -> Int8,
    }
}

diesel::table! {
    request_budgets (id) {
        id -> Int8,
        role_id -> Nullable<Int8>,
        api_token_id -> Nullable<Int8>,
        requests_per_minute -> Nullable<Int4>,
        max_complexity -> Nullable<Int4>,
        max_depth -> Nullable<Int4>,
        statement_timeout_ms -> Nullable<Int4>,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    roles (id) {
        id -> Int8,
        name -> Text,
        description -> Text,
        is_system -> Bool,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    sessions (id) {
        id -> Int8,
        user_id -> Int8,
        created_at -> Timestamptz,
        last_seen_at -> Timestamptz,
        expires_at -> Timestamptz,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        revoked_at -> Nullable<Timestamptz>,
        proved_at -> Timestamptz,
        proved_by -> Array<Text>,
    }
}

diesel::table! {
    two_factor (user_id) {
        user_id -> Int8,
        secret -> Nullable<Bytea>,
        enabled_at -> Nullable<Timestamptz>,
        last_step -> Nullable<Int8>,
        pending_secret -> Nullable<Bytea>,
        pending_expires_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    user_roles (user_id, role_id) {
        user_id -> Int8,
        role_id -> Int8,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    stripe_events (id) {
        id -> Text,
        #[sql_name = "type"]
        event_type -> Text,
        received_at -> Timestamptz,
    }
}

diesel::table! {
    top_ups (id) {
        id -> Int8,
        user_id -> Int8,
        units -> Int8,
        amount -> Int8,
        currency -> Text,
        idempotency_key -> Text,
        payment_intent_id -> Nullable<Text>,
        client_secret -> Nullable<Text>,
        state -> Text,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        credited_at -> Nullable<Timestamptz>,
        refunded_amount -> Int8,
        refunded_units -> Int8,
    }
}

diesel::table! {
    top_up_refunds (id) {
        id -> Int8,
        top_up_id -> Int8,
        amount -> Int8,
        units -> Int8,
        debited_units -> Int8,
        source -> Text,
        stripe_ref -> Text,
        requested_by -> Nullable<Int8>,
        created_at -> Timestamptz,
        reviewed_at -> Nullable<Timestamptz>,
        reviewed_by -> Nullable<Int8>,
    }
}

diesel::table! {
    tasks (id) {
        id -> Int8,
        user_id -> Int8,
        title -> Text,
        description -> Text,
        priority -> Text,
        status -> Text,
        position -> Int4,
        due_on -> Nullable<Date>,
        theme_id -> Nullable<Int8>,
        completed_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    themes (id) {
        id -> Int8,
        user_id -> Int8,
        name -> Text,
        color -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    user_identities (id) {
        id -> Int8,
        user_id -> Int8,
        provider -> Text,
        subject -> Text,
        email -> Nullable<Text>,
        created_at -> Timestamptz,
        last_used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    users (id) {
        id -> Int8,
        username -> Text,
        email -> Text,
        password_hash -> Text,
        first_name -> Text,
        last_name -> Text,
        time_zone -> Text,
        budget -> Int8,
        is_active -> Bool,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        last_login_at -> Nullable<Timestamptz>,
        email_verified_at -> Nullable<Timestamptz>,
        deleted_at -> Nullable<Timestamptz>,
        webauthn_handle -> Nullable<Text>,
        day_start_minutes -> Int4,
    }
}

diesel::table! {
    webauthn_ceremonies (id) {
        id -> Int8,
        token_hash -> Bytea,
        kind -> Text,
        user_id -> Nullable<Int8>,
        state -> Jsonb,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::joinable!(account_tokens -> users (user_id));
diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(audit_log -> users (actor_id));
diesel::joinable!(habit_completions -> habits (habit_id));
diesel::joinable!(habit_reminder_deliveries -> habit_reminders (reminder_id));
diesel::joinable!(habit_reminders -> habits (habit_id));
diesel::joinable!(habit_imports -> habits (habit_id));
diesel::joinable!(habit_imports -> users (user_id));
diesel::joinable!(habits -> themes (theme_id));
diesel::joinable!(habits -> users (user_id));
diesel::joinable!(market_transactions -> items (item_id));
diesel::joinable!(mfa_challenges -> users (user_id));
diesel::joinable!(oidc_flows -> users (link_user_id));
diesel::joinable!(oidc_pending_links -> users (user_id));
diesel::joinable!(passkeys -> users (user_id));
diesel::joinable!(recovery_codes -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(request_budgets -> api_tokens (api_token_id));
diesel::joinable!(request_budgets -> roles (role_id));
diesel::joinable!(role_permissions -> permissions (permission_id));
diesel::joinable!(role_permissions -> roles (role_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(tasks -> themes (theme_id));
diesel::joinable!(tasks -> users (user_id));
diesel::joinable!(themes -> users (user_id));
diesel::joinable!(top_up_refunds -> top_ups (top_up_id));
diesel::joinable!(top_ups -> users (user_id));
diesel::joinable!(two_factor -> users (user_id));
diesel::joinable!(user_identities -> users (user_id));
diesel::joinable!(user_roles -> roles (role_id));
diesel::joinable!(user_roles -> users (user_id));
diesel::joinable!(webauthn_ceremonies -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    account_tokens,
    api_tokens,
    audit_log,
    email_outbox,
    habit_completions,
    habit_reminder_deliveries,
    habit_reminders,
    habit_imports,
    habits,
    items,
    market_transactions,
    mfa_challenges,
    oidc_flows,
    oidc_pending_links,
    passkeys,
    permissions,
    quote_fetches,
    quotes,
    rate_events,
    rbac_epoch,
    recovery_codes,
    refresh_tokens,
    request_budgets,
    role_permissions,
    roles,
    sessions,
    stripe_events,
    tasks,
    themes,
    top_up_refunds,
    top_ups,
    two_factor,
    user_identities,
    user_roles,
    users,
    webauthn_ceremonies,
);

diesel::table! {
    webhook_endpoints (id) {
        id -> Int8,
        url -> Text,
        description -> Text,
        events -> Array<Text>,
        sealed_secret -> Bytea,
        failure_streak -> Int4,
        paused_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Int8,
        endpoint_id -> Int8,
        event_id -> Text,
        event_type -> Text,
        payload -> Text,
        state -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        last_attempt_at -> Nullable<Timestamptz>,
        last_status -> Nullable<Int4>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));
diesel::allow_tables_to_appear_in_same_query!(webhook_deliveries, webhook_endpoints);
