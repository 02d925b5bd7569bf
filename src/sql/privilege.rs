//! User and privilege statements, in StarRocks' forms (2.x and 3.x) and MySQL's:
//! `CREATE/ALTER/DROP USER`, `SHOW USERS`, `SET PASSWORD`, `GRANT`, `REVOKE`, `SHOW GRANTS`.
//!
//! Passwords are held in [`Secret`](crate::config::Secret), whose `Debug` and `Display` print `***`: a statement that
//! carries a password prints `'***'` in its place, so such a statement never round-trips with
//! its password (on purpose: `Display` feeds log lines).

use std::fmt;

use sqlparser::tokenizer::Token;

use super::{BackstopParser, Id, Ident, ParseError, QuotedString, Statement};
use crate::config::Secret;

/// `'user'@'host'`; a missing host is `%` (any host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserIdent {
    pub user: String,
    pub host: String,
}

impl fmt::Display for UserIdent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "'{}'@'{}'", escape(&self.user), escape(&self.host))
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

/// How a statement gives a password.
#[derive(Debug, Clone, PartialEq)]
pub enum Password {
    /// `IDENTIFIED BY 'pw'`, `PASSWORD('pw')`: the password itself.
    Plain(Secret),
    /// `IDENTIFIED BY PASSWORD '*HEX'`, `IDENTIFIED WITH mysql_native_password AS '*HEX'`, and
    /// `SET PASSWORD = '*HEX'`: the mysql_native_password hash (`*` + 40 hex digits).
    Hash(String),
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Password::Plain(_) => f.write_str("'***'"),
            Password::Hash(h) => write!(f, "PASSWORD {}", QuotedString(h)),
        }
    }
}

/// ```text
/// CREATE USER [IF NOT EXISTS] user [IDENTIFIED {BY 'pw' | BY PASSWORD '*HEX'
///     | WITH mysql_native_password {BY 'pw' | AS '*HEX'}}] [DEFAULT ROLE role, ...]
/// ALTER USER [IF EXISTS] user IDENTIFIED ...
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CreateUser {
    pub if_not_exists: bool,
    pub user: UserIdent,
    pub password: Option<Password>,
    /// `DEFAULT ROLE r, ...` (3.x): granted with the user.
    pub default_roles: Vec<Ident>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlterUser {
    pub if_exists: bool,
    pub user: UserIdent,
    pub password: Option<Password>,
}

/// A privilege as written in GRANT / REVOKE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    Select,
    Insert,
    Create,
    Drop,
    Alter,
    /// `ALL [PRIVILEGES]`
    All,
    /// 2.x `ADMIN_PRIV`: everything, like root.
    Admin,
    /// 3.x `REPOSITORY` (on SYSTEM): repository, backup and restore statements.
    Repository,
}

impl Privilege {
    pub fn name(self) -> &'static str {
        match self {
            Privilege::Select => "SELECT",
            Privilege::Insert => "INSERT",
            Privilege::Create => "CREATE",
            Privilege::Drop => "DROP",
            Privilege::Alter => "ALTER",
            Privilege::All => "ALL",
            Privilege::Admin => "ADMIN_PRIV",
            Privilege::Repository => "REPOSITORY",
        }
    }
}

/// What a privilege is granted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantObject {
    /// `SYSTEM` (3.x)
    System,
    /// `*.*`, `ALL DATABASES`, `ALL TABLES IN ALL DATABASES`
    Global,
    /// `db.*`, `DATABASE db`, `ALL TABLES IN DATABASE db`
    Database(Ident),
    /// `db.t`, `t` (the current database), `TABLE db.t`
    Table(Option<Ident>, Ident),
}

impl fmt::Display for GrantObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GrantObject::System => f.write_str("SYSTEM"),
            GrantObject::Global => f.write_str("*.*"),
            GrantObject::Database(d) => write!(f, "{}.*", Id(d)),
            GrantObject::Table(Some(d), t) => write!(f, "{}.{}", Id(d), Id(t)),
            GrantObject::Table(None, t) => write!(f, "{}", Id(t)),
        }
    }
}

