//! One client connection: the handshake, authentication, then the command loop.
//!
//! Every error a statement raises becomes an ERR packet and the loop goes on; only I/O errors
//! and a client that breaks the protocol during the handshake end the connection.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures::{FutureExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, error, info_span};

use super::auth::{self, NATIVE_PASSWORD};
use super::federated::{self, Intercept, MAX_ALLOWED_PACKET};
use super::packet::{PacketStream, Reader, put_lenenc_int};
use super::prepared::Prepared;
use super::results::{ColumnDef, RowFormat, encode_batch};
use crate::command::{self, Outcome, Session};
use crate::engine::{Engine, SERVER_VERSION};
use crate::error::{Error, MysqlError, Result};
use crate::sql::{self, Statement};

mod caps {
    pub const LONG_PASSWORD: u32 = 1;
    pub const FOUND_ROWS: u32 = 1 << 1;
    pub const LONG_FLAG: u32 = 1 << 2;
    pub const CONNECT_WITH_DB: u32 = 1 << 3;
    pub const IGNORE_SPACE: u32 = 1 << 8;
    pub const PROTOCOL_41: u32 = 1 << 9;
    pub const INTERACTIVE: u32 = 1 << 10;
    pub const SSL: u32 = 1 << 11;
    pub const TRANSACTIONS: u32 = 1 << 13;
    pub const SECURE_CONNECTION: u32 = 1 << 15;
    pub const MULTI_STATEMENTS: u32 = 1 << 16;
    pub const MULTI_RESULTS: u32 = 1 << 17;
    pub const PS_MULTI_RESULTS: u32 = 1 << 18;
    pub const PLUGIN_AUTH: u32 = 1 << 19;
    pub const CONNECT_ATTRS: u32 = 1 << 20;
    pub const PLUGIN_AUTH_LENENC_DATA: u32 = 1 << 21;
    pub const DEPRECATE_EOF: u32 = 1 << 24;

    /// What backstop offers. No SSL (yet), no compression, no session tracking.
    pub const SERVER: u32 = LONG_PASSWORD
        | FOUND_ROWS
        | LONG_FLAG
        | CONNECT_WITH_DB
        | IGNORE_SPACE
        | PROTOCOL_41
        | INTERACTIVE
        | TRANSACTIONS
        | SECURE_CONNECTION
        | MULTI_STATEMENTS
        | MULTI_RESULTS
        | PS_MULTI_RESULTS
        | PLUGIN_AUTH
        | CONNECT_ATTRS
        | PLUGIN_AUTH_LENENC_DATA
        | DEPRECATE_EOF;
}

const STATUS_AUTOCOMMIT: u16 = 0x0002;
const STATUS_MORE_RESULTS: u16 = 0x0008;
/// utf8mb4_general_ci: understood by every client we test.
const SERVER_CHARSET: u8 = 45;

mod cmd {
    pub const QUIT: u8 = 0x01;
    pub const INIT_DB: u8 = 0x02;
    pub const QUERY: u8 = 0x03;
    pub const FIELD_LIST: u8 = 0x04;
    pub const STATISTICS: u8 = 0x09;
    pub const PING: u8 = 0x0E;
    pub const STMT_PREPARE: u8 = 0x16;
    pub const STMT_EXECUTE: u8 = 0x17;
    pub const STMT_SEND_LONG_DATA: u8 = 0x18;
    pub const STMT_CLOSE: u8 = 0x19;
    pub const STMT_RESET: u8 = 0x1A;
    pub const SET_OPTION: u8 = 0x1B;
    pub const RESET_CONNECTION: u8 = 0x1F;
}

