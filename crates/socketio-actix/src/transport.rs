//! The HTTP side of Engine.IO: validates `EIO`, `transport` and `sid` as the reference
//! server does, opens sessions (long-polling handshake or WebSocket), and carries polling
//! GETs, polling POSTs and WebSocket upgrade probes to their session task.
//!
//! Rejections are HTTP 400 with the reference server's JSON body
//! `{"code":N,"message":"…"}`: 0 unknown transport, 1 unknown session id, 2 handshake
//! not a GET, 3 bad request, 5 unsupported protocol version. A POST larger than
//! `maxPayload` gets 413 and closes its session.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::oneshot;

use crate::engineio;
use crate::hub::{Hub, SessionHandle, TransportKind};
use crate::namespace::Owner;
use crate::session::{self, Input, PollReply};
use crate::ws::{ProbeConn, WsConn};

/// Engine.IO's error codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EioError {
    UnknownTransport = 0,
    UnknownSid = 1,
    BadHandshakeMethod = 2,
    BadRequest = 3,
    UnsupportedProtocolVersion = 5,
}

impl EioError {
    fn message(self) -> &'static str {
        match self {
            EioError::UnknownTransport => "Transport unknown",
            EioError::UnknownSid => "Session ID unknown",
            EioError::BadHandshakeMethod => "Bad handshake method",
            EioError::BadRequest => "Bad request",
            EioError::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    fn response(self) -> HttpResponse {
        error_body(StatusCode::BAD_REQUEST, self)
    }
}

fn error_body(status: StatusCode, e: EioError) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(ContentType::json())
        .body(json!({ "code": e as u8, "message": e.message() }).to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Polling,
    Websocket,
}

#[derive(Default)]
struct Query {
    eio: Option<String>,
    transport: Option<String>,
    sid: Option<String>,
}

fn parse_query(qs: &str) -> Query {
    let mut q = Query::default();
    for (k, v) in url::form_urlencoded::parse(qs.as_bytes()) {
        match &*k {
            "EIO" => q.eio = Some(v.into_owned()),
            "transport" => q.transport = Some(v.into_owned()),
            "sid" => q.sid = Some(v.into_owned()),
            _ => {}
        }
    }
    q
}

fn is_websocket_upgrade(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Serves one request to the Engine.IO endpoint.
pub(crate) async fn handle<O: Owner>(
    hub: &Hub<O>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let query = parse_query(req.query_string());
    let kind = match query.transport.as_deref() {
        Some("polling") => Kind::Polling,
        Some("websocket") => Kind::Websocket,
        _ => return EioError::UnknownTransport.response(),
    };
    let upgrade = is_websocket_upgrade(&req);
    if let Some(sid) = &query.sid {
        let Some(handle) = hub.session(sid) else {
            return EioError::UnknownSid.response();
        };
        return match kind {
            Kind::Polling if handle.shared.transport() == TransportKind::Websocket => {
                EioError::BadRequest.response()
            }
            Kind::Polling if req.method() == actix_web::http::Method::GET => poll(&handle).await,
            Kind::Polling if req.method() == actix_web::http::Method::POST => {
                post(hub, &handle, payload).await
            }
            Kind::Polling => EioError::BadRequest.response(),
            Kind::Websocket if !upgrade => EioError::BadRequest.response(),
            Kind::Websocket => probe(hub, &handle, &req, payload),
        };
    }
    if req.method() != actix_web::http::Method::GET {
        return EioError::BadHandshakeMethod.response();
    }
    if hub.is_closing() {
        // The client retries its handshake later, against the next instance.
        return HttpResponse::ServiceUnavailable()
            .content_type(ContentType::json())
            .body(
                json!({ "code": EioError::BadRequest as u8, "message": "Server shutting down" })
                    .to_string(),
            );
    }
    if query.eio.as_deref() != Some("4") {
        return EioError::UnsupportedProtocolVersion.response();
    }
    match kind {
        Kind::Polling => text(session::open_polling(hub)),
        Kind::Websocket if !upgrade => EioError::BadRequest.response(),
        Kind::Websocket => match accept_ws(hub, &req, payload) {
            Ok((response, ws, stream)) => {
                session::open_websocket(hub, WsConn::local(ws, stream));
                response
            }
            Err(e) => e.response(),
        },
    }
}

fn text(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=UTF-8")
        .body(body)
}

type Accepted = (
    HttpResponse,
    actix_ws::Session,
    actix_ws::AggregatedMessageStream,
);

fn accept_ws<O: Owner>(
    hub: &Hub<O>,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Accepted, EioError> {
    let max = hub.config().max_payload;
    let (response, session, stream) =
        actix_ws::handle(req, payload).map_err(|_| EioError::BadRequest)?;
    let stream = stream
        .max_frame_size(max)
        .aggregate_continuations()
        .max_continuation_size(max);
    Ok((response, session, stream))
}

/// A WebSocket naming an existing session: an upgrade probe if the session still
/// polls, otherwise accepted and closed at once (as the reference server does).
fn probe<O: Owner>(
    hub: &Hub<O>,
    handle: &SessionHandle,
    req: &HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let (response, session, stream) = match accept_ws(hub, req, payload) {
        Ok(accepted) => accepted,
        Err(e) => return e.response(),
    };
    if !handle.shared.begin_upgrade() {
        actix_web::rt::spawn(async move {
            let _ = session.close(None).await;
        });
        return response;
    }
    if let Err(returned) = handle
        .tx
        .send(Input::Probe(Box::new(ProbeConn::new(session, stream))))
        && let Input::Probe(probe) = returned.0
    {
        actix_web::rt::spawn(async move { probe.close().await });
    }
    response
}

async fn poll(handle: &SessionHandle) -> HttpResponse {
    let (tx, rx) = oneshot::channel();
    if handle.tx.send(Input::Poll(tx)).is_err() {
        return EioError::UnknownSid.response();
    }
    match rx.await {
        Ok(PollReply::Payload(body)) => text(body),
        Ok(PollReply::Rejected) => EioError::BadRequest.response(),
        Err(_) => EioError::UnknownSid.response(),
    }
}

/// Clears the "POST in progress" flag however the request ends.
struct Posting<'a>(&'a SessionHandle);

impl Drop for Posting<'_> {
    fn drop(&mut self) {
        self.0
            .shared
            .posting
            .store(false, std::sync::atomic::Ordering::Release);
    }
}

async fn post<O: Owner>(
    hub: &Hub<O>,
    handle: &SessionHandle,
    mut payload: web::Payload,
) -> HttpResponse {
    if handle
        .shared
        .posting
        .swap(true, std::sync::atomic::Ordering::AcqRel)
    {
        let _ = handle.tx.send(Input::Close("overlapping POST requests"));
        return EioError::BadRequest.response();
    }
    let _posting = Posting(handle);
    let max = hub.config().max_payload;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            let _ = handle.tx.send(Input::Close("POST body could not be read"));
            return EioError::BadRequest.response();
        };
        if body.len() + chunk.len() > max {
            let _ = handle.tx.send(Input::Close("payload over maxPayload"));
            return error_body(StatusCode::PAYLOAD_TOO_LARGE, EioError::BadRequest);
        }
        body.extend_from_slice(&chunk);
    }
    match engineio::decode_payload(&body) {
        Ok(packets) => {
            if handle.tx.send(Input::Packets(packets)).is_err() {
                return EioError::UnknownSid.response();
            }
            HttpResponse::Ok().content_type("text/html").body("ok")
        }
        Err(_) => {
            let _ = handle.tx.send(Input::Close("invalid packet"));
            EioError::BadRequest.response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_read_and_decoded() {
        let q = parse_query("EIO=4&transport=polling&sid=a%2Bb&t=x");
        assert_eq!(q.eio.as_deref(), Some("4"));
        assert_eq!(q.transport.as_deref(), Some("polling"));
        assert_eq!(q.sid.as_deref(), Some("a+b"));
        let q = parse_query("");
        assert!(q.eio.is_none() && q.transport.is_none() && q.sid.is_none());
    }

    #[actix_web::test]
    async fn handshakes_are_refused_once_the_hub_shuts_down() {
        use actix_web::{App, test};

        use crate::config::HubConfig;

        let hub: Hub<()> = Hub::builder(HubConfig::default()).build();
        let app =
            test::init_service(App::new().service(crate::resource("/socket.io", hub.clone())))
                .await;
        let handshake = || {
            test::TestRequest::get()
                .uri("/socket.io?EIO=4&transport=polling")
                .to_request()
        };
        let res = test::call_service(&app, handshake()).await;
        assert_eq!(res.status(), 200);
        hub.shutdown();
        let res = test::call_service(&app, handshake()).await;
        assert_eq!(res.status(), 503);
    }

    #[test]
    fn error_bodies_match_the_reference_server() {
        let res = EioError::UnsupportedProtocolVersion.response();
        assert_eq!(res.status(), 400);
        assert_eq!(
            res.headers().get("content-type").map(|v| v.as_bytes()),
            Some(&b"application/json"[..])
        );
    }
}
