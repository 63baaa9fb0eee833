//! `--log-format json`: one flat JSON object per line, the way upstream's logrus writes
//! them, so the same log pipeline reads both:
//!
//! ```text
//! {"time":"2026-12-02T10:00:00.123Z","level":"info","msg":"config loaded and synced","created":2,"types":["a","b"]}
//! ```
//!
//! - `time` is RFC 3339 (UTC, milliseconds); `level` is logrus' lowercase name (`trace`,
//!   `debug`, `info`, `warning`, `error`); `msg` is the message.
//! - Every field of the event and of its spans sits at the top level, never nested.
//!   Numbers and booleans stay numbers and booleans. A value logged with `?` whose
//!   debug text is a JSON array or object (a `Vec` of strings or numbers, a map) is
//!   written as that array or object; anything else is a string.
//! - A field named like one of the three keys is written as `fields.<name>`, as logrus
//!   does.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event formatter.
pub(crate) struct FlatJson;

impl<S> FormatEvent<S, JsonFields> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Map::new();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(text) = extensions.get::<FormattedFields<JsonFields>>() else {
                    continue;
                };
                if let Ok(Value::Object(span_fields)) = serde_json::from_str(&text.fields) {
                    fields.extend(span_fields);
                }
            }
        }
        let mut visitor = Collect {
            message: String::new(),
            fields,
        };
        event.record(&mut visitor);
        let line = render(
            level_name(*event.metadata().level()),
            &visitor.message,
            visitor.fields,
        );
        writeln!(writer, "{line}")
    }
}

/// One JSON log line (without the newline) for a message of the CLI's own.
pub(crate) fn json_line(level: Level, msg: &str) -> String {
    render(level_name(level), msg, Map::new())
}

fn render(level: &str, msg: &str, fields: Map<String, Value>) -> String {
    let mut object = Map::new();
    object.insert("time".into(), Value::String(now()));
    object.insert("level".into(), Value::String(level.into()));
    object.insert("msg".into(), Value::String(msg.into()));
    for (key, value) in fields {
        let key = if matches!(key.as_str(), "time" | "level" | "msg") {
            format!("fields.{key}")
        } else {
            key
        };
        object.insert(key, value);
    }
    Value::Object(object).to_string()
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// logrus' level names.
fn level_name(level: Level) -> &'static str {
    match level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warning",
        Level::ERROR => "error",
    }
}

/// Gathers an event's message and fields with their JSON types.
struct Collect {
    message: String,
    fields: Map<String, Value>,
}

impl Collect {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
        } else {
            self.fields.insert(field.name().to_string(), value);
        }
    }
}

impl Visit for Collect {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_string()));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::String(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        self.put(field, structured(text));
    }
}

/// Debug text that is a JSON array or object becomes that value; anything else a string.
fn structured(text: String) -> Value {
    if text.starts_with('[') || text.starts_with('{') {
        if let Ok(value @ (Value::Array(_) | Value::Object(_))) = serde_json::from_str(&text) {
            return value;
        }
    }
    Value::String(text)
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    fn capture(f: impl FnOnce()) -> Vec<Value> {
        let buffer = Buffer::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(buffer.clone())
            .fmt_fields(JsonFields::new())
            .event_format(FlatJson)
            .with_max_level(Level::DEBUG)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn lines_are_flat_with_logrus_keys_and_real_types() {
        let types = vec!["a".to_string(), "b".to_string()];
        let lines = capture(|| {
            let span = tracing::info_span!("part", component = "builder");
            let _entered = span.enter();
            tracing::warn!(
                created = 2u64,
                ratio = 0.5,
                ok = true,
                store = %"sqlite://mason.db",
                ?types,
                deadline = ?std::time::Duration::from_secs(8),
                level = "clash",
                "config {} synced",
                "x"
            );
        });
        let line = &lines[0];
        let object = line.as_object().unwrap();
        assert_eq!(line["level"], "warning");
        assert_eq!(line["msg"], "config x synced");
        assert!(line["time"].as_str().unwrap().ends_with('Z'));
        assert_eq!(line["created"], 2);
        assert_eq!(line["ratio"], 0.5);
        assert_eq!(line["ok"], true);
        assert_eq!(line["store"], "sqlite://mason.db");
        assert_eq!(line["types"], serde_json::json!(["a", "b"]));
        assert_eq!(line["deadline"], "8s");
        assert_eq!(line["component"], "builder", "span fields are flattened");
        assert_eq!(line["fields.level"], "clash");
        assert!(
            object.values().all(|v| !v.is_object()),
            "nothing nested: {line}"
        );
    }

    #[test]
    fn own_messages_have_the_same_shape() {
        let line: Value = serde_json::from_str(&json_line(Level::ERROR, "mason: boom")).unwrap();
        assert_eq!(line["level"], "error");
        assert_eq!(line["msg"], "mason: boom");
        assert_eq!(line.as_object().unwrap().len(), 3);
    }

    #[test]
    fn only_json_arrays_and_objects_are_structured() {
        assert_eq!(structured("[1, 2]".into()), serde_json::json!([1, 2]));
        assert_eq!(structured("[x]".into()), Value::String("[x]".into()));
        assert_eq!(structured("42".into()), Value::String("42".into()));
        assert_eq!(
            structured("Foo { a: 1 }".into()),
            Value::String("Foo { a: 1 }".into())
        );
    }
}
