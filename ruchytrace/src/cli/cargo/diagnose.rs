//! Compiler errors of the shadow build, mapped back to the user's files: the position in the shadow copy
//! becomes the user's file, line and column, and a hint says how to leave the item untraced.

use std::path::{Path, PathBuf};

use super::shadow::Shadow;

/// Where an error is, in the user's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    /// The user's file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The traced function containing it, if any.
    pub function: Option<String>,
}

/// Maps a primary span (`file_name` as rustc gives it: relative to the workspace root, or absolute).
pub fn map_span(shadow: &Shadow, file_name: &str, line: usize, column: usize) -> Option<Mapped> {
    let path = Path::new(file_name);
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        shadow.root.join(path)
    };
    let user = shadow.user_path(&abs)?;
    match shadow.files.get(&abs) {
        Some(f) => {
            let (line, column) = f.rewrite.original_position(line, column);
            Some(Mapped {
                file: user,
                line,
                column,
                function: f.rewrite.function_at(line).map(|i| i.name.clone()),
            })
        }
        None => Some(Mapped {
            file: user,
            line,
            column,
            function: None,
        }),
    }
}

/// The first `limit` errors as text for the terminal: the mapped position, rustc's own rendering with the
/// shadow paths replaced, and the hint.
pub fn explain(errors: &[serde_json::Value], shadow: &Shadow, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    for e in errors.iter().take(limit) {
        let message = e["message"].as_str().unwrap_or("error");
        let span = e["spans"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["is_primary"] == true));
        let mapped = span.and_then(|s| {
            map_span(
                shadow,
                s["file_name"].as_str()?,
                s["line_start"].as_u64()? as usize,
                s["column_start"].as_u64()? as usize,
            )
        });
        let rendered = e["rendered"].as_str().unwrap_or(message).replace(
            &*shadow.root.to_string_lossy(),
            &shadow.user_root.to_string_lossy(),
        );
        let rel = |p: &Path| {
            p.strip_prefix(&shadow.user_root)
                .map(Path::to_path_buf)
                .unwrap_or_else(|_| p.to_path_buf())
        };
        match mapped {
            Some(m) => {
                let file = rel(&m.file);
                out.push(format!(
                    "ruchytrace: error in {}:{}:{} (traced build): {message}",
                    file.display(),
                    m.line,
                    m.column
                ));
                out.push(rendered.trim_end().to_string());
                let item = m
                    .function
                    .as_deref()
                    .map(|f| format!(" `{f}`"))
                    .unwrap_or_default();
                out.push(format!(
                    "hint: leave the item{item} untraced with `--exclude {}:{}` (or `--exclude {}` for the whole file), or put `#[ruchytrace::trace(skip)]` on it",
                    file.display(),
                    m.line,
                    file.display()
                ));
            }
            None => out.push(rendered.trim_end().to_string()),
        }
    }
    if errors.len() > limit {
        out.push(format!(
            "ruchytrace: {} more error(s) not shown",
            errors.len() - limit
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instrument::{instrument_source_with, Options};

    #[test]
    fn positions_map_back_through_same_line_insertions() {
        let src = "fn a() -> u32 {\n    let x = 1;\n    x + 2 + 3 + 4\n}\nimpl S { fn b(&self) -> u32 { self.0 + 1 + 2 + 3 } }\n";
        let r = instrument_source_with(
            src,
            &Options {
                same_line: true,
                ..Options::default()
            },
        )
        .unwrap();
        let mut shadow = Shadow {
            root: PathBuf::from("/s"),
            user_root: PathBuf::from("/u"),
            ..Shadow::default()
        };
        let out_line5 = r.source.lines().nth(4).unwrap().to_string();
        shadow.files.insert(
            PathBuf::from("/s/src/lib.rs"),
            super::super::shadow::ShadowFile {
                user: PathBuf::from("/u/src/lib.rs"),
                rewrite: r,
            },
        );
        // `self` of line 5, at its column in the output.
        let col = out_line5.find("self.0").unwrap() + 1;
        let m = map_span(&shadow, "src/lib.rs", 5, col).unwrap();
        assert_eq!(
            m,
            Mapped {
                file: PathBuf::from("/u/src/lib.rs"),
                line: 5,
                column: src.lines().nth(4).unwrap().find("self.0").unwrap() + 1,
                function: Some("S::b".into()),
            }
        );
        let m = map_span(&shadow, "src/lib.rs", 3, 5).unwrap();
        assert_eq!((m.line, m.column, m.function.as_deref()), (3, 5, Some("a")));
        let m = map_span(&shadow, "/s/build.rs", 1, 1).unwrap();
        assert_eq!(m.file, PathBuf::from("/u/build.rs"));
    }
}