/// Serves one accepted connection until the client quits, the connection breaks, or shutdown.
pub async fn serve<R, W>(
    engine: Arc<Engine>,
    reader: R,
    writer: W,
    peer: SocketAddr,
    connection_id: u32,
    shutdown: CancellationToken,
) where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send,
{
    let span = info_span!("conn", id = connection_id, peer = %peer);
    async move {
        let stream = PacketStream::new(reader, writer, MAX_ALLOWED_PACKET);
        let mut conn = Connection {
            engine,
            stream,
            session: Session::new(connection_id, String::new(), peer.ip().to_string()),
            caps: 0,
            statements: HashMap::new(),
            next_statement_id: 1,
            connection: shutdown.child_token(),
        };
        match conn.handshake().await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                debug!("handshake failed: {e}");
                return;
            }
        }
        // KILL finds the connection from here on; it leaves the registry with this guard.
        let engine = Arc::clone(&conn.engine);
        let _registered =
            engine
                .sessions
                .register(connection_id, &conn.session.user, conn.connection.clone());
        let shutdown = conn.connection.clone();
        if let Err(e) = conn.command_loop(&shutdown).await {
            debug!("connection ended: {e}");
        }
    }
    .instrument(span)
    .await
}

struct Connection<R, W> {
    engine: Arc<Engine>,
    stream: PacketStream<R, W>,
    session: Session,
    /// Capabilities both sides have.
    caps: u32,
    statements: HashMap<u32, Prepared>,
    next_statement_id: u32,
    /// Cancelled by the daemon's shutdown or a KILL CONNECTION: the command loop ends at its
    /// next command, and each statement's `Session::interrupt` is a child of it.
    connection: CancellationToken,
}

impl<R: AsyncRead + Unpin + Send, W: AsyncWrite + Unpin + Send> Connection<R, W> {
    /// Returns `Ok(false)` when the client was refused (an ERR packet was sent).
    async fn handshake(&mut self) -> io::Result<bool> {
        let scramble = auth::new_scramble();
        let mut hello = Vec::with_capacity(128);
        hello.push(10);
        hello.extend_from_slice(SERVER_VERSION.as_bytes());
        hello.push(0);
        hello.extend_from_slice(&self.session.connection_id.to_le_bytes());
        let (scramble1, scramble2) = scramble.split_at(8);
        hello.extend_from_slice(scramble1);
        hello.push(0);
        hello.extend_from_slice(&(caps::SERVER as u16).to_le_bytes());
        hello.push(SERVER_CHARSET);
        hello.extend_from_slice(&STATUS_AUTOCOMMIT.to_le_bytes());
        hello.extend_from_slice(&((caps::SERVER >> 16) as u16).to_le_bytes());
        hello.push(21);
        hello.extend_from_slice(&[0; 10]);
        hello.extend_from_slice(scramble2);
        hello.push(0);
        hello.extend_from_slice(NATIVE_PASSWORD.as_bytes());
        hello.push(0);
        self.stream.reset_seq();
        self.stream.write(&hello).await?;
        self.stream.flush().await?;

        let Some(response) = self.stream.read().await? else {
            return Ok(false);
        };
        let Some(login) = parse_handshake_response(&response) else {
            self.refuse(1043, "08S01", "Bad handshake").await?;
            return Ok(false);
        };
        if login.caps & caps::SSL != 0 {
            self.refuse(
                3159,
                "HY000",
                "backstop does not offer TLS yet; connect without SSL (for example --ssl-mode=DISABLED or useSSL=false) over loopback",
            )
            .await?;
            return Ok(false);
        }
        if login.caps & caps::PROTOCOL_41 == 0 {
            self.refuse(
                1251,
                "08004",
                "Client does not support the MySQL 4.1 protocol; upgrade the client",
            )
            .await?;
            return Ok(false);
        }
        self.caps = caps::SERVER & login.caps;
        self.session.user = login.user.clone();

        let mut answer = login.auth_response;
        if login
            .plugin
            .as_deref()
            .is_some_and(|p| p != NATIVE_PASSWORD)
        {
            // AuthSwitchRequest: ask for mysql_native_password with the same scramble.
            let mut switch = vec![0xFE];
            switch.extend_from_slice(NATIVE_PASSWORD.as_bytes());
            switch.push(0);
            switch.extend_from_slice(&scramble);
            switch.push(0);
            self.stream.write(&switch).await?;
            self.stream.flush().await?;
            let Some(reply) = self.stream.read().await? else {
                return Ok(false);
            };
            answer = reply;
        }
        let account = self.engine.login(&login.user, &self.session.host);
        let authenticated = match &account {
            Some(a) => !a.locked && auth::verify(a.hash.as_ref(), &scramble, &answer),
            None => false,
        };
        if !authenticated {
            let e = Error::AccessDenied {
                user: login.user.clone(),
                host: self.session.host.clone(),
                using_password: !answer.is_empty(),
            };
            debug!("{e}");
            self.write_error(&e.to_mysql()).await?;
            self.stream.flush().await?;
            return Ok(false);
        }
        if let Some(a) = account {
            self.session.account_host = a.host;
        }
        if let Some(db) = login.database.filter(|d| !d.is_empty())
            && let Err(e) = command::use_database(&self.engine, &mut self.session, &db).await
        {
            self.write_error(&e.to_mysql()).await?;
            self.stream.flush().await?;
            return Ok(false);
        }
        self.write_ok(0, false).await?;
        self.stream.flush().await?;
        Ok(true)
    }

