//! Docket's Open311 GeoReport v2 interface (`/open311/v2`), over HTTP against the real binary:
//! every resource in JSON and in XML, held field by field to the contract and to each other; the
//! refusals as Open311 error documents that file nothing; a resident's request from an app,
//! handled through the normal API and seen closed with the reply's text and nothing internal or
//! personal; routing by the grids' areas; and API keys, refused once revoked and kept nowhere in
//! clear.
//!
//! Open311 answers are not described by the OpenAPI document, so they are read with plain
//! reqwest here (never `call`/`checked`); XML is parsed strictly with roxmltree.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use docket_domain::CaseKind;
use docket_tests::docket_bin;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::call;
use crate::stories::Office;

// ---- the contract's names -------------------------------------------------------------------

/// The embedded server's tenant, which is the Open311 jurisdiction.
const TENANT: &str = "demo";
const JURISDICTION: (&str, &str) = ("jurisdiction_id", TENANT);
const SPECIFICATION: &str = "http://wiki.open311.org/GeoReport_v2";

const DISCOVERY_FIELDS: [&str; 4] = ["changeset", "contact", "key_service", "endpoints"];
const ENDPOINT_FIELDS: [&str; 5] = ["specification", "url", "changeset", "type", "formats"];
const SERVICE_FIELDS: [&str; 7] = [
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
];
const ATTRIBUTE_FIELDS: [&str; 8] = [
    "variable",
    "code",
    "datatype",
    "required",
    "datatype_description",
    "order",
    "description",
    "values",
];
/// The fields of each request GET requests and GET requests/{id} answer.
const REQUEST_FIELDS: [&str; 17] = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
];

/// How an API key begins (the vault's `API_KEY_PREFIX`); the rest is its secret part.
const KEY_PREFIX: &str = "dk311_";

// ---- talking Open311 ------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fmt {
    Json,
    Xml,
}

const BOTH: [Fmt; 2] = [Fmt::Json, Fmt::Xml];

impl Fmt {
    fn ext(self) -> &'static str {
        match self {
            Fmt::Json => "json",
            Fmt::Xml => "xml",
        }
    }
}

/// One Open311 answer, read whole.
#[derive(Debug, Clone)]
struct Answer {
    url: String,
    status: u16,
    content_type: String,
    body: String,
}

impl Answer {
    /// The body as JSON, served as `application/json; charset=utf-8`.
    #[track_caller]
    fn json(&self) -> Value {
        assert_content_type(self, Fmt::Json);
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("{}: the body is not JSON ({e}): {}", self.url, self.body))
    }

    /// The body as JSON, after a 200.
    #[track_caller]
    fn ok_json(&self) -> Value {
        assert_eq!(
            self.status, 200,
            "{} answered {}: {}",
            self.url, self.status, self.body
        );
        self.json()
    }

    /// The body as XML, parsed strictly: served as `text/xml; charset=utf-8`, opened by the
    /// UTF-8 XML declaration, and without any namespace.
    #[track_caller]
    fn xml(&self) -> roxmltree::Document<'_> {
        assert_content_type(self, Fmt::Xml);
        let declaration = self
            .body
            .find("?>")
            .map(|end| &self.body[..end + 2])
            .unwrap_or_default();
        assert!(
            declaration.starts_with("<?xml version=\"1.0\"")
                && declaration
                    .to_ascii_lowercase()
                    .contains("encoding=\"utf-8\""),
            "{}: XML starts with <?xml version=\"1.0\" encoding=\"utf-8\"?>: {}",
            self.url,
            self.body
        );
        let doc = roxmltree::Document::parse(&self.body)
            .unwrap_or_else(|e| panic!("{}: the body is not XML ({e}): {}", self.url, self.body));
        for node in doc.descendants().filter(|n| n.is_element()) {
            assert!(
                node.tag_name().namespace().is_none(),
                "{}: <{}> has a namespace; Open311 XML has none: {}",
                self.url,
                node.tag_name().name(),
                self.body
            );
        }
        doc
    }

    /// The body as XML, after a 200.
    #[track_caller]
    fn ok_xml(&self) -> roxmltree::Document<'_> {
        assert_eq!(
            self.status, 200,
            "{} answered {}: {}",
            self.url, self.status, self.body
        );
        self.xml()
    }
}

#[track_caller]
fn assert_content_type(a: &Answer, fmt: Fmt) {
    let got = a.content_type.to_ascii_lowercase().replace(' ', "");
    let want = match fmt {
        Fmt::Json => "application/json;charset=utf-8",
        Fmt::Xml => "text/xml;charset=utf-8",
    };
    assert_eq!(
        got, want,
        "{}: Content-Type {:?}, not {want}: {}",
        a.url, a.content_type, a.body
    );
}

/// A client of one server's Open311 interface that keeps every answer, so a test can search
/// all that Open311 ever showed.
#[derive(Debug)]
struct Open311 {
    /// `http://host:port`, as the server printed it.
    server: String,
    /// `http://host:port/open311/v2`.
    base: String,
    http: reqwest::Client,
    seen: Mutex<Vec<Answer>>,
    /// Once set, reads go as the app with this key (`api_key` in place of `jurisdiction_id`):
    /// an app is shown what its residents are told, anyone else only how a request stands.
    app_key: Mutex<Option<String>>,
}

impl Open311 {
    fn of(office: &Office) -> Open311 {
        Open311 {
            server: office.server.url.clone(),
            base: format!("{}/open311/v2", office.server.url),
            http: reqwest::Client::new(),
            seen: Mutex::new(Vec::new()),
            app_key: Mutex::new(None),
        }
    }

    /// Reads from now on as the app with this key.
    fn read_as_app(&self, key: &str) {
        *self.app_key.lock().unwrap() = Some(key.to_owned());
    }

    /// Reads from now on as anyone, with `jurisdiction_id`.
    fn read_as_anyone(&self) {
        *self.app_key.lock().unwrap() = None;
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.expect("the server answers");
        let url = response.url().to_string();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = response.bytes().await.expect("a body");
        let body = String::from_utf8(bytes.to_vec())
            .unwrap_or_else(|e| panic!("{url}: the body is not UTF-8: {e}"));
        let answer = Answer {
            url,
            status,
            content_type,
            body,
        };
        self.seen.lock().unwrap().push(answer.clone());
        answer
    }

    /// GET `{base}/{resource}.{fmt}` with this query.
    async fn get(&self, resource: &str, fmt: Fmt, query: &[(&str, &str)]) -> Answer {
        let url = format!("{}/{resource}.{}", self.base, fmt.ext());
        let key = self.app_key.lock().unwrap().clone();
        let query: Vec<(&str, &str)> = query
            .iter()
            .map(|&(k, v)| match (&key, k) {
                (Some(key), "jurisdiction_id") => ("api_key", key.as_str()),
                _ => (k, v),
            })
            .collect();
        self.send(self.http.get(url).query(&query)).await
    }

    /// GET `{base}/{path}` as written (for a resource without a known extension).
    async fn get_path(&self, path: &str) -> Answer {
        self.send(self.http.get(format!("{}/{path}", self.base)))
            .await
    }

    /// POST requests.{fmt}, the form url-encoded (`attribute[severity]` as `attribute%5B…`).
    async fn post(&self, fmt: Fmt, form: &[(&str, &str)]) -> Answer {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.post_body(&format!("requests.{}", fmt.ext()), &[], body)
            .await
    }

    /// POST requests.{fmt} with the keys written as they are (`attribute[severity]=major`, as
    /// the specification's example sends them) and the values url-encoded.
    async fn post_literal_keys(&self, fmt: Fmt, form: &[(&str, &str)]) -> Answer {
        let body = form
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        self.post_body(&format!("requests.{}", fmt.ext()), &[], body)
            .await
    }

    /// POST `{base}/{path}` with this query and this form body.
    async fn post_body(&self, path: &str, query: &[(&str, &str)], body: String) -> Answer {
        self.send(
            self.http
                .post(format!("{}/{path}", self.base))
                .query(query)
                .header(
                    CONTENT_TYPE,
                    "application/x-www-form-urlencoded; charset=utf-8",
                )
                .body(body),
        )
        .await
    }

    /// POST requests.{fmt} with `api_key` in the query string and the rest in the form.
    async fn post_key_in_query(&self, fmt: Fmt, key: &str, form: &[(&str, &str)]) -> Answer {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        self.post_body(
            &format!("requests.{}", fmt.ext()),
            &[("api_key", key)],
            body,
        )
        .await
    }

    /// Every answer so far.
    fn seen(&self) -> Vec<Answer> {
        self.seen.lock().unwrap().clone()
    }

