//! An HTTP listener on loopback that does what API Gateway HTTP API does for a Lambda
//! proxy integration (payload format 2.0): matches the routes template.yaml declares,
//! turns each request into a v2 event (raw body, base64 flag, lower-cased headers, query
//! string, path parameters, request context) and the function's answer into a response.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};
use tokio::sync::{broadcast, watch};

use crate::runtime::LambdaFunction;
use crate::{Error, StackEvent};

/// API Gateway's payload limit.
const MAX_PAYLOAD_BYTES: usize = 10 * 1024 * 1024;
/// API Gateway's integration timeout.
const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);

/// One `HttpApi` event of a function: `GET /webhooks/x/{account}`.
#[derive(Clone)]
pub struct Route {
    pub method: String,
    pub path: String,
    pub function: LambdaFunction,
}

impl Route {
    fn key(&self) -> String {
        if self.path == "$default" { "$default".to_owned() } else { format!("{} {}", self.method, self.path) }
    }

    fn matches(&self, method: &Method, path: &str) -> Option<Map<String, Value>> {
        route_matches(&self.method, &self.path, method, path)
    }
}

/// The path parameters of a request that matches a route (`GET /webhooks/x/{account}`).
fn route_matches(route_method: &str, route_path: &str, method: &Method, path: &str) -> Option<Map<String, Value>> {
    if route_method != "ANY" && !route_method.eq_ignore_ascii_case(method.as_str()) {
        return None;
    }
    if route_path == "$default" {
        return Some(Map::new());
    }
    let mut params = Map::new();
    let mut actual = path.trim_start_matches('/').split('/');
    let mut pattern = route_path.trim_start_matches('/').split('/').peekable();
    while let Some(segment) = pattern.next() {
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(greedy) if greedy.ends_with('+') && pattern.peek().is_none() => {
                let rest: Vec<&str> = actual.by_ref().collect();
                if rest.is_empty() || rest == [""] {
                    return None;
                }
                params.insert(greedy.trim_end_matches('+').to_owned(), Value::String(rest.join("/")));
            }
            Some(name) => {
                let value = actual.next().filter(|v| !v.is_empty())?;
                params.insert(name.to_owned(), Value::String(percent_decode(value)));
            }
            None if actual.next() == Some(segment) => {}
            None => return None,
        }
    }
    actual.next().is_none().then_some(params)
}

struct Gateway {
    routes: Vec<Route>,
    domain: String,
    /// Requests served, as API Gateway bills them.
    requests: std::sync::Arc<std::sync::atomic::AtomicU64>,
    events: broadcast::Sender<StackEvent>,
}

pub async fn serve(
    listener: tokio::net::TcpListener,
    routes: Vec<Route>,
    requests: std::sync::Arc<std::sync::atomic::AtomicU64>,
    events: broadcast::Sender<StackEvent>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let domain = listener.local_addr().map_err(Error::io("listener address"))?.to_string();
    let state = std::sync::Arc::new(Gateway { routes, domain, requests, events });
    let app = axum::Router::new()
        .fallback(handle)
        .layer(DefaultBodyLimit::max(MAX_PAYLOAD_BYTES))
        .with_state(state)
        .into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = shutdown.wait_for(|stop| *stop).await;
        })
        .await
        .map_err(Error::io("HTTP listener"))
}

fn api_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({ "message": message }))).into_response()
}

async fn handle(
    State(gateway): State<std::sync::Arc<Gateway>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = std::time::Instant::now();
    gateway.requests.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    let path = uri.path().to_owned();
    let Some((route, params)) = gateway.routes.iter().find_map(|r| r.matches(&method, &path).map(|p| (r, p))) else {
        return api_error(StatusCode::NOT_FOUND, "Not Found");
    };
    let event = event(&gateway.domain, peer, route, params, &method, &uri, &headers, &body);
    let result = tokio::time::timeout(INTEGRATION_TIMEOUT, route.function.invoke(event)).await;
    let response = match result {
        Ok(Ok(answer)) => function_response(answer),
        Ok(Err(error)) => {
            eprintln!("hark-local: {} {path}: {error}", method);
            api_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
        Err(_) => api_error(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
    };
    let _ = gateway.events.send(StackEvent::Http {
        method: method.to_string(),
        path,
        status: response.status().as_u16(),
        elapsed: started.elapsed(),
    });
    response
}

#[allow(clippy::too_many_arguments)]
fn event(
    domain: &str,
    peer: SocketAddr,
    route: &Route,
    params: Map<String, Value>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Value {
    // Repeated headers are joined with commas; cookies move to their own field.
    let mut joined: Map<String, Value> = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == "cookie" {
            cookies.extend(value.split(';').map(|c| Value::String(c.trim().to_owned())));
            continue;
        }
        match joined.get_mut(name.as_str()) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                joined.insert(name.as_str().to_owned(), Value::String(value));
            }
        }
    }
    let raw_query = uri.query().unwrap_or_default();
    let mut query: Map<String, Value> = Map::new();
    for (k, v) in serde_urlencoded::from_str::<Vec<(String, String)>>(raw_query).unwrap_or_default() {
        match query.get_mut(&k) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&v);
            }
            _ => {
                query.insert(k, Value::String(v));
            }
        }
    }
    let now = chrono::Utc::now();
    let user_agent = headers.get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route.key(),
        "rawPath": uri.path(),
        "rawQueryString": raw_query,
        "headers": joined,
        "requestContext": {
            "accountId": crate::template::ACCOUNT_ID,
            "apiId": "local",
            "domainName": domain,
            "domainPrefix": "local",
            "http": {
                "method": method.as_str(),
                "path": uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": user_agent,
            },
            "requestId": format!("local-{}", now.timestamp_nanos_opt().unwrap_or_default()),
            "routeKey": route.key(),
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !params.is_empty() {
        event["pathParameters"] = Value::Object(params);
    }
    if !body.is_empty() {
        let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        match std::str::from_utf8(body) {
            Ok(text) if is_text(content_type) => event["body"] = Value::String(text.to_owned()),
            _ => {
                event["body"] = Value::String(BASE64.encode(body));
                event["isBase64Encoded"] = Value::Bool(true);
            }
        }
    }
    event
}

