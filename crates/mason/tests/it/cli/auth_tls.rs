//! Mason's own client commands against `mason serve --auth-file` over HTTPS: `--ca-file`
//! (or `MASON_CA_FILE`) trusts the test's CA and the credentials (Basic or a token) travel
//! inside TLS; without the CA the server's certificate is refused with a clear error
//! (exit 4, unreachable), and a CA file that holds no certificate is a usage error.

use super::auth::{auth_file_text, Server};
use super::common::{command, mason, parts, POOL};
use crate::tls::Ca;

#[tokio::test]
async fn client_commands_trust_the_ca_file_and_authenticate_over_https() {
    let ca = Ca::new();
    let leaf = ca.leaf("mason serve");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert, &leaf.cert_pem).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    let ca_pem = ca.pem();
    let server = Server::serve_with(
        POOL,
        Some(&auth_file_text()),
        Some((&cert, &key, ca_pem.as_str())),
    )
    .await;
    let ca_file = server.file("ca.pem", &ca_pem);
    let password = server.file("ci.txt", "ci-pw\n");
    let token = server.file("root.txt", "root-token\n");
    let (ca_file, password) = (ca_file.to_str().unwrap(), password.to_str().unwrap());

    // Basic credentials and --ca-file.
    let out = mason(
        &server.url,
        "ci-7",
        &[
            "acquire",
            "--type",
            "t1",
            "--state",
            "free",
            "--target-state",
            "busy",
            "--username",
            "ci",
            "--password-file",
            password,
            "--ca-file",
            ca_file,
        ],
    )
    .await;
    let (code, stdout, stderr) = parts(&out);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("\"owner\":\"ci-7\""), "{stdout}");

    // A token and the CA from the environment.
    let mut cmd = command(&server.url, "x", &["metrics", "--type", "t1"]);
    cmd.env("MASON_CA_FILE", ca_file)
        .env("MASON_TOKEN_FILE", &token);
    let (code, stdout, stderr) = parts(&cmd.output().await.unwrap());
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("\"busy\":1"), "{stdout}");

    // The same HTTPS server without trusting its CA: the handshake fails before any
    // credential is sent, and the command ends as "unreachable" (exit 4) naming the
    // certificate (after the client's usual retries of a transport error).
    let out = mason(
        &server.url,
        "ci-7",
        &[
            "metrics",
            "--type",
            "t1",
            "--username",
            "ci",
            "--password-file",
            password,
        ],
    )
    .await;
    let (code, _, stderr) = parts(&out);
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("invalid peer certificate"), "{stderr}");

    // A CA file without a certificate: a usage error naming the file.
    let empty = server.file("empty.pem", "not a certificate\n");
    let out = mason(
        &server.url,
        "x",
        &[
            "metrics",
            "--type",
            "t1",
            "--ca-file",
            empty.to_str().unwrap(),
        ],
    )
    .await;
    let (code, _, stderr) = parts(&out);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("empty.pem"), "{stderr}");
    server.stop().await;
}
