//! Your own builder binary: the Mason builder embedded with a custom converter, the Rust
//! counterpart of the `main()` in Mason's README.
//!
//! Pools whose `config.type` is `Greeting` are built by [`Greeter`] (its `content` is
//! YAML `{greeting: TEXT}`); pools of type `exec` by the built-in exec converter.
//!
//! ```text
//! cargo run -p mason-controllers --example custom_builder -- \
//!     --server-url http://127.0.0.1:8080 --config boskos.yaml
//! ```
//!
//! with, in `boskos.yaml`:
//!
//! ```yaml
//! resources:
//! - {type: project, names: [project-1, project-2]}
//! - type: greeted-project
//!   state: dirty
//!   min-count: 1
//!   max-count: 2
//!   needs: {project: 1}
//!   config: {type: Greeting, content: "greeting: hello"}
//! ```
//!
//! Stop it with Ctrl-C: builds under way are interrupted and their resources released.

use std::process::ExitCode;
use std::sync::Arc;

use async_trait::async_trait;
use mason_client::HttpClient;
use mason_controllers::builder::{
    exec_converter, Builder, BuilderOptions, ConstructError, ConvertError, FilePools, Masonable,
    TypeToResources, EXEC_CONVERTER,
};
use mason_types::{Resource, UserData};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

/// The content of a `Greeting` pool.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GreeterConfig {
    greeting: String,
}

/// Builds a virtual resource by greeting its physical ones (a real one would create a
/// cluster in the leased project, say).
struct Greeter {
    greeting: String,
}

#[async_trait]
impl Masonable for Greeter {
    async fn construct(
        &self,
        resource: &Resource,
        leased: &TypeToResources,
        cancel: CancellationToken,
    ) -> Result<UserData, ConstructError> {
        if cancel.is_cancelled() {
            return Err(ConstructError::Cancelled);
        }
        let names: Vec<&str> = leased.values().flatten().map(|r| r.name.as_str()).collect();
        let mut userdata = UserData::new();
        userdata.insert(
            "greeting",
            format!(
                "{} from {} (built on {})",
                self.greeting,
                resource.name,
                names.join(", ")
            ),
        );
        Ok(userdata)
    }
}

/// The converter: parse the pool's content into a [`Greeter`].
fn greeter(content: &str) -> Result<Box<dyn Masonable>, ConvertError> {
    let config: GreeterConfig = serde_yaml_ng::from_str(content)
        .map_err(|e| ConvertError::new(format!("invalid Greeting config: {e}")))?;
    if config.greeting.trim().is_empty() {
        return Err(ConvertError::new("greeting must not be empty"));
    }
    Ok(Box::new(Greeter {
        greeting: config.greeting,
    }))
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(url), Some(config)) = (flag(&args, "--server-url"), flag(&args, "--config")) else {
        eprintln!("usage: custom_builder --server-url URL --config FILE");
        return ExitCode::from(2);
    };
    match run(&url, &config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("custom_builder: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(url: &str, config: &str) -> Result<(), Box<dyn std::error::Error>> {
    let client = HttpClient::builder(url, "mason-example").build()?;
    let pools = FilePools::new(config);
    let builder = Builder::new(Arc::new(client.clone()), BuilderOptions::default());
    // Registering converters: a duplicate name is an error.
    builder.register_config_converter("Greeting", greeter)?;
    builder.register_config_converter(EXEC_CONVERTER, exec_converter(pools.base_dir()))?;
    let builder = builder
        .with_pool_source(pools)
        // Leftovers of a previous run, listed by `mason serve` (`/api/v2/resources`).
        .with_inventory(client);

    let running = builder.start();
    println!("building pools from {config} against {url}; Ctrl-C to stop");
    tokio::signal::ctrl_c().await?;
    println!("stopping: {:?}", running.status().pools);
    running.stop().await?;
    Ok(())
}
