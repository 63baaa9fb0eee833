//! The Kubernetes manifests under `deploy/kubernetes/`: every kustomization lists files
//! that exist and every manifest in its directory; every container running the mason
//! image passes the CLI check with its env (Secrets resolved from the shipped example);
//! its `--config` is a key of a mounted ConfigMap that holds a valid config; a SQLite
//! store lives on a persistent volume; probes are `/healthz` (liveness) and
//! `/healthz/ready` (readiness) on a port the server listens on; the pods carry the
//! Prometheus scrape annotations for the metrics port; the Service maps 80 to the API.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mason_store::StoreUrl;
use mason_types::BoskosConfig;
use serde::Deserialize;
use serde_json::Value;

use super::{check, deploy_dir, EnvValue, Invocation, Parsed};

/// Every YAML document of every file under `dir`, with its file.
fn documents(dir: &Path) -> Vec<(PathBuf, Value)> {
    let mut files: Vec<PathBuf> = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read deploy dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read manifest");
        for doc in serde_yaml_ng::Deserializer::from_str(&text) {
            let value = Value::deserialize(doc)
                .unwrap_or_else(|e| panic!("{}: not valid YAML: {e}", file.display()));
            if !value.is_null() {
                out.push((file.clone(), value));
            }
        }
    }
    out
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// The pod template (metadata + spec) of a long-running workload.
fn pod_template(v: &Value) -> Option<&Value> {
    match v.get("kind")?.as_str()? {
        "Deployment" | "StatefulSet" | "DaemonSet" => v.get("spec")?.get("template"),
        _ => None,
    }
}

/// The pod template of a workload, or a one-off Pod itself.
fn any_pod(v: &Value) -> Option<&Value> {
    match v.get("kind")?.as_str()? {
        "Pod" => Some(v),
        "Job" => v.get("spec")?.get("template"),
        _ => pod_template(v),
    }
}

#[test]
fn kustomizations_list_every_manifest_and_only_existing_ones() {
    let root = deploy_dir().join("kubernetes");
    let mut kustomizations = 0;
    for (file, doc) in documents(&root) {
        if file.file_name().is_some_and(|n| n == "kustomization.yaml") {
            kustomizations += 1;
            let dir = file.parent().unwrap();
            let listed: Vec<&str> = doc["resources"]
                .as_array()
                .expect("resources")
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            for r in &listed {
                let p = dir.join(r);
                assert!(
                    p.is_file() || p.join("kustomization.yaml").is_file(),
                    "{}: lists {r}, which does not exist",
                    file.display()
                );
            }
            for entry in std::fs::read_dir(dir).unwrap() {
                let name = entry.unwrap().file_name().to_string_lossy().into_owned();
                let manifest = name.ends_with(".yaml")
                    && name != "kustomization.yaml"
                    && !name.ends_with(".example.yaml");
                assert!(
                    !manifest || listed.contains(&name.as_str()),
                    "{}: does not list {name}",
                    file.display()
                );
            }
        }
    }
    assert_eq!(kustomizations, 3, "base, sqlite and postgres");
}

#[test]
fn every_mason_container_passes_the_cli_and_is_wired_up() {
    let docs = documents(&deploy_dir().join("kubernetes"));
    let by_kind = |kind: &str| -> BTreeMap<String, &Value> {
        docs.iter()
            .filter(|(_, d)| d["kind"] == kind)
            .map(|(_, d)| (str_at(d, &["metadata", "name"]).unwrap().to_string(), d))
            .collect()
    };
    let secrets = by_kind("Secret");
    let config_maps = by_kind("ConfigMap");
    // The claims a StatefulSet's pod 0 gets: <template>-<statefulset>-0. A one-off pod
    // must use one of those, and a claim a manifest creates must be one of those.
    let claims: Vec<String> = by_kind("StatefulSet")
        .iter()
        .flat_map(|(set, doc)| {
            doc["spec"]["volumeClaimTemplates"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |t| format!("{}-{set}-0", str_at(t, &["metadata", "name"]).unwrap()))
        })
        .collect();
    for claim in by_kind("PersistentVolumeClaim").keys() {
        assert!(
            claims.contains(claim),
            "claim {claim} is no StatefulSet's ({claims:?})"
        );
    }
    let mut servers = Vec::new();
    let mut one_off = Vec::new();
    for (file, doc) in &docs {
        let Some(template) = any_pod(doc) else {
            continue;
        };
        let kind = doc["kind"].as_str().unwrap();
        let spec = &template["spec"];
        for container in spec["containers"].as_array().expect("containers") {
            let image = container["image"].as_str().unwrap_or_default();
            if !image.starts_with("mason") {
                continue;
            }
            let shown = file.strip_prefix(deploy_dir()).unwrap_or(file);
            let origin = format!(
                "deploy/{} ({kind}, container {})",
                shown.display(),
                container["name"]
            );
            let inv = invocation(&origin, container, &secrets);
            let parsed = check(&inv).unwrap_or_else(|e| panic!("{e}"));
            check_files(
                &origin,
                doc,
                template,
                container,
                &parsed,
                &config_maps,
                &claims,
            );
            if parsed.subcommands == ["serve"] {
                check_server(&origin, doc, template, container, &parsed);
                servers.push(kind.to_string());
            } else {
                one_off.push(format!("{kind} {}", parsed.subcommands.join(" ")));
            }
        }
    }
    servers.sort();
    assert_eq!(
        servers,
        ["Deployment", "StatefulSet"],
        "one server workload per setup"
    );
    one_off.sort();
    assert_eq!(
        one_off,
        ["Pod export", "Pod export", "Pod import", "Pod import"],
        "an import and an export pod per setup"
    );
}