/// The media types API Gateway passes as text; everything else arrives base64-encoded.
fn is_text(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    media.is_empty()
        || media.starts_with("text/")
        || media.ends_with("+json")
        || media.ends_with("+xml")
        || matches!(
            media.as_str(),
            "application/json" | "application/xml" | "application/javascript" | "application/x-www-form-urlencoded"
        )
}

fn percent_decode(segment: &str) -> String {
    serde_urlencoded::from_str::<Vec<(String, String)>>(&format!("v={}", segment.replace('+', "%2B")))
        .ok()
        .and_then(|mut pairs| pairs.pop())
        .map(|(_, v)| v)
        .unwrap_or_else(|| segment.to_owned())
}

/// Payload format 2.0: a `{statusCode, headers, body, isBase64Encoded, cookies}` object, or
/// any other JSON value, which API Gateway returns as a 200 JSON body.
fn function_response(answer: Value) -> Response {
    let Some(status) = answer.get("statusCode").and_then(Value::as_u64) else {
        return (StatusCode::OK, axum::Json(answer)).into_response();
    };
    let body = match (answer["body"].as_str(), answer["isBase64Encoded"] == true) {
        (Some(b), true) => match BASE64.decode(b) {
            Ok(bytes) => bytes,
            Err(_) => return api_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        },
        (Some(b), false) => b.as_bytes().to_vec(),
        (None, _) => Vec::new(),
    };
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    for (name, value) in answer["headers"].as_object().into_iter().flatten() {
        if let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&crate::template::scalar(value)))
        {
            headers.insert(name, value);
        }
    }
    for (name, values) in answer["multiValueHeaders"].as_object().into_iter().flatten() {
        for value in values.as_array().into_iter().flatten() {
            if let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&crate::template::scalar(value)))
            {
                headers.append(name, value);
            }
        }
    }
    for cookie in answer["cookies"].as_array().into_iter().flatten().filter_map(Value::as_str) {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            headers.append("set-cookie", value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, method: &str, path: &str) -> Option<Map<String, Value>> {
        route_matches("GET", pattern, &Method::from_bytes(method.as_bytes()).unwrap(), path)
    }

    #[test]
    fn routes_match_as_api_gateway_matches_them() {
        assert_eq!(matches("/webhooks/x", "GET", "/webhooks/x"), Some(Map::new()));
        assert_eq!(matches("/webhooks/x", "POST", "/webhooks/x"), None);
        assert_eq!(matches("/webhooks/x", "GET", "/webhooks/x/1"), None);
        let params = matches("/webhooks/x/{account}", "GET", "/webhooks/x/2244994945").unwrap();
        assert_eq!(params["account"], "2244994945");
        assert_eq!(matches("/webhooks/x/{account}", "GET", "/webhooks/x/"), None);
        let params = matches("/files/{path+}", "GET", "/files/a/b%20c").unwrap();
        assert_eq!(params["path"], "a/b%20c");
    }

    /// A route in the OpenAPI document that no `HttpApi` event of the template routes would
    /// answer 404 from API Gateway, though every handler test passes.
    #[test]
    fn every_documented_route_reaches_the_api_function_through_the_template() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let template = std::fs::read_to_string(root.join("template.yaml")).unwrap();
        let template = crate::template::Template::parse(&template, "stack", &[]).unwrap();
        let document: Value =
            serde_json::from_str(&std::fs::read_to_string(root.join("docs/openapi.json")).unwrap()).unwrap();
        let (_, api) = template
            .resources_of_type("AWS::Serverless::Function")
            .unwrap()
            .into_iter()
            .find(|(id, _)| id == "ApiFunction")
            .expect("the template's ApiFunction");
        let routes: Vec<(String, String)> = api["Properties"]["Events"]
            .as_object()
            .unwrap()
            .values()
            .filter(|e| e["Type"] == "HttpApi")
            .map(|e| {
                (
                    e["Properties"]["Method"].as_str().unwrap().to_owned(),
                    e["Properties"]["Path"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let paths = document["paths"].as_object().unwrap();
        assert!(paths.len() >= 8);
        for (path, operations) in paths {
            let concrete =
                path.split('/').map(|s| if s.starts_with('{') { "p" } else { s }).collect::<Vec<_>>().join("/");
            for method in operations.as_object().unwrap().keys() {
                let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
                assert!(
                    routes.iter().any(|(m, p)| route_matches(m, p, &method, &concrete).is_some()),
                    "{method} {path} is documented but template.yaml routes it nowhere"
                );
            }
        }
    }

    #[test]
    fn text_bodies_stay_text_and_binary_bodies_are_base64() {
        assert!(is_text("application/json; charset=utf-8"));
        assert!(is_text("text/plain"));
        assert!(is_text(""));
        assert!(!is_text("application/octet-stream"));
        assert!(!is_text("image/png"));
    }
}