    async fn refuse(&mut self, code: u16, sqlstate: &'static str, message: &str) -> io::Result<()> {
        self.write_error(&MysqlError {
            code,
            sqlstate,
            message: message.to_string(),
        })
        .await?;
        self.stream.flush().await
    }

    async fn command_loop(&mut self, shutdown: &CancellationToken) -> io::Result<()> {
        loop {
            let packet = tokio::select! {
                p = self.stream.read() => p?,
                _ = shutdown.cancelled() => return Ok(()),
            };
            let Some(packet) = packet else {
                return Ok(());
            };
            let mut r = Reader::new(&packet);
            let Some(command) = r.u8() else {
                self.refuse(1047, "08S01", "Unknown command").await?;
                continue;
            };
            match command {
                cmd::QUIT => return Ok(()),
                cmd::QUERY => {
                    let sql = String::from_utf8_lossy(r.rest()).into_owned();
                    self.query(&sql).await?;
                }
                cmd::INIT_DB => {
                    let db = String::from_utf8_lossy(r.rest()).into_owned();
                    match command::use_database(&self.engine, &mut self.session, &db).await {
                        Ok(()) => self.write_ok(0, false).await?,
                        Err(e) => self.write_error(&e.to_mysql()).await?,
                    }
                }
                cmd::PING | cmd::STMT_RESET => {
                    if command == cmd::STMT_RESET
                        && let Some(p) = r.u32().and_then(|id| self.statements.get_mut(&id))
                    {
                        p.reset();
                    }
                    self.write_ok(0, false).await?;
                }
                cmd::RESET_CONNECTION => {
                    self.session.reset();
                    self.statements.clear();
                    self.write_ok(0, false).await?;
                }
                cmd::FIELD_LIST => self.write_eof(false).await?,
                cmd::SET_OPTION => self.write_eof(false).await?,
                cmd::STATISTICS => {
                    let stats = format!(
                        "Uptime: {}  Threads: {}  Questions: {}",
                        self.engine.started.elapsed().as_secs(),
                        self.engine.connections.load(Ordering::Relaxed),
                        self.engine.questions.load(Ordering::Relaxed),
                    );
                    self.stream.write(stats.as_bytes()).await?;
                }
                cmd::STMT_PREPARE => {
                    let sql = String::from_utf8_lossy(r.rest()).into_owned();
                    self.prepare(&sql).await?;
                }
                cmd::STMT_EXECUTE => self.execute(&mut r).await?,
                cmd::STMT_SEND_LONG_DATA => {
                    // No reply, by protocol.
                    if let (Some(id), Some(param)) = (r.u32(), r.u16())
                        && let Some(p) = self.statements.get_mut(&id)
                    {
                        p.append_long_data(param, r.rest());
                    }
                    continue;
                }
                cmd::STMT_CLOSE => {
                    if let Some(id) = r.u32() {
                        self.statements.remove(&id);
                    }
                    continue;
                }
                other => {
                    debug!(command = other, "unknown command");
                    self.refuse(1047, "08S01", "Unknown command").await?;
                }
            }
            self.stream.flush().await?;
        }
    }

