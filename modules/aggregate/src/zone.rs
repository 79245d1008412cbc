//! A node's zone, from its `zone` label: a path like `/eu/rack1` (components of
//! `[A-Za-z0-9_.-]`, at most 8 levels); no label means the root zone `/`.

/// Most levels below the root.
pub const MAX_LEVELS: usize = 8;

/// Parses a zone path; `""` and `/` are the root.
pub fn parse(text: &str) -> Result<Vec<String>, String> {
    let trimmed = text.trim().trim_matches('/');
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    let parts: Vec<String> = trimmed.split('/').map(str::to_string).collect();
    if parts.len() > MAX_LEVELS {
        return Err(format!("zone '{}' is deeper than {} levels", text, MAX_LEVELS));
    }
    for part in &parts {
        if !is_component(part) {
            return Err(format!(
                "zone '{}': '{}' is not a zone name (1-64 of A-Z a-z 0-9 _ . -)",
                text, part
            ));
        }
    }
    Ok(parts)
}

/// Whether `s` can be one component of a zone path (never an address: no `:`).
pub fn is_component(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
}

/// The path's text: `/` for the root, `/eu/rack1` otherwise.
pub fn text(parts: &[String]) -> String {
    let mut out = String::new();
    for p in parts {
        out.push('/');
        out.push_str(p);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_and_print() {
        assert_eq!(parse(""), Ok(Vec::new()));
        assert_eq!(parse("/"), Ok(Vec::new()));
        let eu = parse("/eu/rack1").unwrap();
        assert_eq!(eu, vec!["eu".to_string(), "rack1".to_string()]);
        assert_eq!(text(&eu), "/eu/rack1");
        assert_eq!(text(&[]), "/");
        assert!(parse("/eu//x").is_err());
        assert!(parse("/a:b").is_err());
        assert!(parse("/1/2/3/4/5/6/7/8/9").is_err());
    }
}
