//! MySQL packet framing and the wire encodings shared by every packet we send or read.
//!
//! A packet is a 3-byte little-endian length, a 1-byte sequence id and the payload. Payloads of
//! 16 MiB − 1 bytes or more are split across packets; the last one is shorter than 16 MiB − 1
//! (possibly empty). Every command from the client starts a new sequence at 0, and each packet
//! we answer with takes the next id.
//!
//! [`Reader`] parses untrusted client payloads: every accessor returns `None` instead of
//! panicking when the payload is shorter than it claims.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};

/// The largest payload a single packet carries.
const MAX_CHUNK: usize = 0x00FF_FFFF;

/// A framed MySQL connection: buffered halves plus the sequence counter.
pub struct PacketStream<R, W> {
    reader: BufReader<R>,
    writer: BufWriter<W>,
    seq: u8,
    /// Largest payload accepted from a client (`max_allowed_packet`); a larger one closes the
    /// connection instead of growing memory without bound.
    max_payload: usize,
}

impl<R: AsyncRead + Unpin, W: AsyncWrite + Unpin> PacketStream<R, W> {
    pub fn new(reader: R, writer: W, max_payload: usize) -> Self {
        Self {
            reader: BufReader::with_capacity(16 * 1024, reader),
            writer: BufWriter::with_capacity(64 * 1024, writer),
            seq: 0,
            max_payload,
        }
    }

    /// Reads one logical payload (joining split packets). `Ok(None)` means the client closed the
    /// connection cleanly between packets.
    pub async fn read(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut payload = Vec::new();
        let mut first = true;
        loop {
            let mut header = [0u8; 4];
            match self.reader.read_exact(&mut header).await {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && first => return Ok(None),
                Err(e) => return Err(e),
            }
            let [l0, l1, l2, seq] = header;
            let len = usize::from(l0) | usize::from(l1) << 8 | usize::from(l2) << 16;
            if payload.len() + len > self.max_payload {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "packet larger than max_allowed_packet ({} bytes)",
                        self.max_payload
                    ),
                ));
            }
            self.seq = seq.wrapping_add(1);
            let start = payload.len();
            payload.resize(start + len, 0);
            if let Some(buf) = payload.get_mut(start..) {
                self.reader.read_exact(buf).await?;
            }
            first = false;
            if len < MAX_CHUNK {
                return Ok(Some(payload));
            }
        }
    }

    /// Completes when the client has closed its side of the connection (or it broke) while a
    /// statement runs; stays pending while it is open, and for good once the client has sent
    /// more bytes (they stay buffered for [`read`]). Cancel-safe: it consumes nothing.
    ///
    /// [`read`]: Self::read
    pub async fn peer_closed(&mut self) {
        use tokio::io::AsyncBufReadExt;
        match self.reader.fill_buf().await {
            Ok([]) | Err(_) => {}
            Ok(_) => std::future::pending().await,
        }
    }

    /// Queues one payload as one or more packets. Nothing reaches the client before [`flush`].
    ///
    /// [`flush`]: Self::flush
    pub async fn write(&mut self, payload: &[u8]) -> io::Result<()> {
        let mut rest = payload;
        loop {
            let n = rest.len().min(MAX_CHUNK);
            let (chunk, tail) = rest.split_at(n);
            let len = (n as u32).to_le_bytes();
            let [b0, b1, b2, _] = len;
            self.writer.write_all(&[b0, b1, b2, self.seq]).await?;
            self.writer.write_all(chunk).await?;
            self.seq = self.seq.wrapping_add(1);
            rest = tail;
            if n < MAX_CHUNK {
                return Ok(());
            }
        }
    }

    pub async fn flush(&mut self) -> io::Result<()> {
        self.writer.flush().await
    }

    /// Starts a new command exchange: the client's next packet has sequence 0.
    pub fn reset_seq(&mut self) {
        self.seq = 0;
    }
}

/// Appends MySQL's length-encoded integer.
pub fn put_lenenc_int(buf: &mut Vec<u8>, v: u64) {
    if v < 251 {
        buf.push(v as u8);
    } else if v < 1 << 16 {
        buf.push(0xFC);
        buf.extend_from_slice(&(v as u16).to_le_bytes());
    } else if v < 1 << 24 {
        buf.push(0xFD);
        buf.extend_from_slice(&(v as u32).to_le_bytes()[..3]);
    } else {
        buf.push(0xFE);
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

/// Appends a length-encoded string.
pub fn put_lenenc_bytes(buf: &mut Vec<u8>, s: &[u8]) {
    put_lenenc_int(buf, s.len() as u64);
    buf.extend_from_slice(s);
}

/// A cursor over an untrusted payload. Accessors return `None` past the end.
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.data.len() {
            return None;
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Some(head)
    }

    pub fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    pub fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }

    pub fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    pub fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    pub fn lenenc_int(&mut self) -> Option<u64> {
        match self.u8()? {
            0xFC => self.u16().map(u64::from),
            0xFD => {
                let b = self.take(3)?;
                let mut v = [0u8; 4];
                v.get_mut(..3)?.copy_from_slice(b);
                Some(u64::from(u32::from_le_bytes(v)))
            }
            0xFE => self.u64(),
            n if n < 0xFB => Some(u64::from(n)),
            _ => None,
        }
    }

    pub fn lenenc_bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.lenenc_int()?).ok()?;
        self.take(n)
    }

    /// A NUL-terminated string; a missing terminator takes the rest of the payload.
    pub fn nul_bytes(&mut self) -> &'a [u8] {
        match self.data.iter().position(|&b| b == 0) {
            Some(i) => {
                let (head, tail) = self.data.split_at(i);
                self.data = tail.get(1..).unwrap_or_default();
                head
            }
            None => std::mem::take(&mut self.data),
        }
    }

    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenenc_round_trips() {
        for v in [
            0u64,
            250,
            251,
            65535,
            65536,
            (1 << 24) - 1,
            1 << 24,
            u64::MAX,
        ] {
            let mut buf = Vec::new();
            put_lenenc_int(&mut buf, v);
            assert_eq!(Reader::new(&buf).lenenc_int(), Some(v), "{v}");
        }
    }

    #[test]
    fn reader_never_reads_past_the_end() {
        let mut r = Reader::new(&[0xFE, 1, 2]);
        assert_eq!(r.lenenc_int(), None);
        let mut r = Reader::new(&[5, b'a']);
        assert_eq!(r.lenenc_bytes(), None);
        let mut r = Reader::new(b"abc");
        assert_eq!(r.nul_bytes(), b"abc");
        assert!(r.is_empty());
    }

    #[tokio::test]
    async fn split_packets_join_again() {
        let payload = vec![7u8; MAX_CHUNK + 10];
        let (client, server) = tokio::io::duplex(1 << 20);
        let (cr, cw) = tokio::io::split(client);
        let (sr, sw) = tokio::io::split(server);
        let mut tx = PacketStream::new(cr, cw, 64 << 20);
        let mut rx = PacketStream::new(sr, sw, 64 << 20);
        let sent = payload.clone();
        let writer = tokio::spawn(async move {
            tx.write(&sent).await.unwrap();
            tx.flush().await.unwrap();
        });
        let got = rx.read().await.unwrap().unwrap();
        writer.await.unwrap();
        assert_eq!(got.len(), payload.len());
    }
}
