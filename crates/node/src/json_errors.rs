//! JSON bodies for the errors hyper answers itself. A request whose head is too large
//! or malformed never reaches the router: hyper answers `431`, `414` or `400` with an
//! empty body and closes. Every other error of both listeners is a JSON document
//! (`{"error", "kind"}`, docs/api.md), so this stream wrapper recognises those bodyless
//! answers as hyper writes them and writes the JSON one instead. Nothing else is
//! touched: a response the router made always has a body.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error_kind::ErrorKind;

/// A connection's stream, with hyper's own error answers made JSON.
pub(crate) struct JsonErrors<S> {
    inner: S,
    /// A replacement answer being written, and how much of it is out.
    pending: Option<(Vec<u8>, usize)>,
}

impl<S> JsonErrors<S> {
    pub(crate) fn new(inner: S) -> Self {
        JsonErrors { inner, pending: None }
    }
}

/// The JSON answer for a bodyless error head hyper wrote, if `head` is one.
fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(head).ok()?;
    let (status_line, rest) = text.split_once("\r\n")?;
    let bodyless = rest.to_ascii_lowercase().contains("content-length: 0\r\n") && text.ends_with("\r\n\r\n");
    let status = status_line.strip_prefix("HTTP/1.1 ")?;
    let (kind, message) = match status.get(..3)? {
        "431" => (ErrorKind::HeadersTooLarge, "the request's headers are too large"),
        "414" => (ErrorKind::UriTooLong, "the request's URI is too long"),
        "400" => (ErrorKind::BadRequest, "the request is not valid HTTP/1.1"),
        _ => return None,
    };
    let kind = kind.as_str();
    if !bodyless {
        return None;
    }
    let body = format!("{{\"error\":\"{message}\",\"kind\":\"{kind}\"}}");
    Some(
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl<S: AsyncWrite + Unpin> JsonErrors<S> {
    /// Writes out the pending replacement, if any.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.pending {
            if *written == bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonErrors<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonErrors<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if buf.starts_with(b"HTTP/1.1 4") {
            if let Some(answer) = replacement(buf) {
                // Hyper's bytes count as written; ours go out instead.
                self.pending = Some((answer, 0));
                let _ = self.poll_pending(cx)?;
                return Poll::Ready(Ok(buf.len()));
            }
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bodyless_error_heads_are_replaced() {
        let hyper = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let answer = String::from_utf8(replacement(hyper).unwrap()).unwrap();
        assert!(answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        assert!(
            answer.ends_with(r#"{"error":"the request's headers are too large","kind":"headers_too_large"}"#)
        );
        let ours =
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 40\r\n\r\n";
        assert_eq!(replacement(ours), None, "the router's own answers have bodies");
        assert_eq!(
            replacement(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"),
            None
        );
    }
}
