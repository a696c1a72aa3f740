//! The printable sign-in sheet of a slot (feuille d'émargement), for rooms without a
//! screen: A4 portrait, the session and the slot, then one row per person holding a seat
//! with an empty signature column; as many pages as needed. printpdf, DejaVu Sans (shared
//! with the certificates).

use printpdf::{FontId, Line, LinePoint, Mm, Op, PdfDocument, PdfPage, PdfSaveOptions, Point, Pt};

use crate::certificates::pdf::{filled, fonts, line, rgb, wrap};

const WIDTH_MM: f32 = 210.0;
const HEIGHT_MM: f32 = 297.0;
/// Rows of people per page.
const ROWS_PER_PAGE: usize = 18;
const ROW_MM: f32 = 12.0;

/// What the sheet shows.
pub struct Sheet {
    pub title: String,
    /// « mardi 3 mars 2026, 9 h 00 à 12 h 30 ».
    pub slot: String,
    /// Créneau n sur m.
    pub slot_label: String,
    pub place: String,
    pub trainers: String,
    /// Name, and organisation or service, of each person holding a seat.
    pub people: Vec<(String, String)>,
}

fn rule(ops: &mut Vec<Op>, x1: f32, y1: f32, x2: f32, y2: f32) {
    ops.push(Op::DrawLine {
        line: Line {
            points: vec![
                LinePoint {
                    p: Point::new(Mm(x1), Mm(y1)),
                    bezier: false,
                },
                LinePoint {
                    p: Point::new(Mm(x2), Mm(y2)),
                    bezier: false,
                },
            ],
            is_closed: false,
        },
    });
}

/// Renders the sheet.
pub fn render(sheet: &Sheet) -> Result<Vec<u8>, String> {
    let fonts = fonts()?;
    let mut doc = PdfDocument::new(&format!("Feuille d'émargement — {}", sheet.title));
    let (regular, bold) = (FontId("F1".into()), FontId("F2".into()));
    for (id, font) in [(&regular, &fonts.regular), (&bold, &fonts.bold)] {
        let generated = doc.add_font(font);
        if let Some(f) = doc.resources.fonts.map.remove(&generated) {
            doc.resources.fonts.map.insert(id.clone(), f);
        }
    }
    doc.metadata.info.creator = "Repères".into();
    doc.metadata.info.producer = "Repères".into();
    let ink = || rgb(0.12, 0.12, 0.12);
    let brand = || rgb(0.0, 0.275, 0.498);
    let muted = || rgb(0.33, 0.33, 0.33);
    let chunks: Vec<&[(String, String)]> = if sheet.people.is_empty() {
        vec![&[]]
    } else {
        sheet.people.chunks(ROWS_PER_PAGE).collect()
    };
    let pages = chunks.len();
    let mut out = Vec::new();
    for (p, people) in chunks.into_iter().enumerate() {
        let mut ops = Vec::new();
        filled(&mut ops, 0.0, HEIGHT_MM - 8.0, WIDTH_MM, 8.0, brand());
        line(
            &mut ops,
            &bold,
            16.0,
            15.0,
            272.0,
            ink(),
            "Feuille d'émargement",
        );
        let mut y = 262.0;
        for l in wrap(&sheet.title, 70).into_iter().take(2) {
            line(&mut ops, &bold, 12.0, 15.0, y, brand(), &l);
            y -= 6.0;
        }
        for fact in [
            format!("{} : {}", sheet.slot_label, sheet.slot),
            format!("Lieu : {}", sheet.place),
            format!("Animation : {}", sheet.trainers),
        ] {
            for l in wrap(&fact, 95).into_iter().take(2) {
                line(&mut ops, &regular, 10.0, 15.0, y, ink(), &l);
                y -= 5.0;
            }
        }
        // The table: number, name, organisation or service, signature.
        let top = y - 4.0;
        let (x0, x1, x2, x3, x4) = (15.0, 25.0, 85.0, 140.0, 195.0);
        ops.push(Op::SetOutlineColor { col: ink() });
        ops.push(Op::SetOutlineThickness { pt: Pt(0.6) });
        line(&mut ops, &bold, 9.0, x0 + 1.0, top - 6.0, ink(), "N°");
        line(&mut ops, &bold, 9.0, x1 + 2.0, top - 6.0, ink(), "Nom");
        line(
            &mut ops,
            &bold,
            9.0,
            x2 + 2.0,
            top - 6.0,
            ink(),
            "Structure ou service",
        );
        line(
            &mut ops,
            &bold,
            9.0,
            x3 + 2.0,
            top - 6.0,
            ink(),
            "Signature",
        );
        let rows = people.len().max(if p + 1 == pages { 3 } else { 0 });
        let bottom = top - 9.0 - rows as f32 * ROW_MM;
        rule(&mut ops, x0, top, x4, top);
        rule(&mut ops, x0, top - 9.0, x4, top - 9.0);
        for x in [x0, x1, x2, x3, x4] {
            rule(&mut ops, x, top, x, bottom);
        }
        for i in 0..rows {
            let row_top = top - 9.0 - i as f32 * ROW_MM;
            rule(&mut ops, x0, row_top - ROW_MM, x4, row_top - ROW_MM);
            let n = p * ROWS_PER_PAGE + i + 1;
            line(
                &mut ops,
                &regular,
                9.0,
                x0 + 1.5,
                row_top - 7.5,
                muted(),
                &n.to_string(),
            );
            if let Some((name, org)) = people.get(i) {
                let name = wrap(name, 32).into_iter().next().unwrap_or_default();
                let org = wrap(org, 30).into_iter().next().unwrap_or_default();
                line(
                    &mut ops,
                    &regular,
                    9.5,
                    x1 + 2.0,
                    row_top - 7.5,
                    ink(),
                    &name,
                );
                line(
                    &mut ops,
                    &regular,
                    8.5,
                    x2 + 2.0,
                    row_top - 7.5,
                    muted(),
                    &org,
                );
            }
        }
        line(
            &mut ops,
            &regular,
            8.0,
            15.0,
            12.0,
            muted(),
            &format!(
                "Repères — page {} sur {pages}. Les lignes vides servent aux personnes venues sans inscription.",
                p + 1
            ),
        );
        out.push(PdfPage::new(Mm(WIDTH_MM), Mm(HEIGHT_MM), ops));
    }
    doc.with_pages(out);
    let opts = PdfSaveOptions {
        subset_fonts: true,
        ..Default::default()
    };
    Ok(doc.save(&opts, &mut Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_roster_of_forty_renders_as_a_small_pdf() {
        let people: Vec<(String, String)> = (0..40)
            .map(|i| (format!("Personne {i}"), "Centre social".to_string()))
            .collect();
        let pdf = render(&Sheet {
            title: "Observer et repérer les discriminations".into(),
            slot: "mardi 3 mars 2026, 9 h 00 à 12 h 30".into(),
            slot_label: "Créneau 1 sur 1".into(),
            place: "Hôtel de ville".into(),
            trainers: "Lucie Fontaine".into(),
            people,
        })
        .unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
        assert!(pdf.len() < 200 * 1024, "{} bytes", pdf.len());
    }
}
