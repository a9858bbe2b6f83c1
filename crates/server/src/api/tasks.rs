//! Tasks (vlcm-api §1.6): `op$task` calls run in the background; `cis.tasks` reports them.
//! Ids are `<uuid>:<serviceId>` like vCenter's. Each task is written to the service's
//! state ([`TaskLog`]: the store's database) when it starts and when it ends, so tasks
//! survive a restart; one that was running when the process died reads FAILED,
//! "interrupted by restart". Progress in between stays in memory. Finished tasks are
//! dropped oldest first beyond [`KEEP_FINISHED`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};

use super::datavalue::{DataValue, StructValue};
use super::errors::{ApiError, Message};
use super::typed::format_datetime;

pub const KEEP_FINISHED: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Running,
    Succeeded,
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Running => "RUNNING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
        }
    }
}

#[derive(Debug, Clone)]
pub struct TaskRecord {
    pub id: String,
    pub service: String,
    /// The sync operation name (`create`, not `create$task`).
    pub operation: String,
    pub description: Message,
    pub user: String,
    pub status: Status,
    pub cancelable: bool,
    pub total: i64,
    pub completed: i64,
    pub progress_message: Message,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    /// The operation's result as a DataValue of its task result type (`None` for void).
    pub result: Option<DataValue>,
    pub error: Option<ApiError>,
    seq: u64,
}

/// What a running operation holds to report progress and notice cancellation.
#[derive(Clone)]
pub struct Progress {
    manager: Arc<TaskManager>,
    id: String,
    cancel: Arc<Cancel>,
}

/// A cancellation request: a flag to poll and a channel to wait on.
pub struct Cancel {
    flag: AtomicBool,
    tx: tokio::sync::watch::Sender<bool>,
}

impl Default for Cancel {
    fn default() -> Self {
        Self { flag: AtomicBool::new(false), tx: tokio::sync::watch::Sender::new(false) }
    }
}

impl Cancel {
    fn request(&self) {
        self.flag.store(true, Ordering::Relaxed);
        self.tx.send_replace(true);
    }
}

impl Progress {
    pub fn set(&self, completed: i64, total: i64, message: &str) {
        self.manager.update(&self.id, |t| {
            t.completed = completed.clamp(0, total.max(0));
            t.total = total.max(0);
            t.progress_message = Message::new("com.vmware.esxlcm.task.progress", message);
        });
    }

    pub fn set_cancelable(&self, cancelable: bool) {
        self.manager.update(&self.id, |t| t.cancelable = cancelable);
    }

    pub fn is_canceled(&self) -> bool {
        self.cancel.flag.load(Ordering::Relaxed)
    }

    /// Resolves once cancellation is requested (for work that waits on I/O).
    pub async fn canceled(&self) {
        let mut rx = self.cancel.tx.subscribe();
        // An error means the sender is gone, which cannot happen while `self` holds it.
        let _ = rx.wait_for(|c| *c).await;
    }
}

#[derive(Default)]
pub struct TaskManager {
    tasks: Mutex<HashMap<String, (TaskRecord, Arc<Cancel>)>>,
    seq: std::sync::atomic::AtomicU64,
    /// Where tasks are kept across restarts (none: memory only, as in unit tests).
    log: Option<Arc<dyn TaskLog>>,
}

/// Where tasks are kept across restarts.
pub trait TaskLog: Send + Sync {
    /// Every kept task.
    fn load(&self) -> Vec<StoredTask>;
    fn save(&self, task: &StoredTask);
    fn remove(&self, id: &str);
}

/// A task as kept: its record, the result as vAPI JSON, the error as kind and messages.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StoredTask {
    pub id: String,
    pub service: String,
    pub operation: String,
    pub user: String,
    /// `PENDING`, `RUNNING`, `SUCCEEDED`, `FAILED`.
    pub status: String,
    pub total: i64,
    pub completed: i64,
    pub progress: String,
    /// RFC 3339.
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    #[serde(default)]
    pub result: Option<serde_json::Value>,
    /// `Error.Type` (`RESOURCE_INACCESSIBLE`) and the messages' texts.
    #[serde(default)]
    pub error: Option<(String, Vec<String>)>,
    pub seq: u64,
}

impl StoredTask {
    fn of(t: &TaskRecord) -> Self {
        Self {
            id: t.id.clone(),
            service: t.service.clone(),
            operation: t.operation.clone(),
            user: t.user.clone(),
            status: t.status.as_str().to_owned(),
            total: t.total,
            completed: t.completed,
            progress: t.progress_message.default_message.clone(),
            start_time: t.start_time.map(|d| d.to_rfc3339()),
            end_time: t.end_time.map(|d| d.to_rfc3339()),
            result: t.result.as_ref().map(DataValue::to_json),
            error: t
                .error
                .as_ref()
                .map(|e| (e.kind.error_type(), e.messages.iter().map(|m| m.default_message.clone()).collect())),
            seq: t.seq,
        }
    }

