//! The wall clock of the tasks that act on dates (dynamic partitioning). Debug builds read
//! `BACKSTOP_TEST_CLOCK_FILE` when it is set: the file holds the time, milliseconds since the
//! epoch, so a test moves days ahead by writing it instead of sleeping. Release builds always
//! read the system clock.
//!
//! A leaf: it imports nothing of the crate.

/// Now, milliseconds since the Unix epoch (UTC).
pub fn now_ms() -> i64 {
    #[cfg(debug_assertions)]
    if let Some(path) = std::env::var_os("BACKSTOP_TEST_CLOCK_FILE")
        && let Ok(text) = std::fs::read_to_string(path)
        && let Ok(ms) = text.trim().parse::<i64>()
    {
        return ms;
    }
    chrono::Utc::now().timestamp_millis()
}
