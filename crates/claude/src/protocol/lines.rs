//! Cuts the CLI's stdout (and stderr) byte stream into lines, with a bound on line length.
//!
//! Lines split across reads are joined; a UTF-8 character split across reads is never a
//! problem because lines are cut at `\n` bytes (which never occur inside a multi-byte
//! character); lines longer than the limit are skipped without being buffered.

/// One line out of the decoder.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A complete line (without the `\n`).
    Complete(&'a [u8]),
    /// A line longer than the limit was skipped; `len` bytes were dropped.
    TooLong {
        /// Bytes dropped.
        len: usize,
        /// Its first bytes.
        head: Vec<u8>,
    },
}

/// Buffer capacity a decoder keeps between lines; a larger one (left by a huge line) is
/// given back.
pub(crate) const RETAINED_CAPACITY: usize = 1024 * 1024;

/// Splits a byte stream into lines, with a bound on line length.
#[derive(Debug)]
pub struct LineDecoder {
    buf: Vec<u8>,
    max_line: usize,
    skipping: Option<(usize, Vec<u8>)>,
}

impl LineDecoder {
    /// A decoder refusing lines longer than `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        Self {
            buf: Vec::new(),
            max_line: max_line.max(1),
            skipping: None,
        }
    }

    /// Feeds a chunk; `on_line` gets every line completed by it.
    pub fn push(&mut self, mut chunk: &[u8], mut on_line: impl FnMut(Line<'_>)) {
        while !chunk.is_empty() {
            let newline = memchr::memchr(b'\n', chunk);
            if let Some((dropped, head)) = &mut self.skipping {
                match newline {
                    Some(i) => {
                        let len = *dropped + i;
                        let head = std::mem::take(head);
                        self.skipping = None;
                        on_line(Line::TooLong { len, head });
                        chunk = &chunk[i + 1..];
                    }
                    None => {
                        *dropped += chunk.len();
                        return;
                    }
                }
                continue;
            }
            match newline {
                Some(i) => {
                    if self.buf.is_empty() {
                        // The common case: a whole line inside one read, no copy.
                        if i > self.max_line {
                            on_line(Line::TooLong {
                                len: i,
                                head: chunk[..i.min(200)].to_vec(),
                            });
                        } else {
                            on_line(Line::Complete(&chunk[..i]));
                        }
                    } else if self.buf.len() + i > self.max_line {
                        let head = self.buf[..self.buf.len().min(200)].to_vec();
                        let len = self.buf.len() + i;
                        self.buf.clear();
                        on_line(Line::TooLong { len, head });
                    } else {
                        self.buf.extend_from_slice(&chunk[..i]);
                        on_line(Line::Complete(&self.buf));
                        self.buf.clear();
                        if self.buf.capacity() > RETAINED_CAPACITY {
                            // One huge line must not pin its memory for the process's life.
                            self.buf = Vec::new();
                        }
                    }
                    chunk = &chunk[i + 1..];
                }
                None => {
                    if self.buf.len() + chunk.len() > self.max_line {
                        let dropped = self.buf.len() + chunk.len();
                        // Give back the memory of a huge partial line.
                        let mut head = std::mem::take(&mut self.buf);
                        head.extend_from_slice(&chunk[..chunk.len().min(200)]);
                        head.truncate(200);
                        self.skipping = Some((dropped, head));
                    } else {
                        self.buf.extend_from_slice(chunk);
                    }
                    return;
                }
            }
        }
    }

    /// Bytes of buffer capacity held (for tests of memory behaviour).
    pub fn retained(&self) -> usize {
        self.buf.capacity()
    }

    /// Whatever is left at end of stream (a last line without `\n`).
    pub fn finish(&mut self, mut on_line: impl FnMut(Line<'_>)) {
        if let Some((len, head)) = self.skipping.take() {
            on_line(Line::TooLong { len, head });
        } else if !self.buf.is_empty() {
            let rest = std::mem::take(&mut self.buf);
            on_line(Line::Complete(&rest));
        }
    }

    /// Bytes held for an incomplete line.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}
