//! Original source locations for generated functions.
//!
//! A location map is a text file of `KEY=FILE:LINE:COLUMN` lines (`#` starts a comment line), where KEY is a
//! function name (`fibonacci`) or a method qualified by its type (`Point::norm`):
//!
//! ```text
//! # fibonacci.ruchy
//! fibonacci=fibonacci.ruchy:1:1
//! Point::norm=points.ruchy:7:5
//! ```
//!
//! Ruchy 5.0.0-beta.2 emits no mapping of its own, so [`LocationMap::from_ruchy_source`] derives one from the
//! `.ruchy` source: every `fun NAME` (and `fn NAME`) keyword outside comments and strings, qualified by the
//! enclosing `impl TYPE`/`struct TYPE`/`class TYPE` block when there is one. The position is that of the
//! function's *name* (`fibonacci.ruchy:1:5` for `fun fibonacci` on line 1), the spelling of the Ruchy tracing
//! proposal.

use std::collections::BTreeMap;
use std::fmt;

/// `file:line:column` (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLocation {
    /// File name as it should appear in traces.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

impl fmt::Display for SourceLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

impl std::str::FromStr for SourceLocation {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("expected FILE:LINE:COLUMN, found {s:?}");
        let mut parts = s.rsplitn(3, ':');
        let column = parts.next().and_then(|c| c.parse().ok()).filter(|c| *c > 0);
        let line = parts.next().and_then(|l| l.parse().ok()).filter(|l| *l > 0);
        let file = parts.next().filter(|f| !f.is_empty() && !f.contains('"'));
        match (file, line, column) {
            (Some(file), Some(line), Some(column)) => Ok(SourceLocation {
                file: file.to_string(),
                line,
                column,
            }),
            _ => Err(bad()),
        }
    }
}

/// Original locations of generated functions, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocationMap {
    entries: BTreeMap<String, SourceLocation>,
}

impl LocationMap {
    /// Parses the `KEY=FILE:LINE:COLUMN` format; errors name the 1-based line.
    pub fn parse(text: &str) -> Result<LocationMap, String> {
        let mut entries = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, loc) = line.split_once('=').ok_or_else(|| {
                format!(
                    "line {}: expected KEY=FILE:LINE:COLUMN, found {raw:?}",
                    i + 1
                )
            })?;
            let key = key.trim();
            if key.is_empty() {
                return Err(format!("line {}: empty function name", i + 1));
            }
            let loc = loc
                .trim()
                .parse()
                .map_err(|e| format!("line {}: {e}", i + 1))?;
            entries.insert(key.to_string(), loc);
        }
        Ok(LocationMap { entries })
    }

    /// Derives the map from Ruchy source text; `file` is the name to show in traces (e.g. `fibonacci.ruchy`).
    pub fn from_ruchy_source(file: &str, source: &str) -> LocationMap {
        let mut map = LocationMap::default();
        let words = words(source);
        // Brace depth at which each enclosing type block opened, with its type name.
        let mut blocks: Vec<(usize, String)> = Vec::new();
        let mut pending_type: Option<String> = None;
        let mut depth = 0usize;
        let mut i = 0;
        while i < words.len() {
            let w = &words[i];
            match w.text.as_str() {
                "{" => {
                    depth += 1;
                    if let Some(t) = pending_type.take() {
                        blocks.push((depth, t));
                    }
                }
                "}" => {
                    if blocks.last().is_some_and(|(d, _)| *d == depth) {
                        blocks.pop();
                    }
                    depth = depth.saturating_sub(1);
                }
                "impl" | "struct" | "class" | "enum" | "trait" => {
                    // `impl Trait for Type`: the type is the word after `for`, if it comes before the `{`.
                    let mut name = words.get(i + 1).map(|n| n.text.clone());
                    let mut j = i + 1;
                    while let Some(n) = words.get(j) {
                        if n.text == "{" || n.text == ";" {
                            break;
                        }
                        if n.text == "for" && w.text == "impl" {
                            name = words.get(j + 1).map(|n| n.text.clone());
                        }
                        j += 1;
                    }
                    pending_type = name.filter(|n| is_ident(n));
                }
                ";" => pending_type = None,
                "fun" | "fn" => {
                    if let Some(name) = words.get(i + 1).filter(|n| is_ident(&n.text)) {
                        let loc = SourceLocation {
                            file: file.to_string(),
                            line: name.line,
                            column: name.column,
                        };
                        if let Some((_, ty)) = blocks.last() {
                            map.entries
                                .entry(format!("{ty}::{}", name.text))
                                .or_insert_with(|| loc.clone());
                        }
                        map.entries.entry(name.text.clone()).or_insert(loc);
                    }
                }
                _ => {}
            }
            i += 1;
        }
        map
    }

    /// The location of `qualified` (`Type::method`), else of the plain `name`.
    pub fn lookup(&self, qualified: &str, name: &str) -> Option<&SourceLocation> {
        self.entries
            .get(qualified)
            .or_else(|| self.entries.get(name))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map has no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl fmt::Display for LocationMap {
    /// The `KEY=FILE:LINE:COLUMN` format, sorted by key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (k, v) in &self.entries {
            writeln!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

fn is_ident(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_alphanumeric() || c == '_')
}

struct Word {
    text: String,
    line: u32,
    column: u32,
}

/// Identifiers and the punctuation the scanner cares about (`{`, `}`, `;`), with 1-based positions; comments,
/// strings and character literals are skipped so a `fun` inside them does not count.
fn words(source: &str) -> Vec<Word> {
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let (mut line, mut column) = (1u32, 1u32);
    let mut i = 0;
    // Advances over one character, keeping line/column.
    let step = |i: &mut usize, line: &mut u32, column: &mut u32| {
        if chars[*i] == '\n' {
            *line += 1;
            *column = 1;
        } else {
            *column += 1;
        }
        *i += 1;
    };
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                step(&mut i, &mut line, &mut column);
            }
        } else if c == '/' && next == Some('*') {
            step(&mut i, &mut line, &mut column);
            step(&mut i, &mut line, &mut column);
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                step(&mut i, &mut line, &mut column);
            }
            for _ in 0..2 {
                if i < chars.len() {
                    step(&mut i, &mut line, &mut column);
                }
            }
        } else if c == '"' {
            step(&mut i, &mut line, &mut column);
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    step(&mut i, &mut line, &mut column);
                }
                step(&mut i, &mut line, &mut column);
            }
            if i < chars.len() {
                step(&mut i, &mut line, &mut column);
            }
        } else if c == '\'' && (chars.get(i + 2) == Some(&'\'') || next == Some('\\')) {
            // A character literal ('x' or '\n'); a lone quote (a lifetime) is just skipped.
            step(&mut i, &mut line, &mut column);
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    step(&mut i, &mut line, &mut column);
                }
                step(&mut i, &mut line, &mut column);
            }
            if i < chars.len() {
                step(&mut i, &mut line, &mut column);
            }
        } else if c.is_alphabetic() || c == '_' {
            let (l, col) = (line, column);
            let mut text = String::new();
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                text.push(chars[i]);
                step(&mut i, &mut line, &mut column);
            }
            out.push(Word {
                text,
                line: l,
                column: col,
            });
        } else {
            if matches!(c, '{' | '}' | ';') {
                out.push(Word {
                    text: c.to_string(),
                    line,
                    column,
                });
            }
            step(&mut i, &mut line, &mut column);
        }
    }
    out
}
