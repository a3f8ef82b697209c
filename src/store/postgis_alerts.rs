//! Alert storage of the PostGIS backend (issue 6), kept apart from the report storage.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::postgis::PostgisStore;
use super::{AlertAction, AlertEvent, AlertRecord, Announce, MAX_PAGE, OutboxCounts, OutboxMessage, StoreError};

fn read_alert(row: &PgRow) -> Result<AlertRecord, StoreError> {
    let res: i16 = row.try_get("res")?;
    Ok(AlertRecord {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        cell: row.try_get("cell")?,
        res: u8::try_from(res).map_err(|_| StoreError::Corrupt(format!("alert resolution {res}")))?,
        opened_at: row.try_get("opened_at")?,
        status: row.try_get("status")?,
        level: row.try_get("level")?,
        score: row.try_get("score")?,
        reason: row.try_get("reason")?,
        closed_at: row.try_get::<Option<DateTime<Utc>>, _>("closed_at")?,
    })
}

async fn fetch_alert(conn: &mut PgConnection, id: Uuid) -> Result<Option<AlertRecord>, StoreError> {
    let sql =
        "SELECT id, kind, cell, res, opened_at, status, level, score, reason, closed_at FROM alerts WHERE id = $1";
    let row = sqlx::query(sql).bind(id).fetch_optional(conn).await?;
    row.as_ref().map(read_alert).transpose()
}