    /// COM_QUERY: one statement, or several when the client allowed multi-statements.
    async fn query(&mut self, sql: &str) -> io::Result<()> {
        // Statements may carry passwords and keys: the log gets them masked.
        debug!(sql = %crate::sql::redact_sql(sql), "query");
        self.engine.questions.fetch_add(1, Ordering::Relaxed);
        if let Some(answer) = federated::answer_unparsed(&self.session, sql) {
            self.session.interrupt = CancellationToken::new();
            return match answer {
                Ok(outcome) => self.write_outcome(outcome, RowFormat::Text, false).await,
                Err(e) => self.write_error(&e.to_mysql()).await,
            };
        }
        let statements = match parse_caught(|| sql::parse(sql)) {
            Ok(s) => s,
            Err(e) => return self.write_error(&Error::from(e).to_mysql()).await,
        };
        if statements.is_empty() {
            return self
                .write_error(&MysqlError {
                    code: 1065,
                    sqlstate: "42000",
                    message: "Query was empty".into(),
                })
                .await;
        }
        if statements.len() > 1 && self.caps & caps::MULTI_STATEMENTS == 0 {
            let e = Error::Parse(sql::ParseError {
                message: "this connection did not enable multiple statements per query (CLIENT_MULTI_STATEMENTS); send them one at a time".into(),
                line: 1,
                column: 1,
                unsupported: false,
            });
            return self.write_error(&e.to_mysql()).await;
        }
        let count = statements.len();
        for (i, stmt) in statements.into_iter().enumerate() {
            let more = i + 1 < count;
            let result = self.run(stmt, sql).await;
            match result {
                Ok(outcome) => self.write_outcome(outcome, RowFormat::Text, more).await?,
                Err(e) => {
                    self.log_error(&e);
                    return self.write_error(&e.to_mysql()).await;
                }
            }
        }
        Ok(())
    }

    /// Runs one statement. A panic on its way fails this statement only (an internal error,
    /// logged), never the connection or the daemon.
    ///
    /// While it runs, a client that closes the connection, or the daemon's shutdown, interrupts
    /// it (`Session::interrupt`): what waits on that (SLEEP) ends early; the rest runs to its end.
    async fn run(&mut self, stmt: Statement, sql: &str) -> Result<Outcome> {
        self.session.warnings.clear();
        let interrupt = self
            .engine
            .sessions
            .start_statement(self.session.connection_id)
            .unwrap_or_else(|| self.connection.child_token());
        self.session.interrupt = interrupt.clone();
        let (engine, session, stream) = (&self.engine, &mut self.session, &mut self.stream);
        let statement = async move {
            match federated::intercept(engine, session, stmt, sql).await? {
                Intercept::Answered(outcome) => Ok(outcome),
                Intercept::Pass(stmt) => command::execute(engine, session, *stmt).await,
            }
        };
        let statement = std::panic::AssertUnwindSafe(statement).catch_unwind();
        tokio::pin!(statement);
        let finished = tokio::select! {
            r = &mut statement => Some(r),
            () = stream.peer_closed() => None,
        };
        let result = match finished {
            Some(r) => r,
            None => {
                interrupt.cancel();
                statement.await
            }
        };
        result.unwrap_or_else(|panic| Err(panicked(panic.as_ref())))
    }

    fn log_error(&self, e: &Error) {
        if e.is_internal() {
            error!("{e}");
        } else {
            debug!("{e}");
        }
    }

