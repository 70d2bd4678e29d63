//! Text from outside (providers, documents) made safe for a terminal: used by the table printer
//! and by error messages, which repeat what a provider said.

/// `s` made safe to print on a terminal: line breaks and tabs become spaces; every other control
/// character (an escape sequence could retitle or clear the terminal and forge a message) and the
/// bidirectional overrides (which reorder what is shown) are printed as `\u{…}` escapes.
#[must_use]
pub fn terminal_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control()
                || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                out.extend(c.escape_unicode());
            }
            c => out.push(c),
        }
    }
    out
}
