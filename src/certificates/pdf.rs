//! The certificate as a PDF: A4 landscape, DejaVu Sans embedded and subset, a QR code of
//! the verification address drawn as vector squares. The same frozen data always give the
//! same bytes: fixed resource names, creation date from the data, and a document ID
//! derived from the number.

use std::sync::OnceLock;

use printpdf::{
    Color, FontId, Mm, Op, ParsedFont, PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Point,
    Pt, Rect, Rgb, TextItem,
};
use qrcode::{Color as QrColor, QrCode};
use sha2::{Digest, Sha256};

use chrono::{DateTime, Utc};

use super::Payload;

const WIDTH_MM: f32 = 297.0;
const HEIGHT_MM: f32 = 210.0;

pub(crate) struct Fonts {
    pub(crate) regular: ParsedFont,
    pub(crate) bold: ParsedFont,
}

/// DejaVu Sans, parsed once.
pub(crate) fn fonts() -> Result<&'static Fonts, String> {
    static FONTS: OnceLock<Result<Fonts, String>> = OnceLock::new();
    FONTS
        .get_or_init(|| {
            let parse = |bytes: &[u8], name: &str| {
                ParsedFont::from_bytes(bytes, 0, &mut Vec::new())
                    .ok_or_else(|| format!("cannot parse {name}"))
            };
            Ok(Fonts {
                regular: parse(dejavu::sans::regular(), "DejaVu Sans")?,
                bold: parse(dejavu::sans::bold(), "DejaVu Sans Bold")?,
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

pub(crate) fn rgb(r: f32, g: f32, b: f32) -> Color {
    Color::Rgb(Rgb {
        r,
        g,
        b,
        icc_profile: None,
    })
}

/// One absolutely placed line of text (its own text section: cursor moves are relative
/// inside a section).
pub(crate) fn line(
    ops: &mut Vec<Op>,
    font: &FontId,
    size: f32,
    x_mm: f32,
    y_mm: f32,
    color: Color,
    text: &str,
) {
    ops.extend([
        Op::StartTextSection,
        Op::SetFillColor { col: color },
        Op::SetFont {
            font: PdfFontHandle::External(font.clone()),
            size: Pt(size),
        },
        Op::SetLineHeight { lh: Pt(size * 1.2) },
        Op::SetTextCursor {
            pos: Point::new(Mm(x_mm), Mm(y_mm)),
        },
        Op::ShowText {
            items: vec![TextItem::Text(text.to_string())],
        },
        Op::EndTextSection,
    ]);
}

pub(crate) fn filled(ops: &mut Vec<Op>, x_mm: f32, y_mm: f32, w_mm: f32, h_mm: f32, color: Color) {
    ops.push(Op::SetFillColor { col: color });
    ops.push(Op::DrawPolygon {
        polygon: Rect::from_xywh(
            Mm(x_mm).into(),
            Mm(y_mm).into(),
            Mm(w_mm).into(),
            Mm(h_mm).into(),
        )
        .to_polygon(),
    });
}

/// What a Repères PDF says about itself.
pub(crate) struct Meta {
    pub(crate) title: String,
    pub(crate) author: String,
    pub(crate) subject: String,
    pub(crate) identifier: String,
    /// Creation, modification and metadata dates: the data's own instant, not the clock.
    pub(crate) at: DateTime<Utc>,
}

/// A new document with DejaVu Sans under fixed resource names (`F1` regular, `F2` bold)
/// and its metadata: (document, regular, bold).
pub(crate) fn document(meta: &Meta) -> Result<(PdfDocument, FontId, FontId), String> {
    let fonts = fonts()?;
    let mut doc = PdfDocument::new(&meta.title);
    // Fixed resource names, so that two renderings are byte for byte the same.
    let (regular, bold) = (FontId("F1".into()), FontId("F2".into()));
    for (id, font) in [(&regular, &fonts.regular), (&bold, &fonts.bold)] {
        let generated = doc.add_font(font);
        if let Some(f) = doc.resources.fonts.map.remove(&generated) {
            doc.resources.fonts.map.insert(id.clone(), f);
        }
    }
    let info = &mut doc.metadata.info;
    info.author = meta.author.clone();
    info.creator = "Repères".into();
    info.producer = "Repères".into();
    info.subject = meta.subject.clone();
    info.identifier = meta.identifier.clone();
    let at = printpdf::OffsetDateTime::from_unix_timestamp(meta.at.timestamp())
        .map_err(|e| e.to_string())?;
    info.creation_date = at;
    info.modification_date = at;
    info.metadata_date = at;
    Ok((doc, regular, bold))
}

/// Saves `pages` with subset fonts and a trailer identifier derived from `seed`: the same
/// pages and seed always give the same bytes.
pub(crate) fn save(mut doc: PdfDocument, pages: Vec<PdfPage>, seed: &str) -> Vec<u8> {
    doc.with_pages(pages);
    let opts = PdfSaveOptions {
        subset_fonts: true,
        ..Default::default()
    };
    let mut bytes = doc.save(&opts, &mut Vec::new());
    stable_id(&mut bytes, seed);
    bytes
}

/// French date, `30 novembre 2026`.
pub fn french_date(date: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    const MONTHS: [&str; 12] = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ];
    format!(
        "{} {} {}",
        date.day(),
        MONTHS[date.month0() as usize],
        date.year()
    )
}

/// Wraps `text` to lines of at most `max` characters, on spaces.
pub(crate) fn wrap(text: &str, max: usize) -> Vec<String> {
    let mut lines = vec![];
    let mut current = String::new();
    for word in text.split_whitespace() {
        if !current.is_empty() && current.chars().count() + 1 + word.chars().count() > max {
            lines.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(word);
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

/// What a signed document shows: the certificate of a module, or an attestation de
/// présence. Both share one layout.
struct Face<'a> {
    doc_title: String,
    subject: String,
    number: &'a str,
    issued: DateTime<Utc>,
    issuer_city: &'a str,
    issuer_service: &'a str,
    heading: &'a str,
    /// « a suivi et validé le module de formation ».
    verb: &'a str,
    holder: &'a str,
    title: &'a str,
    facts: Vec<String>,
}

/// Renders the certificate. `verify_url` goes in the QR code and under it.
pub fn render(payload: &Payload, verify_url: &str) -> Result<Vec<u8>, String> {
    draw(
        &Face {
            doc_title: format!("Attestation de formation {}", payload.number),
            subject: format!("Module « {} »", payload.module_title),
            number: &payload.number,
            issued: payload.completed_at,
            issuer_city: &payload.issuer_city,
            issuer_service: &payload.issuer_service,
            heading: "Attestation de formation",
            verb: "a suivi et validé le module de formation",
            holder: &payload.holder,
            title: &payload.module_title,
            facts: vec![
                format!(
                    "Validé le {}, avec un score de {} %",
                    french_date(
                        payload
                            .completed_at
                            .with_timezone(&chrono_tz::Europe::Paris)
                            .date_naive()
                    ),
                    payload.score
                ),
                format!("Valable jusqu'au {}", french_date(payload.valid_until)),
                format!("Version du module : {}", payload.module_version),
            ],
        },
        verify_url,
    )
}

/// Renders an attestation de présence (a shared session attended at every slot).
pub fn render_attendance(
    payload: &super::AttendancePayload,
    verify_url: &str,
) -> Result<Vec<u8>, String> {
    let mut facts: Vec<String> = payload
        .slots
        .iter()
        .take(3)
        .map(|s| format!("Présent ou présente le {s}"))
        .collect();
    if payload.slots.len() > 3 {
        facts.push(format!("… et {} autres créneaux", payload.slots.len() - 3));
    }
    facts.push(format!("Lieu : {}", payload.place));
    draw(
        &Face {
            doc_title: format!("Attestation de présence {}", payload.number),
            subject: format!("Formation « {} »", payload.training_title),
            number: &payload.number,
            issued: payload.attended_at,
            issuer_city: &payload.issuer_city,
            issuer_service: &payload.issuer_service,
            heading: "Attestation de présence",
            verb: "a suivi, à tous ses créneaux, la session de formation",
            holder: &payload.holder,
            title: &payload.training_title,
            facts,
        },
        verify_url,
    )
}

fn draw(face: &Face<'_>, verify_url: &str) -> Result<Vec<u8>, String> {
    let (doc, regular, bold) = document(&Meta {
        title: face.doc_title.clone(),
        author: format!("{} — {}", face.issuer_city, face.issuer_service),
        subject: face.subject.clone(),
        identifier: face.number.to_string(),
        at: face.issued,
    })?;

    let ink = || rgb(0.12, 0.12, 0.12);
    let brand = || rgb(0.0, 0.275, 0.498);
    let muted = || rgb(0.33, 0.33, 0.33);
    let mut ops = Vec::new();
    // Frame: a brand-coloured band on the left and a thin border.
    filled(&mut ops, 0.0, 0.0, 14.0, HEIGHT_MM, brand());
    ops.push(Op::SetOutlineColor { col: brand() });
    ops.push(Op::SetOutlineThickness { pt: Pt(1.2) });
    let mut border = Rect::from_xywh(
        Mm(22.0).into(),
        Mm(10.0).into(),
        Mm(WIDTH_MM - 32.0).into(),
        Mm(HEIGHT_MM - 20.0).into(),
    );
    border.mode = Some(printpdf::PaintMode::Stroke);
    ops.push(Op::DrawPolygon {
        polygon: border.to_polygon(),
    });

    let x = 34.0;
    line(
        &mut ops,
        &bold,
        13.0,
        x,
        182.0,
        brand(),
        &format!("{} — {}", face.issuer_city, face.issuer_service),
    );
    line(&mut ops, &bold, 30.0, x, 158.0, ink(), face.heading);
    line(
        &mut ops,
        &regular,
        13.0,
        x,
        142.0,
        muted(),
        "Prévention et lutte contre les discriminations",
    );
    line(
        &mut ops,
        &regular,
        13.0,
        x,
        124.0,
        ink(),
        "Nous attestons que",
    );
    line(&mut ops, &bold, 24.0, x, 110.0, ink(), face.holder);
    line(&mut ops, &regular, 13.0, x, 96.0, ink(), face.verb);
    let mut y = 84.0;
    for l in wrap(&format!("« {} »", face.title), 60).into_iter().take(2) {
        line(&mut ops, &bold, 16.0, x, y, brand(), &l);
        y -= 8.0;
    }
    let facts = &face.facts;
    let mut y = 58.0;
    for f in facts {
        line(&mut ops, &regular, 12.0, x, y, ink(), f);
        y -= 7.0;
    }
    line(
        &mut ops,
        &bold,
        13.0,
        x,
        27.0,
        ink(),
        &format!("N° {}", face.number),
    );
    line(&mut ops, &regular, 9.0, x, 20.0, muted(), "Authenticité vérifiable par toute personne, sans compte, à l'adresse indiquée sous le code.");

    // QR code of the verification address, bottom right.
    let code = QrCode::new(verify_url.as_bytes()).map_err(|e| e.to_string())?;
    let modules = code.width();
    let size_mm = 48.0_f32;
    let cell = size_mm / modules as f32;
    let (qx, qy) = (WIDTH_MM - 22.0 - size_mm - 8.0, 30.0);
    let colors = code.to_colors();
    ops.push(Op::SetFillColor {
        col: rgb(0.0, 0.0, 0.0),
    });
    for row in 0..modules {
        // Merge runs of dark modules on a row into one rectangle.
        let mut col = 0;
        while col < modules {
            if colors[row * modules + col] == QrColor::Dark {
                let start = col;
                while col < modules && colors[row * modules + col] == QrColor::Dark {
                    col += 1;
                }
                let y_mm = qy + size_mm - (row as f32 + 1.0) * cell;
                ops.push(Op::DrawPolygon {
                    polygon: Rect::from_xywh(
                        Mm(qx + start as f32 * cell).into(),
                        Mm(y_mm).into(),
                        Mm((col - start) as f32 * cell).into(),
                        Mm(cell).into(),
                    )
                    .to_polygon(),
                });
            } else {
                col += 1;
            }
        }
    }
    for (i, l) in wrap(verify_url, 34).iter().enumerate() {
        line(
            &mut ops,
            &regular,
            7.5,
            qx - 2.0,
            qy - 5.0 - i as f32 * 3.5,
            muted(),
            l,
        );
    }

    Ok(save(
        doc,
        vec![PdfPage::new(Mm(WIDTH_MM), Mm(HEIGHT_MM), ops)],
        face.number,
    ))
}

/// Replaces the random file identifiers of the trailer (`/ID [(…) (…)]`) with ones derived
/// from `number` (the document's seed), of the same length, so offsets stay valid.
fn stable_id(bytes: &mut [u8], number: &str) {
    let Some(pos) = find_last(bytes, b"/ID") else {
        return;
    };
    let digest = hex::encode(Sha256::digest(number.as_bytes()));
    let mut i = pos;
    let mut replaced = 0;
    while i < bytes.len() && replaced < 2 {
        if bytes[i] == b'(' {
            let start = i + 1;
            let Some(len) = bytes[start..].iter().position(|&b| b == b')') else {
                return;
            };
            let fill = digest.as_bytes();
            for (k, b) in bytes[start..start + len].iter_mut().enumerate() {
                *b = fill[k % fill.len()];
            }
            i = start + len + 1;
            replaced += 1;
        } else {
            i += 1;
        }
    }
}

fn find_last(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload() -> Payload {
        Payload {
            v: 1,
            number: "RPR-7KD2-M9QX-4T1B-ZZ9A".into(),
            holder: "Aïcha Diallo-Lefèvre".into(),
            module_slug: "accueil".into(),
            module_title: "Accueillir sans discriminer au guichet : réflexes et recours".into(),
            module_version: "0123456789abcdef".into(),
            score: 90,
            completed_at: chrono::DateTime::parse_from_rfc3339("2026-11-30T10:00:00Z")
                .unwrap()
                .into(),
            valid_until: chrono::NaiveDate::from_ymd_opt(2028, 11, 30).unwrap(),
            issuer_city: "Ville de Nancy".into(),
            issuer_service: "Mission lutte contre les discriminations".into(),
        }
    }

    #[test]
    fn the_same_data_give_the_same_bytes_and_a_small_file() {
        let a = render(
            &payload(),
            "http://127.0.0.1:8000/verify/RPR-7KD2-M9QX-4T1B-ZZ9A",
        )
        .unwrap();
        let b = render(
            &payload(),
            "http://127.0.0.1:8000/verify/RPR-7KD2-M9QX-4T1B-ZZ9A",
        )
        .unwrap();
        assert!(a.starts_with(b"%PDF-"));
        assert_eq!(a, b, "identical at every download");
        assert!(a.len() < 60 * 1024, "{} bytes", a.len());
    }

    #[test]
    fn dates_are_french() {
        assert_eq!(
            french_date(chrono::NaiveDate::from_ymd_opt(2026, 8, 1).unwrap()),
            "1 août 2026"
        );
        assert_eq!(
            wrap("un deux trois quatre", 9),
            vec!["un deux", "trois", "quatre"]
        );
    }
}
