//! Where a request came from, for the audit log: the request id and the client's address,
//! set by the HTTP layer (or a chat update) around the handling of one request and read by
//! [`super::AuditRecord::new`], so no command has to carry them.

use std::future::Future;

tokio::task_local! {
    static CONTEXT: RequestContext;
}

/// The origin of the request being handled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestContext {
    /// The request id (`X-Request-Id`, or `telegram:update:<id>`).
    pub request_id: Option<String>,
    /// The client's address (the TCP peer; a proxy's address behind a proxy).
    pub client_addr: Option<String>,
}

impl RequestContext {
    /// Runs `fut` with this context: audit records made inside it carry it.
    pub async fn scope<F: Future>(self, fut: F) -> F::Output {
        CONTEXT.scope(self, fut).await
    }

    /// The context of the request being handled, if any.
    pub fn current() -> Self {
        CONTEXT.try_with(Clone::clone).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_context_is_seen_inside_its_scope_only() {
        assert_eq!(RequestContext::current(), RequestContext::default());
        let ctx = RequestContext {
            request_id: Some("r-1".into()),
            client_addr: Some("127.0.0.1:5000".into()),
        };
        let seen = ctx
            .clone()
            .scope(async {
                tokio::task::yield_now().await;
                RequestContext::current()
            })
            .await;
        assert_eq!(seen, ctx);
    }
}
