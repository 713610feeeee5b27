//! Just enough HTTP/1.1 for the simulator, written by hand so that a fault plan can misbehave at the byte
//! level: answer late, close without answering, or claim more body than it sends.
//!
//! A connection stays open for the next request, as real services keep them, unless the client asks
//! to close it or the answer is a fault on the wire (then it is closed after the answer). Bodies are read
//! by `Content-Length` only; the clients under test never send chunked requests.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The most header bytes (request line included) read before answering 431.
pub const MAX_HEAD: usize = 64 * 1024;
/// The largest request body accepted before answering 413.
pub const MAX_BODY: usize = 1024 * 1024;

/// One request as it arrived: nothing is decoded or redacted, so that tests can check exactly what the
/// client sent (the `$` of an operation path, the `Authorization` header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, ... as sent.
    pub method: String,
    /// The request target as sent: path and query, still percent-encoded.
    pub target: String,
    /// Header names as sent, in order.
    pub headers: Vec<(String, String)>,
    /// The body bytes, exactly `Content-Length` of them.
    pub body: Vec<u8>,
}

impl Request {
    /// The first header of that name, compared without regard to case.
    /// True when the client asked to close the connection after this request.
    pub fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path part of the target, still encoded.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// A query parameter, decoded; the first one of that name.
    pub fn query(&self, name: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The token of an `Authorization: Bearer` header.
    pub fn bearer(&self) -> Option<&str> {
        let (scheme, token) = self.header("authorization")?.split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
    }

    /// Whether the body is declared as `wanted`, parameters (`; charset=utf-8`) aside.
    pub fn has_content_type(&self, wanted: &str) -> bool {
        let value = self.header("content-type").unwrap_or_default();
        let essence = value.split(';').next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case(wanted)
    }

    /// The body as text, for form and JSON parsing and for test assertions.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Why a request could not be read; all but [`ReadError::Closed`] deserve an answer.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The peer went away before a whole request arrived.
    Closed,
    /// The request line or a header is not HTTP/1.x.
    Malformed,
    /// The head is over [`MAX_HEAD`].
    HeadTooLarge,
    /// The declared body is over [`MAX_BODY`].
    BodyTooLarge,
    /// A body framed other than by `Content-Length`.
    Chunked,
}

impl ReadError {
    /// The answer for a request that could not be read, or `None` when nobody is left to hear it.
    pub fn response(&self) -> Option<Response> {
        let (status, text) = match self {
            ReadError::Closed => return None,
            ReadError::Malformed => (400, "malformed request"),
            ReadError::HeadTooLarge => (431, "request head over 64 KiB"),
            ReadError::BodyTooLarge => (413, "request body over 1 MiB"),
            ReadError::Chunked => (411, "send the body with a Content-Length"),
        };
        Some(Response::text(status, text))
    }
}

/// Reads one request: the head up to the blank line, then exactly `Content-Length` body bytes. `buf`
/// holds what was read of the connection and not used yet; what follows this request is left in it.
pub async fn read_request<R: AsyncRead + Unpin>(
    stream: &mut R,
    buf: &mut Vec<u8>,
) -> Result<Request, ReadError> {
    let head_end = loop {
        if let Some(at) = find(buf, b"\r\n\r\n") {
            break at;
        }
        if buf.len() > MAX_HEAD {
            return Err(ReadError::HeadTooLarge);
        }
        fill(stream, buf).await?;
    };
    if head_end > MAX_HEAD {
        return Err(ReadError::HeadTooLarge);
    }
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| ReadError::Malformed)?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let (Some(method), Some(target), Some(version), None) = (
        request_line.next(),
        request_line.next(),
        request_line.next(),
        request_line.next(),
    ) else {
        return Err(ReadError::Malformed);
    };
    if method.is_empty() || !target.starts_with('/') || !version.starts_with("HTTP/1.") {
        return Err(ReadError::Malformed);
    }
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').ok_or(ReadError::Malformed)?;
            Ok((name.trim().to_string(), value.trim().to_string()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut request = Request {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        body: Vec::new(),
    };
    if request.header("transfer-encoding").is_some() {
        return Err(ReadError::Chunked);
    }
    let length = match request.header("content-length") {
        None => 0,
        Some(v) => v.parse::<usize>().map_err(|_| ReadError::Malformed)?,
    };
    if length > MAX_BODY {
        return Err(ReadError::BodyTooLarge);
    }
    let end = head_end + 4 + length;
    while buf.len() < end {
        fill(stream, buf).await?;
    }
    request.body = buf[head_end + 4..end].to_vec();
    buf.drain(..end);
    Ok(request)
}

/// Reads what the connection has next into `buf`; a closed connection ends the request.
async fn fill<R: AsyncRead + Unpin>(stream: &mut R, buf: &mut Vec<u8>) -> Result<(), ReadError> {
    let mut chunk = [0u8; 4096];
    match stream.read(&mut chunk).await {
        Ok(0) | Err(_) => Err(ReadError::Closed),
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(())
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// An answer or an error answer; a handler's checks return the error early with `?`.
pub type Served = Result<Response, Response>;

/// An answer, with every header under the caller's control: a `Content-Length` set here is sent as is
/// (a lie included) instead of the true one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Any status code, including ones the service never sends.
    pub status: u16,
    /// Sent in this order; `Content-Length` and `Connection: close` are added unless set here.
    pub headers: Vec<(String, String)>,
    /// Sent whole, or half of it when truncated.
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON answer.
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        Response {
            status,
            headers: vec![(
                "Content-Type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: value.to_string().into_bytes(),
        }
    }

    /// A plain-text answer, as gateways send.
    pub fn text(status: u16, text: &str) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
            body: text.as_bytes().to_vec(),
        }
    }

    /// Sets a header, replacing any of the same name.
    pub fn set_header(&mut self, name: &str, value: &str) {
        self.remove_header(name);
        self.headers.push((name.to_string(), value.to_string()));
    }

    /// Removes every header of that name, so that a script can take away what the portal would send.
    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How an answer reaches the client: the faults a plan can inject on the wire.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Wait this long before writing anything (past the client's timeout, say).
    pub delay: Duration,
    /// Close the connection without a byte of answer.
    pub drop: bool,
    /// Declare the whole body's length but send only its first half, then close.
    pub truncate: bool,
}

/// Writes `response` as `delivery` says, and closes the connection after it unless `keep_open` and the
/// answer is whole: a fault on the wire, or a `Content-Length` a plan set itself (which may lie), ends
/// the connection. Returns whether it is still open. Write errors are ignored: a client that hung up
/// early is one of the cases under test, not a simulator failure.
pub async fn deliver<W: AsyncWrite + Unpin>(
    stream: &mut W,
    response: &Response,
    delivery: Delivery,
    keep_open: bool,
) -> bool {
    let keep_open =
        keep_open && delivery == Delivery::default() && response.header("content-length").is_none();
    // Only a real delay waits: even a zero sleep would hold every answer to the timer's next tick.
    if !delivery.delay.is_zero() {
        tokio::time::sleep(delivery.delay).await;
    }
    if !delivery.drop {
        let _ = write_response(stream, response, delivery.truncate, keep_open).await;
    }
    if !keep_open {
        let _ = stream.shutdown().await;
    }
    keep_open
}

async fn write_response<W: AsyncWrite + Unpin>(
    stream: &mut W,
    response: &Response,
    truncate: bool,
    keep_open: bool,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        response.status,
        reason(response.status)
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if response.header("content-length").is_none() {
        head.push_str(&format!("Content-Length: {}\r\n", response.body.len()));
    }
    head.push_str(match keep_open {
        true => "Connection: keep-alive\r\n\r\n",
        false => "Connection: close\r\n\r\n",
    });
    let sent = if truncate {
        &response.body[..response.body.len() / 2]
    } else {
        &response.body[..]
    };
    // One write: head and body in two small segments would wait on the client's delayed ACK.
    let mut answer = head.into_bytes();
    answer.extend_from_slice(sent);
    stream.write_all(&answer).await?;
    stream.flush().await
}

/// The reason phrase for the status line; clients ignore it, but a readable one helps in captures.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read(raw: &[u8]) -> Result<Request, ReadError> {
        let mut input = raw;
        read_request(&mut input, &mut Vec::new()).await
    }

    #[tokio::test]
    async fn reads_head_and_body_by_content_length() {
        let req = read(
            b"POST /a/b$c?x=1&y=%20z HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbodyEXTRA",
        )
        .await
        .unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.path(), "/a/b$c");
        assert_eq!(req.query("y").as_deref(), Some(" z"));
        assert_eq!(req.header("content-length"), Some("4"));
        assert_eq!(req.body, b"body");
    }

