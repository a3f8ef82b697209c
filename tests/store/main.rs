//! The store contract suite: every test runs on the embedded SQLite backend and on a real
//! PostGIS (the test command starts a throwaway cluster and exports
//! `KINGA_TEST_DATABASE_URL`; without it the PostGIS half fails loudly, never skips).

#![allow(
    clippy::unwrap_used,
    clippy::float_cmp,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "tests compare exact expected values and build small fixtures"
)]

mod backends;
mod contract;
mod crash;
mod postgis_only;
mod sqlite_only;