    /// The record; a task that was running when the process stopped has failed.
    fn into_record(self) -> (TaskRecord, bool) {
        let mut status = match self.status.as_str() {
            "SUCCEEDED" => Status::Succeeded,
            "FAILED" => Status::Failed,
            "PENDING" => Status::Pending,
            _ => Status::Running,
        };
        let mut error = self.error.map(|(kind, messages)| {
            let kind = super::errors::ErrorKind::from_error_type(&kind).unwrap_or(super::errors::ErrorKind::Error);
            let mut e = ApiError::new(kind, "com.vmware.esxlcm.task.failed", messages.join("; "));
            e.messages = messages.iter().map(|m| Message::new("com.vmware.esxlcm.task.failed", m.clone())).collect();
            e
        });
        let time =
            |t: Option<String>| t.and_then(|t| DateTime::parse_from_rfc3339(&t).ok()).map(|d| d.with_timezone(&Utc));
        let mut end_time = time(self.end_time);
        let mut progress = self.progress;
        let interrupted = matches!(status, Status::Pending | Status::Running);
        if interrupted {
            status = Status::Failed;
            end_time = Some(Utc::now());
            progress = "interrupted by restart".into();
            error = Some(ApiError::new(
                super::errors::ErrorKind::Error,
                "com.vmware.esxlcm.task.interrupted",
                "interrupted by restart: the server stopped while this task ran; run it again",
            ));
        }
        let result = self.result.and_then(|v| DataValue::from_json(&v).ok());
        let record = TaskRecord {
            id: self.id,
            service: self.service,
            operation: self.operation.clone(),
            description: Message::new("com.vmware.esxlcm.task", self.operation),
            user: self.user,
            status,
            cancelable: false,
            total: self.total,
            completed: self.completed,
            progress_message: Message::new("com.vmware.esxlcm.task.progress", progress),
            start_time: time(self.start_time),
            end_time,
            result,
            error,
            seq: self.seq,
        };
        (record, interrupted)
    }
}

/// Run a durable write (an fsync) without stalling the other requests of a runtime worker:
/// `block_in_place` hands them to another worker first. Outside a multi-threaded runtime
/// (unit tests) it simply runs.
fn off_the_runtime<R>(write: impl FnOnce() -> R) -> R {
    let multi = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
    if multi { tokio::task::block_in_place(write) } else { write() }
}

pub fn uuid_v4() -> Result<String, getrandom::Error> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    Ok(format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]))
}

impl TaskManager {
    /// The tasks kept in `log` (those that were running are marked interrupted, and kept
    /// so), and new ones kept there too.
    pub fn with_log(log: Arc<dyn TaskLog>) -> Self {
        let mut tasks = HashMap::new();
        let mut next_seq = 0;
        for stored in log.load() {
            let (record, interrupted) = stored.into_record();
            if interrupted {
                tracing::warn!(task = %record.id, "a task was interrupted by the restart");
                log.save(&StoredTask::of(&record));
            }
            next_seq = next_seq.max(record.seq + 1);
            tasks.insert(record.id.clone(), (record, Arc::new(Cancel::default())));
        }
        Self { tasks: Mutex::new(tasks), seq: std::sync::atomic::AtomicU64::new(next_seq), log: Some(log) }
    }

    fn keep(&self, record: &TaskRecord) {
        if let Some(log) = &self.log {
            let stored = StoredTask::of(record);
            off_the_runtime(|| log.save(&stored));
        }
    }

    /// Register a task, already running (we start work at once).
    pub fn start(self: &Arc<Self>, service: &str, operation: &str, user: &str) -> Result<(String, Progress), ApiError> {
        let uuid = uuid_v4().map_err(|e| ApiError::internal(format!("no randomness for a task id: {e}")))?;
        let id = format!("{uuid}:{service}");
        let cancel = Arc::new(Cancel::default());
        let record = TaskRecord {
            id: id.clone(),
            service: service.to_owned(),
            operation: operation.to_owned(),
            description: Message::new(&format!("{service}.{operation}"), format!("{operation} ({service})")),
            user: user.to_owned(),
            status: Status::Running,
            cancelable: false,
            total: 100,
            completed: 0,
            progress_message: Message::new("com.vmware.esxlcm.task.started", "Started"),
            start_time: Some(Utc::now()),
            end_time: None,
            result: None,
            error: None,
            seq: self.seq.fetch_add(1, Ordering::Relaxed),
        };
        self.keep(&record);
        self.lock().insert(id.clone(), (record, Arc::clone(&cancel)));
        Ok((id.clone(), Progress { manager: Arc::clone(self), id, cancel }))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (TaskRecord, Arc<Cancel>)>> {
        self.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut TaskRecord)) {
        if let Some((t, _)) = self.lock().get_mut(id) {
            f(t);
        }
    }