    #[tokio::test]
    async fn refuses_what_it_cannot_read() {
        assert_eq!(
            read(b"GET / HTTP/1.1\r\nHost").await,
            Err(ReadError::Closed)
        );
        assert_eq!(read(b"GARBAGE\r\n\r\n").await, Err(ReadError::Malformed));
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(read(big.as_bytes()).await, Err(ReadError::HeadTooLarge));
        let huge = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        assert_eq!(read(huge.as_bytes()).await, Err(ReadError::BodyTooLarge));
        let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(read(chunked).await, Err(ReadError::Chunked));
    }

    #[tokio::test]
    async fn requests_on_one_connection_are_read_in_turn() {
        let mut input: &[u8] =
            b"POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nabGET /b HTTP/1.1\r\nConnection: close\r\n\r\n";
        let mut buf = Vec::new();
        let first = read_request(&mut input, &mut buf).await.unwrap();
        assert_eq!((first.path(), first.body.as_slice()), ("/a", &b"ab"[..]));
        assert!(!first.wants_close());
        let second = read_request(&mut input, &mut buf).await.unwrap();
        assert_eq!(second.path(), "/b");
        assert!(second.wants_close());
        assert_eq!(
            read_request(&mut input, &mut buf).await,
            Err(ReadError::Closed)
        );
        let mut out = Vec::new();
        deliver(
            &mut out,
            &Response::text(200, "ok"),
            Delivery::default(),
            true,
        )
        .await;
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("Connection: keep-alive\r\n\r\nok"));
    }

    #[tokio::test]
    async fn writes_true_or_lying_length() {
        let response = Response::text(503, "0123456789");
        let mut out = Vec::new();
        deliver(&mut out, &response, Delivery::default(), false).await;
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
        assert!(text.contains("Content-Length: 10\r\nConnection: close\r\n\r\n0123456789"));

        let mut out = Vec::new();
        let truncate = Delivery {
            truncate: true,
            ..Delivery::default()
        };
        deliver(&mut out, &response, truncate, false).await;
        assert!(String::from_utf8(out)
            .unwrap()
            .ends_with("Content-Length: 10\r\nConnection: close\r\n\r\n01234"));
    }
}