/// Writes outbox messages inside the caller's transaction.
async fn enqueue(conn: &mut PgConnection, messages: Vec<OutboxMessage>) -> Result<(), StoreError> {
    for m in messages {
        sqlx::query(
            "INSERT INTO webhook_outbox (id, target, alert_id, body, created_at, attempts, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $5)",
        )
        .bind(m.id)
        .bind(&m.target)
        .bind(m.alert_id)
        .bind(&m.body)
        .bind(m.created_at)
        .bind(i32::try_from(m.attempts).unwrap_or(i32::MAX))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl PostgisStore {
    pub(super) async fn insert_alert_tx(
        &self,
        a: AlertRecord,
        actor: String,
        announce: Announce,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(
            "INSERT INTO alerts (id, kind, cell, res, opened_at, status, level, score, reason, closed_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(a.id)
        .bind(&a.kind)
        .bind(&a.cell)
        .bind(i16::from(a.res))
        .bind(a.opened_at)
        .bind(&a.status)
        .bind(&a.level)
        .bind(a.score)
        .bind(&a.reason)
        .bind(a.closed_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO alert_events (alert_id, status, actor, at, note) VALUES ($1, $2, $3, $4, $5)")
            .bind(a.id)
            .bind(&a.status)
            .bind(&actor)
            .bind(a.opened_at)
            .bind(&a.reason)
            .execute(&mut *tx)
            .await?;
        enqueue(&mut tx, announce(&a)).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn set_alert_status_tx(
        &self,
        id: Uuid,
        step: AlertEvent,
        announce: Announce,
    ) -> Result<Option<AlertRecord>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let closing = matches!(step.status.as_str(), "resolved" | "closed");
        let updated = sqlx::query(
            "UPDATE alerts SET status = $1, closed_at = CASE WHEN $2 THEN $3 ELSE closed_at END WHERE id = $4",
        )
        .bind(&step.status)
        .bind(closing)
        .bind(step.at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(None);
        }
        sqlx::query("INSERT INTO alert_events (alert_id, status, actor, at, note) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(&step.status)
            .bind(&step.actor)
            .bind(step.at)
            .bind(&step.note)
            .execute(&mut *tx)
            .await?;
        let alert = fetch_alert(&mut tx, id).await?;
        if let Some(a) = &alert {
            enqueue(&mut tx, announce(a)).await?;
        }
        tx.commit().await?;
        Ok(alert)
    }

    pub(super) async fn add_alert_action_tx(
        &self,
        id: Uuid,
        action: AlertAction,
        announce: Announce,
    ) -> Result<Option<AlertRecord>, StoreError> {
        let mut tx = self.pool().begin().await?;
        let Some(alert) = fetch_alert(&mut tx, id).await? else { return Ok(None) };
        sqlx::query("INSERT INTO alert_actions (alert_id, action, actor, at) VALUES ($1, $2, $3, $4)")
            .bind(id)
            .bind(&action.action)
            .bind(&action.actor)
            .bind(action.at)
            .execute(&mut *tx)
            .await?;
        enqueue(&mut tx, announce(&alert)).await?;
        tx.commit().await?;
        Ok(Some(alert))
    }

    pub(super) async fn due_deliveries_q(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<OutboxMessage>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, target, alert_id, body, created_at, attempts FROM webhook_outbox \
             WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY id LIMIT $2",
        )
        .bind(now)
        .bind(i64::try_from(limit.clamp(1, MAX_PAGE)).unwrap_or(1))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxMessage {
                    id: r.try_get("id")?,
                    target: r.try_get("target")?,
                    alert_id: r.try_get("alert_id")?,
                    body: r.try_get("body")?,
                    created_at: r.try_get("created_at")?,
                    attempts: u32::try_from(r.try_get::<i32, _>("attempts")?).unwrap_or(0),
                })
            })
            .collect()
    }

    pub(super) async fn record_delivery_q(
        &self,
        id: Uuid,
        outcome: Result<DateTime<Utc>, (Option<DateTime<Utc>>, String)>,
    ) -> Result<(), StoreError> {
        let q = match outcome {
            Ok(at) => sqlx::query(
                "UPDATE webhook_outbox SET status = 'delivered', attempts = attempts + 1, delivered_at = $2, \
                 last_error = NULL WHERE id = $1",
            )
            .bind(id)
            .bind(at),
            Err((Some(next), error)) => sqlx::query(
                "UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(next)
            .bind(error),
            Err((None, error)) => sqlx::query(
                "UPDATE webhook_outbox SET status = 'failed', attempts = attempts + 1, last_error = $2 WHERE id = $1",
            )
            .bind(id)
            .bind(error),
        };
        q.execute(self.pool()).await?;
        Ok(())
    }

    pub(super) async fn outbox_counts_q(&self) -> Result<OutboxCounts, StoreError> {
        let rows: Vec<(String, i64)> = sqlx::query_as(super::OUTBOX_COUNTS_SQL).fetch_all(self.pool()).await?;
        Ok(OutboxCounts::from_groups(rows))
    }

    pub(super) async fn list_alerts_q(&self, active_only: bool, limit: usize) -> Result<Vec<AlertRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, cell, res, opened_at, status, level, score, reason, closed_at FROM alerts \
             WHERE (NOT $1 OR status IN ('open', 'acknowledged')) ORDER BY opened_at DESC, id LIMIT $2",
        )
        .bind(active_only)
        .bind(i64::try_from(limit.clamp(1, MAX_PAGE)).unwrap_or(1))
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(read_alert).collect()
    }

    pub(super) async fn get_alert_q(&self, id: Uuid) -> Result<Option<super::AlertDetail>, StoreError> {
        let mut conn = self.pool().acquire().await?;
        let Some(alert) = fetch_alert(&mut conn, id).await? else { return Ok(None) };
        let events = sqlx::query("SELECT status, actor, at, note FROM alert_events WHERE alert_id = $1 ORDER BY seq")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| {
                Ok(AlertEvent {
                    status: r.try_get("status")?,
                    actor: r.try_get("actor")?,
                    at: r.try_get("at")?,
                    note: r.try_get("note")?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let actions = sqlx::query("SELECT action, actor, at FROM alert_actions WHERE alert_id = $1 ORDER BY seq")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| Ok(AlertAction { action: r.try_get("action")?, actor: r.try_get("actor")?, at: r.try_get("at")? }))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Some((alert, events, actions)))
    }
}
