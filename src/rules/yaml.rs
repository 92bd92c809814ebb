//! Reading the YAML of a table: the tree with positions, every duplicate key (which the tree
//! would silently collapse), and syntax errors at their place.

use std::collections::HashMap;

use marked_yaml::{LoadError, LoaderOptions, Node};

use super::compiled::RuleError;
use super::report::Ctx;

/// The YAML library is not expected to panic, but a table comes from users, and a malformed one
/// must never take the service down: a panic is turned into an error at the top of the file.
pub(super) fn load_yaml(text: &str) -> Result<Node, Option<LoadError>> {
    let options = LoaderOptions::default()
        .error_on_duplicate_keys(false)
        .prevent_coercion(true);
    std::panic::catch_unwind(|| marked_yaml::parse_yaml_with_options(0, text, options))
        .map_err(|_| None)?
        .map_err(Some)
}

/// A key given twice in one mapping.
pub(super) struct DuplicateKey {
    pub(super) key: String,
    pub(super) line: usize,
    pub(super) column: usize,
    pub(super) first_line: usize,
}

/// Every duplicate key of a document that loaded, in file order. The loader can only stop at
/// the first one, so the parser's events are walked once more to find them all.
pub(super) fn duplicate_keys(text: &str) -> Vec<DuplicateKey> {
    let mut finder = DuplicateFinder {
        stack: Vec::new(),
        found: Vec::new(),
    };
    let walked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // A scan error cannot happen here: the same text loaded already.
        let _ = yaml_rust2::parser::Parser::new_from_str(text).load(&mut finder, false);
    }));
    if walked.is_err() {
        return Vec::new();
    }
    finder.found
}

enum Frame {
    Sequence,
    Mapping {
        /// Each key seen so far, with its line.
        keys: HashMap<String, usize>,
        /// The next scalar is a key (not a value).
        awaiting_key: bool,
    },
}

struct DuplicateFinder {
    stack: Vec<Frame>,
    found: Vec<DuplicateKey>,
}

impl DuplicateFinder {
    /// A value ended: the mapping it belongs to waits for its next key.
    fn value_done(&mut self) {
        if let Some(Frame::Mapping { awaiting_key, .. }) = self.stack.last_mut() {
            *awaiting_key = true;
        }
    }
}

impl yaml_rust2::parser::MarkedEventReceiver for DuplicateFinder {
    fn on_event(&mut self, ev: yaml_rust2::Event, mark: yaml_rust2::scanner::Marker) {
        use yaml_rust2::Event;
        match ev {
            Event::MappingStart(..) => {
                if let Some(Frame::Mapping { awaiting_key, .. }) = self.stack.last_mut() {
                    // A mapping as a key is refused by the loader; here it only counts as one.
                    *awaiting_key = false;
                }
                self.stack.push(Frame::Mapping {
                    keys: HashMap::new(),
                    awaiting_key: true,
                });
            }
            Event::SequenceStart(..) => {
                if let Some(Frame::Mapping { awaiting_key, .. }) = self.stack.last_mut() {
                    *awaiting_key = false;
                }
                self.stack.push(Frame::Sequence);
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.value_done();
            }
            Event::Scalar(value, ..) => match self.stack.last_mut() {
                Some(Frame::Mapping { keys, awaiting_key }) if *awaiting_key => {
                    *awaiting_key = false;
                    // The same position the loader gives a key: 1-based line and column.
                    let (line, column) = (mark.line(), mark.col() + 1);
                    match keys.get(&value) {
                        Some(&first_line) => self.found.push(DuplicateKey {
                            key: value,
                            line,
                            column,
                            first_line,
                        }),
                        None => {
                            keys.insert(value, line);
                        }
                    }
                }
                _ => self.value_done(),
            },
            Event::Alias(_) => self.value_done(),
            _ => {}
        }
    }
}

pub(super) fn yaml_error(cx: &mut Ctx<'_>, e: &Option<LoadError>) {
    let Some(e) = e else {
        cx.errors.push(RuleError {
            file: cx.file.to_owned(),
            line: 1,
            column: 1,
            message: "YAML syntax error: this file could not be read as YAML".to_owned(),
        });
        return;
    };
    match e {
        LoadError::ScanError(m, se) => cx.at_marker(m, format!("YAML syntax error: {}", se.info())),
        LoadError::TopLevelMustBeMapping(m) | LoadError::TopLevelMustBeSequence(m) => {
            cx.at_marker(m, "a rule table is a mapping with `version` and `rules`")
        }
        LoadError::UnexpectedAnchor(m) => cx.at_marker(
            m,
            "YAML anchors and aliases (&name, *name) are not supported in rule tables",
        ),
        LoadError::MappingKeyMustBeScalar(m) => {
            cx.at_marker(m, "a key must be a plain name, not a list or mapping")
        }
        LoadError::UnexpectedTag(m) => {
            cx.at_marker(m, "YAML tags (!name) are not supported in rule tables")
        }
        LoadError::DuplicateKey(d) => {
            let first = d
                .prev_key
                .span()
                .start()
                .map(|m| format!(" (first at line {})", m.line()))
                .unwrap_or_default();
            cx.at(
                d.key.span(),
                format!("duplicate key `{}`{first}", d.key.as_str()),
            )
        }
        // LoadError is not marked non_exhaustive today; keep a location-less fallback anyway.
        #[allow(unreachable_patterns)]
        other => cx.errors.push(RuleError {
            file: cx.file.to_owned(),
            line: 1,
            column: 1,
            message: format!("YAML error: {other}"),
        }),
    }
}
