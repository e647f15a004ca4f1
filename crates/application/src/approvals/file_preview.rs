//! What a file-writing approval would change: the file as it is now within the session's
//! working directory, and what the call would leave in it (`file_edit::apply`).

use std::sync::Arc;

use orchestra_domain::ApprovalId;
use orchestra_domain::file_edit;

use crate::error::AppError;
use crate::ports::{ApprovalRepository, FileRead, WorkspaceFiles};

/// The largest file shown, in bytes.
pub const MAX_PREVIEW_BYTES: u64 = 512 * 1024;

/// What the approver can be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePreview {
    /// The file the call names.
    pub path: String,
    /// What reading it found (`Text` carries the content now).
    pub read: FileRead,
    /// The content after the call, when it applies; why not, when it does not.
    pub after: Result<String, String>,
}

/// Handles "show what this approval's call would change in its file".
#[derive(Debug, Clone)]
pub struct FilePreviewHandler {
    repo: Arc<dyn ApprovalRepository>,
    files: Arc<dyn WorkspaceFiles>,
}

impl FilePreviewHandler {
    /// A handler over the approvals and the files.
    pub fn new(repo: Arc<dyn ApprovalRepository>, files: Arc<dyn WorkspaceFiles>) -> Self {
        Self { repo, files }
    }

    /// The preview; `None` when the approval's tool writes no file or names none.
    ///
    /// # Errors
    /// `NotFound`; `Decide(AlreadyDecided)` once it is no longer Pending; `Unavailable`.
    pub async fn handle(&self, id: ApprovalId) -> Result<Option<FilePreview>, AppError> {
        let approval = self
            .repo
            .find(id)
            .await?
            .ok_or_else(|| AppError::not_found("approval", id))?;
        let r = approval.request();
        let Some(path) = file_edit::target(&r.tool_name, &r.tool_input) else {
            return Ok(None);
        };
        // Only while it waits for a decision: afterwards the file is the agent's business
        // (it may have been changed by the call), not the approval's.
        if approval.status() != orchestra_domain::ApprovalStatus::Pending {
            return Err(orchestra_domain::DecideApprovalError::AlreadyDecided {
                current: approval.status(),
            }
            .into());
        }
        // Only within the session's directory: the preview shows nothing the working
        // directory does not hold (a path out of it, by `..` or a link, is not read).
        let read = match r.working_directory.as_deref() {
            Some(root) => self.files.read_within(root, &path, MAX_PREVIEW_BYTES).await,
            None => FileRead::Outside,
        };
        let before = match &read {
            FileRead::Text { text, .. } => Some(Some(text.as_str())),
            FileRead::Missing => Some(None),
            _ => None,
        };
        let after = match before {
            Some(before) => file_edit::apply(&r.tool_name, &r.tool_input, before).map_err(|e| e.0),
            None => Err("the file could not be read".to_owned()),
        };
        Ok(Some(FilePreview { path, read, after }))
    }
}
