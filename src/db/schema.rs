//! Diesel table definitions, shared by both backends. Only portable column types
//! (`Text`, `BigInt`, `Integer`, `Double`, `Timestamp`) may appear here; see
//! `docs/stack.md` for what `MultiConnection` supports.

diesel::table! {
    registration_tokens (id) {
        id -> BigInt,
        token -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    runners (id) {
        id -> BigInt,
        registration_token_id -> BigInt,
        name -> Text,
        description -> Nullable<Text>,
        token_hash -> Text,
        ip -> Text,
        last_contact -> Timestamp,
        version -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    videos (id) {
        id -> BigInt,
        uuid -> Text,
        state -> Integer,
        name -> Nullable<Text>,
        directory -> Text,
        base_filename -> Text,
        duration -> Nullable<Double>,
        thumbnail_key -> Nullable<Text>,
        language -> Nullable<Text>,
        error -> Nullable<Text>,
        options -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        callback_url -> Nullable<Text>,
    }
}

diesel::table! {
    video_files (id) {
        id -> BigInt,
        video_id -> BigInt,
        kind -> Text,
        storage_key -> Text,
        playlist_key -> Nullable<Text>,
        resolution -> Integer,
        width -> Integer,
        height -> Integer,
        fps -> Double,
        size -> BigInt,
        bitrate -> Nullable<BigInt>,
        codecs -> Nullable<Text>,
        metadata -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        format -> Nullable<Text>,
        announced_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    streaming_playlists (id) {
        id -> BigInt,
        video_id -> BigInt,
        master_key -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    video_captions (id) {
        id -> BigInt,
        video_id -> BigInt,
        language -> Text,
        storage_key -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        source -> Text,
        size -> BigInt,
        job_id -> Nullable<BigInt>,
    }
}

diesel::table! {
    storyboards (id) {
        id -> BigInt,
        video_id -> BigInt,
        storage_key -> Text,
        sprite_width -> Integer,
        sprite_height -> Integer,
        sprite_count_width -> Integer,
        sprite_count_height -> Integer,
        sprite_duration -> Double,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    runner_jobs (id) {
        id -> BigInt,
        uuid -> Text,
        job_type -> Text,
        state -> Integer,
        payload -> Text,
        private_payload -> Text,
        priority -> Integer,
        failures -> Integer,
        error -> Nullable<Text>,
        progress -> Nullable<Integer>,
        job_token_hash -> Nullable<Text>,
        runner_id -> Nullable<BigInt>,
        depends_on_job_id -> Nullable<BigInt>,
        video_id -> Nullable<BigInt>,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        event_id -> Text,
        event -> Text,
        video_uuid -> Nullable<Text>,
        endpoint -> Text,
        url -> Text,
        payload -> Text,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        lease -> Nullable<Text>,
        expires_at -> Timestamp,
        last_status -> Nullable<Integer>,
        last_error -> Nullable<Text>,
        delivered_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::joinable!(runners -> registration_tokens (registration_token_id));
diesel::joinable!(runner_jobs -> runners (runner_id));
diesel::joinable!(runner_jobs -> videos (video_id));
diesel::joinable!(video_files -> videos (video_id));
diesel::joinable!(streaming_playlists -> videos (video_id));
diesel::joinable!(video_captions -> videos (video_id));
diesel::joinable!(storyboards -> videos (video_id));

diesel::allow_tables_to_appear_in_same_query!(
    registration_tokens,
    runners,
    videos,
    video_files,
    streaming_playlists,
    video_captions,
    storyboards,
    runner_jobs,
    webhook_deliveries,
);
