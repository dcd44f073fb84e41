//! A dependency-free HTTP GET for the `healthcheck` subcommand, so container images
//! need no curl.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// GETs an `http://host:port/path` URL and returns the response status code.
pub fn get_status(url: &str, timeout: Duration) -> Result<u16> {
    let parsed = url::Url::parse(url).with_context(|| format!("invalid URL {url}"))?;
    if parsed.scheme() != "http" {
        bail!("only http:// URLs can be checked, got {url}");
    }
    let host = parsed.host_str().context("URL without host")?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let addr = (host, port)
        .to_socket_addrs()?
        .next()
        .with_context(|| format!("cannot resolve {host}"))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n",
        parsed.path()
    )?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head)?;
    let line = String::from_utf8_lossy(&head[..n]);
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("not an HTTP response from {url}"))?;
    Ok(status)
}
