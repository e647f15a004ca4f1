//! A message as styled runs of plain text, rendered to Telegram HTML or to plain text.
//!
//! Telegram refuses a message whose HTML does not parse (an unescaped `<` or `&`, an
//! unbalanced tag, an entity cut in half) or whose text, after parsing, is over 4,096
//! characters. Here every run is escaped on its own and wrapped in whole tags, and cutting
//! happens on the plain text before rendering, so neither can happen: escape first, then
//! cut, is replaced by cut the text, then escape.

/// Telegram's limit on a message's text after entity parsing. Counted here in UTF-16 code
/// units (an emoji counts two), which is at least what Telegram counts.
pub const MAX_MESSAGE_UNITS: usize = 4096;

/// How a run is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// As it is.
    Plain,
    /// `<b>`.
    Bold,
    /// `<i>`.
    Italic,
    /// `<code>`.
    Code,
    /// `<pre>`.
    Pre,
}

impl Style {
    fn tags(self) -> (&'static str, &'static str) {
        match self {
            Self::Plain => ("", ""),
            Self::Bold => ("<b>", "</b>"),
            Self::Italic => ("<i>", "</i>"),
            Self::Code => ("<code>", "</code>"),
            Self::Pre => ("<pre>", "</pre>"),
        }
    }
}

/// A styled run.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    style: Style,
    text: String,
}

/// A message being built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    runs: Vec<Run>,
}

/// The length Telegram's limit is about.
pub fn units(text: &str) -> usize {
    text.encode_utf16().count()
}

/// Text as Telegram can take it: control characters other than newline and tab removed
/// (a NUL or an escape sequence from a tool's input never reaches the chat).
pub fn sanitize(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .collect()
}

/// The longest prefix of `text` of at most `max` units, cut on a character boundary.
pub fn prefix(text: &str, max: usize) -> &str {
    let mut used = 0;
    for (i, c) in text.char_indices() {
        used += c.len_utf16();
        if used > max {
            return &text[..i];
        }
    }
    text
}

/// Escapes text for Telegram's HTML parse mode.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

impl Message {
    /// An empty message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `text` (sanitized) in `style`.
    #[must_use]
    pub fn push(mut self, style: Style, text: &str) -> Self {
        let text = sanitize(text);
        if !text.is_empty() {
            self.runs.push(Run { style, text });
        }
        self
    }

    /// Appends plain text.
    #[must_use]
    pub fn plain(self, text: &str) -> Self {
        self.push(Style::Plain, text)
    }

    /// Appends every run of `other`.
    #[must_use]
    pub fn extend(mut self, other: Message) -> Self {
        self.runs.extend(other.runs);
        self
    }

    /// The length of its text, in units.
    pub fn units(&self) -> usize {
        self.runs.iter().map(|r| units(&r.text)).sum()
    }

    /// Cut to at most `max` units (dropping the end), so it always fits.
    #[must_use]
    pub fn fit(mut self, max: usize) -> Self {
        let mut left = max;
        let mut kept = Vec::with_capacity(self.runs.len());
        for mut run in self.runs.drain(..) {
            if left == 0 {
                break;
            }
            let n = units(&run.text);
            if n > left {
                run.text = prefix(&run.text, left).to_owned();
            }
            left -= units(&run.text);
            if !run.text.is_empty() {
                kept.push(run);
            }
        }
        self.runs = kept;
        self
    }

    /// Telegram HTML: each run escaped and wrapped in its own tags, so the markup is always
    /// balanced and no entity is ever cut.
    pub fn html(&self) -> String {
        let mut out = String::new();
        for run in &self.runs {
            let (open, close) = run.style.tags();
            out.push_str(open);
            out.push_str(&escape(&run.text));
            out.push_str(close);
        }
        out
    }

    /// The same text with no markup, for when Telegram refuses the HTML anyway.
    pub fn text(&self) -> String {
        self.runs.iter().map(|r| r.text.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_are_escaped_and_wrapped_whole() {
        let m = Message::new()
            .push(Style::Bold, "a<b>")
            .plain(" & ")
            .push(Style::Pre, "\"x\"\0\u{1b}[31m");
        assert_eq!(
            m.html(),
            "<b>a&lt;b&gt;</b> &amp; <pre>&quot;x&quot;[31m</pre>"
        );
        assert_eq!(m.text(), "a<b> & \"x\"[31m");
    }

    #[test]
    fn fitting_cuts_text_not_markup_and_counts_utf16() {
        let m = Message::new()
            .push(Style::Bold, "head ")
            .push(Style::Pre, &"😀&".repeat(10))
            .plain(" tail");
        let fitted = m.fit(11);
        assert_eq!(fitted.units(), 11);
        assert_eq!(fitted.html(), "<b>head </b><pre>😀&amp;😀&amp;</pre>");
        assert_eq!(Message::new().plain("abc").fit(0).html(), "");
    }

    #[test]
    fn a_prefix_never_splits_a_character() {
        assert_eq!(prefix("a😀b", 2), "a");
        assert_eq!(prefix("a😀b", 3), "a😀");
        assert_eq!(prefix("abc", 10), "abc");
    }
}