/// ```text
/// GRANT priv [, priv ...] ON object TO [USER] user
/// GRANT role [, role ...] TO [USER] user
/// REVOKE priv [, priv ...] ON object FROM [USER] user
/// REVOKE role [, role ...] FROM [USER] user
/// ```
/// Privileges: `SELECT`, `INSERT`, `CREATE`, `DROP`, `ALTER`, `ALL [PRIVILEGES]`, `REPOSITORY`;
/// 2.x spellings `SELECT_PRIV`, `LOAD_PRIV`, `CREATE_PRIV`, `DROP_PRIV`, `ALTER_PRIV`,
/// `ADMIN_PRIV`. Objects: `*.*`, `db.*`, `db.t`, `t`, `SYSTEM`, `TABLE [db.]t`, `DATABASE db`,
/// `ALL DATABASES`, `ALL TABLES IN DATABASE db`, `ALL TABLES IN ALL DATABASES`.
#[derive(Debug, Clone, PartialEq)]
pub enum Grant {
    Privileges {
        privileges: Vec<Privilege>,
        object: GrantObject,
        user: UserIdent,
    },
    Roles {
        roles: Vec<Ident>,
        user: UserIdent,
    },
}

impl Grant {
    pub fn user(&self) -> &UserIdent {
        match self {
            Grant::Privileges { user, .. } | Grant::Roles { user, .. } => user,
        }
    }

    /// `GRANT ... TO USER u` (or REVOKE ... FROM USER u when `revoke`).
    pub fn to_sql(&self, revoke: bool) -> String {
        let (verb, prep) = if revoke {
            ("REVOKE", "FROM")
        } else {
            ("GRANT", "TO")
        };
        match self {
            Grant::Privileges {
                privileges,
                object,
                user,
            } => {
                let privs: Vec<&str> = privileges.iter().map(|p| p.name()).collect();
                format!("{verb} {} ON {object} {prep} USER {user}", privs.join(", "))
            }
            Grant::Roles { roles, user } => {
                let roles: Vec<String> = roles.iter().map(|r| Id(r).to_string()).collect();
                format!("{verb} {} {prep} USER {user}", roles.join(", "))
            }
        }
    }
}

impl fmt::Display for CreateUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CREATE USER ")?;
        if self.if_not_exists {
            f.write_str("IF NOT EXISTS ")?;
        }
        write!(f, "{}", self.user)?;
        if let Some(p) = &self.password {
            write!(f, " IDENTIFIED BY {p}")?;
        }
        if !self.default_roles.is_empty() {
            write!(f, " DEFAULT ROLE {}", super::Ids(&self.default_roles))?;
        }
        Ok(())
    }
}

impl fmt::Display for AlterUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ALTER USER ")?;
        if self.if_exists {
            f.write_str("IF EXISTS ")?;
        }
        write!(f, "{}", self.user)?;
        if let Some(p) = &self.password {
            write!(f, " IDENTIFIED BY {p}")?;
        }
        Ok(())
    }
}

/// `*` followed by 40 hex digits: a mysql_native_password hash as MySQL prints it.
pub fn is_native_hash(s: &str) -> bool {
    s.len() == 41 && s.starts_with('*') && s.chars().skip(1).all(|c| c.is_ascii_hexdigit())
}

