//! DEFLATE for what is stored compressed (transcripts, event-log tails), on the blocking
//! pool with the query that stores or reads it.

use std::io::{Read, Write};

use orchestra_application::ports::RepositoryError;

/// `raw` compressed; `what` names it in the error.
pub(super) fn compress(raw: &[u8], what: &str) -> Result<Vec<u8>, RepositoryError> {
    let mut enc = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(raw.len() / 4),
        flate2::Compression::fast(),
    );
    enc.write_all(raw)
        .and_then(|()| enc.finish())
        .map_err(|e| RepositoryError::Unavailable(format!("cannot compress {what}: {e}")))
}

/// `data` decompressed, which must be `raw_len` bytes; `what` names it in the error.
pub(super) fn decompress(
    data: &[u8],
    raw_len: usize,
    what: &str,
) -> Result<Vec<u8>, RepositoryError> {
    // `raw_len` comes from the row: trust it for nothing but the check below.
    let mut out = Vec::with_capacity(raw_len.min(16 * 1024 * 1024));
    flate2::read::DeflateDecoder::new(data)
        .take(raw_len as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| RepositoryError::Corrupt(format!("{what}: {e}")))?;
    if out.len() != raw_len {
        return Err(RepositoryError::Corrupt(format!(
            "{what} is {} bytes, its row says {raw_len}",
            out.len()
        )));
    }
    Ok(out)
}
