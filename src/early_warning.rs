//! Early warning in the running service: evaluates the alert rules
//! ([`crate::scoring::alerts`]) after every change and on a timer, stores each alert and every
//! step of its lifecycle (open → acknowledged → resolved, or closed when its condition clears),
//! records the actions taken, and publishes `alert` events.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use h3o::CellIndex;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use crate::index::grid;
use crate::scoring::alerts::{AlertKind, AlertRules, Change, Monitor};
use crate::service::{Event, Service, ServiceError};
use crate::store::{AlertAction, AlertEvent, AlertRecord};

/// How often open alerts are re-checked (decay closes them).
pub const TICK: Duration = Duration::from_mins(1);
/// How long after a change the rules wait for more changes before evaluating them together
/// (well inside the 250 ms from a report to its alert).
pub const DEBOUNCE: Duration = Duration::from_millis(50);

const KINDS: [AlertKind; 5] =
    [AlertKind::HighRisk, AlertKind::Spike, AlertKind::Hotspot, AlertKind::Trigger, AlertKind::Cluster];

fn kind_of(slug: &str) -> Option<AlertKind> {
    KINDS.into_iter().find(|k| k.slug() == slug)
}

/// The early-warning component.
pub struct EarlyWarning {
    service: Arc<Service>,
    monitor: Mutex<Monitor>,
    /// The stored alert behind each open (rule, cell).
    ids: Mutex<HashMap<(AlertKind, CellIndex), Uuid>>,
    /// One evaluation at a time, so a clearing never overtakes the storing of its opening.
    evaluating: tokio::sync::Mutex<()>,
    /// Webhooks announced in the outbox with every change, and the dispatcher to wake.
    webhooks: Arc<[crate::config::WebhookTarget]>,
    dispatcher: Option<Arc<crate::webhooks::Dispatcher>>,
}

impl std::fmt::Debug for EarlyWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EarlyWarning").finish_non_exhaustive()
    }
}

/// Response times of one alert, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ResponseTimes {
    /// Opened → acknowledged.
    pub to_ack: Option<f64>,
    /// Opened → first action.
    pub to_first_action: Option<f64>,
    /// Opened → resolved or closed.
    pub to_resolve: Option<f64>,
}

impl EarlyWarning {
    /// Loads the alerts still open from the store so a restart continues where it stopped.
    ///
    /// # Errors
    /// [`ServiceError::Store`].
    pub async fn start(service: Arc<Service>, rules: AlertRules) -> Result<Arc<Self>, ServiceError> {
        let open = service.store().list_alerts(true, crate::store::MAX_PAGE).await?;
        let mut ids = HashMap::new();
        for a in open {
            if let (Some(kind), Ok(cell)) = (kind_of(&a.kind), CellIndex::from_str(&a.cell)) {
                ids.insert((kind, cell), a.id);
            }
        }
        let monitor = Monitor::new(rules, ids.keys().copied());
        let webhooks: Arc<[crate::config::WebhookTarget]> = service.config().webhooks.clone().into();
        let dispatcher = (!webhooks.is_empty())
            .then(|| Arc::new(crate::webhooks::Dispatcher::new(service.store().clone(), webhooks.clone())));
        Ok(Arc::new(Self {
            service,
            monitor: Mutex::new(monitor),
            ids: Mutex::new(ids),
            evaluating: tokio::sync::Mutex::new(()),
            webhooks,
            dispatcher,
        }))
    }

