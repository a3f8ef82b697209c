//! HTTP API tests through the real router (in-process, `tower::ServiceExt::oneshot`) over a real
//! embedded store: the v1 contract, table (b) of bad inputs, roles and do-no-harm.

#![allow(
    clippy::unwrap_used,
    clippy::float_cmp,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    clippy::too_many_lines,
    reason = "tests compare exact expected values and walk whole tables of cases"
)]

mod alerts;
mod bad_input;
mod do_no_harm;
mod intake;
mod live;
mod reads;
mod support;