impl BackstopParser<'_> {
    /// `'u'@'h'`, `u@h`, `'u'@localhost`, `'u'` (host `%`), `` `u` ``.
    pub(super) fn parse_user_ident(&mut self) -> Result<UserIdent, ParseError> {
        let user = match &self.parser.peek_token_ref().token {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => s.clone(),
            // The MySQL tokenizer reads a bare `bob@localhost` as one word.
            Token::Word(w) if w.quote_style.is_none() && w.value.contains('@') => {
                let (user, host) = w.value.split_once('@').unwrap_or((&w.value, "%"));
                let ident = UserIdent {
                    user: user.to_string(),
                    host: host.to_string(),
                };
                self.parser.advance_token();
                if ident.user.is_empty() || ident.host.is_empty() {
                    return self.error_here("Expected: a user as 'user'@'host'");
                }
                return Ok(ident);
            }
            Token::Word(w) => w.value.clone(),
            _ => return self.expected("a user name ('user'@'host')"),
        };
        self.parser.advance_token();
        let host = match &self.parser.peek_token_ref().token {
            Token::AtSign => {
                self.parser.advance_token();
                match &self.parser.peek_token_ref().token {
                    Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => {
                        let s = s.clone();
                        self.parser.advance_token();
                        s
                    }
                    Token::Word(w) => {
                        let s = w.value.clone();
                        self.parser.advance_token();
                        s
                    }
                    Token::Mod => {
                        self.parser.advance_token();
                        "%".to_string()
                    }
                    _ => return self.expected("a host after @ ('user'@'host')"),
                }
            }
            // The MySQL tokenizer reads `@'%'` / `@host` as one word (a user variable name).
            Token::Word(w) if w.value.starts_with('@') => {
                let s = w.value.trim_start_matches('@').to_string();
                self.parser.advance_token();
                s.trim_matches(|c| c == '\'' || c == '"' || c == '`')
                    .to_string()
            }
            Token::Placeholder(p) if p.starts_with('@') => {
                let s = p.trim_start_matches('@').to_string();
                self.parser.advance_token();
                s.trim_matches(|c| c == '\'' || c == '"' || c == '`')
                    .to_string()
            }
            _ => "%".to_string(),
        };
        if user.is_empty() {
            return self.error_here("the user name is empty");
        }
        Ok(UserIdent { user, host })
    }

    /// After `IDENTIFIED`: `BY 'pw'`, `BY PASSWORD '*HEX'`, `WITH plugin [BY 'pw' | AS '*HEX']`.
    /// The password token is never echoed in an error.
    fn parse_identified(&mut self) -> Result<Password, ParseError> {
        if self.parse_word("WITH") {
            let plugin = match &self.parser.peek_token_ref().token {
                Token::Word(w) => w.value.clone(),
                Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => s.clone(),
                _ => return self.expected("an authentication plugin"),
            };
            self.parser.advance_token();
            if !plugin.eq_ignore_ascii_case("mysql_native_password") {
                return self.error_here(format!(
                    "the authentication plugin {plugin} is not supported; use mysql_native_password"
                ));
            }
            if self.parse_word("AS") {
                return self.parse_hash();
            }
            self.expect_word("BY")?;
            return self.parse_password_literal();
        }
        self.expect_word("BY")?;
        if self.parse_word("PASSWORD") {
            return self.parse_hash();
        }
        self.parse_password_literal()
    }

    fn parse_password_literal(&mut self) -> Result<Password, ParseError> {
        match &self.parser.peek_token_ref().token {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => {
                let s = Secret::new(s.clone());
                self.parser.advance_token();
                Ok(Password::Plain(s))
            }
            _ => self.error_here("Expected: the password as a string literal ('...')"),
        }
    }

    fn parse_hash(&mut self) -> Result<Password, ParseError> {
        match &self.parser.peek_token_ref().token {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) if is_native_hash(s) => {
                let s = s.to_ascii_uppercase();
                self.parser.advance_token();
                Ok(Password::Hash(s))
            }
            _ => self.error_here(
                "Expected: a mysql_native_password hash ('*' followed by 40 hex digits)",
            ),
        }
    }

    pub(super) fn parse_create_user(&mut self) -> Result<Statement, ParseError> {
        self.expect_words(&["CREATE", "USER"])?;
        let if_not_exists = self.parse_words(&["IF", "NOT", "EXISTS"]);
        let user = self.parse_user_ident()?;
        let password = if self.parse_word("IDENTIFIED") {
            Some(self.parse_identified()?)
        } else {
            None
        };
        let mut default_roles = Vec::new();
        if self.parse_words(&["DEFAULT", "ROLE"]) {
            default_roles.push(self.parse_role()?);
            while self.consume(&Token::Comma) {
                default_roles.push(self.parse_role()?);
            }
        }
        Ok(Statement::CreateUser(CreateUser {
            if_not_exists,
            user,
            password,
            default_roles,
        }))
    }

    pub(super) fn parse_alter_user(&mut self) -> Result<Statement, ParseError> {
        self.expect_words(&["ALTER", "USER"])?;
        let if_exists = self.parse_words(&["IF", "EXISTS"]);
        let user = self.parse_user_ident()?;
        let password = if self.parse_word("IDENTIFIED") {
            Some(self.parse_identified()?)
        } else {
            None
        };
        Ok(Statement::AlterUser(AlterUser {
            if_exists,
            user,
            password,
        }))
    }

    pub(super) fn parse_drop_user(&mut self) -> Result<Statement, ParseError> {
        self.expect_words(&["DROP", "USER"])?;
        let if_exists = self.parse_words(&["IF", "EXISTS"]);
        let user = self.parse_user_ident()?;
        Ok(Statement::DropUser { if_exists, user })
    }

    /// `SET PASSWORD [FOR user] = {PASSWORD('pw') | 'pw' | '*HEX'}`.
    pub(super) fn parse_set_password(&mut self) -> Result<Statement, ParseError> {
        self.expect_words(&["SET", "PASSWORD"])?;
        let user = if self.parse_word("FOR") {
            Some(self.parse_user_ident()?)
        } else {
            None
        };
        self.expect_token(&Token::Eq)?;
        let password = if self.parse_word("PASSWORD") {
            self.expect_token(&Token::LParen)?;
            let p = self.parse_password_literal()?;
            self.expect_token(&Token::RParen)?;
            p
        } else {
            match &self.parser.peek_token_ref().token {
                Token::SingleQuotedString(s) | Token::DoubleQuotedString(s)
                    if is_native_hash(s) =>
                {
                    self.parse_hash()?
                }
                _ => self.parse_password_literal()?,
            }
        };
        Ok(Statement::SetPassword { user, password })
    }

    fn parse_role(&mut self) -> Result<Ident, ParseError> {
        match &self.parser.peek_token_ref().token {
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => {
                let ident = Ident::new(s.clone());
                self.parser.advance_token();
                Ok(ident)
            }
            Token::Word(w) => {
                let ident = Ident::new(w.value.to_ascii_lowercase());
                self.parser.advance_token();
                Ok(ident)
            }
            _ => self.expected("a role name"),
        }
    }

    /// One privilege word (or `ALL [PRIVILEGES]`), `None` when the next word is not one.
    fn parse_privilege(&mut self) -> Option<Privilege> {
        let word = self.peek_word_upper(0)?;
        let p = match word.as_str() {
            "SELECT" | "SELECT_PRIV" => Privilege::Select,
            "INSERT" | "LOAD_PRIV" => Privilege::Insert,
            "CREATE" | "CREATE_PRIV" => Privilege::Create,
            "DROP" | "DROP_PRIV" => Privilege::Drop,
            "ALTER" | "ALTER_PRIV" => Privilege::Alter,
            "ADMIN_PRIV" => Privilege::Admin,
            "REPOSITORY" => Privilege::Repository,
            "ALL" if !self.peek_words(1, &["TABLES"]) && !self.peek_words(1, &["DATABASES"]) => {
                self.parser.advance_token();
                self.parse_word("PRIVILEGES");
                return Some(Privilege::All);
            }
            _ => return None,
        };
        // A role list (`GRANT db_admin TO ...`) never starts with one of these words, but
        // `GRANT select TO` would be a role named select: only a privilege if ON or `,` follows.
        if !matches!(
            self.parser.peek_nth_token_ref(1).token,
            Token::Comma | Token::Word(_)
        ) {
            return None;
        }
        if let Token::Word(w) = &self.parser.peek_nth_token_ref(1).token
            && !w.value.eq_ignore_ascii_case("ON")
        {
            return None;
        }
        self.parser.advance_token();
        Some(p)
    }

    fn parse_grant_object(&mut self) -> Result<GrantObject, ParseError> {
        if self.parse_word("SYSTEM") {
            return Ok(GrantObject::System);
        }
        if self.parse_words(&["ALL", "DATABASES"])
            || self.parse_words(&["ALL", "TABLES", "IN", "ALL", "DATABASES"])
        {
            return Ok(GrantObject::Global);
        }
        if self.parse_words(&["ALL", "TABLES", "IN", "DATABASE"]) || self.parse_word("DATABASE") {
            return Ok(GrantObject::Database(self.parse_ident("database name")?));
        }
        self.parse_word("TABLE");
        if self.consume(&Token::Mul) {
            self.expect_token(&Token::Period)?;
            self.expect_token(&Token::Mul)?;
            return Ok(GrantObject::Global);
        }
        let first = self.parse_ident("database or table name")?;
        if !self.consume(&Token::Period) {
            return Ok(GrantObject::Table(None, first));
        }
        if self.consume(&Token::Mul) {
            return Ok(GrantObject::Database(first));
        }
        let table = self.parse_ident("table name")?;
        Ok(GrantObject::Table(Some(first), table))
    }

    /// `GRANT ...` or `REVOKE ...`.
    pub(super) fn parse_grant(&mut self, revoke: bool) -> Result<Statement, ParseError> {
        self.expect_word(if revoke { "REVOKE" } else { "GRANT" })?;
        let prep = if revoke { "FROM" } else { "TO" };
        let mut privileges = Vec::new();
        if let Some(p) = self.parse_privilege() {
            privileges.push(p);
            while self.consume(&Token::Comma) {
                match self.parse_privilege() {
                    Some(p) => privileges.push(p),
                    None => return self.expected("a privilege"),
                }
            }
        }
        let grant = if privileges.is_empty() {
            let mut roles = vec![self.parse_role()?];
            while self.consume(&Token::Comma) {
                roles.push(self.parse_role()?);
            }
            self.expect_word(prep)?;
            self.parse_word("USER");
            let user = self.parse_user_ident()?;
            Grant::Roles { roles, user }
        } else {
            self.expect_word("ON")?;
            let object = self.parse_grant_object()?;
            self.expect_word(prep)?;
            self.parse_word("USER");
            let user = self.parse_user_ident()?;
            Grant::Privileges {
                privileges,
                object,
                user,
            }
        };
        Ok(if revoke {
            Statement::Revoke(grant)
        } else {
            Statement::Grant(grant)
        })
    }

    /// `SET ROLE {ALL | DEFAULT | NONE | role, ...}` and
    /// `SET DEFAULT ROLE {ALL | NONE | role, ...} TO user` (3.x). Every role a user was granted
    /// is always active in backstop, so both only check their words.
    pub(super) fn parse_set_role(&mut self) -> Result<Statement, ParseError> {
        self.expect_word("SET")?;
        let default = self.parse_word("DEFAULT");
        self.expect_word("ROLE")?;
        if self.parse_one_of(&["ALL", "NONE", "DEFAULT"]).is_none() {
            self.parse_role()?;
            while self.consume(&Token::Comma) {
                self.parse_role()?;
            }
        }
        if !default {
            return Ok(Statement::SetRole);
        }
        self.expect_word("TO")?;
        self.parse_word("USER");
        Ok(Statement::SetDefaultRole(self.parse_user_ident()?))
    }

    /// `SHOW GRANTS [FOR user]`, `SHOW USERS`, `SHOW ALL GRANTS`, `SHOW ROLES`.
    pub(super) fn parse_show_privileges(&mut self) -> Result<Statement, ParseError> {
        self.expect_word("SHOW")?;
        if self.parse_word("USERS") {
            return Ok(Statement::ShowUsers);
        }
        if self.parse_word("ROLES") {
            return Ok(Statement::ShowRoles);
        }
        if self.parse_words(&["ALL", "GRANTS"]) {
            return Ok(Statement::ShowAllGrants);
        }
        self.expect_word("GRANTS")?;
        let user = if self.parse_word("FOR") {
            self.parse_word("USER");
            Some(self.parse_user_ident()?)
        } else {
            None
        };
        Ok(Statement::ShowGrants(user))
    }
}

