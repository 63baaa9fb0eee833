//! Reading a running server over HTTP in tests: the JSON answer of a GET ([`get_json`])
//! and one value of the Prometheus text at `/metrics` ([`metric`]). Failures panic with
//! the URL (these are test helpers).

/// `GET url`, its body as JSON.
pub async fn get_json(http: &reqwest::Client, url: &str) -> serde_json::Value {
    http.get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}"))
}

/// The value of the first line of `{base}/metrics` that starts with `line_start` (a
/// metric name with its labels, such as `mason_leases_expired_total{type="t"}`); 0 when
/// there is none (a counter not yet incremented).
pub async fn metric(http: &reqwest::Client, base: &str, line_start: &str) -> f64 {
    let url = format!("{base}/metrics");
    let text = http
        .get(&url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    value_of(&text, line_start)
}

/// [`metric`] on text already read.
fn value_of(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .map_or(0.0, |l| {
            let value = l.rsplit(' ').next().unwrap_or_default();
            value
                .parse()
                .unwrap_or_else(|e| panic!("{line_start}: {value:?} is not a number: {e}"))
        })
}

#[cfg(test)]
mod tests {
    use super::value_of;

    #[test]
    fn finds_the_first_matching_line_or_zero() {
        let text = "# HELP x_total X.\n# TYPE x_total counter\nx_total{type=\"a\"} 3\nx_total{type=\"b\"} 1.5\n";
        assert_eq!(value_of(text, "x_total{type=\"a\"}"), 3.0);
        assert_eq!(value_of(text, "x_total{type=\"b\"}"), 1.5);
        assert_eq!(value_of(text, "x_total{type=\"c\"}"), 0.0);
        assert_eq!(value_of(text, "x_total"), 3.0);
    }
}