    async fn prepare(&mut self, sql: &str) -> io::Result<()> {
        debug!(sql = %crate::sql::redact_sql(sql), "prepare");
        let mut prepared = match Prepared::new(sql) {
            Ok(p) => p,
            Err(e) => return self.write_error(&e.to_mysql()).await,
        };
        // Describe the result columns by planning the statement with NULL parameters; this also
        // reports errors at PREPARE time, as MySQL does.
        match self.describe(&prepared.with_nulls()).await {
            Ok(columns) => prepared.columns = columns,
            Err(e) => {
                self.log_error(&e);
                return self.write_error(&e.to_mysql()).await;
            }
        }
        let id = self.next_statement_id;
        self.next_statement_id = self.next_statement_id.wrapping_add(1).max(1);
        let params = prepared.param_count();
        let columns = u16::try_from(prepared.columns.len()).unwrap_or(u16::MAX);
        let mut ok = vec![0x00];
        ok.extend_from_slice(&id.to_le_bytes());
        ok.extend_from_slice(&columns.to_le_bytes());
        ok.extend_from_slice(&params.to_le_bytes());
        ok.push(0);
        ok.extend_from_slice(&0u16.to_le_bytes());
        self.stream.write(&ok).await?;
        if params > 0 {
            let param = ColumnDef {
                name: "?".into(),
                table: String::new(),
                schema: String::new(),
                mysql_type: super::results::types::VAR_STRING,
                flags: 0,
                charset: 45,
                length: 0,
                decimals: 0,
            };
            for _ in 0..params {
                self.stream.write(&param.encode()).await?;
            }
            if self.caps & caps::DEPRECATE_EOF == 0 {
                self.write_eof(false).await?;
            }
        }
        if columns > 0 {
            for c in &prepared.columns {
                self.stream.write(&c.encode()).await?;
            }
            if self.caps & caps::DEPRECATE_EOF == 0 {
                self.write_eof(false).await?;
            }
        }
        self.statements.insert(id, prepared);
        Ok(())
    }

    /// The result columns of a statement, without running it (empty for non-queries).
    async fn describe(&mut self, sql: &str) -> Result<Vec<ColumnDef>> {
        let stmt = sql::parse_one(sql)?;
        let stmt = match federated::intercept_describe(&self.engine, &mut self.session, stmt, sql)?
        {
            Some(stmt) => stmt,
            None => return Ok(Vec::new()),
        };
        // Column names and types are data too: PREPARE is checked like the statement itself.
        command::privilege::authorize(&self.engine, &self.session, &stmt).await?;
        let schema = command::query::describe(&self.engine, &self.session, stmt).await?;
        Ok(ColumnDef::for_schema(&schema))
    }

    async fn execute(&mut self, r: &mut Reader<'_>) -> io::Result<()> {
        let Some(id) = r.u32() else {
            return self
                .write_error(
                    &Error::BadStatementArguments("missing statement id".into()).to_mysql(),
                )
                .await;
        };
        let sql = match self.statements.get_mut(&id) {
            None => {
                return self
                    .write_error(&Error::UnknownStatement(id).to_mysql())
                    .await;
            }
            Some(p) => p.bind(r),
        };
        let sql = match sql {
            Ok(s) => s,
            Err(e) => return self.write_error(&e.to_mysql()).await,
        };
        let stmt = match parse_caught(|| sql::parse_one(&sql)) {
            Ok(s) => s,
            Err(e) => return self.write_error(&Error::from(e).to_mysql()).await,
        };
        match self.run(stmt, &sql).await {
            Ok(outcome) => self.write_outcome(outcome, RowFormat::Binary, false).await,
            Err(e) => {
                self.log_error(&e);
                self.write_error(&e.to_mysql()).await
            }
        }
    }

