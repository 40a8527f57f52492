//! Recordings of calls and conferences: metadata rows and the audio files they describe.
//!
//! The media side makes them (a flow's `recording_start`, a conference recording): it
//! creates the row with [`Resource::create`] and `Store::record_insert`, writes
//! `<data dir>/recordings/<filename>`, and ends the row with [`Resource::update`]. The API
//! lists, reads and soft-deletes them, and serves the audio at `GET
//! /v1.0/recordings/{id}/file`. The file is found by the stored file name only — never by
//! anything the client sends — and a stored name that is not one plain file name is refused,
//! so no request reaches outside the recordings folder. Deleting a recording hides it (and
//! its file) from the API at once; the file itself stays on disk for a retention job to
//! remove, as the soft-deleted row stays in the table.

use super::columns::Row;
use super::{Resource, load, not_found, parse_id};
use crate::ApiError;
use crate::auth::Caller;
use crate::routes::AppState;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDateTime;
use ferrovox_store::{ColumnType, LIVE, Record, SqlValue, TableSpec};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use uuid::Uuid;

/// The folder of the data directory that holds recording files.
pub const RECORDINGS_FOLDER: &str = "recordings";

static TABLE: TableSpec = TableSpec {
    name: "recordings",
    columns: &[
        ("id", ColumnType::Text),
        ("customer_id", ColumnType::Text),
        ("reference_type", ColumnType::Text),
        ("reference_id", ColumnType::Text),
        ("status", ColumnType::Text),
        ("format", ColumnType::Text),
        ("filename", ColumnType::Text),
        ("duration", ColumnType::Int),
        ("tm_start", ColumnType::Time),
        ("tm_end", ColumnType::Time),
        ("tm_create", ColumnType::Time),
        ("tm_update", ColumnType::Time),
        ("tm_delete", ColumnType::Time),
    ],
};

const REFERENCE_TYPES: &[&str] = &["call", "conference"];
/// Formats and the Content-Type their files are served with.
const FORMATS: &[(&str, &str)] = &[("wav", "audio/wav")];
/// Bytes read from the file per chunk of the answer.
const CHUNK: usize = 64 * 1024;

/// A recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Recording {
    pub id: Uuid,
    pub customer_id: Uuid,
    /// call or conference.
    pub reference_type: String,
    /// The call or conference recorded.
    pub reference_id: Uuid,
    /// recording or ended.
    pub status: String,
    /// wav.
    pub format: String,
    pub filename: String,
    /// Milliseconds; 0 until the recording ends.
    pub duration: u64,
    pub tm_start: NaiveDateTime,
    /// 9999-01-01 while recording.
    pub tm_end: NaiveDateTime,
    pub tm_create: NaiveDateTime,
    pub tm_update: NaiveDateTime,
    pub tm_delete: NaiveDateTime,
}

/// What the media side gives when it starts recording.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRecording {
    /// call or conference.
    pub reference_type: String,
    pub reference_id: Uuid,
    /// Default wav.
    pub format: Option<String>,
}

/// What the media side gives when the recording ends.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndRecording {
    pub tm_end: NaiveDateTime,
    /// Milliseconds of audio.
    pub duration: u64,
}

impl Recording {
    /// The Content-Type of the file.
    fn content_type(&self) -> Result<&'static str, ApiError> {
        FORMATS
            .iter()
            .find(|(format, _)| *format == self.format)
            .map(|(_, content_type)| *content_type)
            .ok_or_else(|| {
                ApiError::Unavailable(format!(
                    "recording {} has an unknown format {:?}",
                    self.id, self.format
                ))
            })
    }

    /// The stored file name if it is one plain name (no separator, no leading dot).
    fn file_name(&self) -> Result<&str, ApiError> {
        let name = self.filename.as_str();
        let plain = !name.is_empty()
            && name.len() <= 255
            && !name.starts_with('.')
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if plain {
            Ok(name)
        } else {
            Err(ApiError::Unavailable(format!(
                "recording {} has an unusable file name",
                self.id
            )))
        }
    }
}

