//! The `upload.expire` job: removes an upload nobody finished (or turned into a track) by
//! its expiry, with its part blobs. Idempotent: an upload already gone is done.

use async_trait::async_trait;
use std::sync::Arc;
use uuid::Uuid;

use super::{RemoveIf, UploadPart, UploadStore};
use crate::blobs::BlobStore;
use crate::clock::Clock;
use crate::jobs::{Job, JobHandler, one_field_payload, payload_field};

/// The payload of an `upload.expire` job.
pub(crate) fn expire_payload(upload_id: Uuid) -> String {
    one_field_payload("upload_id", &upload_id.to_string())
}

/// Removes the blobs of parts whose rows are gone; a blob that cannot be removed is logged
/// (its row is gone, so nothing would retry it).
pub(crate) async fn delete_part_blobs(blobs: &dyn BlobStore, parts: &[UploadPart]) {
    for part in parts {
        if let Err(err) = blobs.delete(&part.blob).await {
            tracing::warn!(error = %err, key = %part.blob, "upload part not removed");
        }
    }
}

pub struct UploadExpirer {
    pub uploads: Arc<dyn UploadStore>,
    pub blobs: Arc<dyn BlobStore>,
    pub clock: Arc<dyn Clock>,
}

#[async_trait]
impl JobHandler for UploadExpirer {
    async fn handle(&self, job: &Job) -> Result<(), String> {
        let id = payload_field(&job.payload, "upload_id")
            .and_then(|id| Uuid::try_parse(id).ok())
            .ok_or_else(|| format!("malformed payload {:?}", job.payload))?;
        let now = self.clock.now();
        let removed = self
            .uploads
            .remove_upload(id, RemoveIf::ExpiredAndUnclaimed, now)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(parts) = removed {
            delete_part_blobs(&*self.blobs, &parts).await;
            return Ok(());
        }
        match self.uploads.upload_by_id(id).await.map_err(|e| e.to_string())? {
            None => Ok(()), // finished into a track, or terminated
            // Retried with backoff: a request is turning it into a track, or this worker's
            // clock is behind the one that set the expiry.
            Some(upload) if upload.expires_at > now => Err("the upload has not expired".into()),
            Some(_) => Err("the upload is being turned into a track".into()),
        }
    }
}