    fn status(&self, more: bool) -> u16 {
        let autocommit = matches!(
            self.session.variables.get("autocommit"),
            None | Some(datafusion::common::ScalarValue::Int64(Some(1)))
        );
        let mut s = 0;
        if autocommit {
            s |= STATUS_AUTOCOMMIT;
        }
        if more {
            s |= STATUS_MORE_RESULTS;
        }
        s
    }

    fn warning_count(&self) -> u16 {
        u16::try_from(self.session.warnings.len()).unwrap_or(u16::MAX)
    }

    async fn write_ok(&mut self, affected_rows: u64, more: bool) -> io::Result<()> {
        let mut ok = vec![0x00];
        put_lenenc_int(&mut ok, affected_rows);
        put_lenenc_int(&mut ok, 0);
        ok.extend_from_slice(&self.status(more).to_le_bytes());
        ok.extend_from_slice(&self.warning_count().to_le_bytes());
        self.stream.write(&ok).await
    }

    /// The end of a result set (or of column definitions): EOF, or with DEPRECATE_EOF an OK
    /// packet with the EOF header.
    async fn write_eof(&mut self, more: bool) -> io::Result<()> {
        let mut eof = vec![0xFE];
        if self.caps & caps::DEPRECATE_EOF != 0 {
            put_lenenc_int(&mut eof, 0);
            put_lenenc_int(&mut eof, 0);
            eof.extend_from_slice(&self.status(more).to_le_bytes());
            eof.extend_from_slice(&self.warning_count().to_le_bytes());
        } else {
            eof.extend_from_slice(&self.warning_count().to_le_bytes());
            eof.extend_from_slice(&self.status(more).to_le_bytes());
        }
        self.stream.write(&eof).await
    }

    async fn write_error(&mut self, e: &MysqlError) -> io::Result<()> {
        let mut err = vec![0xFF];
        err.extend_from_slice(&e.code.to_le_bytes());
        err.push(b'#');
        let state = e.sqlstate.as_bytes();
        err.extend_from_slice(state.get(..5).unwrap_or(b"HY000"));
        err.extend_from_slice(e.message.as_bytes());
        self.stream.write(&err).await
    }

    async fn write_outcome(
        &mut self,
        outcome: Outcome,
        format: RowFormat,
        more: bool,
    ) -> io::Result<()> {
        let (schema, mut stream) = match outcome {
            Outcome::Done { affected_rows } => {
                self.session.row_count = i64::try_from(affected_rows).unwrap_or(i64::MAX);
                return self.write_ok(affected_rows, more).await;
            }
            Outcome::Rows { schema, stream } => (schema, stream),
        };
        self.session.row_count = -1;
        self.session.found_rows = 0;
        let defs = ColumnDef::for_schema(&schema);
        let mut head = Vec::new();
        put_lenenc_int(&mut head, defs.len() as u64);
        self.stream.write(&head).await?;
        for d in &defs {
            self.stream.write(&d.encode()).await?;
        }
        if self.caps & caps::DEPRECATE_EOF == 0 {
            self.write_eof(false).await?;
        }
        // A KILL QUERY, KILL CONNECTION or shutdown stops the result between two batches. One
        // that came before the rows did was already answered by the statement (SLEEP said 1).
        let interrupt = if self.session.interrupt.is_cancelled() {
            CancellationToken::new()
        } else {
            self.session.interrupt.clone()
        };
        loop {
            let batch = tokio::select! {
                biased;
                () = interrupt.cancelled() => {
                    return self.write_error(&MysqlError {
                        code: 1317,
                        sqlstate: "70100",
                        message: "Query execution was interrupted".into(),
                    }).await;
                }
                b = stream.next() => b,
            };
            let Some(batch) = batch else {
                break;
            };
            let batch = match batch {
                Ok(b) => b,
                Err(e) => {
                    // Rows already sent cannot be taken back; an ERR packet ends the result.
                    let e = Error::from(e);
                    self.log_error(&e);
                    return self.write_error(&e.to_mysql()).await;
                }
            };
            let columns = match conform(&batch, &schema) {
                Ok(c) => c,
                Err(e) => {
                    self.log_error(&e);
                    return self.write_error(&e.to_mysql()).await;
                }
            };
            let mut rows = Vec::new();
            let encoded = encode_batch(&columns, format, |row| rows.push(row.to_vec()));
            if let Err(e) = encoded {
                self.log_error(&e);
                return self.write_error(&e.to_mysql()).await;
            }
            self.session.found_rows += rows.len() as u64;
            for row in rows {
                self.stream.write(&row).await?;
            }
        }
        self.write_eof(more).await
    }
}

