//! The API's request and response bodies, one file per resource, and the paging they share.
//!
//! They exist only here; handlers convert them to commands and queries of the application
//! layer. Every body is re-exported here, so `crate::dto::X` names it wherever it lives.

mod agents;
mod approvals;
mod audit;
mod diagnostics;
pub(crate) mod grants;
mod health;
mod int;
mod policy;
mod sessions;
mod turns;

use orchestra_application::ports::{Page, PageRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

pub use agents::AgentResponse;
pub use approvals::{
    ApprovalListQuery, ApprovalResponse, CancelApprovalRequest, CancelTestApprovalsResponse,
    CreateTestApprovalRequest, DecideApprovalRequest, FilePreviewResponse, TestApprovalResponse,
    VoteResponse,
};
pub use audit::AuditEventResponse;
pub use diagnostics::{
    CircuitBreakerResponse, DatabaseDiagnosticsResponse, ServiceMetricsResponse,
    TelegramStatusResponse,
};
pub use grants::{GrantListResponse, GrantResponse, GrantTermsResponse};
pub use health::{HealthCheck, HealthResponse};
pub use policy::{
    EvaluatePolicyRequest, EvaluatePolicyResponse, MatchedRule, PolicyResponse, PolicyRuleResponse,
};
pub use sessions::{
    CreateSessionRequest, EventsQuery, LiveProcessResponse, MAX_EVENT_SEQ, SendMessageRequest,
    SessionDetailResponse, SessionListQuery, SessionResponse, SseEvent,
};
pub use turns::{TurnListQuery, TurnResponse};

/// The last page a client may ask for (a billion rows in at most 1000-row pages).
pub const MAX_PAGE: u64 = 1_000_000;

/// `?page=&pageSize=` (1-based page).
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PagingQuery {
    /// 1-based page number (default 1).
    #[param(minimum = 1, maximum = 1_000_000)]
    pub page: Option<u64>,
    /// Rows per page, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub page_size: Option<u32>,
}

impl PagingQuery {
    /// The page request, validated.
    ///
    /// # Errors
    /// 400 for page 0 or a page size outside 1..=1000.
    pub fn to_page_request(&self) -> Result<PageRequest, ApiError> {
        let page = self.page.unwrap_or(1);
        if page == 0 {
            return Err(ApiError::bad_request(
                "page",
                "page is 1-based; it must be at least 1",
            ));
        }
        if page > MAX_PAGE {
            return Err(ApiError::bad_request(
                "page",
                format!("page must be at most {MAX_PAGE}"),
            ));
        }
        let limit = self.page_size.unwrap_or(PageRequest::DEFAULT_LIMIT);
        if limit == 0 || limit > PageRequest::MAX_LIMIT {
            return Err(ApiError::bad_request(
                "pageSize",
                format!("pageSize must be between 1 and {}", PageRequest::MAX_LIMIT),
            ));
        }
        let offset = (page - 1)
            .checked_mul(u64::from(limit))
            .ok_or_else(|| ApiError::bad_request("page", "page is too large"))?;
        Ok(PageRequest { offset, limit })
    }
}

/// A page of results.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PageResponse<T: ToSchema> {
    /// The rows.
    pub items: Vec<T>,
    /// Rows matching in all.
    pub total: u64,
    /// This page (1-based).
    pub page: u64,
    /// Rows per page.
    pub page_size: u32,
}

impl<T: ToSchema> PageResponse<T> {
    /// Converts a page of domain values.
    pub fn from_page<D>(page: Page<D>, f: impl Fn(&D) -> T) -> Self {
        let size = page.request.limit.max(1);
        Self {
            items: page.items.iter().map(f).collect(),
            total: page.total,
            page: page.request.offset / u64::from(size) + 1,
            page_size: size,
        }
    }
}
