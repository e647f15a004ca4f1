//! What is kept of a line too long to hold: its JSON with every string cut to
//! [`STRING_KEEP`] bytes, read as it streams past, so the small fields survive.
//!
//! A line goes over the limit because of one or two huge strings (a file's content in a tool
//! input, and that input again in the result's `permission_denials`), never because of its
//! structure. Cutting the strings keeps what Orchestra must act on: a control request's id
//! (to answer it), a result's status and cost (to end the turn). Without it the CLI would
//! wait for an answer that cannot come, or the turn would never end.
//!
//! The skim copies everything outside strings and the first bytes of each string, cutting
//! only at a character boundary outside an escape (and never between the two halves of a
//! surrogate pair), and appends a marker to a cut string, so valid JSON stays valid. It holds
//! at most [`SKIM_MAX`] bytes; a line with more structure than that is not skimmed.

use std::fmt::Write as _;

/// Bytes kept of each string.
pub const STRING_KEEP: usize = 1024;

/// Bytes a skim may hold; beyond, the line is given up.
pub const SKIM_MAX: usize = 256 * 1024;

/// Where the skim is inside an escape sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    Backslash,
    /// In `\uXXXX`: hex digits still to come, and the value so far.
    Unicode(u8, u16),
}

/// A line being skimmed.
#[derive(Debug)]
pub struct Skim {
    out: Vec<u8>,
    in_string: bool,
    escape: Escape,
    /// The last complete escape was a high surrogate (its low half must stay with it).
    high_surrogate: bool,
    kept: usize,
    cut: usize,
    overflow: bool,
}

impl Default for Skim {
    fn default() -> Self {
        Self::new()
    }
}

impl Skim {
    /// An empty skim.
    pub fn new() -> Self {
        Self {
            out: Vec::new(),
            in_string: false,
            escape: Escape::None,
            high_surrogate: false,
            kept: 0,
            cut: 0,
            overflow: false,
        }
    }

    /// Reads the next bytes of the line.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.overflow {
            return;
        }
        for &b in bytes {
            if self.in_string {
                self.string_byte(b);
            } else {
                if b == b'"' {
                    self.in_string = true;
                    self.kept = 0;
                    self.cut = 0;
                }
                self.out.push(b);
            }
            if self.out.len() > SKIM_MAX {
                self.overflow = true;
                self.out = Vec::new();
                return;
            }
        }
    }

    fn string_byte(&mut self, b: u8) {
        if self.escape == Escape::None && b == b'"' {
            if self.cut > 0 {
                let _ = write!(Marker(&mut self.out), "…[{} bytes cut]", self.cut);
            }
            self.out.push(b);
            self.in_string = false;
            self.high_surrogate = false;
            return;
        }
        let boundary = self.escape == Escape::None && b & 0xC0 != 0x80 && !self.high_surrogate;
        let next = match self.escape {
            Escape::None if b == b'\\' => Escape::Backslash,
            Escape::None => {
                self.high_surrogate = false;
                Escape::None
            }
            Escape::Backslash if b == b'u' => Escape::Unicode(4, 0),
            Escape::Backslash => {
                self.high_surrogate = false;
                Escape::None
            }
            Escape::Unicode(left, value) => {
                let digit = char::from(b).to_digit(16).unwrap_or(0);
                let value = value << 4 | u16::try_from(digit).unwrap_or(0);
                if left == 1 {
                    self.high_surrogate = (0xD800..=0xDBFF).contains(&value);
                    Escape::None
                } else {
                    Escape::Unicode(left - 1, value)
                }
            }
        };
        if self.cut > 0 || (self.kept >= STRING_KEEP && boundary) {
            self.cut += 1;
        } else {
            self.out.push(b);
            self.kept += 1;
        }
        self.escape = next;
    }

    /// The skimmed line, unless it held too much or ended inside a string.
    pub fn finish(self) -> Option<Vec<u8>> {
        (!self.overflow && !self.in_string).then_some(self.out)
    }
}

