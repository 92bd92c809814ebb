//! Custom-field values in a rule table: literal text, or templates over the hire such as
//! `"{job.title}"` or `"{person.first_name} {person.last_name}"`.
//!
//! `{{` and `}}` stand for literal braces. A template whose hire field is missing renders to
//! nothing, so the custom field it is for is left unset rather than written half-filled.

use crate::domain::Hire;

/// Where a condition or a template reads its value from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Field {
    /// The name of the source the event came in through.
    Source,
    /// The event type (`hire.created`, …).
    Type,
    /// `person.*`, `job.*`, `attributes.*`, read with [`Hire::field`].
    Hire(String),
}

/// A parsed value: its pieces in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Template {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(Field),
}

/// Why a value does not parse, with the character offset (0-based) where the problem starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TemplateError {
    pub(super) offset: usize,
    pub(super) message: String,
}

impl Template {
    /// Parse `text`; `field` resolves a `{path}` to the hire field it reads (or says why not).
    pub(super) fn parse(
        text: &str,
        mut field: impl FnMut(&str) -> Result<Field, String>,
    ) -> Result<Template, TemplateError> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.char_indices().peekable();
        let mut offset = 0usize; // in characters
        while let Some((_, c)) = chars.next() {
            let at = offset;
            offset += 1;
            match c {
                '{' if chars.peek().is_some_and(|&(_, n)| n == '{') => {
                    chars.next();
                    offset += 1;
                    literal.push('{');
                }
                '}' if chars.peek().is_some_and(|&(_, n)| n == '}') => {
                    chars.next();
                    offset += 1;
                    literal.push('}');
                }
                '}' => {
                    return Err(TemplateError {
                        offset: at,
                        message: "a lone `}` (write `}}` for a brace)".into(),
                    });
                }
                '{' => {
                    let mut path = String::new();
                    let mut closed = false;
                    for (_, c) in chars.by_ref() {
                        offset += 1;
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        path.push(c);
                    }
                    if !closed {
                        return Err(TemplateError {
                            offset: at,
                            message: "`{` is not closed (write `{{` for a brace)".into(),
                        });
                    }
                    let path = path.trim();
                    if path.is_empty() {
                        return Err(TemplateError {
                            offset: at,
                            message: "`{}` names no field (e.g. `{job.title}`)".into(),
                        });
                    }
                    let f = field(path).map_err(|message| TemplateError {
                        offset: at,
                        message,
                    })?;
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Field(f));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() || pieces.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Template { pieces })
    }

    /// The literal text when the value reads no hire field (for checks against the account).
    pub(super) fn literal(&self) -> Option<&str> {
        match self.pieces.as_slice() {
            [Piece::Text(t)] => Some(t),
            _ => None,
        }
    }

    /// The value for one hire, `None` when a field it reads is missing or empty.
    pub(super) fn render(&self, source: Option<&str>, hire: &Hire) -> Option<String> {
        if let Some(t) = self.literal() {
            return Some(t.to_owned());
        }
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(f) => {
                    let v = match f {
                        Field::Source => source,
                        Field::Type => Some(hire.event_type.as_str()),
                        Field::Hire(path) => hire.field(path),
                    }
                    .filter(|v| !v.trim().is_empty())?;
                    out.push_str(v);
                }
            }
        }
        Some(out)
    }
}