/// The command line and environment of a container.
fn invocation(origin: &str, container: &Value, secrets: &BTreeMap<String, &Value>) -> Invocation {
    let mut env = Vec::new();
    for e in container["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().expect("env name").to_string();
        let value = if let Some(v) = e["value"].as_str() {
            EnvValue::Known(v.to_string())
        } else if let Some(r) = e.get("valueFrom").and_then(|v| v.get("secretKeyRef")) {
            let secret = r["name"].as_str().unwrap();
            let key = r["key"].as_str().unwrap();
            let s = secrets.get(secret).unwrap_or_else(|| {
                panic!("{origin}: Secret {secret} is not shipped (not even as an example)")
            });
            let v = str_at(s, &["stringData", key])
                .unwrap_or_else(|| panic!("{origin}: Secret {secret} has no key {key}"));
            EnvValue::Known(v.to_string())
        } else {
            EnvValue::Runtime
        };
        env.push((name, value));
    }
    let known: BTreeMap<&str, &str> = env
        .iter()
        .filter_map(|(n, v)| match v {
            EnvValue::Known(v) => Some((n.as_str(), v.as_str())),
            EnvValue::Runtime => None,
        })
        .collect();
    let mut args: Vec<String> = Vec::new();
    if let Some(command) = container["command"].as_array() {
        let program = command.first().and_then(Value::as_str).unwrap_or_default();
        assert!(
            program.ends_with("/mason") || program == "mason",
            "{origin}: command runs {program}, not mason"
        );
        args.extend(command[1..].iter().map(|a| a.as_str().unwrap().to_string()));
    }
    for a in container["args"].as_array().into_iter().flatten() {
        // Kubernetes expands $(VAR) from the container's environment.
        let mut a = a.as_str().expect("string arg").to_string();
        for (n, v) in &known {
            a = a.replace(&format!("$({n})"), v);
        }
        args.push(a);
    }
    Invocation {
        origin: origin.to_string(),
        args,
        env,
    }
}

