//! Reading approvals: get one by id and list them by filter, page by page.

use std::sync::Arc;

use orchestra_domain::{ApprovalId, ApprovalRequest};

use crate::error::AppError;
use crate::ports::{ApprovalFilter, ApprovalRepository, Page, PageRequest};

/// Reads one approval.
#[derive(Debug, Clone)]
pub struct GetApprovalHandler {
    repo: Arc<dyn ApprovalRepository>,
}

impl GetApprovalHandler {
    /// A handler over the repository.
    pub fn new(repo: Arc<dyn ApprovalRepository>) -> Self {
        Self { repo }
    }

    /// The approval.
    ///
    /// # Errors
    /// `NotFound`, `Unavailable`.
    pub async fn handle(&self, id: ApprovalId) -> Result<ApprovalRequest, AppError> {
        self.repo
            .find(id)
            .await?
            .ok_or_else(|| AppError::not_found("approval", id))
    }
}

/// List approvals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListApprovals {
    /// Filters.
    pub filter: ApprovalFilter,
    /// Which page.
    pub page: PageRequest,
}

/// Lists approvals, newest first.
#[derive(Debug, Clone)]
pub struct ListApprovalsHandler {
    repo: Arc<dyn ApprovalRepository>,
}

impl ListApprovalsHandler {
    /// A handler over the repository.
    pub fn new(repo: Arc<dyn ApprovalRepository>) -> Self {
        Self { repo }
    }

    /// One page.
    ///
    /// # Errors
    /// `Invalid` for a page size over [`PageRequest::MAX_LIMIT`] or zero; `Unavailable`.
    pub async fn handle(&self, query: ListApprovals) -> Result<Page<ApprovalRequest>, AppError> {
        crate::paging::validate_page(query.page)?;
        Ok(self.repo.list(&query.filter, query.page).await?)
    }

    /// How many approvals have a delivery to the human channel still due.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn notifications_due(&self) -> Result<u64, AppError> {
        Ok(self.repo.count_notifications_due().await?)
    }
}
