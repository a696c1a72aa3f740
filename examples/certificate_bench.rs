//! Certificate benchmark (run with `bench/certificates.sh`): median time to render one PDF
//! and its size, then N certificates (default 10,000) written into a ZIP as the HR export
//! does. Prints the figures.

use std::time::Instant;

use reperes::certificates::{export, pdf, store::CertificateRow, Certifier, Signer25519};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let (signer, _) = Signer25519::generate();
    let certifier = Certifier {
        previous_keys: Vec::new(),
        signer,
        issuer_city: "Ville de Nancy".into(),
        issuer_service: "Mission lutte contre les discriminations".into(),
        public_url: "https://reperes.nancy.example".into(),
    };
    let drafts: Vec<_> = (0..n.max(300))
        .map(|i| {
            certifier.draft(
                &format!("Hélène Lefèvre-Çelik {i}"),
                "accueil-sans-discrimination",
                "Accueillir sans discriminer au guichet",
                "0123456789abcdef",
                90,
                chrono::Utc::now(),
                reperes::learning::valid_until(chrono::Utc::now(), 24),
            )
        })
        .collect();

    // Warm up (font parsing happens once per process).
    pdf::render(
        &drafts[0].payload,
        &certifier.verify_url(&drafts[0].payload.number),
    )
    .unwrap();
    let mut times = Vec::new();
    let mut size = 0;
    for d in drafts.iter().take(300) {
        let start = Instant::now();
        let bytes = pdf::render(&d.payload, &certifier.verify_url(&d.payload.number)).unwrap();
        times.push(start.elapsed());
        size = bytes.len();
    }
    times.sort();
    println!(
        "render: median {:.2} ms, p90 {:.2} ms, max {:.2} ms over {} certificates; file size {:.1} KB",
        times[times.len() / 2].as_secs_f64() * 1000.0,
        times[times.len() * 9 / 10].as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0,
        times.len(),
        size as f64 / 1024.0
    );

    let rows: Vec<CertificateRow> = drafts
        .iter()
        .take(n)
        .map(|d| CertificateRow {
            id: d.id,
            number: d.payload.number.clone(),
            user_id: uuid::Uuid::nil(),
            module_slug: d.payload.module_slug.clone(),
            payload: d.payload_json.clone(),
            signature: d.signature.clone(),
            key_id: d.key_id.clone(),
            issued_at: d.payload.completed_at,
            superseded_at: None,
            revoked_at: None,
            revocation_reason: None,
            successor_issued_at: None,
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("reperes-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("export.zip");
    let start = Instant::now();
    export::write_zip(&certifier, &rows, &path, None).unwrap();
    let elapsed = start.elapsed();
    let zip_size = std::fs::metadata(&path).unwrap().len();
    println!(
        "zip export: {} certificates in {:.1} s ({:.0} per second), {:.1} MB",
        rows.len(),
        elapsed.as_secs_f64(),
        rows.len() as f64 / elapsed.as_secs_f64(),
        zip_size as f64 / 1024.0 / 1024.0
    );
    let _ = std::fs::remove_dir_all(dir);
}