    /// The number of the request a POST filed: its `service_request_id`, or, when it answered
    /// a `token` in its place, the number GET tokens/{token} gives once it is known.
    async fn number_filed(&self, a: &Answer, fmt: Fmt) -> String {
        let (number, token) = posted(a, fmt);
        match (number, token) {
            (Some(number), None) => number,
            (None, Some(token)) => {
                for _ in 0..100 {
                    let t = self
                        .get(&format!("tokens/{token}"), Fmt::Json, &[JURISDICTION])
                        .await;
                    if t.status == 200
                        && let Some(n) = t.json()[0]["service_request_id"].as_str()
                    {
                        return n.to_owned();
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                panic!("token {token} of {} never named its request", a.url)
            }
            _ => unreachable!("posted() allows one of the two"),
        }
    }

    /// GET requests in both formats with this query: the JSON, after holding the XML to it and
    /// each request to the contract's fields.
    async fn requests_in_both(&self, query: &[(&str, &str)]) -> Vec<Value> {
        let json = self.get("requests", Fmt::Json, query).await.ok_json();
        let xml = self.get("requests", Fmt::Xml, query).await;
        {
            let doc = xml.ok_xml();
            items(doc.root_element(), "service_requests", "request");
        }
        assert_same(&json, &xml, &format!("GET requests {query:?}"));
        let list = json
            .as_array()
            .unwrap_or_else(|| panic!("GET requests answers an array: {json}"))
            .clone();
        for r in &list {
            request_fields(r, &format!("GET requests {query:?}"));
        }
        list
    }

    /// GET requests/{id} in both formats: the one request, its JSON and XML held to each other.
    async fn request_in_both(&self, id: &str) -> Value {
        let json = self
            .get(&format!("requests/{id}"), Fmt::Json, &[JURISDICTION])
            .await
            .ok_json();
        let xml = self
            .get(&format!("requests/{id}"), Fmt::Xml, &[JURISDICTION])
            .await;
        {
            let doc = xml.ok_xml();
            let requests = items(doc.root_element(), "service_requests", "request");
            assert_eq!(
                requests.len(),
                1,
                "GET requests/{id}.xml holds one <request>: {}",
                xml.body
            );
        }
        assert_same(&json, &xml, &format!("GET requests/{id}"));
        let one = only(&json, &format!("GET requests/{id}.json")).clone();
        request_fields(&one, &format!("GET requests/{id}"));
        one
    }
}

/// What a POST answered: the `service_request_id` or the `token` (exactly one of them), after
/// holding the answer's shape to the contract.
#[track_caller]
fn posted(a: &Answer, fmt: Fmt) -> (Option<String>, Option<String>) {
    assert_eq!(a.status, 200, "{} answered {}: {}", a.url, a.status, a.body);
    let with_number = BTreeSet::from(["service_request_id", "service_notice", "account_id"]);
    let with_token = BTreeSet::from(["token", "service_notice", "account_id"]);
    let (names, number, token): (BTreeSet<String>, Option<String>, Option<String>) = match fmt {
        Fmt::Json => {
            let v = a.json();
            let r = only(&v, &a.url).clone();
            let names = r
                .as_object()
                .unwrap_or_else(|| panic!("{}: a request is an object: {}", a.url, a.body))
                .keys()
                .cloned()
                .collect();
            (
                names,
                r["service_request_id"].as_str().map(str::to_owned),
                r["token"].as_str().map(str::to_owned),
            )
        }
        Fmt::Xml => {
            let doc = a.xml();
            let requests = items(doc.root_element(), "service_requests", "request");
            assert_eq!(requests.len(), 1, "{}: one <request>: {}", a.url, a.body);
            let r = requests[0];
            let names = elements(r)
                .iter()
                .map(|n| n.tag_name().name().to_owned())
                .collect();
            let leaf = |name: &str| {
                elements(r)
                    .into_iter()
                    .find(|n| n.tag_name().name() == name)
                    .map(text_of)
                    .filter(|t| !t.is_empty())
            };
            (names, leaf("service_request_id"), leaf("token"))
        }
    };
    let names: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    assert!(
        names == with_number || names == with_token,
        "{}: a filing answers service_request_id (or token), service_notice and account_id, \
         not {names:?}: {}",
        a.url,
        a.body
    );
    assert!(
        number.is_some() != token.is_some(),
        "{}: a filing answers its service_request_id or a token: {}",
        a.url,
        a.body
    );
    (number, token)
}

// ---- reading XML ----------------------------------------------------------------------------

fn elements<'a, 'i>(node: roxmltree::Node<'a, 'i>) -> Vec<roxmltree::Node<'a, 'i>> {
    node.children().filter(|n| n.is_element()).collect()
}

/// An element's own text (empty for `<x/>` and `<x></x>`).
fn text_of(node: roxmltree::Node<'_, '_>) -> String {
    node.children()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect()
}

/// The one child element named `name`.
#[track_caller]
fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> roxmltree::Node<'a, 'i> {
    let found: Vec<_> = elements(node)
        .into_iter()
        .filter(|n| n.tag_name().name() == name)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "<{}> has exactly one <{name}>, not {}",
        node.tag_name().name(),
        found.len()
    );
    found[0]
}

/// The elements of a container element named `container`, each of which must be an `item`.
#[track_caller]
fn items<'a, 'i>(
    node: roxmltree::Node<'a, 'i>,
    container: &str,
    item: &str,
) -> Vec<roxmltree::Node<'a, 'i>> {
    assert_eq!(
        node.tag_name().name(),
        container,
        "<{container}> expected, found <{}>",
        node.tag_name().name()
    );
    let kids = elements(node);
    for k in &kids {
        assert_eq!(
            k.tag_name().name(),
            item,
            "<{container}> holds <{item}> elements only, not <{}>",
            k.tag_name().name()
        );
    }
    kids
}

fn numbers_equal(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// Whether an XML element carries what a JSON value does, as the Spark convention maps one to
/// the other: an object's fields are the element's children, one each, by name; an array's
/// items are its children in order, all of one name; null is an empty element; a string is the
/// text itself, a number the same number, a boolean `true` or `false`.
fn same(json: &Value, xml: roxmltree::Node<'_, '_>, at: &str) -> Result<(), String> {
    let name = xml.tag_name().name();
    let kids = elements(xml);
    let stray_text = || {
        xml.children()
            .filter(|n| n.is_text())
            .filter_map(|n| n.text())
            .any(|t| !t.trim().is_empty())
    };
    match json {
        Value::Object(map) => {
            let mut want: Vec<&str> = map.keys().map(String::as_str).collect();
            want.sort_unstable();
            let mut got: Vec<&str> = kids.iter().map(|k| k.tag_name().name()).collect();
            got.sort_unstable();
            if want != got {
                return Err(format!(
                    "{at}: JSON has the fields {want:?}, XML <{name}> has the elements {got:?}"
                ));
            }
            if stray_text() {
                return Err(format!("{at}: XML <{name}> has text beside its elements"));
            }
            for (key, value) in map {
                let kid = kids
                    .iter()
                    .find(|k| k.tag_name().name() == key)
                    .expect("matched above");
                same(value, *kid, &format!("{at}.{key}"))?;
            }
            Ok(())
        }
        Value::Array(list) => {
            if list.len() != kids.len() {
                return Err(format!(
                    "{at}: JSON has {} items, XML <{name}> has {} elements",
                    list.len(),
                    kids.len()
                ));
            }
            let names: BTreeSet<&str> = kids.iter().map(|k| k.tag_name().name()).collect();
            if names.len() > 1 {
                return Err(format!(
                    "{at}: XML <{name}> mixes the elements {names:?}; a list holds one kind"
                ));
            }
            if stray_text() {
                return Err(format!("{at}: XML <{name}> has text beside its elements"));
            }
            for (i, (value, kid)) in list.iter().zip(&kids).enumerate() {
                same(value, *kid, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        scalar => {
            if !kids.is_empty() {
                return Err(format!(
                    "{at}: JSON has {scalar}, XML <{name}> has child elements"
                ));
            }
            let text = text_of(xml);
            let agrees = match scalar {
                Value::Null => text.is_empty(),
                Value::String(s) => text == *s,
                Value::Bool(b) => text == b.to_string(),
                Value::Number(n) => text
                    .parse::<f64>()
                    .ok()
                    .zip(n.as_f64())
                    .is_some_and(|(x, j)| numbers_equal(x, j)),
                Value::Object(_) | Value::Array(_) => unreachable!(),
            };
            if agrees {
                Ok(())
            } else {
                Err(format!(
                    "{at}: JSON has {scalar}, XML <{name}> has {text:?}"
                ))
            }
        }
    }
}

/// Holds an XML answer to the JSON one for the same request: the same fields, the same values.
#[track_caller]
fn assert_same(json: &Value, xml: &Answer, what: &str) {
    let doc = xml.xml();
    let root = doc.root_element();
    if let Err(e) = same(json, root, root.tag_name().name()) {
        panic!(
            "{what}: JSON and XML do not carry the same fields: {e}\nJSON: {json}\nXML: {}",
            xml.body
        );
    }
}

/// The one item of a JSON array.
#[track_caller]
fn only<'v>(v: &'v Value, what: &str) -> &'v Value {
    match v.as_array().map(Vec::as_slice) {
        Some([one]) => one,
        _ => panic!("{what}: an array of exactly one, not {v}"),
    }
}

// ---- holding answers to the contract --------------------------------------------------------

fn keys(v: &Value) -> BTreeSet<&str> {
    v.as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// A refusal: this status, and an Open311 error document in the format asked for (a JSON array
/// of `{code, description}`; XML `<errors><error><code/><description/></error></errors>`).
#[track_caller]
fn assert_refused(a: &Answer, fmt: Fmt, status: u16, why: &str) {
    assert_eq!(
        a.status, status,
        "{why}: {} answered {}, not {status}: {}",
        a.url, a.status, a.body
    );
    match fmt {
        Fmt::Json => {
            let doc = a.json();
            let errors = doc.as_array().unwrap_or_else(|| {
                panic!(
                    "{why}: a JSON error document is an array of {{code, description}}: {}",
                    a.body
                )
            });
            assert!(!errors.is_empty(), "{why}: no error in {}", a.body);
            for e in errors {
                assert_eq!(
                    keys(e),
                    BTreeSet::from(["code", "description"]),
                    "{why}: an error is {{code, description}}: {}",
                    a.body
                );
                assert_eq!(
                    e["code"],
                    json!(status),
                    "{why}: the error's code is the HTTP status, as a number: {}",
                    a.body
                );
                assert!(
                    e["description"]
                        .as_str()
                        .is_some_and(|d| !d.trim().is_empty()),
                    "{why}: the error describes itself: {}",
                    a.body
                );
            }
        }
        Fmt::Xml => {
            let doc = a.xml();
            let errors = items(doc.root_element(), "errors", "error");
            assert!(!errors.is_empty(), "{why}: no <error> in {}", a.body);
            for e in errors {
                let mut names: Vec<&str> =
                    elements(e).iter().map(|n| n.tag_name().name()).collect();
                names.sort_unstable();
                assert_eq!(
                    names,
                    ["code", "description"],
                    "{why}: an <error> holds <code> and <description>: {}",
                    a.body
                );
                assert_eq!(
                    text_of(child(e, "code")),
                    status.to_string(),
                    "{why}: <code> is the HTTP status: {}",
                    a.body
                );
                assert!(
                    !text_of(child(e, "description")).trim().is_empty(),
                    "{why}: <description> says what is wrong: {}",
                    a.body
                );
            }
        }
    }
}

/// A W3C date-time with seconds in UTC (`2026-12-05T06:21:31Z`).
#[track_caller]
fn utc_time(v: &Value, what: &str) -> jiff::Timestamp {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("{what}: a W3C date-time, not {v}"));
    let shaped = s.len() == 20
        && s.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            19 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    assert!(
        shaped,
        "{what}: {s:?} is not a W3C date-time with seconds in UTC (2026-12-05T06:21:31Z)"
    );
    s.parse()
        .unwrap_or_else(|e| panic!("{what}: {s:?} is no instant: {e}"))
}

/// An Open311 time (to the second) and an API time (finer) name the same instant; where the
/// API has none (a step without a deadline), Open311 has none either.
#[track_caller]
fn same_second(open311: &Value, api: &Value, what: &str) {
    if api.is_null() {
        assert!(
            open311.is_null(),
            "{what}: the API has no time, Open311 says {open311}"
        );
        return;
    }
    let shown = utc_time(open311, what);
    let exact: jiff::Timestamp = api
        .as_str()
        .unwrap_or_else(|| panic!("{what}: the API's time is {api}"))
        .parse()
        .unwrap();
    let apart = exact.duration_since(shown).as_secs_f64().abs();
    assert!(
        apart < 1.0,
        "{what}: Open311 says {open311}, the API says {api}"
    );
}

fn has_cjk(s: &str) -> bool {
    s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
}

/// A request as GET requests answers it: exactly the contract's fields, its status open or
/// closed, its times W3C in UTC, the fields Docket does not keep null.
#[track_caller]
fn request_fields(r: &Value, what: &str) {
    assert_eq!(
        keys(r),
        REQUEST_FIELDS.into_iter().collect::<BTreeSet<_>>(),
        "{what}: a request's fields: {r}"
    );
    assert!(
        r["status"] == "open" || r["status"] == "closed",
        "{what}: status is open or closed: {r}"
    );
    assert!(
        r["service_request_id"]
            .as_str()
            .is_some_and(|n| !n.is_empty()),
        "{what}: service_request_id is the case number: {r}"
    );
    let requested = utc_time(
        &r["requested_datetime"],
        &format!("{what}: requested_datetime"),
    );
    let updated = utc_time(&r["updated_datetime"], &format!("{what}: updated_datetime"));
    assert!(
        updated >= requested,
        "{what}: updated_datetime before requested_datetime: {r}"
    );
    if r["status"] == "closed" {
        assert!(
            r["expected_datetime"].is_null(),
            "{what}: a closed request expects nothing: {r}"
        );
    } else if !r["expected_datetime"].is_null() {
        utc_time(
            &r["expected_datetime"],
            &format!("{what}: expected_datetime"),
        );
    }
    for field in ["address_id", "zipcode"] {
        assert!(r[field].is_null(), "{what}: {field} is null: {r}");
    }
    assert!(
        r["media_url"].is_null()
            || r["media_url"]
                .as_str()
                .is_some_and(|u| u.starts_with("http://") || u.starts_with("https://")),
        "{what}: media_url is an http(s) URL or null: {r}"
    );
    for field in ["lat", "long"] {
        assert!(
            r[field].is_null() || r[field].is_number(),
            "{what}: {field} is a number or null: {r}"
        );
    }
    assert!(
        r["status_notes"]
            .as_str()
            .is_some_and(|s| !s.trim().is_empty()),
        "{what}: status_notes says where the request stands: {r}"
    );
}

#[track_caller]
fn approx(v: &Value, want: f64, what: &str) {
    assert!(
        v.as_f64().is_some_and(|x| numbers_equal(x, want)),
        "{what}: {want}, not {v}"
    );
}

/// The service codes of the shipped taxonomy, with their names and groups: every hazard and
/// livelihood category in service (the tests' directory seeds the shipped one).
fn shipped_services() -> Vec<(String, String, &'static str, &'static str, &'static str)> {
    docket_domain::directory::shipped_categories()
        .into_iter()
        .filter_map(|(kind, id, name)| {
            let (kind, group) = match kind {
                CaseKind::Hazard => ("hazard", "安全隐患"),
                CaseKind::Livelihood => ("livelihood", "民生诉求"),
                _ => return None,
            };
            Some((
                format!("{kind}.{}", id.as_str()),
                id.as_str().to_owned(),
                name,
                kind,
                group,
            ))
        })
        .collect()
}

// ---- Docket's side: the directory, API keys, cases ------------------------------------------

/// Opens an office (its directory set up as every e2e test's) with an admin token too.
fn office() -> Office {
    let mut office = Office::open();
    office.add_token("admin", "admin", &[]);
    office
}

/// A directory change by the tenant's admin.
async fn admin(office: &Office, action: &str, body: Value) {
    let (status, out) = call(
        Method::POST,
        &format!("{}/v1/directory/actions/{action}", office.server.url),
        &office.tokens["admin"],
        Some(body.clone()),
    )
    .await;
    assert!(status.is_success(), "{action} {body}: {status} {out}");
}

/// Runs `docket ARGS --data-dir DIR`; returns its stdout.
fn docket(args: &[&str], data_dir: &Path) -> String {
    let out = Command::new(docket_bin())
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("DOCKET_TENANT")
        .env_remove("DOCKET_DATA_DIR")
        .output()
        .expect("run docket");
    assert!(
        out.status.success(),
        "docket {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// Issues an API key for an app of the tenant; returns the key `docket api-key create` prints.
fn create_key(office: &Office, name: &str, community: &str) -> String {
    let printed = docket(
        &[
            "api-key",
            "create",
            "--tenant",
            TENANT,
            "--name",
            name,
            "--community",
            community,
        ],
        &office.server.data_dir,
    );
    let key = printed.trim().to_owned();
    assert!(
        key.starts_with(KEY_PREFIX)
            && key.len() > KEY_PREFIX.len() + 20
            && !key.contains(char::is_whitespace),
        "api-key create prints the key, one line: {printed:?}"
    );
    key
}

/// The line `docket api-key list` prints for the app named `name`.
fn key_line(office: &Office, name: &str) -> String {
    let listed = docket(
        &["api-key", "list", "--tenant", TENANT],
        &office.server.data_dir,
    );
    listed
        .lines()
        .find(|line| line.split('\t').nth(1) == Some(name))
        .unwrap_or_else(|| panic!("api-key list names {name}: {listed}"))
        .to_owned()
}

fn revoke_key(office: &Office, name: &str) {
    let line = key_line(office, name);
    let id = line.split('\t').next().unwrap().to_owned();
    docket(
        &["api-key", "revoke", "--tenant", TENANT, &id],
        &office.server.data_dir,
    );
}

/// The case Open311 filed as `number`, as `role` reads it (GET /v1/cases/{id}), found in the
/// list the role sees (`filter`: further query parameters, such as `&kind=livelihood`).
async fn case_filed(office: &Office, role: &str, number: &str, filter: &str) -> Value {
    let url = format!("{}/v1/cases?limit=200{filter}", office.server.url);
    for _ in 0..50 {
        let (status, list) = call(Method::GET, &url, &office.tokens[role], None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        if let Some(item) = list["items"]
            .as_array()
            .and_then(|items| items.iter().find(|c| c["number"] == number))
        {
            let id = item["id"].as_str().expect("a case id").to_owned();
            return office.get(role, &id).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{number} is not among the cases a {role} lists ({url})")
}

/// How many cases a supervisor lists.
async fn cases_listed(office: &Office) -> usize {
    let (status, list) = call(
        Method::GET,
        &format!("{}/v1/cases?limit=200", office.server.url),
        &office.tokens["supervisor"],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["items"].as_array().expect("items").len()
}

/// How many requests Open311 lists (the last 90 days').
async fn requests_listed(o: &Open311) -> usize {
    o.get("requests", Fmt::Json, &[JURISDICTION])
        .await
        .ok_json()
        .as_array()
        .expect("an array")
        .len()
}

/// Where among the files under `dir` (raw bytes, every file) any of `needles` is found.
fn found_in(dir: &Path, needles: &[&[u8]]) -> Vec<(PathBuf, usize)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if let Ok(bytes) = std::fs::read(&path) {
            for (i, needle) in needles.iter().enumerate() {
                if !needle.is_empty() && bytes.windows(needle.len()).any(|w| w == *needle) {
                    found.push((path.clone(), i));
                }
            }
        }
    }
    found
}

/// Open311 answers (URL and body) that contain any of `needles`.
fn answers_showing(seen: &[Answer], needles: &[&str]) -> Vec<(String, String)> {
    let mut shown = Vec::new();
    for a in seen {
        for needle in needles {
            if a.body.contains(needle) {
                shown.push((a.url.clone(), (*needle).to_owned()));
            }
        }
    }
    shown
}

fn utc(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn east8(t: jiff::Timestamp) -> String {
    t.to_zoned_datetime(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .strftime("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

fn hours(h: i64) -> jiff::SignedDuration {
    jiff::SignedDuration::from_hours(h)
}

/// A form of owned pairs, as `Open311::post` takes it.
fn borrowed(form: &[(String, String)]) -> Vec<(&str, &str)> {
    form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn set(list: &[Value]) -> BTreeSet<String> {
    list.iter()
        .map(|r| {
            r["service_request_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

fn set_of(numbers: &[&String]) -> BTreeSet<String> {
    numbers.iter().map(|n| (*n).clone()).collect()
}

const GAS_NOTICE: &str = "燃气隐患两小时内上门核查，请保持电话畅通";

// ---- 1. every resource, in both formats -----------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn every_resource_answers_json_and_xml_with_the_same_fields_as_the_contract_shapes_them() {
    let office = office();
    admin(
        &office,
        "add-unit",
        json!({"id": "qinghe-intake", "name": "清河社区受理窗口", "unit_kind": "office",
               "in_network": false}),
    )
    .await;
    admin(
        &office,
        "set-community-units",
        json!({"id": "qinghe", "intake_unit": "qinghe-intake"}),
    )
    .await;
    admin(
        &office,
        "set-category-notice",
        json!({"kind": "hazard", "id": "gas", "notice": GAS_NOTICE}),
    )
    .await;
    let key = create_key(&office, "qinghe-app", "qinghe");
    let o = Open311::of(&office);
    o.read_as_app(&key);

    // -- discovery: no jurisdiction needed.
    let discovery = o.get("discovery", Fmt::Json, &[]).await.ok_json();
    assert_eq!(
        keys(&discovery),
        DISCOVERY_FIELDS.into_iter().collect::<BTreeSet<_>>(),
        "discovery's fields: {discovery}"
    );
    for field in ["changeset", "contact", "key_service"] {
        assert!(
            discovery[field]
                .as_str()
                .is_some_and(|s| !s.trim().is_empty()),
            "discovery's {field} is a string: {discovery}"
        );
    }
    let endpoints = discovery["endpoints"]
        .as_array()
        .unwrap_or_else(|| panic!("discovery's endpoints are an array: {discovery}"));
    for e in endpoints {
        assert_eq!(
            keys(e),
            ENDPOINT_FIELDS.into_iter().collect::<BTreeSet<_>>(),
            "an endpoint's fields: {e}"
        );
    }
    let ours = endpoints
        .iter()
        .find(|e| e["specification"] == SPECIFICATION)
        .unwrap_or_else(|| panic!("an endpoint of {SPECIFICATION}: {discovery}"));
    assert_eq!(ours["url"], format!("{}/open311/v2", o.server), "{ours}");
    assert_eq!(ours["type"], "production", "{ours}");
    assert!(
        ours["changeset"].as_str().is_some_and(|s| !s.is_empty()),
        "{ours}"
    );
    let mut formats: Vec<&str> = ours["formats"]
        .as_array()
        .unwrap_or_else(|| panic!("formats are an array of MIME types: {ours}"))
        .iter()
        .map(|f| f.as_str().expect("a MIME type"))
        .collect();
    formats.sort_unstable();
    assert_eq!(formats, ["application/json", "text/xml"], "{ours}");
    let xml = o.get("discovery", Fmt::Xml, &[]).await;
    {
        let doc = xml.ok_xml();
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "discovery", "{}", xml.body);
        for endpoint in items(child(root, "endpoints"), "endpoints", "endpoint") {
            items(child(endpoint, "formats"), "formats", "format");
        }
    }
    assert_same(&discovery, &xml, "discovery");

    // -- services: one per hazard and livelihood category in service.
    let services = o
        .get("services", Fmt::Json, &[JURISDICTION])
        .await
        .ok_json();
    let list = services
        .as_array()
        .unwrap_or_else(|| panic!("services are an array: {services}"));
    let shipped = shipped_services();
    let codes: BTreeSet<&str> = list
        .iter()
        .map(|s| s["service_code"].as_str().expect("a service_code string"))
        .collect();
    let expected: BTreeSet<&str> = shipped.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        codes, expected,
        "one service per hazard and livelihood category in service"
    );
    assert_eq!(list.len(), shipped.len(), "each service once: {services}");
    for s in list {
        assert_eq!(
            keys(s),
            SERVICE_FIELDS.into_iter().collect::<BTreeSet<_>>(),
            "a service's fields: {s}"
        );
        let (_, id, name, kind, group) = shipped
            .iter()
            .find(|e| s["service_code"] == e.0.as_str())
            .unwrap();
        assert_eq!(
            s["service_name"], *name,
            "service_name is the category's name: {s}"
        );
        assert_eq!(s["metadata"], json!(true), "metadata: {s}");
        assert_eq!(s["type"], "realtime", "type: {s}");
        assert_eq!(s["group"], *group, "group: {s}");
        assert!(s["description"].is_string(), "description is a string: {s}");
        let words: Vec<&str> = s["keywords"]
            .as_str()
            .unwrap_or_else(|| panic!("keywords are a comma separated string: {s}"))
            .split(',')
            .map(str::trim)
            .collect();
        assert!(
            words.contains(kind) && words.contains(&id.as_str()),
            "keywords name the kind and the category id: {s}"
        );
    }
    let xml = o.get("services", Fmt::Xml, &[JURISDICTION]).await;
    {
        let doc = xml.ok_xml();
        let all = items(doc.root_element(), "services", "service");
        assert_eq!(all.len(), shipped.len(), "{}", xml.body);
        for s in all {
            assert_eq!(
                text_of(child(s, "metadata")),
                "true",
                "metadata in XML: {}",
                xml.body
            );
        }
    }
    assert_same(&services, &xml, "services");
    let by_key = o
        .get("services", Fmt::Json, &[("api_key", key.as_str())])
        .await
        .ok_json();
    assert_eq!(
        by_key, services,
        "an api_key names the jurisdiction as well"
    );

    // -- service definitions: severity for hazards, urgency for livelihood requests.
    for (code, variable, values) in [
        (
            "hazard.gas",
            "severity",
            vec![("general", Some("一般隐患")), ("major", Some("重大隐患"))],
        ),
        (
            "livelihood.utilities",
            "urgency",
            vec![
                ("emergency", None),
                ("utility", None),
                ("general", None),
                ("complex", None),
            ],
        ),
    ] {
        let what = format!("services/{code}");
        let definition = o.get(&what, Fmt::Json, &[JURISDICTION]).await.ok_json();
        assert_eq!(
            keys(&definition),
            BTreeSet::from(["service_code", "attributes"]),
            "{what}: {definition}"
        );
        assert_eq!(definition["service_code"], code, "{what}: {definition}");
        let attribute = only(&definition["attributes"], &what);
        assert_eq!(
            keys(attribute),
            ATTRIBUTE_FIELDS.into_iter().collect::<BTreeSet<_>>(),
            "{what}: an attribute's fields: {attribute}"
        );
        assert_eq!(
            attribute["variable"],
            json!(true),
            "{what}: the resident picks it: {attribute}"
        );
        assert_eq!(attribute["code"], variable, "{what}: {attribute}");
        assert_eq!(
            attribute["datatype"], "singlevaluelist",
            "{what}: {attribute}"
        );
        assert_eq!(attribute["required"], json!(false), "{what}: {attribute}");
        assert_eq!(attribute["order"], json!(1), "{what}: {attribute}");
        assert!(
            attribute["description"]
                .as_str()
                .is_some_and(|d| !d.trim().is_empty()),
            "{what}: the attribute describes itself: {attribute}"
        );
        assert!(
            attribute["datatype_description"].is_null()
                || attribute["datatype_description"].is_string(),
            "{what}: {attribute}"
        );
        let given = attribute["values"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: values are an array: {attribute}"));
        assert_eq!(
            given.iter().map(|v| v["key"].clone()).collect::<Vec<_>>(),
            values.iter().map(|(k, _)| json!(k)).collect::<Vec<_>>(),
            "{what}: the values' keys, in order: {attribute}"
        );
        for (value, (_, name)) in given.iter().zip(&values) {
            assert_eq!(
                keys(value),
                BTreeSet::from(["key", "name"]),
                "{what}: {value}"
            );
            match name {
                Some(name) => assert_eq!(value["name"], *name, "{what}: {value}"),
                None => assert!(
                    value["name"].as_str().is_some_and(|n| !n.trim().is_empty()),
                    "{what}: a value has a name: {value}"
                ),
            }
        }
        let xml = o.get(&what, Fmt::Xml, &[JURISDICTION]).await;
        {
            let doc = xml.ok_xml();
            let root = doc.root_element();
            assert_eq!(root.tag_name().name(), "service_definition", "{}", xml.body);
            assert_eq!(text_of(child(root, "service_code")), code, "{}", xml.body);
            for attribute in items(child(root, "attributes"), "attributes", "attribute") {
                for value in items(child(attribute, "values"), "values", "value") {
                    child(value, "key");
                    child(value, "name");
                }
            }
        }
        assert_same(&definition, &xml, &what);
    }

    // -- POST requests: the same form in JSON and in XML (keys as the spec's example writes
    //    them), a livelihood request without a point, and a bare hazard.
    let gas_description = "楼道里闻到燃气味，\n靠近 3 单元";
    let gas_form: Vec<(&str, &str)> = vec![
        ("api_key", key.as_str()),
        ("jurisdiction_id", TENANT),
        ("service_code", "hazard.gas"),
        ("lat", "39.9612"),
        ("long", "116.3405"),
        ("address_string", "清河街道 8 号楼东侧"),
        ("attribute[severity]", "major"),
        ("email", "zhao.jianhua@example.com"),
        ("device_id", "device-7"),
        ("account_id", "acct-1001"),
        ("first_name", "建华"),
        ("last_name", "赵"),
        ("phone", "13800001111"),
        ("description", gas_description),
        ("media_url", "https://example.com/photo/1.jpg"),
    ];
    let gas_json = o.post(Fmt::Json, &gas_form).await;
    let gas_json_number = o.number_filed(&gas_json, Fmt::Json).await;
    let posted_json = gas_json.json();
    let answer = only(&posted_json, "POST requests.json");
    assert_eq!(
        answer["service_notice"], GAS_NOTICE,
        "the category's notice: {answer}"
    );
    assert_eq!(
        answer["account_id"], "acct-1001",
        "account_id as sent: {answer}"
    );
    let gas_xml = o.post_literal_keys(Fmt::Xml, &gas_form).await;
    let gas_xml_number = o.number_filed(&gas_xml, Fmt::Xml).await;
    assert_ne!(gas_json_number, gas_xml_number, "two filings, two numbers");
    for n in [&gas_json_number, &gas_xml_number] {
        assert!(n.starts_with("HZ-"), "a hazard's number: {n}");
    }
    // The same form: the same fields, the same values but the number.
    {
        let mut expected = posted_json.clone();
        let doc = gas_xml.xml();
        let request = child(doc.root_element(), "request");
        for k in ["service_request_id", "token"] {
            if let Some(slot) = expected[0].get_mut(k) {
                let shown = elements(request)
                    .into_iter()
                    .find(|n| n.tag_name().name() == k)
                    .map(text_of)
                    .unwrap_or_default();
                *slot = json!(shown);
            }
        }
        assert_same(
            &expected,
            &gas_xml,
            "POST requests, the same form in both formats",
        );
    }

    let water_form: Vec<(&str, &str)> = vec![
        ("api_key", key.as_str()),
        ("service_code", "livelihood.utilities"),
        ("address_string", "清河小区 5 号楼"),
        ("attribute[urgency]", "utility"),
        ("phone", "13900002222"),
        ("description", "5 号楼停水两天"),
    ];
    let water_json = o.post(Fmt::Json, &water_form).await;
    let water_json_number = o.number_filed(&water_json, Fmt::Json).await;
    let water_xml = o.post(Fmt::Xml, &water_form).await;
    let water_xml_number = o.number_filed(&water_xml, Fmt::Xml).await;
    for n in [&water_json_number, &water_xml_number] {
        assert!(n.starts_with("MS-"), "a livelihood request's number: {n}");
    }
    let answer = water_json.json();
    assert!(
        answer[0]["service_notice"].is_null() && answer[0]["account_id"].is_null(),
        "no notice for the category, no account_id sent: null both: {answer}"
    );
    {
        let doc = water_xml.xml();
        let request = child(doc.root_element(), "request");
        assert_eq!(
            text_of(child(request, "service_notice")),
            "",
            "{}",
            water_xml.body
        );
        assert_eq!(
            text_of(child(request, "account_id")),
            "",
            "{}",
            water_xml.body
        );
    }

    // A second apart, so that newest-first has an order to show.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let wires = o
        .post(
            Fmt::Json,
            &[
                ("api_key", key.as_str()),
                ("service_code", "hazard.electrical"),
                ("lat", "39.9700"),
                ("long", "116.3500"),
            ],
        )
        .await;
    let wires_number = o.number_filed(&wires, Fmt::Json).await;

    // -- Docket filed what the contract says.
    let gas = case_filed(&office, "supervisor", &gas_json_number, "&kind=hazard").await;
    let gas_id = gas["id"].as_str().unwrap().to_owned();
    assert_eq!(gas["kind"], "hazard", "{gas}");
    let c = &gas["case"];
    assert_eq!(c["source"], "resident-report", "{gas}");
    assert_eq!(
        c["title"], "燃气",
        "the title is the category's name: {gas}"
    );
    assert_eq!(c["category"], "gas", "{gas}");
    assert_eq!(c["severity"], "major", "attribute[severity]: {gas}");
    assert_eq!(c["community"], "qinghe", "{gas}");
    assert!(c["grid"].is_null(), "no grid has an area: {gas}");
    approx(&c["location"]["latitude"], 39.9612, "the hazard's latitude");
    approx(
        &c["location"]["longitude"],
        116.3405,
        "the hazard's longitude",
    );
    assert_eq!(c["address"], "清河街道 8 号楼东侧", "{gas}");
    assert_eq!(c["description"], gas_description, "{gas}");
    assert_eq!(
        gas["lead_unit"], "qinghe-intake",
        "to the community's intake unit: {gas}"
    );
    let (status, history) = call(
        Method::GET,
        &format!("{}/v1/cases/{gas_id}/history", office.server.url),
        &office.tokens["supervisor"],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    for kept in [gas.to_string(), history.to_string()] {
        for contact in ["赵建华", "建华", "13800001111", "zhao.jianhua@example.com"] {
            assert!(
                !kept.contains(contact),
                "a hazard keeps none of the resident's contact details, yet {contact:?} is in {kept}"
            );
        }
    }
    let wires_case = case_filed(&office, "supervisor", &wires_number, "&kind=hazard").await;
    assert_eq!(
        wires_case["case"]["severity"], "general",
        "no attribute: general: {wires_case}"
    );
    assert_eq!(wires_case["case"]["title"], "电气", "{wires_case}");
    let water = case_filed(
        &office,
        "supervisor",
        &water_json_number,
        "&kind=livelihood",
    )
    .await;
    assert_eq!(water["kind"], "livelihood", "{water}");
    let c = &water["case"];
    assert_eq!(c["channel"], "resident-app", "{water}");
    assert_eq!(c["urgency"], "utility", "attribute[urgency]: {water}");
    assert_eq!(c["category"], "utilities", "{water}");
    assert_eq!(c["community"], "qinghe", "{water}");
    assert_eq!(c["address"], "清河小区 5 号楼", "{water}");
    assert_eq!(
        c["requester"]["name"], "居民",
        "no name given: 居民: {water}"
    );
    assert_eq!(c["requester"]["phone"], "13900002222", "{water}");

    // -- tokens/{token}: the case id is the token.
    let token_json = o
        .get(&format!("tokens/{gas_id}"), Fmt::Json, &[JURISDICTION])
        .await
        .ok_json();
    assert_eq!(
        token_json,
        json!([{"service_request_id": gas_json_number, "token": gas_id}]),
        "tokens/{{case id}}"
    );
    let token_xml = o
        .get(&format!("tokens/{gas_id}"), Fmt::Xml, &[JURISDICTION])
        .await;
    {
        let doc = token_xml.ok_xml();
        items(doc.root_element(), "service_requests", "request");
    }
    assert_same(&token_json, &token_xml, "tokens/{case id}");

    // -- GET requests/{id}: field by field, by number and by case id.
    let r = o.request_in_both(&gas_json_number).await;
    assert_eq!(r["service_request_id"], gas_json_number.as_str(), "{r}");
    assert_eq!(r["status"], "open", "{r}");
    assert!(
        has_cjk(r["status_notes"].as_str().unwrap()),
        "status_notes: a Chinese phrase for the state: {r}"
    );
    assert_eq!(r["service_name"], "燃气", "{r}");
    assert_eq!(r["service_code"], "hazard.gas", "{r}");
    assert_eq!(
        r["description"], gas_description,
        "a hazard's description: {r}"
    );
    assert_eq!(
        r["agency_responsible"], "清河社区受理窗口",
        "the lead unit's name: {r}"
    );
    assert_eq!(r["service_notice"], GAS_NOTICE, "{r}");
    assert_eq!(
        r["media_url"], "https://example.com/photo/1.jpg",
        "the media_url the app sent is kept: {r}"
    );
    same_second(
        &r["requested_datetime"],
        &gas["filed_at"],
        "requested_datetime",
    );
    same_second(
        &r["updated_datetime"],
        &gas["updated_at"],
        "updated_datetime",
    );
    same_second(
        &r["expected_datetime"],
        &gas["deadline"]["due"],
        "expected_datetime: the step's deadline",
    );
    assert_eq!(r["address"], "清河街道 8 号楼东侧", "{r}");
    approx(&r["lat"], 39.9612, "lat");
    approx(&r["long"], 116.3405, "long");
    let by_id = o
        .get(&format!("requests/{gas_id}"), Fmt::Json, &[JURISDICTION])
        .await
        .ok_json();
    assert_eq!(
        by_id,
        json!([r]),
        "requests/{{case id}} is requests/{{number}}"
    );

    let r = o.request_in_both(&water_json_number).await;
    assert_eq!(r["status"], "open", "{r}");
    assert_eq!(r["service_name"], "水电气热", "{r}");
    assert_eq!(r["service_code"], "livelihood.utilities", "{r}");
    assert!(
        r["description"].is_null(),
        "a livelihood request's description is never shown: {r}"
    );
    assert!(
        r["agency_responsible"].is_null(),
        "not dispatched: no agency: {r}"
    );
    assert!(r["service_notice"].is_null(), "{r}");
    assert_eq!(r["address"], "清河小区 5 号楼", "{r}");
    assert!(
        r["lat"].is_null() && r["long"].is_null(),
        "no point given: {r}"
    );
    same_second(
        &r["requested_datetime"],
        &water["filed_at"],
        "requested_datetime",
    );
    same_second(
        &r["expected_datetime"],
        &water["deadline"]["due"],
        "expected_datetime",
    );

    // -- GET requests: every filter, both formats alike.
    let all_five = set_of(&[
        &gas_json_number,
        &gas_xml_number,
        &water_json_number,
        &water_xml_number,
        &wires_number,
    ]);
    let all = o.requests_in_both(&[JURISDICTION]).await;
    assert_eq!(set(&all), all_five, "the last 90 days' requests");
    let times: Vec<jiff::Timestamp> = all
        .iter()
        .map(|r| utc_time(&r["requested_datetime"], "requested_datetime"))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
    let position = |n: &str| {
        all.iter()
            .position(|r| r["service_request_id"] == n)
            .unwrap()
    };
    assert!(
        position(wires_number.as_str()) < position(gas_json_number.as_str()),
        "the newest request first"
    );
    let by_key = o
        .get("requests", Fmt::Json, &[("api_key", key.as_str())])
        .await
        .ok_json();
    assert_eq!(by_key, json!(all), "an api_key names the jurisdiction");

    let now = jiff::Timestamp::now();
    let an_hour_ago = now.checked_sub(hours(1)).unwrap();
    let in_an_hour = now.checked_add(hours(1)).unwrap();
    let (start_z, end_z) = (utc(an_hour_ago), utc(in_an_hour));
    let (start_8, end_8) = (east8(an_hour_ago), east8(in_an_hour));
    let (future_start, future_end) = (
        utc(now.checked_add(hours(2)).unwrap()),
        utc(now.checked_add(hours(3)).unwrap()),
    );
    let (past_start, past_end) = (
        utc(now.checked_sub(hours(72)).unwrap()),
        utc(now.checked_sub(hours(48)).unwrap()),
    );
    let together = format!("{gas_json_number},{wires_number}");
    for (query, expected) in [
        (
            vec![JURISDICTION, ("service_code", "hazard.gas")],
            set_of(&[&gas_json_number, &gas_xml_number]),
        ),
        (
            vec![
                JURISDICTION,
                ("service_code", "hazard.gas,livelihood.utilities"),
            ],
            set_of(&[
                &gas_json_number,
                &gas_xml_number,
                &water_json_number,
                &water_xml_number,
            ]),
        ),
        (vec![JURISDICTION, ("status", "open")], all_five.clone()),
        (vec![JURISDICTION, ("status", "closed")], BTreeSet::new()),
        (
            vec![JURISDICTION, ("status", "open,closed")],
            all_five.clone(),
        ),
        (
            vec![
                JURISDICTION,
                ("start_date", start_z.as_str()),
                ("end_date", end_z.as_str()),
            ],
            all_five.clone(),
        ),
        (
            vec![
                JURISDICTION,
                ("start_date", start_8.as_str()),
                ("end_date", end_8.as_str()),
            ],
            all_five.clone(),
        ),
        (
            vec![
                JURISDICTION,
                ("start_date", future_start.as_str()),
                ("end_date", future_end.as_str()),
            ],
            BTreeSet::new(),
        ),
        (
            vec![
                JURISDICTION,
                ("start_date", past_start.as_str()),
                ("end_date", past_end.as_str()),
            ],
            BTreeSet::new(),
        ),
        // service_request_id overrides every other filter.
        (
            vec![
                JURISDICTION,
                ("service_request_id", together.as_str()),
                ("status", "closed"),
                ("service_code", "livelihood.utilities"),
            ],
            set_of(&[&gas_json_number, &wires_number]),
        ),
    ] {
        let listed = o.requests_in_both(&query).await;
        assert_eq!(set(&listed), expected, "GET requests {query:?}");
        assert_eq!(
            listed.len(),
            expected.len(),
            "each once: GET requests {query:?}"
        );
    }
}

// ---- 2. refusals, in both formats -----------------------------------------------------------

/// A refused POST: why, its form, the status it is refused with.
type Refusal<'a> = (&'a str, Vec<(String, String)>, u16);
/// A refused GET: why, the resource, its query, the status.
type RefusedGet<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, u16);

#[tokio::test(flavor = "multi_thread")]
async fn refusals_are_open311_error_documents_in_both_formats_and_file_nothing() {
    let office = office();
    admin(
        &office,
        "retire-category",
        json!({"kind": "hazard", "id": "other"}),
    )
    .await;
    let key = create_key(&office, "qinghe-app", "qinghe");
    let revoked = create_key(&office, "retired-app", "qinghe");
    revoke_key(&office, "retired-app");
    let o = Open311::of(&office);
    let unknown_key = format!("{KEY_PREFIX}{}", "A".repeat(43));

    // A petition, which Open311 never shows, and one request it filed.
    let petition = office
        .file(
            "petition_officer",
            json!({"kind": "petition", "community": "qinghe", "title": "讨薪",
                   "channel": "visit", "petition_type": "appeal-request",
                   "category": "labour-and-wages", "petitioners": [{"name": "孙立新"}]}),
        )
        .await;
    let petition_id = petition["case_id"].as_str().unwrap().to_owned();
    let petition_number = petition["number"].as_str().unwrap().to_owned();
    let filed = o
        .post(
            Fmt::Json,
            &[
                ("api_key", key.as_str()),
                ("service_code", "hazard.gas"),
                ("address_string", "清河街道 1 号"),
            ],
        )
        .await;
    let number = o.number_filed(&filed, Fmt::Json).await;
    let case = case_filed(&office, "supervisor", &number, "").await;
    let case_id = case["id"].as_str().unwrap().to_owned();

    // The retired category is no service; no other kind's category is one either.
    let services = o
        .get("services", Fmt::Json, &[JURISDICTION])
        .await
        .ok_json();
    for s in services.as_array().unwrap() {
        let code = s["service_code"].as_str().unwrap();
        assert!(
            code.starts_with("hazard.") || code.starts_with("livelihood."),
            "only hazards and livelihood requests are services: {code}"
        );
        assert_ne!(code, "hazard.other", "a retired category is no service");
    }

    let requests_before = requests_listed(&o).await;
    let cases_before = cases_listed(&office).await;

    let too_long = "隐".repeat(4001);
    let base: Vec<(&str, &str)> = vec![
        ("api_key", key.as_str()),
        ("service_code", "hazard.gas"),
        ("address_string", "清河街道 1 号"),
        ("description", "楼道堆放杂物"),
    ];
    let form =
        |leave_out: &[&str], add: &[(&'static str, &'static str)]| -> Vec<(String, String)> {
            base.iter()
                .filter(|(k, _)| !leave_out.contains(k))
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .chain(add.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())))
                .collect()
        };
    let with = |leave_out: &[&str], add: Vec<(&str, String)>| -> Vec<(String, String)> {
        let mut f = form(leave_out, &[]);
        f.extend(add.into_iter().map(|(k, v)| (k.to_owned(), v)));
        f
    };
    let refusals: Vec<Refusal> = vec![
        ("no api_key", form(&["api_key"], &[]), 403),
        (
            "a media_url that is no web address",
            form(&[], &[("media_url", "ftp://example.com/photo.jpg")]),
            400,
        ),
        (
            "an unknown api_key",
            with(&["api_key"], vec![("api_key", unknown_key.clone())]),
            403,
        ),
        (
            "an api_key that is no key",
            with(&["api_key"], vec![("api_key", "not-a-key".to_owned())]),
            403,
        ),
        (
            "a revoked api_key",
            with(&["api_key"], vec![("api_key", revoked.clone())]),
            403,
        ),
        (
            "a jurisdiction_id of another tenant",
            form(&[], &[("jurisdiction_id", "acme")]),
            403,
        ),
        ("no service_code", form(&["service_code"], &[]), 400),
        (
            "an unknown service_code",
            form(&["service_code"], &[("service_code", "hazard.nope")]),
            404,
        ),
        (
            "a retired category's service_code",
            form(&["service_code"], &[("service_code", "hazard.other")]),
            404,
        ),
        (
            "a category of a kind that is no service",
            form(
                &["service_code"],
                &[("service_code", "petition.labour-and-wages")],
            ),
            404,
        ),
        (
            "a category id without its kind",
            form(&["service_code"], &[("service_code", "gas")]),
            404,
        ),
        ("no location", form(&["address_string"], &[]), 400),
        (
            "lat without long",
            form(&["address_string"], &[("lat", "39.9")]),
            400,
        ),
        (
            "long without lat",
            form(&["address_string"], &[("long", "116.3")]),
            400,
        ),
        (
            "a lat that is no number",
            form(&["address_string"], &[("lat", "north"), ("long", "116.3")]),
            400,
        ),
        (
            "a lat out of range",
            form(&["address_string"], &[("lat", "91"), ("long", "116.3")]),
            400,
        ),
        (
            "a long out of range",
            form(&["address_string"], &[("lat", "39.9"), ("long", "181")]),
            400,
        ),
        (
            "a description of 4,001 characters",
            with(&["description"], vec![("description", too_long.clone())]),
            400,
        ),
        (
            "a severity not in its list",
            form(&[], &[("attribute[severity]", "catastrophic")]),
            400,
        ),
        (
            "an attribute the service does not have",
            form(&[], &[("attribute[colour]", "red")]),
            400,
        ),
        (
            "a livelihood attribute on a hazard service",
            form(&[], &[("attribute[urgency]", "general")]),
            400,
        ),
        (
            "an urgency not in its list",
            form(
                &["service_code"],
                &[
                    ("service_code", "livelihood.utilities"),
                    ("attribute[urgency]", "whenever"),
                ],
            ),
            400,
        ),
    ];
    for fmt in BOTH {
        for (why, fields, status) in &refusals {
            let pairs: Vec<(&str, &str)> = fields
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let a = o.post(fmt, &pairs).await;
            assert_refused(
                &a,
                fmt,
                *status,
                &format!("POST requests.{}: {why}", fmt.ext()),
            );
        }
    }

    // GET refusals.
    let now = jiff::Timestamp::now();
    let (long_ago, today) = (utc(now.checked_sub(hours(24 * 91)).unwrap()), utc(now));
    let unknown_uuid = "0190f1a2-0000-7000-8000-000000000000";
    let gets: Vec<RefusedGet> = vec![
        (
            "a range over 90 days",
            "requests".to_owned(),
            vec![
                JURISDICTION,
                ("start_date", long_ago.as_str()),
                ("end_date", today.as_str()),
            ],
            400,
        ),
        (
            "a malformed start_date",
            "requests".to_owned(),
            vec![JURISDICTION, ("start_date", "yesterday")],
            400,
        ),
        (
            "a malformed end_date",
            "requests".to_owned(),
            vec![JURISDICTION, ("end_date", "2026-02-30T00:00:00Z")],
            400,
        ),
        (
            "a status neither open nor closed",
            "requests".to_owned(),
            vec![JURISDICTION, ("status", "pending")],
            400,
        ),
        (
            "an unknown request number",
            "requests/HZ-2020-999999".to_owned(),
            vec![JURISDICTION],
            404,
        ),
        (
            "an unknown case id",
            format!("requests/{unknown_uuid}"),
            vec![JURISDICTION],
            404,
        ),
        (
            "a petition's number",
            format!("requests/{petition_number}"),
            vec![JURISDICTION],
            404,
        ),
        (
            "a petition's case id",
            format!("requests/{petition_id}"),
            vec![JURISDICTION],
            404,
        ),
        (
            "an unknown token",
            format!("tokens/{unknown_uuid}"),
            vec![JURISDICTION],
            404,
        ),
        (
            "an unknown service code",
            "services/hazard.nope".to_owned(),
            vec![JURISDICTION],
            404,
        ),
        (
            "a retired category's service code",
            "services/hazard.other".to_owned(),
            vec![JURISDICTION],
            404,
        ),
        (
            "a category of a kind that is no service",
            "services/petition.labour-and-wages".to_owned(),
            vec![JURISDICTION],
            404,
        ),
        (
            "a jurisdiction without a directory",
            "services".to_owned(),
            vec![("jurisdiction_id", "acme")],
            404,
        ),
        (
            "a jurisdiction without a directory",
            "requests".to_owned(),
            vec![("jurisdiction_id", "acme")],
            404,
        ),
        (
            "neither jurisdiction_id nor api_key",
            "services".to_owned(),
            vec![],
            400,
        ),
        (
            "neither jurisdiction_id nor api_key",
            "services/hazard.gas".to_owned(),
            vec![],
            400,
        ),
        (
            "neither jurisdiction_id nor api_key",
            "requests".to_owned(),
            vec![],
            400,
        ),
        (
            "neither jurisdiction_id nor api_key",
            format!("requests/{number}"),
            vec![],
            400,
        ),
        (
            "neither jurisdiction_id nor api_key",
            format!("tokens/{case_id}"),
            vec![],
            400,
        ),
    ];
    for fmt in BOTH {
        for (why, resource, query, status) in &gets {
            let a = o.get(resource, fmt, query).await;
            assert_refused(
                &a,
                fmt,
                *status,
                &format!("GET {resource}.{}: {why}", fmt.ext()),
            );
        }
    }

    // Another extension, or none: 404, an XML error document.
    let odd_extension = format!("requests/{number}.txt?jurisdiction_id=demo");
    for path in [
        "services.html?jurisdiction_id=demo",
        "services?jurisdiction_id=demo",
        odd_extension.as_str(),
    ] {
        let a = o.get_path(path).await;
        assert_refused(&a, Fmt::Xml, 404, &format!("GET {path}: an unknown format"));
    }
    let base_pairs: Vec<(&str, &str)> = base.clone();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&base_pairs)
        .finish();
    let a = o.post_body("requests.csv", &[], body).await;
    assert_refused(&a, Fmt::Xml, 404, "POST requests.csv: an unknown format");

    // Nothing refused was filed.
    assert_eq!(
        requests_listed(&o).await,
        requests_before,
        "a refused POST files no request Open311 lists"
    );
    assert_eq!(
        cases_listed(&office).await,
        cases_before,
        "a refused POST files no case"
    );

    // 4,000 characters is within the limit (characters, not bytes).
    let at_limit = "隐".repeat(4000);
    let a = o
        .post(
            Fmt::Json,
            &[
                ("api_key", key.as_str()),
                ("service_code", "hazard.gas"),
                ("address_string", "清河街道 1 号"),
                ("description", &at_limit),
            ],
        )
        .await;
    let at_limit_number = o.number_filed(&a, Fmt::Json).await;
    o.read_as_app(&key);
    assert_eq!(requests_listed(&o).await, requests_before + 1);
    let r = o.request_in_both(&at_limit_number).await;
    assert_eq!(r["description"], at_limit.as_str(), "the description whole");
}

// ---- 3. the resident's story ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_residents_request_is_handled_in_docket_and_shown_closed_with_the_reply_and_nothing_internal_or_personal()
 {
    let mut office = office();
    admin(
        &office,
        "add-unit",
        json!({"id": "qinghe-roads", "name": "清河市政所", "unit_kind": "office",
               "in_network": true}),
    )
    .await;
    // Unit members and officers with ids of their own, which Open311 must never name.
    let officer_sub = "li-na-0007";
    let roads_sub = "zhao-gang-0042";
    let market_sub = "sun-li-0099";
    office.add_token("officer", "petition_officer", &["--sub", officer_sub]);
    office.add_token(
        "roads handler",
        "handler",
        &["--unit", "qinghe-roads", "--sub", roads_sub],
    );
    office.add_token(
        "market handler",
        "handler",
        &["--unit", "qinghe-market", "--sub", market_sub],
    );
    let key = create_key(&office, "qinghe-app", "qinghe");
    let o = Open311::of(&office);
    o.read_as_app(&key);

    let (first_name, last_name) = ("秀英", "王");
    let phone = "13912345678";
    let email = "wang.xiuying@example.com";
    let neighbour = "李建国";
    let description = "我是王秀英，3号楼2单元楼道灯坏了一周，邻居李建国晚上摔了一跤。";
    let reply = "已修复，感谢反映";
    let internal = [
        "派单备注-MARKER-D1-请市政所带梯子",
        "研判备注-MARKER-N1-该居民多次反映",
        "签收备注-MARKER-C1-明早到场",
        "处置记录-MARKER-P1-更换感应灯两盏",
        "协办记录-MARKER-P2-配合断电",
        "评价备注-MARKER-R1-电话回访满意",
    ];

    let posted = o
        .post(
            Fmt::Json,
            &[
                ("api_key", key.as_str()),
                ("service_code", "livelihood.public-facilities"),
                ("lat", "39.9500"),
                ("long", "116.3500"),
                ("address_string", "清河小区3号楼2单元"),
                ("attribute[urgency]", "general"),
                ("first_name", first_name),
                ("last_name", last_name),
                ("phone", phone),
                ("email", email),
                ("description", description),
            ],
        )
        .await;
    let number = o.number_filed(&posted, Fmt::Json).await;
    assert!(number.starts_with("MS-"), "{number}");

    // The petition officer finds it among livelihood requests: in clear, from the resident app.
    let case = case_filed(
        &office,
        "officer",
        &number,
        "&kind=livelihood&channel=resident-app",
    )
    .await;
    let id = case["id"].as_str().unwrap().to_owned();
    assert_eq!(case["kind"], "livelihood", "{case}");
    assert_eq!(case["number"], number.as_str(), "{case}");
    let c = &case["case"];
    assert_eq!(c["channel"], "resident-app", "{case}");
    assert_eq!(c["category"], "public-facilities", "{case}");
    assert_eq!(c["urgency"], "general", "{case}");
    assert_eq!(c["community"], "qinghe", "{case}");
    assert_eq!(c["description"], description, "{case}");
    assert_eq!(
        c["requester"]["name"], "王秀英",
        "last_name + first_name: {case}"
    );
    assert_eq!(c["requester"]["phone"], phone, "{case}");
    assert_eq!(c["requester"]["email"], email, "{case}");

    let received = o.request_in_both(&number).await;
    assert_eq!(received["status"], "open", "{received}");
    assert!(received["description"].is_null(), "{received}");
    assert!(received["agency_responsible"].is_null(), "{received}");
    assert!(
        has_cjk(received["status_notes"].as_str().unwrap()),
        "a Chinese phrase for the state: {received}"
    );

    // Dispatched, noted, checked in, parts recorded: all through the normal API.
    office
        .act(
            "officer",
            &id,
            "dispatch",
            json!({"lead": "qinghe-roads", "co_handlers": ["qinghe-market"],
                   "note": internal[0]}),
        )
        .await;
    office
        .act("officer", &id, "add-note", json!({"text": internal[1]}))
        .await;
    let dispatched = o.request_in_both(&number).await;
    assert_eq!(dispatched["status"], "open", "{dispatched}");
    assert_eq!(
        dispatched["agency_responsible"], "清河市政所",
        "the lead unit's name: {dispatched}"
    );
    office
        .act(
            "roads handler",
            &id,
            "check-in",
            json!({"note": internal[2]}),
        )
        .await;
    office
        .act("market handler", &id, "check-in", json!({}))
        .await;
    office
        .act(
            "roads handler",
            &id,
            "record-part",
            json!({"text": internal[3]}),
        )
        .await;
    office
        .act(
            "market handler",
            &id,
            "record-part",
            json!({"text": internal[4]}),
        )
        .await;
    let in_progress = o.request_in_both(&number).await;
    assert_eq!(in_progress["status"], "open", "{in_progress}");
    assert_ne!(
        in_progress["status_notes"], reply,
        "not replied yet: {in_progress}"
    );

    // The lead replies: the resident is told the reply's text.
    office
        .act(
            "roads handler",
            &id,
            "reply",
            json!({"result": "resolved", "text": reply}),
        )
        .await;
    let replied = o.request_in_both(&number).await;
    assert_eq!(
        replied["status_notes"], reply,
        "a reply's text is the status_notes: {replied}"
    );

    // The resident's rating closes it.
    office
        .act(
            "officer",
            &id,
            "rate",
            json!({"rating": "satisfied", "note": internal[5]}),
        )
        .await;
    let closed_case = office.get("officer", &id).await;
    assert_eq!(closed_case["status"], "closed", "{closed_case}");
    assert_eq!(closed_case["closed"], true, "{closed_case}");

    for fmt in BOTH {
        let a = o
            .get(&format!("requests/{number}"), fmt, &[JURISDICTION])
            .await;
        assert_eq!(a.status, 200, "{}: {}", a.url, a.body);
        match fmt {
            Fmt::Json => {
                let r = only(&a.json(), &a.url).clone();
                assert_eq!(r["status"], "closed", "{r}");
                assert_eq!(r["status_notes"], reply, "{r}");
            }
            Fmt::Xml => {
                let doc = a.xml();
                let requests = items(doc.root_element(), "service_requests", "request");
                assert_eq!(requests.len(), 1, "{}", a.body);
                assert_eq!(
                    text_of(child(requests[0], "status")),
                    "closed",
                    "{}",
                    a.body
                );
                assert_eq!(
                    text_of(child(requests[0], "status_notes")),
                    reply,
                    "{}",
                    a.body
                );
            }
        }
    }
    let closed = o.request_in_both(&number).await;
    assert_eq!(closed["status"], "closed", "{closed}");
    assert_eq!(closed["status_notes"], reply, "{closed}");
    assert!(closed["expected_datetime"].is_null(), "{closed}");
    assert!(closed["description"].is_null(), "{closed}");
    assert_eq!(closed["agency_responsible"], "清河市政所", "{closed}");
    assert_eq!(
        closed["service_code"], "livelihood.public-facilities",
        "{closed}"
    );
    same_second(
        &closed["updated_datetime"],
        &closed_case["closed_at"],
        "updated_datetime of a closed request: when it closed",
    );
    same_second(
        &closed["requested_datetime"],
        &closed_case["filed_at"],
        "requested_datetime",
    );
    let by_id = o.request_in_both(&id).await;
    assert_eq!(by_id, closed, "requests/{{case id}} is requests/{{number}}");
    // A listing shows each request from the read model, as asking for it alone shows it from the
    // log: the same document, its times those of its first and last commits.
    assert_eq!(
        o.requests_in_both(&[JURISDICTION, ("status", "closed")])
            .await,
        vec![closed.clone()],
        "status=closed lists it, as requests/{{number}} shows it"
    );
    assert!(
        o.requests_in_both(&[JURISDICTION, ("status", "open")])
            .await
            .is_empty(),
        "status=open does not"
    );
    let listed = o
        .requests_in_both(&[
            JURISDICTION,
            ("service_code", "livelihood.public-facilities"),
        ])
        .await;
    assert_eq!(set(&listed), BTreeSet::from([number.clone()]));

    // Anyone without the app's key is told how the request stands, not what the resident was
    // told, nor where they live.
    o.read_as_anyone();
    let public = o.request_in_both(&number).await;
    assert_eq!(public["status"], "closed", "{public}");
    assert_eq!(
        public["status_notes"], "已答复",
        "the reply is the app's: {public}"
    );
    for field in ["description", "address", "lat", "long"] {
        assert!(public[field].is_null(), "{field} is the app's: {public}");
    }
    assert_eq!(public["agency_responsible"], "清河市政所", "{public}");
    o.read_as_app(&key);

    // Nothing internal, no one's id, none of the resident's personal data, in any answer.
    let mut never: Vec<&str> = vec![
        "王秀英",
        first_name,
        phone,
        email,
        neighbour,
        description,
        officer_sub,
        roads_sub,
        market_sub,
    ];
    never.extend(internal);
    let seen = o.seen();
    assert!(
        seen.len() > 10,
        "the test read Open311 ({} answers)",
        seen.len()
    );
    let shown = answers_showing(&seen, &never);
    assert!(
        shown.is_empty(),
        "Open311 showed what it never shows: {shown:?}"
    );
}

// ---- 4. grid routing ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a_report_from_a_point_lands_in_the_grid_whose_area_covers_it_and_elsewhere_in_the_keys_community()
 {
    let office = office();
    for (id, name) in [
        ("qinghe-intake", "清河社区受理窗口"),
        ("beiyuan-intake", "北苑社区受理窗口"),
    ] {
        admin(
            &office,
            "add-unit",
            json!({"id": id, "name": name, "unit_kind": "office", "in_network": false}),
        )
        .await;
    }
    admin(
        &office,
        "set-community-units",
        json!({"id": "qinghe", "intake_unit": "qinghe-intake"}),
    )
    .await;
    admin(
        &office,
        "add-community",
        json!({"id": "beiyuan", "name": "北苑社区", "intake_unit": "beiyuan-intake"}),
    )
    .await;
    let corner =
        |latitude: f64, longitude: f64| json!({"latitude": latitude, "longitude": longitude});
    // qinghe-02: a square; qinghe-03: an L, whose notch is in no grid.
    admin(
        &office,
        "set-grid-area",
        json!({"id": "qinghe-02", "area": [
            corner(39.90, 116.30), corner(39.90, 116.32), corner(39.92, 116.32),
            corner(39.92, 116.30)]}),
    )
    .await;
    admin(
        &office,
        "set-grid-area",
        json!({"id": "qinghe-03", "area": [
            corner(40.00, 116.50), corner(40.00, 116.54), corner(40.02, 116.54),
            corner(40.02, 116.52), corner(40.04, 116.52), corner(40.04, 116.50)]}),
    )
    .await;
    // The key's community is another: a point in a grid's area goes by the grid.
    let key = create_key(&office, "beiyuan-app", "beiyuan");
    let o = Open311::of(&office);
    o.read_as_app(&key);

    struct Report {
        what: &'static str,
        service: &'static str,
        point: Option<(&'static str, &'static str)>,
        community: &'static str,
        grid: Option<&'static str>,
    }
    let reports = [
        Report {
            what: "a hazard inside qinghe-02",
            service: "hazard.fire",
            point: Some(("39.91", "116.31")),
            community: "qinghe",
            grid: Some("qinghe-02"),
        },
        Report {
            what: "a livelihood request inside qinghe-02",
            service: "livelihood.noise",
            point: Some(("39.915", "116.305")),
            community: "qinghe",
            grid: Some("qinghe-02"),
        },
        Report {
            what: "a hazard in the L's lower leg",
            service: "hazard.fire",
            point: Some(("40.01", "116.53")),
            community: "qinghe",
            grid: Some("qinghe-03"),
        },
        Report {
            what: "a hazard in the L's upright",
            service: "hazard.fire",
            point: Some(("40.03", "116.51")),
            community: "qinghe",
            grid: Some("qinghe-03"),
        },
        Report {
            what: "a hazard in the L's notch",
            service: "hazard.fire",
            point: Some(("40.03", "116.53")),
            community: "beiyuan",
            grid: None,
        },
        Report {
            what: "a hazard far from every area",
            service: "hazard.fire",
            point: Some(("31.23", "121.47")),
            community: "beiyuan",
            grid: None,
        },
        Report {
            what: "a livelihood request with an address only",
            service: "livelihood.noise",
            point: None,
            community: "beiyuan",
            grid: None,
        },
    ];
    for (i, report) in reports.iter().enumerate() {
        let fmt = BOTH[i % 2];
        let mut form: Vec<(&str, &str)> = vec![
            ("api_key", key.as_str()),
            ("service_code", report.service),
            ("description", "夜里施工噪声大"),
        ];
        match report.point {
            Some((lat, long)) => form.extend([("lat", lat), ("long", long)]),
            None => form.push(("address_string", "北苑路 12 号")),
        }
        let a = o.post(fmt, &form).await;
        let number = o.number_filed(&a, fmt).await;
        let case = case_filed(&office, "supervisor", &number, "").await;
        let what = report.what;
        assert_eq!(
            case["case"]["community"], report.community,
            "{what}: {case}"
        );
        assert_eq!(
            case["case"]["grid"],
            report.grid.map_or(Value::Null, |g| json!(g)),
            "{what}: {case}"
        );
        let r = o.request_in_both(&number).await;
        if let Some((lat, long)) = report.point {
            approx(&r["lat"], lat.parse().unwrap(), &format!("{what}: lat"));
            approx(&r["long"], long.parse().unwrap(), &format!("{what}: long"));
        }
        if report.grid.is_none() && report.service.starts_with("hazard.") {
            assert_eq!(
                case["lead_unit"], "beiyuan-intake",
                "{what}: to the key's community's intake unit: {case}"
            );
            assert_eq!(r["agency_responsible"], "北苑社区受理窗口", "{what}: {r}");
        }
    }

    // What the office found itself is not served to apps: a hazard from a night patrol.
    let listed_before = set(&o.requests_in_both(&[JURISDICTION]).await);
    let (status, patrol) = call(
        Method::POST,
        &format!("{}/v1/cases", office.server.url),
        &office.tokens["supervisor"],
        Some(json!({
            "kind": "hazard", "community": "beiyuan", "title": "巡查发现燃气管道锈蚀",
            "category": "gas", "severity": "general", "source": "night-patrol",
        })),
    )
    .await;
    assert_eq!(status, 201, "{patrol}");
    let patrol_id = patrol["case_id"].as_str().unwrap();
    for fmt in [Fmt::Json, Fmt::Xml] {
        let a = o
            .get(&format!("requests/{patrol_id}"), fmt, &[JURISDICTION])
            .await;
        assert_refused(&a, fmt, 404, "a patrol's hazard through Open311");
    }
    assert_eq!(
        set(&o.requests_in_both(&[JURISDICTION]).await),
        listed_before,
        "a patrol's hazard is not listed"
    );
}

// ---- 5. API keys ----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn an_api_key_is_refused_once_revoked_and_its_secret_is_nowhere_in_the_data_directory() {
    let office = office();
    let key = create_key(&office, "resident-app-a", "qinghe");
    let other = create_key(&office, "resident-app-b", "qinghe");
    assert_ne!(key, other, "each app its own key");
    let o = Open311::of(&office);
    let form = |key: &str| -> Vec<(String, String)> {
        vec![
            ("api_key".to_owned(), key.to_owned()),
            ("service_code".to_owned(), "hazard.gas".to_owned()),
            ("address_string".to_owned(), "清河街道 2 号".to_owned()),
        ]
    };
    let without_key: Vec<(&str, &str)> = vec![
        ("service_code", "hazard.gas"),
        ("address_string", "清河街道 2 号"),
    ];

    // The key works in the form and in the query string, for POST and for GET.
    let by_form = form(&key);
    for fmt in BOTH {
        let a = o.post(fmt, &borrowed(&by_form)).await;
        o.number_filed(&a, fmt).await;
        let a = o.post_key_in_query(fmt, &key, &without_key).await;
        o.number_filed(&a, fmt).await;
        o.get("requests", fmt, &[("api_key", key.as_str())])
            .await
            .ok_json_or_xml(fmt);
        o.get("services", fmt, &[("api_key", key.as_str())])
            .await
            .ok_json_or_xml(fmt);
    }
    let line = key_line(&office, "resident-app-a");
    assert!(
        !line.contains("revoked"),
        "active before it is revoked: {line}"
    );
    assert!(
        !line.contains(&key),
        "api-key list never shows the key: {line}"
    );

    revoke_key(&office, "resident-app-a");
    let line = key_line(&office, "resident-app-a");
    assert!(
        line.contains("revoked"),
        "api-key list marks it revoked: {line}"
    );
    let before = requests_listed(&o).await;
    for fmt in BOTH {
        let a = o.post(fmt, &borrowed(&by_form)).await;
        assert_refused(&a, fmt, 403, "a revoked key, in the form");
        let a = o.post_key_in_query(fmt, &key, &without_key).await;
        assert_refused(&a, fmt, 403, "a revoked key, in the query");
    }
    assert_eq!(
        requests_listed(&o).await,
        before,
        "a revoked key files nothing"
    );
    // The other app's key still works.
    let a = o.post(Fmt::Json, &borrowed(&form(&other))).await;
    o.number_filed(&a, Fmt::Json).await;
    assert_eq!(requests_listed(&o).await, before + 1);

    // No answer that served a request shows a key back, and no file of the data directory
    // holds either in clear (the vault keeps a key's SHA-256 only): neither the key, nor its
    // secret part, nor the secret's bytes.
    let secrets: Vec<String> = [&key, &other]
        .iter()
        .map(|k| k.strip_prefix(KEY_PREFIX).unwrap().to_owned())
        .collect();
    let served: Vec<Answer> = o.seen().into_iter().filter(|a| a.status == 200).collect();
    let shown = answers_showing(
        &served,
        &secrets.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert!(shown.is_empty(), "an Open311 answer shows a key: {shown:?}");
    let mut needles: Vec<Vec<u8>> = Vec::new();
    for (k, secret) in [&key, &other].iter().zip(&secrets) {
        needles.push(k.as_bytes().to_vec());
        needles.push(secret.as_bytes().to_vec());
        {
            use base64::Engine;
            if let Ok(raw) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(secret) {
                needles.push(raw);
            }
        }
    }
    let needles: Vec<&[u8]> = needles.iter().map(Vec::as_slice).collect();
    let found = found_in(&office.server.data_dir, &needles);
    assert!(
        found.is_empty(),
        "an API key's secret is kept in clear in {found:?} (needle index: 0/1/2 the first key, \
         its secret, its bytes; 3/4/5 the second's)"
    );
    // The server's own output is not searched: the harness inherits its stderr and drains its
    // stdout, so neither can be read here.
}

impl Answer {
    /// A 200 in the format asked for, parsed (strict XML, or JSON).
    #[track_caller]
    fn ok_json_or_xml(&self, fmt: Fmt) {
        match fmt {
            Fmt::Json => {
                self.ok_json();
            }
            Fmt::Xml => {
                self.ok_xml();
            }
        }
    }
}
