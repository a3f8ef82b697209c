//! `GET /api/v1/stream`: Server-Sent Events `report`, `cells` and `alert`, each serialised for
//! the subscriber's role (a public subscriber never receives an unverified report, and cells
//! only as published aggregates).

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::views::{self, Viewer};
use crate::index::grid::RESOLUTIONS;
use crate::service::{Event, Service};

/// Decrements the SSE client gauge when the stream is dropped.
struct Gauge(AppState);

impl Drop for Gauge {
    fn drop(&mut self) {
        self.0.metrics.sse_clients.fetch_sub(1, Ordering::Relaxed);
    }
}

fn cells_payload(state: &AppState, viewer: &Viewer, base_cells: &[h3o::CellIndex]) -> Option<Value> {
    let engine = state.service.engine();
    let view = engine.at(Service::now_ms());
    let resolutions: Vec<h3o::Resolution> =
        if viewer.role.suppressed() { vec![viewer.publication_res] } else { RESOLUTIONS.to_vec() };
    let mut cells = BTreeSet::new();
    for c in base_cells {
        for res in &resolutions {
            if let Some(p) = c.parent(*res) {
                cells.insert(p);
            }
        }
    }
    let out: Vec<Value> = cells
        .into_iter()
        .filter_map(|cell| view.cell(cell))
        .filter_map(|s| views::cell_properties(&s, None, viewer).map(Value::Object))
        .collect();
    (!out.is_empty()).then(|| json!({ "cells": out }))
}

/// `GET /api/v1/stream`.
pub async fn get_stream(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let viewer = state.viewer(&caller);
    let rx = state.service.subscribe();
    state.metrics.sse_clients.fetch_add(1, Ordering::Relaxed);
    let gauge = Gauge(state.clone());
    let hello = SseEvent::default().event("hello").data(json!({ "role": caller.role.slug() }).to_string());
    let events = stream::unfold((rx, state, viewer, gauge), |(mut rx, state, viewer, gauge)| async move {
        loop {
            let event = match rx.recv().await {
                Ok(e) => e,
                Err(RecvError::Lagged(_)) => {
                    // The client fell behind: tell it to refetch rather than replay.
                    let e = SseEvent::default().event("resync").data("{}");
                    return Some((Ok(e), (rx, state, viewer, gauge)));
                }
                Err(RecvError::Closed) => return None,
            };
            let out = match &event {
                Event::Report(entry) => views::entry_feature(entry, &viewer)
                    .map(|f| SseEvent::default().event("report").data(f.to_string())),
                Event::Cells(cells) => cells_payload(&state, &viewer, cells)
                    .map(|p| SseEvent::default().event("cells").data(p.to_string())),
                // Alerts name a neighbourhood: only the roles that may list alerts receive them.
                Event::Alert(alert) => viewer.role.receives_alerts().then(|| {
                    let engine = state.service.engine();
                    let shown = views::alert_for(alert, &viewer, &engine.at(crate::service::Service::now_ms()));
                    SseEvent::default().event("alert").data(shown.to_string())
                }),
            };
            if let Some(e) = out {
                return Some((Ok(e), (rx, state, viewer, gauge)));
            }
        }
    });
    let first = stream::once(async move { Ok(hello) });
    Sse::new(futures_util::StreamExt::chain(first, events))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