/// Property keys whose values are credentials.
pub fn is_sensitive_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["key", "secret", "token", "password", "credential"]
        .iter()
        .any(|w| k.contains(w))
        && k != "aws.s3.region"
}

#[cfg(test)]
mod tests {
    use crate::sql::{GrantObject, Privilege, Statement, parse_one};

    use super::*;

    fn user(u: &str, h: &str) -> UserIdent {
        UserIdent {
            user: u.into(),
            host: h.into(),
        }
    }

    #[test]
    fn user_forms_parse() {
        for (sql, u, h) in [
            ("DROP USER 'a'@'%'", "a", "%"),
            ("DROP USER 'a'@'localhost'", "a", "localhost"),
            ("DROP USER a@localhost", "a", "localhost"),
            ("DROP USER 'a'@localhost", "a", "localhost"),
            ("DROP USER 'a'", "a", "%"),
            ("DROP USER \"a\"@\"10.0.%\"", "a", "10.0.%"),
            ("DROP USER `a`@`h`", "a", "h"),
        ] {
            let Statement::DropUser { user: got, .. } = parse_one(sql).unwrap() else {
                panic!("{sql}")
            };
            assert_eq!(got, user(u, h), "{sql}");
        }
    }

    #[test]
    fn grants_parse() {
        let g = parse_one("GRANT ADMIN_PRIV ON *.* TO 'u'@'%'").unwrap();
        assert_eq!(
            g,
            Statement::Grant(Grant::Privileges {
                privileges: vec![Privilege::Admin],
                object: GrantObject::Global,
                user: user("u", "%")
            })
        );
        let g = parse_one("GRANT root TO USER 'u'@'%'").unwrap();
        assert!(matches!(g, Statement::Grant(Grant::Roles { .. })));
        let g = parse_one("GRANT SELECT, INSERT ON db.t TO USER u").unwrap();
        assert_eq!(
            g.to_string(),
            "GRANT SELECT, INSERT ON db.t TO USER 'u'@'%'"
        );
        assert_eq!(parse_one(&g.to_string()).unwrap(), g);
        let g = parse_one("REVOKE REPOSITORY ON SYSTEM FROM USER 'u'@'h'").unwrap();
        assert_eq!(
            g.to_string(),
            "REVOKE REPOSITORY ON SYSTEM FROM USER 'u'@'h'"
        );
        let g = parse_one("GRANT ALL PRIVILEGES ON db.* TO 'u'").unwrap();
        assert!(g.to_string().starts_with("GRANT ALL ON db.*"));
        assert_eq!(parse_one("SET ROLE ALL").unwrap(), Statement::SetRole);
        assert_eq!(
            parse_one("SET ROLE db_admin, root").unwrap(),
            Statement::SetRole
        );
        assert_eq!(
            parse_one("SET DEFAULT ROLE ALL TO USER 'u'@'%'").unwrap(),
            Statement::SetDefaultRole(user("u", "%"))
        );
        let g = parse_one("GRANT SELECT ON ALL TABLES IN DATABASE db TO USER u").unwrap();
        assert!(g.to_string().contains("ON db.*"));
    }

    #[test]
    fn repository_debug_masks_credentials() {
        let s = parse_one("CREATE REPOSITORY r ON LOCATION 's3://b' PROPERTIES ('aws.s3.secret_key' = 'SK3', 'aws.s3.region' = 'r1')").unwrap();
        let d = format!("{s:?}");
        assert!(!d.contains("SK3") && d.contains("r1"), "{d}");
    }

    #[test]
    fn passwords_never_print() {
        let s = parse_one("CREATE USER 'u'@'%' IDENTIFIED BY 'hunter2'").unwrap();
        assert!(!s.to_string().contains("hunter2"));
        assert!(!format!("{s:?}").contains("hunter2"));
        let s = parse_one("SET PASSWORD FOR 'u' = PASSWORD('hunter2')").unwrap();
        assert!(!format!("{s} {s:?}").contains("hunter2"));
        let s = parse_one("SET PASSWORD = 'hunter2'").unwrap();
        assert!(!format!("{s} {s:?}").contains("hunter2"));
        let e = parse_one("CREATE USER u IDENTIFIED BY hunter2").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = parse_one(
            "CREATE REPOSITORY r ON LOCATION 's3://b' PROPERTIES ('aws.s3.secret_key' = hunter2)",
        )
        .unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