/// `fmt::Write` onto a byte buffer.
struct Marker<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Marker<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn skim(line: &[u8], chunk: usize) -> Option<Value> {
        let mut s = Skim::new();
        for part in line.chunks(chunk.max(1)) {
            s.feed(part);
        }
        s.finish().map(|out| serde_json::from_slice(&out).unwrap())
    }

    #[test]
    fn small_fields_survive_and_huge_strings_are_cut() {
        let big = "<p>&amp;\"é😀\\</p>".repeat(50_000);
        let line = json!({"type": "control_request", "request_id": "r-1", "request": {"subtype": "can_use_tool", "input": {"content": big}, "n": [1, 2.5, null, true]}}).to_string();
        for chunk in [1, 7, 4096, line.len()] {
            let v = skim(line.as_bytes(), chunk).unwrap();
            assert_eq!(v["type"], "control_request");
            assert_eq!(v["request_id"], "r-1");
            assert_eq!(v["request"]["subtype"], "can_use_tool");
            assert_eq!(v["request"]["n"], json!([1, 2.5, null, true]));
            let content = v["request"]["input"]["content"].as_str().unwrap();
            assert!(content.len() < STRING_KEEP + 64, "{}", content.len());
            assert!(big.starts_with(content.split('…').next().unwrap()));
            assert!(content.ends_with(" bytes cut]"), "{content}");
        }
    }

    #[test]
    fn cuts_never_split_escapes_characters_or_surrogate_pairs() {
        for pad in 0..12 {
            let text = format!(
                "{}{}",
                "a".repeat(STRING_KEEP - 6 + pad),
                "\\ud83d\\ude00é\\n".repeat(400)
            );
            let line = format!(r#"{{"s":"{text}"}}"#);
            let v = skim(line.as_bytes(), 3).expect("valid JSON stays valid");
            assert!(v["s"].as_str().unwrap().contains("bytes cut]"));
        }
    }

    #[test]
    fn too_much_structure_or_an_open_string_is_given_up() {
        let many = format!("[{}1]", "1,".repeat(SKIM_MAX));
        assert_eq!(skim(many.as_bytes(), 1000), None);
        assert_eq!(skim(br#"{"a":"never closed"#, 5), None);
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            // Long strings of any characters (quotes, backslashes, controls, emoji, NUL).
            (any::<String>(), 0usize..3000)
                .prop_map(|(s, n)| Value::from(s.repeat(n / s.len().max(1) + 1))),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
                proptest::collection::btree_map("[a-z_]{1,8}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Every string of `got` is the one of `want`, or its start and a cut marker.
    fn same_but_cut(want: &Value, got: &Value) -> bool {
        match (want, got) {
            (Value::String(w), Value::String(g)) => {
                w == g
                    || g.rfind('…').is_some_and(|at| {
                        w.starts_with(&g[..at])
                            && g[at..].ends_with(" bytes cut]")
                            && at >= STRING_KEEP / 6
                    })
            }
            (Value::Array(w), Value::Array(g)) => {
                w.len() == g.len() && w.iter().zip(g).all(|(w, g)| same_but_cut(w, g))
            }
            (Value::Object(w), Value::Object(g)) => {
                w.len() == g.len()
                    && w.iter()
                        .all(|(k, v)| g.get(k).is_some_and(|gv| same_but_cut(v, gv)))
            }
            (w, g) => w == g,
        }
    }

    proptest::proptest! {
        #[test]
        fn any_json_skims_to_json_with_the_same_shape(value in json_value(), chunk in 1usize..5000) {
            let line = value.to_string();
            let got = skim(line.as_bytes(), chunk);
            proptest::prop_assert!(got.as_ref().is_some_and(|g| same_but_cut(&value, g)), "{line:.300} -> {got:?}");
        }
    }
}
