//! Text the store keeps from the outside world (a server's error message) as both backends can
//! hold it: PostgreSQL's `text` refuses NUL, and neither should keep control characters that
//! would garble a log or a terminal, nor an unbounded body.

/// The longest error kept, in characters.
pub const MAX_ERROR_CHARS: usize = 2000;

/// `raw` with every control character replaced by a space (runs folded into one) and cut to
/// [`MAX_ERROR_CHARS`] characters (marked with `…`).
pub fn sanitise(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len().min(MAX_ERROR_CHARS + 4));
    let mut chars = 0;
    let mut last_space = false;
    for c in raw.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if c == ' ' && last_space {
            continue;
        }
        if chars == MAX_ERROR_CHARS {
            out.push('…');
            break;
        }
        last_space = c == ' ';
        out.push(c);
        chars += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn control_characters_and_length_are_taken_out() {
        assert_eq!(sanitise("a\0b\r\n\tc\u{1b}[31m"), "a b c [31m");
        let long = "x".repeat(10_000);
        let s = sanitise(&long);
        assert_eq!(s.chars().count(), MAX_ERROR_CHARS + 1);
        assert!(s.ends_with('…'));
        assert_eq!(
            sanitise("plain 422: Users not found: 5"),
            "plain 422: Users not found: 5"
        );
    }

    proptest! {
        #[test]
        fn whatever_goes_in_comes_out_storable(raw in ".{0,3000}") {
            let s = sanitise(&raw);
            prop_assert!(!s.chars().any(char::is_control));
            prop_assert!(s.chars().count() <= MAX_ERROR_CHARS + 1);
            prop_assert_eq!(sanitise(&s), s.clone());
        }
    }
}
