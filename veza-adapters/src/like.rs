//! Substring search patterns for SQL `LIKE … ESCAPE '\'`, shared by the SQL adapters so
//! both dialects match the same rows.

/// `%query%` for a case-insensitive LIKE, with the query's own `\`, `%` and `_` escaped.
pub(crate) fn contains_pattern(query: &str) -> String {
    let mut pattern = String::with_capacity(query.len() + 2);
    pattern.push('%');
    for c in query.to_lowercase().chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::contains_pattern;

    #[test]
    fn wildcards_in_the_query_are_escaped() {
        assert_eq!(contains_pattern("Ana"), "%ana%");
        assert_eq!(contains_pattern("100%_x\\"), "%100\\%\\_x\\\\%");
        assert_eq!(contains_pattern(""), "%%");
    }
}