/// The files a container's command line names exist where it looks: `--config` is a key
/// of a mounted ConfigMap holding a valid config; a SQLite store is on a persistent volume
/// (a claim template of the StatefulSet, or a claim the one-off pod shares with it).
fn check_files(
    origin: &str,
    workload: &Value,
    template: &Value,
    container: &Value,
    parsed: &Parsed,
    config_maps: &BTreeMap<String, &Value>,
    claims: &[String],
) {
    let spec = &template["spec"];
    let mounts: Vec<(&str, &str)> = container["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["mountPath"].as_str().unwrap(),
                m["name"].as_str().unwrap(),
            )
        })
        .collect();
    let volume_of = |path: &Path| -> Option<&str> {
        mounts
            .iter()
            .filter(|(mp, _)| path.starts_with(mp))
            .max_by_key(|(mp, _)| mp.len())
            .map(|(_, name)| *name)
    };
    let source_of = |volume: &str| -> Option<&Value> {
        spec["volumes"]
            .as_array()?
            .iter()
            .find(|v| v["name"] == volume)
    };

    if let Some(config) = parsed.value::<PathBuf>("config") {
        let volume =
            volume_of(&config).unwrap_or_else(|| panic!("{origin}: {config:?} is not mounted"));
        let cm_name = source_of(volume)
            .and_then(|s| str_at(s, &["configMap", "name"]))
            .unwrap_or_else(|| panic!("{origin}: {config:?} is not on a ConfigMap volume"));
        let key = config.file_name().unwrap().to_str().unwrap();
        let text = config_maps
            .get(cm_name)
            .and_then(|cm| str_at(cm, &["data", key]))
            .unwrap_or_else(|| panic!("{origin}: ConfigMap {cm_name} has no key {key}"));
        BoskosConfig::parse_and_validate(text)
            .unwrap_or_else(|e| panic!("{origin}: ConfigMap {cm_name}/{key}: {e}"));
    }

    if let Some(StoreUrl::Sqlite { path, .. }) = parsed.value::<StoreUrl>("store") {
        let path = path.expect("not in memory");
        let volume =
            volume_of(&path).unwrap_or_else(|| panic!("{origin}: {path:?} is not mounted"));
        let templates: Vec<&str> = workload["spec"]["volumeClaimTemplates"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| str_at(c, &["metadata", "name"]).unwrap())
            .collect();
        let claim =
            source_of(volume).and_then(|s| str_at(s, &["persistentVolumeClaim", "claimName"]));
        let persistent =
            templates.contains(&volume) || claim.is_some_and(|c| claims.iter().any(|k| k == c));
        assert!(
            persistent,
            "{origin}: {path:?} is not on the server's persistent volume"
        );
    }
}

/// What a `mason serve` container needs around its command line: replicas that suit its
/// store, ports, probes and scrape annotations that match what it listens on.
fn check_server(
    origin: &str,
    workload: &Value,
    template: &Value,
    container: &Value,
    parsed: &Parsed,
) {
    let store: StoreUrl = parsed.value("store").expect("--store has a default");
    if matches!(store, StoreUrl::Sqlite { .. }) {
        assert_eq!(
            workload["spec"]["replicas"], 1,
            "{origin}: SQLite serves one process"
        );
    } else {
        assert!(
            workload["spec"]["replicas"].as_u64().unwrap_or(1) > 1,
            "{origin}: PostgreSQL setup runs several replicas"
        );
    }
    let port: u16 = parsed.value("port").expect("--port has a default");
    let metrics: u16 = parsed.value("metrics_port").expect("--metrics-port set");
    let ports: BTreeMap<&str, u64> = container["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap(),
                p["containerPort"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ports.get("http"),
        Some(&u64::from(port)),
        "{origin}: http port"
    );
    assert_eq!(
        ports.get("metrics"),
        Some(&u64::from(metrics)),
        "{origin}: metrics port"
    );
    for (probe, path) in [
        ("livenessProbe", "/healthz"),
        ("readinessProbe", "/healthz/ready"),
    ] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"], path, "{origin}: {probe}");
        let p = &get["port"];
        let number = p.as_u64().or_else(|| ports.get(p.as_str()?).copied());
        assert_eq!(number, Some(u64::from(port)), "{origin}: {probe} port");
    }
    let annotations = &template["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true", "{origin}");
    assert_eq!(
        annotations["prometheus.io/port"],
        metrics.to_string(),
        "{origin}"
    );
    assert_eq!(annotations["prometheus.io/path"], "/metrics", "{origin}");
}

#[test]
fn the_service_maps_port_80_to_the_api_of_the_server_pods() {
    let docs = documents(&deploy_dir().join("kubernetes"));
    let service = docs
        .iter()
        .map(|(_, d)| d)
        .find(|d| d["kind"] == "Service")
        .expect("a Service");
    let http = service["spec"]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["port"] == 80)
        .expect("port 80");
    assert_eq!(http["targetPort"], "http");
    let selector = service["spec"]["selector"].as_object().unwrap();
    let mut selected = 0;
    for (_, doc) in &docs {
        let Some(template) = pod_template(doc) else {
            continue;
        };
        let labels = template["metadata"]["labels"].as_object().unwrap();
        assert!(
            selector.iter().all(|(k, v)| labels.get(k) == Some(v)),
            "{} pods are not selected by the Service",
            doc["kind"]
        );
        selected += 1;
    }
    assert_eq!(selected, 2);
    let pdb = docs
        .iter()
        .map(|(_, d)| d)
        .find(|d| d["kind"] == "PodDisruptionBudget")
        .expect("a PodDisruptionBudget for the replicated setup");
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        service["spec"]["selector"]
    );
}
