//! Name filters (`RUCHYTRACE_FILTER=compute*,!mycrate::net::*`): globs on a site's qualified
//! name, resolved once per call site.
//!
//! Patterns are comma-separated; `*` matches any run of characters (including `::`), `?` one
//! character; a leading `!` excludes. Later patterns win. When the first pattern is an include,
//! names matching no pattern are excluded; when it is an exclude, they are included. A pattern
//! without `::` also matches the last path segment (`compute*` matches `app::math::compute_sum`).

/// A parsed filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    rules: Vec<(bool, String)>,
}

fn glob(pat: &[u8], s: &[u8]) -> bool {
    // Iterative glob with single-star backtracking: linear in practice, no recursion.
    let (mut p, mut i) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while i < s.len() {
        if p < pat.len() && (pat[p] == b'?' || pat[p] == s[i]) {
            p += 1;
            i += 1;
        } else if p < pat.len() && pat[p] == b'*' {
            star = Some(p);
            mark = i;
            p += 1;
        } else if let Some(sp) = star {
            p = sp + 1;
            mark += 1;
            i = mark;
        } else {
            return false;
        }
    }
    while p < pat.len() && pat[p] == b'*' {
        p += 1;
    }
    p == pat.len()
}

impl Filter {
    /// Parses a comma-separated pattern list; the error says which pattern is wrong and why.
    pub fn parse(spec: &str) -> Result<Filter, String> {
        let mut rules = Vec::new();
        for raw in spec.split(',') {
            let pat = raw.trim();
            let (include, body) = match pat.strip_prefix('!') {
                Some(rest) => (false, rest.trim()),
                None => (true, pat),
            };
            if body.is_empty() {
                return Err(format!("empty pattern in filter {spec:?}"));
            }
            if let Some(c) = body
                .chars()
                .find(|c| !(c.is_alphanumeric() || "_:*?<>&, ".contains(*c)))
            {
                return Err(format!(
                    "pattern {pat:?} contains {c:?}: only identifiers, `::`, `*` and `?` are allowed"
                ));
            }
            if body.contains(":::") || body.ends_with(':') && !body.ends_with("::") {
                return Err(format!("pattern {pat:?} has a malformed path separator"));
            }
            rules.push((include, body.to_string()));
        }
        Ok(Filter { rules })
    }

    /// Whether a site with this qualified name is traced.
    pub fn matches(&self, qualified: &str) -> bool {
        let short = qualified.rsplit("::").next().unwrap_or(qualified);
        let mut verdict = !self.rules.first().is_some_and(|(inc, _)| *inc);
        for (include, pat) in &self.rules {
            let hit = glob(pat.as_bytes(), qualified.as_bytes())
                || (!pat.contains("::") && glob(pat.as_bytes(), short.as_bytes()));
            if hit {
                verdict = *include;
            }
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_precedence() {
        let f = Filter::parse("compute*,app::net::*,!app::net::noisy").unwrap();
        assert!(f.matches("app::math::compute_sum"));
        assert!(f.matches("app::net::send"));
        assert!(!f.matches("app::net::noisy"));
        assert!(!f.matches("app::main"));
        let g = Filter::parse("!app::hot*").unwrap();
        assert!(g.matches("app::main"));
        assert!(!g.matches("app::hot_loop"));
        assert!(Filter::parse("a,,b").is_err());
        assert!(Filter::parse("a/b").unwrap_err().contains("'/'"));
        assert!(glob(b"a*b*c", b"axxbyyc"));
        assert!(!glob(b"a*b*c", b"axxbyy"));
    }
}
