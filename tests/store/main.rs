//! The store contract suite: every test runs on the embedded SQLite backend and on a real
//! PostGIS (the test command starts a throwaway cluster and exports
//! `KINGA_TEST_DATABASE_URL`; without it the PostGIS half fails loudly, never skips).

mod backends;
mod contract;
mod crash;