/// The batch's columns in the announced types: the binary protocol encodes each value by the
/// column definition already sent, so a batch whose types drifted is cast back to them.
fn conform(
    batch: &datafusion::arrow::array::RecordBatch,
    schema: &datafusion::arrow::datatypes::Schema,
) -> Result<Vec<datafusion::arrow::array::ArrayRef>> {
    batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(column, field)| {
            if column.data_type() == field.data_type() {
                Ok(std::sync::Arc::clone(column))
            } else {
                datafusion::arrow::compute::cast(column, field.data_type()).map_err(|e| {
                    Error::Internal(format!(
                        "column {} came as {} instead of {}: {e}",
                        field.name(),
                        column.data_type(),
                        field.data_type()
                    ))
                })
            }
        })
        .collect()
}

struct Login {
    caps: u32,
    user: String,
    auth_response: Vec<u8>,
    database: Option<String>,
    plugin: Option<String>,
}

/// HandshakeResponse41. `None` when the payload is malformed.
fn parse_handshake_response(payload: &[u8]) -> Option<Login> {
    let mut r = Reader::new(payload);
    let client_caps = r.u32()?;
    let _max_packet = r.u32()?;
    let _charset = r.u8()?;
    r.take(23)?;
    if client_caps & caps::SSL != 0 && r.is_empty() {
        // An SSL request: we did not offer SSL, the caller refuses it.
        return Some(Login {
            caps: client_caps,
            user: String::new(),
            auth_response: Vec::new(),
            database: None,
            plugin: None,
        });
    }
    let user = String::from_utf8_lossy(r.nul_bytes()).into_owned();
    let auth_response = if client_caps & caps::PLUGIN_AUTH_LENENC_DATA != 0 {
        r.lenenc_bytes()?.to_vec()
    } else if client_caps & caps::SECURE_CONNECTION != 0 {
        let n = usize::from(r.u8()?);
        r.take(n)?.to_vec()
    } else {
        r.nul_bytes().to_vec()
    };
    let database = if client_caps & caps::CONNECT_WITH_DB != 0 && !r.is_empty() {
        Some(String::from_utf8_lossy(r.nul_bytes()).into_owned())
    } else {
        None
    };
    let plugin = if client_caps & caps::PLUGIN_AUTH != 0 && !r.is_empty() {
        Some(String::from_utf8_lossy(r.nul_bytes()).into_owned()).filter(|p| !p.is_empty())
    } else {
        None
    };
    Some(Login {
        caps: client_caps,
        user,
        auth_response,
        database,
        plugin,
    })
}

/// The error of a statement that panicked while it ran.
fn panicked(panic: &(dyn std::any::Any + Send)) -> Error {
    Error::Internal(format!(
        "the statement panicked: {}",
        crate::error::panic_text(panic)
    ))
}

/// Parses with `parse`; a panic in the parser becomes this statement's parse error.
fn parse_caught<T>(
    parse: impl FnOnce() -> Result<T, sql::ParseError> + std::panic::UnwindSafe,
) -> Result<T, sql::ParseError> {
    std::panic::catch_unwind(parse).unwrap_or_else(|panic| {
        Err(sql::ParseError {
            message: format!(
                "internal error: parsing panicked: {} (this is a bug in backstop; please report it)",
                crate::error::panic_text(panic.as_ref())
            ),
            line: 0,
            column: 0,
            unsupported: false,
        })
    })
}