    pub fn finish(&self, id: &str, outcome: Result<Option<DataValue>, ApiError>) {
        let mut finished_record = None;
        let mut dropped = Vec::new();
        {
            let mut map = self.lock();
            if let Some((t, _)) = map.get_mut(id) {
                t.end_time = Some(Utc::now());
                t.cancelable = false;
                match outcome {
                    Ok(result) => {
                        t.status = Status::Succeeded;
                        t.completed = t.total;
                        t.progress_message = Message::new("com.vmware.esxlcm.task.done", "Completed");
                        t.result = result;
                    }
                    Err(e) => {
                        t.status = Status::Failed;
                        t.progress_message = Message::new("com.vmware.esxlcm.task.failed", e.to_string());
                        t.error = Some(e);
                    }
                }
                finished_record = Some(t.clone());
            }
            let mut finished: Vec<(u64, String)> = map
                .values()
                .filter(|(t, _)| matches!(t.status, Status::Succeeded | Status::Failed))
                .map(|(t, _)| (t.seq, t.id.clone()))
                .collect();
            if finished.len() > KEEP_FINISHED {
                finished.sort();
                for (_, old) in finished.iter().take(finished.len() - KEEP_FINISHED) {
                    map.remove(old);
                    dropped.push(old.clone());
                }
            }
        }
        // Written outside the lock: readers of other tasks do not wait for the database.
        if let Some(t) = &finished_record {
            self.keep(t);
        }
        if let Some(log) = &self.log {
            off_the_runtime(|| {
                for old in &dropped {
                    log.remove(old);
                }
            });
        }
    }

    pub fn get(&self, id: &str) -> Option<TaskRecord> {
        self.lock().get(id).map(|(t, _)| t.clone())
    }

    /// All tasks, oldest first.
    pub fn list(&self) -> Vec<TaskRecord> {
        let mut all: Vec<TaskRecord> = self.lock().values().map(|(t, _)| t.clone()).collect();
        all.sort_by_key(|t| t.seq);
        all
    }

    /// Ask a task to stop; `Err` if it cannot be canceled.
    pub fn cancel(&self, id: &str) -> Result<(), ApiError> {
        let map = self.lock();
        let (t, flag) = map.get(id).ok_or_else(|| ApiError::not_found("task", id))?;
        if !t.cancelable || !matches!(t.status, Status::Pending | Status::Running) {
            return Err(ApiError::new(
                super::errors::ErrorKind::NotAllowedInCurrentState,
                "com.vmware.esxlcm.task.not_cancelable",
                format!(
                    "task '{id}' cannot be canceled now (status {}, cancelable {})",
                    t.status.as_str(),
                    t.cancelable
                ),
            ));
        }
        flag.request();
        Ok(())
    }
}

