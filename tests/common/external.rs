//! Real external parties started by the tests: the OIDC provider and the SMTP server of
//! `tests/support` (Node programs), each on a free loopback port, stopped on drop.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::manifest_path;

pub struct Process {
    child: Child,
    /// What the READY line said (the issuer URL or the port).
    pub ready: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn node_script(script: &str, args: &[&str]) -> Process {
    let support = manifest_path("tests/support");
    assert!(
        support.join("node_modules").is_dir(),
        "run `npm ci` in tests/support first (scripts/test does)"
    );
    let mut child = Command::new("node")
        .arg(support.join(script))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node runs");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the program says READY");
    let ready = line
        .trim()
        .strip_prefix("READY ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    Process { child, ready }
}

/// The OIDC provider; `ready` is its issuer URL.
pub fn oidc_provider(redirect_uri: &str) -> Process {
    node_script(
        "oidc-provider.mjs",
        &["--port", "0", "--redirect-uri", redirect_uri],
    )
}

/// Logs in at the provider as `user` (or refuses with `deny`); returns the URL the
/// provider redirects the browser to.
pub fn oidc_login(authorize_url: &str, user: &str, deny: bool) -> String {
    let mut cmd = Command::new("node");
    cmd.arg(manifest_path("tests/support/oidc-login.mjs"))
        .arg(authorize_url)
        .arg(user);
    if deny {
        cmd.arg("--deny");
    }
    let out = cmd.output().expect("node runs");
    assert!(
        out.status.success(),
        "oidc-login failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The capturing SMTP server; `ready` is its port.
pub fn smtp_server(dir: &Path) -> Process {
    node_script(
        "smtp-capture.mjs",
        &["--port", "0", "--dir", dir.to_str().unwrap()],
    )
}

/// The capturing SMTP server with extra options (`--tls-key`, `--user`, …).
pub fn smtp_server_with(dir: &Path, extra: &[&str]) -> Process {
    let mut args = vec!["--port", "0", "--dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    node_script("smtp-capture.mjs", &args)
}

/// A certificate authority and a server certificate for 127.0.0.1 signed by it, made with
/// the openssl command: (CA certificate, server key, server certificate) paths in `dir`.
pub fn tls_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is needed (installed by ./scripts/test)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=Reperes test CA",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
    (
        dir.join("ca.crt"),
        dir.join("server.key"),
        dir.join("server.crt"),
    )
}

/// Mail files in `dir`, oldest first.
pub fn mails(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "eml"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Waits for the `n`th mail and returns its decoded text.
pub fn wait_for_mail(dir: &Path, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let files = mails(dir);
        if files.len() >= n {
            return decode_mail(&std::fs::read_to_string(&files[n - 1]).unwrap());
        }
        assert!(Instant::now() < deadline, "no mail number {n} within 10 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Headers plus the body decoded from its transfer encoding (quoted-printable or base64).
pub fn decode_mail(raw: &str) -> String {
    let (headers, body) = raw
        .split_once("\r\n\r\n")
        .or_else(|| raw.split_once("\n\n"))
        .unwrap_or((raw, ""));
    let lower = headers.to_lowercase();
    let decoded = if lower.contains("content-transfer-encoding: base64") {
        use base64::Engine;
        let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        String::from_utf8(
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .unwrap(),
        )
        .unwrap()
    } else if lower.contains("content-transfer-encoding: quoted-printable") {
        let joined = body.replace("=\r\n", "").replace("=\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let hex = (bytes[i] == b'=' && i + 2 < bytes.len())
                .then(|| u8::from_str_radix(&joined[i + 1..i + 3], 16).ok())
                .flatten();
            match hex {
                Some(b) => {
                    out.push(b);
                    i += 3;
                }
                None => {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).unwrap()
    } else {
        body.to_string()
    };
    format!("{headers}\n\n{decoded}")
}
