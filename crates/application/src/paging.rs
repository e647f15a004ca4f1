//! Shared validation of list requests.

use crate::error::AppError;
use crate::ports::PageRequest;

/// Checks a page request's bounds.
///
/// # Errors
/// `Invalid` for a page size of zero or over [`PageRequest::MAX_LIMIT`].
pub fn validate_page(page: PageRequest) -> Result<(), AppError> {
    if page.limit == 0 || page.limit > PageRequest::MAX_LIMIT {
        return Err(AppError::invalid(
            "pageSize",
            format!("must be between 1 and {}", PageRequest::MAX_LIMIT),
        ));
    }
    Ok(())
}