impl Resource for Recording {
    const KIND: &'static str = "recording";
    const TABLE: &'static TableSpec = &TABLE;
    /// "Call records" in the source documents' TTL table: changes while recording.
    const CACHE_TTL: Duration = Duration::from_secs(60);
    const UPDATABLE: &'static [&'static str] = &["status", "duration", "tm_end"];
    type Create = NewRecording;
    type Update = EndRecording;

    async fn create(request: NewRecording, customer_id: Uuid, id: Uuid) -> Result<Self, ApiError> {
        if !REFERENCE_TYPES.contains(&request.reference_type.as_str()) {
            return Err(ApiError::invalid(
                "reference_type",
                format!("must be one of {}", REFERENCE_TYPES.join(", ")),
            ));
        }
        let format = request.format.unwrap_or_else(|| "wav".into());
        if !FORMATS.iter().any(|(known, _)| *known == format) {
            return Err(ApiError::invalid("format", "must be wav"));
        }
        let at = ferrovox_store::model::now();
        Ok(Recording {
            id,
            customer_id,
            reference_type: request.reference_type,
            reference_id: request.reference_id,
            status: "recording".into(),
            filename: format!("{id}.{format}"),
            format,
            duration: 0,
            tm_start: at,
            tm_end: LIVE,
            tm_create: at,
            tm_update: at,
            tm_delete: LIVE,
        })
    }

    fn update(&mut self, request: EndRecording) -> Result<(), ApiError> {
        if self.status != "recording" {
            return Err(ApiError::Conflict(format!(
                "recording {} has already ended",
                self.id
            )));
        }
        if request.tm_end < self.tm_start {
            return Err(ApiError::invalid("tm_end", "is before tm_start"));
        }
        if i64::try_from(request.duration).is_err() {
            return Err(ApiError::invalid("duration", "is too large"));
        }
        self.status = "ended".into();
        self.tm_end = request.tm_end;
        self.duration = request.duration;
        Ok(())
    }

    common_accessors!();

    fn to_record(&self) -> Record {
        Record::from([
            ("id", SqlValue::from(self.id.to_string())),
            ("customer_id", self.customer_id.to_string().into()),
            ("reference_type", self.reference_type.clone().into()),
            ("reference_id", self.reference_id.to_string().into()),
            ("status", self.status.clone().into()),
            ("format", self.format.clone().into()),
            ("filename", self.filename.clone().into()),
            (
                "duration",
                i64::try_from(self.duration).unwrap_or(i64::MAX).into(),
            ),
            ("tm_start", self.tm_start.into()),
            ("tm_end", self.tm_end.into()),
            ("tm_create", self.tm_create.into()),
            ("tm_update", self.tm_update.into()),
            ("tm_delete", self.tm_delete.into()),
        ])
    }

    fn from_record(record: &Record) -> Result<Self, ApiError> {
        let row = Row::new(TABLE.name, record);
        let duration = record
            .get("duration")
            .and_then(SqlValue::as_int)
            .and_then(|ms| u64::try_from(ms).ok())
            .ok_or_else(|| {
                ApiError::Unavailable("recordings.duration is missing or negative".into())
            })?;
        Ok(Recording {
            id: row.uuid("id")?,
            customer_id: row.uuid("customer_id")?,
            reference_type: row.text("reference_type")?,
            reference_id: row.uuid("reference_id")?,
            status: row.text("status")?,
            format: row.text("format")?,
            filename: row.text("filename")?,
            duration,
            tm_start: row.time("tm_start")?,
            tm_end: row.time("tm_end")?,
            tm_create: row.time("tm_create")?,
            tm_update: row.time("tm_update")?,
            tm_delete: row.time("tm_delete")?,
        })
    }
}

/// `GET /v1.0/recordings/{id}/file`: the audio of a live recording of the caller's customer.
pub(crate) async fn file(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let recording = load::<Recording>(&state, &caller, id)
        .await?
        .ok_or_else(|| not_found::<Recording>(id))?;
    let content_type = recording.content_type()?;
    let path = state.recordings_dir.join(recording.file_name()?);
    let missing = || ApiError::NotFound(format!("the file of recording {id} is missing"));
    let file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Err(missing()),
        Err(error) => {
            tracing::warn!(%error, path = %path.display(), "cannot open a recording file");
            return Err(ApiError::Unavailable(format!(
                "cannot read the file of recording {id}"
            )));
        }
    };
    let metadata = file.metadata().await.map_err(|error| {
        tracing::warn!(%error, path = %path.display(), "cannot stat a recording file");
        ApiError::Unavailable(format!("cannot read the file of recording {id}"))
    })?;
    if !metadata.is_file() {
        return Err(missing());
    }
    let chunks = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buffer = vec![0u8; CHUNK];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(read) => {
                buffer.truncate(read);
                Some((Ok(axum::body::Bytes::from(buffer)), Some(file)))
            }
            // The status line is gone; ending the body short tells the client.
            Err(error) => Some((Err(error), None)),
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_LENGTH, metadata.len().to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}.{}\"", recording.format),
            ),
        ],
        axum::body::Body::from_stream(chunks),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn recording() -> Recording {
        Recording::create(
            NewRecording {
                reference_type: "call".into(),
                reference_id: Uuid::new_v4(),
                format: None,
            },
            Uuid::new_v4(),
            Uuid::new_v4(),
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn records_round_trip_and_a_recording_ends_once() {
        let mut recording = recording().await;
        assert_eq!(recording.filename, format!("{}.wav", recording.id));
        assert_eq!(
            Recording::from_record(&recording.to_record()).unwrap(),
            recording
        );
        let end = recording.tm_start + chrono::Duration::seconds(3);
        recording
            .update(EndRecording {
                tm_end: end,
                duration: 3000,
            })
            .unwrap();
        assert_eq!(
            (
                recording.status.as_str(),
                recording.tm_end,
                recording.duration
            ),
            ("ended", end, 3000)
        );
        assert!(
            recording
                .update(EndRecording {
                    tm_end: end,
                    duration: 1
                })
                .is_err()
        );
    }

    #[tokio::test]
    async fn only_plain_file_names_are_served() {
        let mut recording = recording().await;
        assert!(recording.file_name().is_ok());
        for bad in [
            "",
            "../x.wav",
            "a/b.wav",
            ".hidden",
            "/etc/passwd",
            "x\0.wav",
        ] {
            recording.filename = bad.into();
            assert!(recording.file_name().is_err(), "{bad:?}");
        }
    }
}