impl TaskRecord {
    /// `com.vmware.cis.task.info`, obeying the union rules of its status.
    pub fn to_info(&self, exclude_result: bool) -> DataValue {
        let progress = DataValue::Struct(
            StructValue::new("com.vmware.cis.task.progress")
                .with("total", DataValue::Long(self.total))
                .with("completed", DataValue::Long(self.completed))
                .with("message", self.progress_message.to_data_value()),
        );
        let started = self.status != Status::Pending;
        let ended = matches!(self.status, Status::Succeeded | Status::Failed);
        let opt_time = |t: Option<DateTime<Utc>>, allowed: bool| match t {
            Some(t) if allowed => DataValue::some(DataValue::String(format_datetime(t))),
            _ => DataValue::none(),
        };
        let result = match &self.result {
            Some(r) if started && !exclude_result => DataValue::some(r.clone()),
            _ => DataValue::none(),
        };
        let error = match &self.error {
            Some(e) if self.status == Status::Failed => DataValue::some(e.to_data_value()),
            _ => DataValue::none(),
        };
        DataValue::Struct(
            StructValue::new("com.vmware.cis.task.info")
                .with("progress", if started { DataValue::some(progress) } else { DataValue::none() })
                .with("result", result)
                .with("description", self.description.to_data_value())
                .with("service", DataValue::string(&self.service))
                .with("operation", DataValue::string(&self.operation))
                .with("parent", DataValue::none())
                .with("target", DataValue::none())
                .with("status", DataValue::string(self.status.as_str()))
                .with("cancelable", DataValue::Bool(self.cancelable))
                .with("error", error)
                .with("start_time", opt_time(self.start_time, started))
                .with("end_time", opt_time(self.end_time, ended))
                .with("user", DataValue::some(DataValue::string(&self.user))),
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::api::schema::{Registry, Ty};
    use crate::api::typed::to_plain;

    /// Tasks kept in memory, as the store's database keeps them across a restart.
    #[derive(Default)]
    struct MemoryLog(Mutex<std::collections::BTreeMap<String, StoredTask>>);

    impl TaskLog for MemoryLog {
        fn load(&self) -> Vec<StoredTask> {
            self.0.lock().unwrap().values().cloned().collect()
        }
        fn save(&self, task: &StoredTask) {
            self.0.lock().unwrap().insert(task.id.clone(), task.clone());
        }
        fn remove(&self, id: &str) {
            self.0.lock().unwrap().remove(id);
        }
    }

    #[test]
    fn tasks_survive_a_restart_and_running_ones_read_interrupted() {
        let log = Arc::new(MemoryLog::default());
        let m = Arc::new(TaskManager::with_log(log.clone()));
        let (done, _) = m.start("com.vmware.esx.settings.depots.offline", "create", "root").unwrap();
        m.finish(&done, Ok(Some(DataValue::string("offline-3"))));
        let (failed, _) = m.start("com.vmware.esx.settings.depots", "sync", "root").unwrap();
        m.finish(&failed, Err(ApiError::new(super::super::errors::ErrorKind::ResourceInaccessible, "x", "no route")));
        let (running, p) = m.start("com.vmware.esx.settings.clusters.software.drafts", "commit", "root").unwrap();
        p.set(40, 100, "committing");

        // The process dies; a new one reads what was kept.
        let again = TaskManager::with_log(log.clone());
        let t = again.get(&done).unwrap();
        assert_eq!((t.status, t.result.clone()), (Status::Succeeded, Some(DataValue::string("offline-3"))));
        let t = again.get(&failed).unwrap();
        assert_eq!(t.status, Status::Failed);
        let e = t.error.unwrap();
        assert_eq!(e.kind, super::super::errors::ErrorKind::ResourceInaccessible);
        assert_eq!(e.messages[0].default_message, "no route");
        let t = again.get(&running).unwrap();
        assert_eq!(t.status, Status::Failed);
        assert!(t.end_time.is_some());
        assert!(t.error.unwrap().messages[0].default_message.contains("interrupted by restart"));
        assert_eq!(log.load().iter().find(|k| k.id == running).unwrap().status, "FAILED", "kept as failed");
        // New tasks come after the kept ones.
        let (next, _) = Arc::new(again).start("s", "o", "root").unwrap();
        assert!(log.load().iter().any(|k| k.id == next));
    }

    #[test]
    fn task_info_passes_union_rules_in_every_state() {
        let reg = Registry::load().unwrap();
        let ty = Ty::Struct("com.vmware.cis.task.info".into());
        let m = Arc::new(TaskManager::default());
        let (id, p) = m.start("com.vmware.esx.settings.depots.offline", "create", "root").unwrap();
        p.set(30, 100, "copying");
        let running = to_plain(&reg, &m.get(&id).unwrap().to_info(false), &ty, "$").unwrap();
        assert_eq!(running["status"], "RUNNING");
        assert_eq!(running["progress"]["completed"], 30);
        assert!(running.get("end_time").is_none());
        m.finish(&id, Ok(Some(DataValue::string("x"))));
        let done = to_plain(&reg, &m.get(&id).unwrap().to_info(false), &ty, "$").unwrap();
        assert_eq!(done["status"], "SUCCEEDED");
        assert_eq!(done["progress"]["completed"], 100);
        assert_eq!(done["result"], "x");
        assert!(m.cancel(&id).is_err());

        let (id2, p2) = m.start("s", "o", "root").unwrap();
        p2.set_cancelable(true);
        m.cancel(&id2).unwrap();
        assert!(p2.is_canceled());
        m.finish(&id2, Err(ApiError::new(super::super::errors::ErrorKind::Canceled, "c", "canceled")));
        let failed = to_plain(&reg, &m.get(&id2).unwrap().to_info(false), &ty, "$").unwrap();
        assert_eq!(failed["status"], "FAILED");
        assert_eq!(failed["error"]["error_type"], "CANCELED");
    }
}
