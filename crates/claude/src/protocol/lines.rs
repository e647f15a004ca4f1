//! Cuts the CLI's stdout (and stderr) byte stream into lines, with a bound on line length.
//!
//! Lines split across reads are joined; a UTF-8 character split across reads is never a
//! problem because lines are cut at `\n` bytes (which never occur inside a multi-byte
//! character); lines longer than the limit are skipped without being buffered whole: what
//! is kept is their head and a [`Skim`] (the JSON with its strings cut).

use super::skim::Skim;

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
        /// The line with its strings cut (see [`Skim`]), when that kept it small.
        skimmed: Option<Vec<u8>>,
    },
}

/// Buffer capacity a decoder keeps between lines; a larger one (left by a huge line) is
/// given back.
pub(crate) const RETAINED_CAPACITY: usize = 1024 * 1024;

/// Bytes of a skipped line kept for the report (enough to read a control request's id and
/// subtype, which the CLI writes first).
pub const HEAD_BYTES: usize = 512;

/// Splits a byte stream into lines, with a bound on line length.
#[derive(Debug)]
pub struct LineDecoder {
    buf: Vec<u8>,
    max_line: usize,
    skipping: Option<Skipping>,
    skim: bool,
}

/// A line over the limit, being read past.
#[derive(Debug)]
struct Skipping {
    dropped: usize,
    head: Vec<u8>,
    skim: Option<Skim>,
}

impl Skipping {
    fn start(skim: bool, parts: [&[u8]; 2]) -> Self {
        let mut head = Vec::with_capacity(HEAD_BYTES);
        let mut skim = skim.then(Skim::new);
        for part in parts {
            let room = HEAD_BYTES - head.len();
            head.extend_from_slice(&part[..part.len().min(room)]);
            if let Some(s) = &mut skim {
                s.feed(part);
            }
        }
        Self {
            dropped: parts[0].len() + parts[1].len(),
            head,
            skim,
        }
    }

    fn line(self) -> Line<'static> {
        Line::TooLong {
            len: self.dropped,
            head: self.head,
            skimmed: self.skim.and_then(Skim::finish),
        }
    }
}

impl LineDecoder {
    /// A decoder refusing lines longer than `max_line` bytes.
    pub fn new(max_line: usize) -> Self {
        Self {
            buf: Vec::new(),
            max_line: max_line.max(1),
            skipping: None,
            skim: false,
        }
    }

    /// Also skims lines over the limit (for JSON streams: the CLI's stdout).
    #[must_use]
    pub fn skimming(mut self) -> Self {
        self.skim = true;
        self
    }

    /// Feeds a chunk; `on_line` gets every line completed by it.
    pub fn push(&mut self, mut chunk: &[u8], mut on_line: impl FnMut(Line<'_>)) {
        while !chunk.is_empty() {
            let newline = memchr::memchr(b'\n', chunk);
            if let Some(skipping) = &mut self.skipping {
                let end = newline.unwrap_or(chunk.len());
                skipping.dropped += end;
                if let Some(s) = &mut skipping.skim {
                    s.feed(&chunk[..end]);
                }
                match newline {
                    Some(i) => {
                        if let Some(done) = self.skipping.take() {
                            on_line(done.line());
                        }
                        chunk = &chunk[i + 1..];
                    }
                    None => return,
                }
                continue;
            }
            match newline {
                Some(i) => {
                    if self.buf.is_empty() {
                        // The common case: a whole line inside one read, no copy.
                        if i > self.max_line {
                            on_line(Skipping::start(self.skim, [&chunk[..i], &[]]).line());
                        } else {
                            on_line(Line::Complete(&chunk[..i]));
                        }
                    } else if self.buf.len() + i > self.max_line {
                        let done = Skipping::start(self.skim, [&self.buf, &chunk[..i]]);
                        self.buf = Vec::new();
                        on_line(done.line());
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
                        self.skipping = Some(Skipping::start(self.skim, [&self.buf, chunk]));
                        // Give back the memory of a huge partial line.
                        self.buf = Vec::new();
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
        if let Some(done) = self.skipping.take() {
            on_line(done.line());
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
