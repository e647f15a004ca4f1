//! Telegram's HTML parse mode, as strict as Telegram: the fake Bot API refuses with 400 what
//! Telegram refuses (`can't parse entities`, `message is too long`, `message text is empty`).
//!
//! Rules (core.telegram.org/bots/api#html-style): the tags `b strong i em u ins s strike del
//! span(class="tg-spoiler") tg-spoiler a(href) code pre blockquote tg-emoji`, properly nested
//! and closed; the named entities `&lt; &gt; &amp; &quot;` and numeric ones; every other `<`
//! or `&` must be escaped. The length limit (4,096) applies to the text after parsing; it is
//! counted here in UTF-16 code units, the strictest reading.

/// Telegram's limit after parsing.
pub const MAX_UNITS: usize = 4096;

const TAGS: &[&str] = &[
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-emoji",
];

/// Parses `html` as Telegram does: the visible text, or the description Telegram would give.
///
/// # Errors
/// Telegram's `Bad Request: ...` description.
pub fn parse(html: &str) -> Result<String, String> {
    let bad = |what: String| Err(format!("Bad Request: can't parse entities: {what}"));
    let mut text = String::new();
    let mut open: Vec<String> = Vec::new();
    let mut rest = html;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let Some(end) = rest.find('>') else {
                    return bad(format!(
                        "unclosed start tag at byte {}",
                        html.len() - rest.len()
                    ));
                };
                let tag = &rest[1..end];
                rest = &rest[end + 1..];
                if let Some(name) = tag.strip_prefix('/') {
                    let name = name.trim();
                    match open.pop() {
                        Some(top) if top == name => {}
                        Some(top) => {
                            return bad(format!(
                                "unmatched end tag \"{name}\", expected \"{top}\""
                            ));
                        }
                        None => return bad(format!("unexpected end tag \"{name}\"")),
                    }
                } else {
                    let name = tag.split_whitespace().next().unwrap_or_default();
                    if !TAGS.contains(&name) {
                        return bad(format!("unsupported start tag \"{name}\""));
                    }
                    if name == "a" && !tag.contains("href=") {
                        return bad("an <a> without href".into());
                    }
                    open.push(name.to_owned());
                }
            }
            '>' => return bad("a bare \">\"".into()),
            '&' => {
                let Some(end) = rest.find(';').filter(|e| *e <= 10) else {
                    return bad("a bare \"&\"".into());
                };
                let entity = &rest[1..end];
                let decoded = match entity {
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "amp" => Some('&'),
                    "quot" => Some('"'),
                    e if e.starts_with("#x") => u32::from_str_radix(&e[2..], 16)
                        .ok()
                        .and_then(char::from_u32),
                    e if e.starts_with('#') => e[1..].parse().ok().and_then(char::from_u32),
                    _ => None,
                };
                let Some(decoded) = decoded else {
                    return bad(format!("unsupported entity \"&{entity};\""));
                };
                text.push(decoded);
                rest = &rest[end + 1..];
            }
            c => {
                text.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if let Some(top) = open.pop() {
        return bad(format!(
            "can't find end tag corresponding to start tag \"{top}\""
        ));
    }
    check_text(&text)
}

/// The checks that hold in every parse mode: not empty, not too long.
///
/// # Errors
/// Telegram's description.
pub fn check_text(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("Bad Request: message text is empty".into());
    }
    if text.encode_utf16().count() > MAX_UNITS {
        return Err("Bad Request: message is too long".into());
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_telegram_accepts_and_refuses() {
        assert_eq!(
            parse("<b>a &amp; b</b> &lt;x&gt; &#33;&#x41;").unwrap(),
            "a & b <x> !A"
        );
        assert_eq!(
            parse("<pre><code class=\"language-rust\">x</code></pre>").unwrap(),
            "x"
        );
        for refused in [
            "a < b",
            "a & b",
            "<b>open",
            "<b><i>x</b></i>",
            "</b>",
            "<script>x</script>",
            "&nbsp;",
            "a > b",
            "<a>x</a>",
            "",
        ] {
            assert!(parse(refused).is_err(), "{refused:?} must be refused");
        }
        assert!(parse(&"x".repeat(4096)).is_ok());
        assert!(parse(&"x".repeat(4097)).is_err());
        assert!(parse(&"😀".repeat(2049)).is_err(), "UTF-16 units");
        assert!(
            parse(&"&amp;".repeat(4096)).is_ok(),
            "counted after parsing"
        );
    }
}
