//! The span of each command (target `redis::command`, level DEBUG), read
//! by a subscriber of the test's own: their names and attributes as
//! OpenTelemetry's conventions for Redis say, how a failed command ended,
//! and `db.query.text` only when asked for, its arguments elided. Live:
//! `REDIS_URL`, or a server started here.

use redis_conn::ConnectionConfig;
use redis_paired::{Options, PairedConnection};
use resp::cmd;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use xtask::telemetry::{Seen, Spans};
use xtask::TestServer;

fn config() -> (TestServer, ConnectionConfig) {
    let server = TestServer::get().expect("redis-server starts");
    let config = server.url().parse().unwrap();
    (server, config)
}

fn field<'a>(seen: &'a Seen, name: &str) -> Option<&'a str> {
    seen.fields.get(name).map(String::as_str)
}

#[tokio::test]
async fn each_command_is_one_span_with_the_conventions_attributes() {
    let (_server, config) = config();
    let (host, port) = match config.address() {
        redis_conn::Address::Tcp { host, port } => (host.clone(), port.to_string()),
        other => panic!("a TCP server, not {other}"),
    };
    let recorder = Spans::default();
    let _guard = tracing::subscriber::set_default(recorder.clone());
    let conn = PairedConnection::connect(&config).await.unwrap();
    let () = conn.send(cmd!("SET", "spans:s", "secret")).await.unwrap();
    let error = conn
        .send::<i64>(cmd!("LPUSH", "spans:s", "x"))
        .await
        .unwrap_err();
    assert_eq!(error.server_code(), Some("WRONGTYPE"));
    let _: (Option<String>, i64) = conn
        .pipeline()
        .add(cmd!("GET", "spans:s"))
        .add(cmd!("STRLEN", "spans:s"))
        .query()
        .await
        .unwrap();

    let spans: Vec<Seen> = recorder.spans().into_iter().map(|(_, s)| s).collect();
    let names: Vec<_> = spans.iter().filter_map(|s| field(s, "otel.name")).collect();
    assert_eq!(names, ["SET", "LPUSH", "PIPELINE"]);
    for span in &spans {
        assert_eq!(field(span, "name"), Some("redis.command"));
        assert_eq!(field(span, "db.system.name"), Some("redis"));
        assert_eq!(field(span, "otel.kind"), Some("client"));
        assert_eq!(field(span, "server.address"), Some(host.as_str()));
        assert_eq!(field(span, "server.port"), Some(port.as_str()));
        assert_eq!(field(span, "db.namespace"), Some("0"));
        assert_eq!(field(span, "db.query.text"), None, "not asked for");
        assert!(span.closed, "{span:?}");
    }
    assert_eq!(field(&spans[0], "db.operation.name"), Some("SET"));
    assert_eq!(field(&spans[0], "error.type"), None);
    assert_eq!(
        field(&spans[1], "db.response.status_code"),
        Some("WRONGTYPE")
    );
    assert_eq!(field(&spans[1], "error.type"), Some("WRONGTYPE"));
    assert_eq!(field(&spans[1], "otel.status_code"), Some("ERROR"));
    assert_eq!(field(&spans[2], "db.operation.batch.size"), Some("2"));
    // No argument shows anywhere.
    assert!(spans
        .iter()
        .all(|s| s.fields.values().all(|v| !v.contains("secret"))));
}

#[tokio::test]
async fn the_query_text_is_there_when_asked_for_without_the_arguments() {
    let (_server, config) = config();
    let recorder = Spans::default();
    let _guard = tracing::subscriber::set_default(recorder.clone());
    let options = Options::default().with_query_text(true);
    let conn = PairedConnection::connect_with(&config, options)
        .await
        .unwrap();
    let () = conn
        .send(cmd!("SET", "spans:q", "secret", "EX", 60))
        .await
        .unwrap();
    let spans: Vec<Seen> = recorder.spans().into_iter().map(|(_, s)| s).collect();
    assert_eq!(spans.len(), 1, "{spans:?}");
    assert_eq!(field(&spans[0], "db.query.text"), Some("SET ? ? ? ?"));
}

#[tokio::test]
async fn without_a_subscriber_that_wants_them_no_span_is_made() {
    let (_server, config) = config();
    // A subscriber that wants nothing of this target.
    #[derive(Clone, Default)]
    struct Nothing(Spans);
    impl Subscriber for Nothing {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            false
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            self.0.new_span(span)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {}
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }
    let nothing = Nothing::default();
    let _guard = tracing::subscriber::set_default(nothing.clone());
    let conn = PairedConnection::connect(&config).await.unwrap();
    let () = conn.send(cmd!("SET", "spans:n", "v")).await.unwrap();
    assert!(nothing.0.spans().is_empty());
}