    /// The outbox messages of one alert change (none without webhooks).
    fn announce(&self, event: &'static str, extra: Option<(&'static str, Value)>) -> crate::store::Announce {
        if self.webhooks.is_empty() {
            return crate::store::announce_nothing();
        }
        crate::webhooks::announce(self.webhooks.clone(), event, extra)
    }

    /// Publishes an alert change on the event bus and wakes the webhook dispatcher.
    fn announced(&self, record: &AlertRecord, event: &str) {
        if let Some(d) = &self.dispatcher {
            d.waker().notify_one();
        }
        self.service.publish(Event::Alert(alert_json(record, event, None)));
    }

    /// Every base cell holding reports, once each.
    fn every_cell(&self) -> Vec<CellIndex> {
        let mut all: Vec<CellIndex> = self.service.engine().entries().map(|e| e.cell).collect();
        all.sort_unstable();
        all.dedup();
        all
    }

    /// Runs the monitor (after every change, and every [`TICK`]) and the webhook dispatcher,
    /// which first delivers whatever a previous run left in the outbox.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        if let Some(d) = &self.dispatcher {
            d.clone().spawn();
        }
        let me = self.clone();
        tokio::spawn(async move {
            let mut rx = me.service.subscribe();
            // What the store already holds may meet a rule (a restart, an import while stopped).
            if let Err(e) = me.evaluate(&me.every_cell()).await {
                tracing::warn!(error = %e, "alert evaluation at start failed; retried at the next change or tick");
            }
            let mut tick = tokio::time::interval(TICK);
            loop {
                // A tick re-checks every open alert; a change only the cells it touched (with
                // the changes queued meanwhile, so a burst costs one evaluation).
                let (mut touched, with_open) = tokio::select! {
                    _ = tick.tick() => (Vec::new(), true),
                    event = rx.recv() => match event {
                        Ok(Event::Cells(cells)) => (cells, false),
                        Ok(_) => continue,
                        Err(RecvError::Lagged(_)) => (me.every_cell(), true),
                        Err(RecvError::Closed) => return,
                    },
                };
                if !with_open {
                    // Let a burst finish: one evaluation for its changes instead of one each.
                    tokio::time::sleep(DEBOUNCE).await;
                }
                while let Ok(event) = rx.try_recv() {
                    if let Event::Cells(cells) = event {
                        touched.extend(cells);
                    }
                }
                touched.sort_unstable();
                touched.dedup();
                if let Err(e) = me.run(&touched, with_open).await {
                    tracing::warn!(error = %e, "alert evaluation failed; retried at the next change or tick");
                }
            }
        })
    }

    /// Evaluates the rules now on the touched base cells and every open alert, storing and
    /// publishing each transition.
    ///
    /// # Errors
    /// [`ServiceError::Store`] when a transition cannot be stored (it is re-derived next time).
    pub async fn evaluate(&self, touched: &[CellIndex]) -> Result<(), ServiceError> {
        self.run(touched, true).await
    }

    async fn run(&self, touched: &[CellIndex], with_open: bool) -> Result<(), ServiceError> {
        let _one_at_a_time = self.evaluating.lock().await;
        let changes = {
            let engine = self.service.engine();
            let view = engine.at(Service::now_ms());
            let mut monitor = self.monitor.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if with_open { monitor.evaluate(&view, touched) } else { monitor.evaluate_touched(&view, touched) }
        };
        for change in changes {
            match change {
                Change::Opened(c) => {
                    let record = AlertRecord {
                        id: Uuid::now_v7(),
                        kind: c.kind.slug().into(),
                        cell: c.cell.to_string(),
                        res: u8::from(c.cell.resolution()),
                        opened_at: crate::domain::truncate_micros(Utc::now()),
                        status: "open".into(),
                        level: c.score.level.slug().into(),
                        score: (c.score.score * 100.0).round() / 100.0,
                        reason: c.reason,
                        closed_at: None,
                    };
                    self.service
                        .store()
                        .insert_alert(record.clone(), "kinga".into(), self.announce("opened", None))
                        .await?;
                    self.ids
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .insert((c.kind, c.cell), record.id);
                    tracing::info!(alert = %record.id, kind = record.kind, "alert opened");
                    self.announced(&record, "opened");
                }
                Change::Cleared(kind, cell) => {
                    let id = self.ids.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&(kind, cell));
                    let Some(id) = id else { continue };
                    let step = AlertEvent {
                        status: "closed".into(),
                        actor: "kinga".into(),
                        at: Utc::now(),
                        note: Some("the condition cleared".into()),
                    };
                    if let Some(record) =
                        self.service.store().set_alert_status(id, step, self.announce("closed", None)).await?
                    {
                        tracing::info!(alert = %id, "alert closed: condition cleared");
                        self.announced(&record, "closed");
                    }
                }
            }
        }
        Ok(())
    }

    /// A person acknowledges or resolves an alert.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`]; [`ServiceError::Invalid`] for a step the alert's status does
    /// not allow (e.g. acknowledging a resolved alert).
    pub async fn step(
        &self,
        id: Uuid,
        status: &'static str,
        actor: &str,
        note: Option<String>,
    ) -> Result<AlertRecord, ServiceError> {
        let (current, _, _) = self.service.store().get_alert(id).await?.ok_or(ServiceError::NotFound)?;
        let allowed = match status {
            "acknowledged" => current.status == "open",
            "resolved" => matches!(current.status.as_str(), "open" | "acknowledged" | "closed"),
            _ => false,
        };
        if !allowed {
            return Err(ServiceError::Invalid(crate::domain::ValidationErrors::single(
                "/status",
                "invalid_transition",
                format!("an alert that is {} cannot be {status}", current.status),
            )));
        }
        let step = AlertEvent { status: status.into(), actor: actor.into(), at: Utc::now(), note: note.clone() };
        let extra = note.map(|n| ("note", Value::String(n)));
        let record = self
            .service
            .store()
            .set_alert_status(id, step, self.announce(status, extra))
            .await?
            .ok_or(ServiceError::NotFound)?;
        if status == "resolved" {
            // The rule stays satisfied-and-known in the monitor until its condition clears, so a
            // resolved alert does not reopen at once; it only loses its link to the record.
            self.ids.lock().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|_, v| *v != id);
        }
        self.announced(&record, status);
        Ok(record)
    }

    /// Records an action taken about an alert.
    ///
    /// # Errors
    /// [`ServiceError::NotFound`].
    pub async fn act(&self, id: Uuid, action: String, actor: &str) -> Result<AlertRecord, ServiceError> {
        let action = AlertAction { action, actor: actor.into(), at: crate::domain::truncate_micros(Utc::now()) };
        let extra = json!({ "action": action.action, "actor": action.actor, "at": action.at.to_rfc3339() });
        let record = self
            .service
            .store()
            .add_alert_action(id, action, self.announce("action", Some(("action", extra))))
            .await?
            .ok_or(ServiceError::NotFound)?;
        self.announced(&record, "action");
        Ok(record)
    }
}

