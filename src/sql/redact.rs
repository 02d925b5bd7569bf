//! SQL text as it may be logged: passwords and the values of credential properties are masked.
//!
//! `RUST_LOG=debug` logs every statement, and `CREATE REPOSITORY` carries credentials in its
//! PROPERTIES, `CREATE USER` / `SET PASSWORD` carry passwords; DESIGN.md says secrets never
//! reach a log. The text is tokenized (MySQL dialect) so that quoted and unquoted values are
//! both recognised: a property whose key names a credential (`crate::sql::is_sensitive_key`:
//! `..._key`, `secret`, `token`, `password`, `credential`) keeps its key and shows its value as
//! `'***'`, and so does everything after `IDENTIFIED` or `PASSWORD` in a statement. Text that
//! does not tokenize (an unterminated string, say) is not logged at all, only its length: it
//! may hold a secret the tokenizer could not place.

use sqlparser::dialect::MySqlDialect;
use sqlparser::tokenizer::{Token, Tokenizer};

/// `sql` with its secrets replaced by `'***'`, for log lines: everything after `IDENTIFIED` or
/// `PASSWORD` up to the end of the statement (but the words `BY`, `WITH`, `AS`, `PASSWORD` and
/// brackets), and the values of credential properties (`..._key`, `...secret...`, `...token...`,
/// `...password...`, `...credential...`) quoted or not. Text that does not tokenize is not
/// logged at all, only its length.
pub fn redact_sql(sql: &str) -> String {
    #[derive(PartialEq)]
    enum Mask {
        Off,
        /// After IDENTIFIED / PASSWORD: to the end of the statement.
        Statement,
        /// After `"secret_key" =`: to the next `,` or `)`.
        Value,
    }
    let Ok(tokens) = Tokenizer::new(&MySqlDialect {}, sql).tokenize() else {
        return format!("<{} bytes that do not tokenize>", sql.len());
    };
    let mut out = String::with_capacity(sql.len());
    let mut mask = Mask::Off;
    let mut masked_last = false;
    let mut last_string: Option<String> = None;
    for token in &tokens {
        let word = match token {
            Token::Word(w) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
            _ => None,
        };
        let ends = match mask {
            Mask::Statement => matches!(token, Token::SemiColon),
            Mask::Value => matches!(token, Token::Comma | Token::RParen | Token::SemiColon),
            Mask::Off => false,
        };
        if ends {
            mask = Mask::Off;
        }
        let keep = matches!(
            token,
            Token::Whitespace(_) | Token::LParen | Token::RParen | Token::Eq
        ) || matches!(word.as_deref(), Some("BY" | "WITH" | "AS" | "PASSWORD"));
        if mask != Mask::Off && !keep {
            if !masked_last {
                out.push_str("'***'");
            }
            masked_last = true;
            continue;
        }
        if !matches!(token, Token::Whitespace(_)) {
            masked_last = false;
        }
        match token {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => {
                last_string = Some(s.to_ascii_lowercase());
            }
            Token::Eq if mask == Mask::Off => {
                if last_string.as_deref().is_some_and(super::is_sensitive_key) {
                    mask = Mask::Value;
                }
            }
            Token::Whitespace(_) => {}
            _ => last_string = None,
        }
        if matches!(word.as_deref(), Some("IDENTIFIED" | "PASSWORD")) {
            mask = Mask::Statement;
        }
        out.push_str(&token.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_properties_are_masked() {
        let sql = r#"CREATE REPOSITORY r ON LOCATION "s3://b/p" PROPERTIES ("aws.s3.access_key" = "AKIA1", "aws.s3.secret_key"="s3cr'et", 'aws.s3.session_token' = 'tok''en')"#;
        // The access key id is masked too: it names the account.
        assert_eq!(
            redact_sql(sql),
            r#"CREATE REPOSITORY r ON LOCATION "s3://b/p" PROPERTIES ("aws.s3.access_key" = '***', "aws.s3.secret_key"='***', 'aws.s3.session_token' = '***')"#
        );
        assert_eq!(
            redact_sql("CREATE USER u IDENTIFIED BY 'pw'"),
            "CREATE USER u IDENTIFIED BY '***'"
        );
        assert_eq!(redact_sql("SELECT 'secret', 'x'"), "SELECT 'secret', 'x'");
        // Unterminated and non-ASCII text does not panic, and is not logged.
        assert_eq!(redact_sql("SELECT 'é"), "<10 bytes that do not tokenize>");
        assert_eq!(
            redact_sql(r#"("password" = "é\"x")"#),
            r#"("password" = '***')"#
        );
    }

    #[test]
    fn redaction_hides_secrets_only() {
        let r = redact_sql("CREATE USER 'u'@'%' IDENTIFIED BY 'hunter2'");
        assert!(!r.contains("hunter2") && r.contains("'u'"), "{r}");
        let r = redact_sql("SET PASSWORD FOR u = PASSWORD(\"hunter2\")");
        assert!(!r.contains("hunter2"), "{r}");
        let r = redact_sql(
            "CREATE REPOSITORY r ON LOCATION 's3://b/p' PROPERTIES (\"aws.s3.access_key\" = \"AK\", \"aws.s3.secret_key\" = \"SK2\", \"aws.s3.region\" = \"us-east-1\")",
        );
        assert!(!r.contains("SK2") && !r.contains("\"AK\""), "{r}");
        assert!(r.contains("us-east-1") && r.contains("s3://b/p"), "{r}");
        assert_eq!(redact_sql("SELECT 'x'"), "SELECT 'x'");
        let r = redact_sql("CREATE USER typo IDENTIFIED BY Alice-Secret-Pw-1; SELECT 2");
        assert!(!r.contains("Secret") && r.contains("SELECT 2"), "{r}");
        let r = redact_sql(
            "CREATE REPOSITORY r ON LOCATION 's3://b' PROPERTIES ('aws.s3.secret_key' = Wx-y9, 'aws.s3.region' = 'r1')",
        );
        assert!(
            !r.contains("Wx") && !r.contains("y9") && r.contains("'r1'"),
            "{r}"
        );
    }
}
