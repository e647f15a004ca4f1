//! The one schema for both backends, in portable SQL types. It must match
//! `migrations/{sqlite,postgres}`; the repository contract tests run against both.

diesel::table! {
    sessions (id) {
        id -> Text,
        agent_id -> Text,
        working_directory -> Text,
        model -> Nullable<Text>,
        permission_mode -> Text,
        allowed_tools -> Text,
        disallowed_tools -> Text,
        append_system_prompt -> Nullable<Text>,
        max_turns -> Nullable<Integer>,
        status -> Text,
        total_cost_usd -> Double,
        total_duration_ms -> BigInt,
        message_count -> BigInt,
        turn_count -> BigInt,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        closed_at -> Nullable<Timestamp>,
        version -> BigInt,
        created_by -> Nullable<Text>,
        max_budget_usd -> Nullable<Double>,
        budget_usd -> Nullable<Double>,
        max_session_turns -> Nullable<Integer>,
        turn_budget -> Nullable<Integer>,
    }
}

diesel::table! {
    // `warned_at` and `escalated_at` are in the table too; only raw SQL uses them
    // (`claim_expiry_warnings`, `claim_escalations`, `add_notification_ref`), so they are left
    // out here to keep the table within diesel's 32 columns.
    approvals (id) {
        id -> Text,
        session_id -> Text,
        agent_id -> Text,
        tool_name -> Text,
        tool_input -> Text,
        tool_use_id -> Nullable<Text>,
        kind -> Text,
        description -> Nullable<Text>,
        status -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
        reason -> Nullable<Text>,
        updated_input -> Nullable<Text>,
        scope -> Text,
        notification_ref -> Nullable<Text>,
        session_rule -> Nullable<Text>,
        notification -> Text,
        notify_attempts -> Integer,
        notify_error -> Nullable<Text>,
        notify_after -> Nullable<Timestamp>,
        acted_on -> Text,
        acted_by -> Nullable<Text>,
        acted_at -> Nullable<Timestamp>,
        risk -> Text,
        working_directory -> Nullable<Text>,
        grant_rule -> Nullable<Text>,
        grant_expires_at -> Nullable<Timestamp>,
        grant_revoked_at -> Nullable<Timestamp>,
        grant_revoked_by -> Nullable<Text>,
        quorum -> Nullable<Text>,
    }
}

diesel::table! {
    channel_state (key) {
        key -> Text,
        value -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    turns (id) {
        id -> Text,
        session_id -> Text,
        seq -> BigInt,
        prompt -> Text,
        status -> Text,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        subtype -> Nullable<Text>,
        is_error -> Nullable<Bool>,
        result_text -> Nullable<Text>,
        terminal_reason -> Nullable<Text>,
        api_error_status -> Nullable<BigInt>,
        errors -> Nullable<Text>,
        cost_usd -> Nullable<Double>,
        duration_ms -> Nullable<BigInt>,
        duration_api_ms -> Nullable<BigInt>,
        message_count -> Nullable<BigInt>,
        permission_denials -> Nullable<BigInt>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    api_keys (name) {
        name -> Text,
        role -> Text,
        key_hash -> Text,
        prefix -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_events (seq) {
        seq -> BigInt,
        at -> Timestamp,
        actor -> Text,
        action -> Text,
        target -> Text,
        source -> Text,
        before_state -> Nullable<Text>,
        after_state -> Nullable<Text>,
        detail -> Nullable<Text>,
        prev_hash -> Text,
        hash -> Text,
        request_id -> Nullable<Text>,
        client_addr -> Nullable<Text>,
    }
}

diesel::table! {
    transcript_parts (session_id, start_offset) {
        session_id -> Text,
        start_offset -> BigInt,
        raw_len -> BigInt,
        data -> Binary,
        stored_at -> Timestamp,
    }
}

diesel::table! {
    leases (name) {
        name -> Text,
        node_id -> Text,
        advertise_url -> Nullable<Text>,
        acquired_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    session_event_tails (session_id) {
        session_id -> Text,
        next_seq -> BigInt,
        raw_len -> BigInt,
        data -> Binary,
        stored_at -> Timestamp,
    }
}

diesel::joinable!(turns -> sessions (session_id));
diesel::joinable!(session_event_tails -> sessions (session_id));
diesel::joinable!(transcript_parts -> sessions (session_id));
diesel::allow_tables_to_appear_in_same_query!(
    sessions,
    approvals,
    turns,
    channel_state,
    api_keys,
    audit_events,
    transcript_parts,
    session_event_tails,
    leases
);