/// Response times of an alert from its steps and actions.
#[must_use]
pub fn response_times(a: &AlertRecord, events: &[AlertEvent], actions: &[AlertAction]) -> ResponseTimes {
    #[expect(clippy::cast_precision_loss, reason = "response times are far below 2^52 ms")]
    let since = |t: DateTime<Utc>| (t - a.opened_at).num_milliseconds() as f64 / 1000.0;
    ResponseTimes {
        to_ack: events.iter().find(|e| e.status == "acknowledged").map(|e| since(e.at)),
        to_first_action: actions.first().map(|x| since(x.at)),
        to_resolve: a.closed_at.map(since),
    }
}

/// The JSON of an alert (events, lists, the SSE `alert` event).
#[must_use]
pub fn alert_json(a: &AlertRecord, event: &str, times: Option<ResponseTimes>) -> Value {
    let centroid = CellIndex::from_str(&a.cell)
        .ok()
        .map(grid::centre)
        .map(|(x, y)| [(x * 1e6).round() / 1e6, (y * 1e6).round() / 1e6]);
    let mut v = json!({
        "event": event,
        "id": a.id.to_string(),
        "kind": a.kind,
        "cell": a.cell,
        "res": a.res,
        "centroid": centroid,
        "opened_at": a.opened_at.to_rfc3339(),
        "status": a.status,
        "level": a.level,
        "score": a.score,
        "reason": a.reason,
        "closed_at": a.closed_at.map(|t| t.to_rfc3339()),
    });
    if let Some(t) = times {
        v["response_times_s"] =
            json!({ "to_ack": t.to_ack, "to_first_action": t.to_first_action, "to_resolve": t.to_resolve });
    }
    v
}
