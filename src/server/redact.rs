//! SQL text as it may be logged: the values of secret properties are masked.
//!
//! `RUST_LOG=debug` logs every statement, and `CREATE REPOSITORY` carries credentials in its
//! PROPERTIES; DESIGN.md says secrets never reach a log. A property whose key names a secret
//! (`aws.s3.secret_key`, `aws.s3.session_token`, `password`, ...) keeps its key and shows its
//! value as `'***'`; so does the literal after `IDENTIFIED BY`. Works on raw text, so it also
//! masks what the parser would refuse.

/// Key fragments that mark a property's value as secret.
const SECRET_KEYS: [&str; 4] = ["secret", "password", "token", "credential"];

/// `sql` with every secret value replaced by `'***'`.
pub fn redact_sql(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    // The previous literal's content, and whether only `=` and blanks followed it.
    let mut last_key: Option<String> = None;
    let mut between = String::new();
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '\'' && c != '"' {
            between.push(c);
            out.push(c);
            continue;
        }
        // A quoted literal: up to the closing quote ('' or \' escape it).
        let mut content = String::new();
        let mut raw = String::from(c);
        while let Some((_, d)) = chars.next() {
            raw.push(d);
            if d == '\\' {
                if let Some((_, e)) = chars.next() {
                    raw.push(e);
                    content.push(e);
                }
                continue;
            }
            if d == c {
                if chars.peek().is_some_and(|(_, e)| *e == c) {
                    chars.next();
                    raw.push(c);
                    content.push(c);
                    continue;
                }
                break;
            }
            content.push(d);
        }
        let is_value_of_secret = between.trim() == "="
            && last_key.as_deref().is_some_and(|k| {
                let k = k.to_ascii_lowercase();
                SECRET_KEYS.iter().any(|s| k.contains(s))
            });
        let after_identified_by = between
            .split_whitespace()
            .map(str::to_ascii_uppercase)
            .collect::<Vec<_>>()
            .ends_with(&["IDENTIFIED".to_string(), "BY".to_string()]);
        if is_value_of_secret || after_identified_by {
            out.push_str("'***'");
        } else {
            out.push_str(&raw);
        }
        last_key = Some(content);
        between.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_properties_are_masked() {
        let sql = r#"CREATE REPOSITORY r ON LOCATION "s3://b/p" PROPERTIES ("aws.s3.access_key" = "AKIA1", "aws.s3.secret_key"="s3cr'et", 'aws.s3.session_token' = 'tok''en')"#;
        assert_eq!(
            redact_sql(sql),
            r#"CREATE REPOSITORY r ON LOCATION "s3://b/p" PROPERTIES ("aws.s3.access_key" = "AKIA1", "aws.s3.secret_key"='***', 'aws.s3.session_token' = '***')"#
        );
        assert_eq!(
            redact_sql("CREATE USER u IDENTIFIED BY 'pw'"),
            "CREATE USER u IDENTIFIED BY '***'"
        );
        assert_eq!(redact_sql("SELECT 'secret', 'x'"), "SELECT 'secret', 'x'");
        // Unterminated and non-ASCII text does not panic.
        assert_eq!(redact_sql("SELECT 'é"), "SELECT 'é");
        assert_eq!(
            redact_sql(r#"("password" = "é\"x")"#),
            r#"("password" = '***')"#
        );
    }
}
