//! The follow-up report for the plan's committee, from one snapshot: a PDF (title page,
//! one page per axis), an ODS spreadsheet and a CSV file. All three are rendered from the
//! same [`Report`], so they carry the same figures; each names its snapshot date.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use printpdf::{Color, FontId, Line, LineDashPattern, LinePoint, Mm, Op, PdfPage, Point, Pt};
use serde::Serialize;
use spreadsheet_ods::{Sheet, Value, WorkBook};

use crate::certificates::pdf::{document, filled, french_date, line, rgb, save, wrap, Meta};

/// Everything the report shows, already computed and suppressed: the renderers only lay
/// it out.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// « Plan d'égalité professionnelle — suivi au 1 décembre 2026 ».
    pub title: String,
    /// The snapshot the figures come from.
    pub snapshot_on: NaiveDate,
    pub taken_at: DateTime<Utc>,
    /// The plan's period, when HR recorded it.
    pub plan_from: Option<NaiveDate>,
    pub plan_to: Option<NaiveDate>,
    /// Cells counting fewer people than this are shown as « < k ».
    pub threshold: u64,
    /// « Ville de Nancy — Direction des ressources humaines ».
    pub issuer: String,
    pub axes: Vec<ReportAxis>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportAxis {
    /// `E1`…`E5`.
    pub code: String,
    pub title: String,
    pub actions: Vec<ReportAction>,
    pub indicators: Vec<ReportIndicator>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportAction {
    pub title: String,
    pub owner: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    /// « En cours », « Réalisée »…
    pub status: String,
    /// 0 to 100.
    pub progress: u8,
    pub late: bool,
    /// Marked « Réalisée ».
    pub done: bool,
    /// Marked « Abandonnée »: listed, not counted.
    pub abandoned: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportIndicator {
    pub code: String,
    pub title: String,
    /// The value at the snapshot; `None` when suppressed or when there is nothing to
    /// divide (then `shown` says which: « < 5 » or « — »).
    pub value: Option<f64>,
    /// The value as printed: « 42,5 % », « 12 », « < 5 », « — ».
    pub shown: String,
    /// « ≥ 80 % », empty without a target.
    pub target: String,
    pub target_value: Option<f64>,
    pub deadline: Option<NaiveDate>,
    /// `None` without a target or a value.
    pub on_target: Option<bool>,
    /// « Calcul automatique (Repères) » or the source HR typed in with a manual value.
    pub source: String,
    /// Values of the earlier snapshots up to this one, oldest first (`None`: suppressed
    /// or nothing to divide), for the chart.
    pub trend: Vec<(NaiveDate, Option<f64>)>,
    /// `percent`, `count`, `mean` or `number`: percent charts run from 0 to 100.
    pub unit: String,
}

// ---------------------------------------------------------------------------------------
// Shared wording and figures: the three renderers print the same things the same way.
// ---------------------------------------------------------------------------------------

/// `2026-12-01`.
fn iso(date: NaiveDate) -> String {
    format!("{:04}-{:02}-{:02}", date.year(), date.month(), date.day())
}

/// `01/12/2026`, for the PDF tables and charts.
fn short_date(date: NaiveDate) -> String {
    format!("{:02}/{:02}/{:04}", date.day(), date.month(), date.year())
}

/// Rounded to one decimal, like the `shown` values.
fn round1(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// `42,5`, `12`: one decimal at most, with a decimal comma.
fn fr_number(value: f64) -> String {
    let rounded = round1(value);
    // No « -0 » for a tiny negative value.
    let rounded = if rounded.abs() < 0.05 { 0.0 } else { rounded };
    let text = format!("{rounded:.1}");
    text.strip_suffix(".0").unwrap_or(&text).replace('.', ",")
}

/// « atteinte », « non atteinte », « — » (no target or no value).
fn attainment(on_target: Option<bool>) -> &'static str {
    match on_target {
        Some(true) => "atteinte",
        Some(false) => "non atteinte",
        None => "—",
    }
}

fn has_target(indicator: &ReportIndicator) -> bool {
    indicator.target_value.is_some() || !indicator.target.trim().is_empty()
}

/// The counts of one axis for the summaries.
struct Summary {
    actions: usize,
    done: usize,
    late: usize,
    indicators: usize,
    with_target: usize,
    on_target: usize,
}

fn summary(axis: &ReportAxis) -> Summary {
    Summary {
        // As on the dashboard: abandoned actions are not counted.
        actions: axis.actions.iter().filter(|a| !a.abandoned).count(),
        done: axis.actions.iter().filter(|a| a.done).count(),
        late: axis.actions.iter().filter(|a| a.late).count(),
        indicators: axis.indicators.len(),
        with_target: axis.indicators.iter().filter(|i| has_target(i)).count(),
        on_target: axis
            .indicators
            .iter()
            .filter(|i| i.on_target == Some(true))
            .count(),
    }
}

/// « du 1 janvier 2024 au 31 décembre 2026 », when HR recorded the period.
fn period(report: &Report) -> Option<String> {
    match (report.plan_from, report.plan_to) {
        (Some(from), Some(to)) => Some(format!("du {} au {}", french_date(from), french_date(to))),
        (Some(from), None) => Some(format!("à partir du {}", french_date(from))),
        (None, Some(to)) => Some(format!("jusqu'au {}", french_date(to))),
        (None, None) => None,
    }
}

/// The suppression rule, as the report states it.
fn threshold_sentence(threshold: u64) -> String {
    format!(
        "Pour qu'aucune personne ne puisse être reconnue, toute valeur qui porte sur moins de \
         {threshold} personnes est masquée et remplacée par « < {threshold} ». « — » signale \
         une valeur qui ne peut pas être calculée (aucun effectif de référence)."
    )
}

// ---------------------------------------------------------------------------------------
// PDF
// ---------------------------------------------------------------------------------------

const PAGE_W: f32 = 210.0;
const PAGE_H: f32 = 297.0;
const LEFT: f32 = 18.0;
const CONTENT_W: f32 = PAGE_W - 2.0 * LEFT;
/// Where the first line of a page goes.
const TOP: f32 = 280.0;
/// Nothing but the footer goes below this line.
const BOTTOM: f32 = 22.0;
const MM_PER_PT: f32 = 25.4 / 72.0;
/// Average advance of a DejaVu Sans character, in em, to wrap text to a width (bold text
/// is counted 8 % wider).
const CHAR_EM: f32 = 0.56;
const TABLE_SIZE: f32 = 8.0;
const HEADER_SIZE: f32 = 7.5;
/// Distance between two lines of a table cell, in millimetres.
const CELL_STEP: f32 = 3.6;
const CHART_W: f32 = 83.0;
const CHART_GAP: f32 = CONTENT_W - 2.0 * CHART_W;
const PLOT_H: f32 = 34.0;
/// Height taken by one row of charts, gap included.
const CHART_BLOCK: f32 = 58.0;

fn ink() -> Color {
    rgb(0.12, 0.12, 0.12)
}

fn brand() -> Color {
    rgb(0.0, 0.275, 0.498)
}

fn muted() -> Color {
    rgb(0.4, 0.4, 0.4)
}

fn rule() -> Color {
    rgb(0.8, 0.8, 0.8)
}

fn tint() -> Color {
    rgb(0.9, 0.93, 0.96)
}

fn alert() -> Color {
    rgb(0.72, 0.1, 0.1)
}

fn good() -> Color {
    rgb(0.1, 0.45, 0.2)
}

/// The target line of the charts.
fn accent() -> Color {
    rgb(0.85, 0.45, 0.0)
}

/// How many characters of `size` points fit in `width` millimetres.
fn fit(width: f32, size: f32) -> usize {
    let per_char = size * MM_PER_PT * CHAR_EM;
    ((width / per_char).floor() as usize).max(1)
}

/// `wrap`, then words longer than a line cut; always at least one line.
fn lines_of(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let mut lines = Vec::new();
    for l in wrap(text, max) {
        let chars: Vec<char> = l.chars().collect();
        if chars.len() <= max {
            lines.push(l);
        } else {
            lines.extend(chars.chunks(max).map(|c| c.iter().collect::<String>()));
        }
    }
    if lines.is_empty() {
        lines.push(String::new());
    }
    lines
}

/// At most `n` lines, the last one ending in « … » when text was left out.
fn clip(mut lines: Vec<String>, n: usize) -> Vec<String> {
    if lines.len() > n {
        lines.truncate(n);
        if let Some(last) = lines.last_mut() {
            last.push('…');
        }
    }
    lines
}

/// `text` cut to `max` characters, with « … » when it was longer.
fn ellipsis(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A stroked polyline, in millimetres.
fn stroke(ops: &mut Vec<Op>, points: &[(f32, f32)], color: Color, width_pt: f32) {
    ops.push(Op::SetOutlineColor { col: color });
    ops.push(Op::SetOutlineThickness { pt: Pt(width_pt) });
    ops.push(Op::DrawLine {
        line: Line {
            points: points
                .iter()
                .map(|&(x, y)| LinePoint {
                    p: Point::new(Mm(x), Mm(y)),
                    bezier: false,
                })
                .collect(),
            is_closed: false,
        },
    });
}

/// How a table cell is printed.
#[derive(Clone, Copy)]
enum Tone {
    Plain,
    /// Bold red: late, not reached.
    Alert,
    /// Green: reached.
    Good,
}

/// A table column: its header and its width in millimetres.
struct Col {
    header: &'static str,
    width: f32,
}

const SUMMARY_COLS: [Col; 5] = [
    Col {
        header: "Axe",
        width: 14.0,
    },
    Col {
        header: "Intitulé",
        width: 80.0,
    },
    Col {
        header: "Actions réalisées",
        width: 28.0,
    },
    Col {
        header: "Actions en retard",
        width: 20.0,
    },
    Col {
        header: "Cibles atteintes",
        width: 32.0,
    },
];

const ACTION_COLS: [Col; 6] = [
    Col {
        header: "Action",
        width: 62.0,
    },
    Col {
        header: "Responsable",
        width: 32.0,
    },
    Col {
        header: "Fin",
        width: 20.0,
    },
    Col {
        header: "Statut",
        width: 22.0,
    },
    Col {
        header: "Avancement",
        width: 20.0,
    },
    Col {
        header: "Retard",
        width: 18.0,
    },
];

const INDICATOR_COLS: [Col; 5] = [
    Col {
        header: "Indicateur",
        width: 70.0,
    },
    Col {
        header: "Valeur",
        width: 24.0,
    },
    Col {
        header: "Cible",
        width: 24.0,
    },
    Col {
        header: "Échéance",
        width: 22.0,
    },
    Col {
        header: "Atteinte",
        width: 34.0,
    },
];

/// Lays pages out top to bottom, and opens a new page when the next block does not fit.
struct Pages<'a> {
    regular: &'a FontId,
    bold: &'a FontId,
    /// The report's title, in every footer.
    footer: String,
    done: Vec<Vec<Op>>,
    ops: Vec<Op>,
    /// The baseline cursor, in millimetres from the bottom of the page.
    y: f32,
    /// The heading of the section being laid out, repeated « (suite) » on its next pages.
    heading: Option<String>,
}

impl<'a> Pages<'a> {
    fn new(regular: &'a FontId, bold: &'a FontId, footer: String) -> Self {
        Self {
            regular,
            bold,
            footer,
            done: Vec::new(),
            ops: Vec::new(),
            y: TOP,
            heading: None,
        }
    }

    /// Closes the current page with its footer, and opens a blank one.
    fn close_page(&mut self) {
        let number = self.done.len() + 1;
        let title = ellipsis(&self.footer, fit(CONTENT_W, 8.0).saturating_sub(12));
        let mut ops = std::mem::take(&mut self.ops);
        stroke(
            &mut ops,
            &[(LEFT, 15.0), (PAGE_W - LEFT, 15.0)],
            rule(),
            0.5,
        );
        line(
            &mut ops,
            self.regular,
            8.0,
            LEFT,
            10.0,
            muted(),
            &format!("{title} — page {number}"),
        );
        self.done.push(ops);
        self.y = TOP;
    }

    /// All the pages, the last one closed.
    fn finish(mut self) -> Vec<Vec<Op>> {
        self.close_page();
        self.done
    }

    /// Starts a section on a new page, under its heading.
    fn section(&mut self, heading: String) {
        self.close_page();
        self.draw_heading(&heading);
        self.heading = Some(heading);
    }

    /// Opens a new page (with the section heading, « (suite) ») when `height` millimetres
    /// do not fit under the cursor. Says whether it did.
    fn ensure(&mut self, height: f32) -> bool {
        if self.y - height >= BOTTOM {
            return false;
        }
        self.close_page();
        if let Some(heading) = self.heading.clone() {
            self.draw_heading(&format!("{heading} (suite)"));
        }
        true
    }

    fn draw_heading(&mut self, text: &str) {
        let size = 15.0;
        for l in lines_of(text, fit(CONTENT_W, size * 1.08)) {
            self.y -= 6.5;
            line(&mut self.ops, self.bold, size, LEFT, self.y, brand(), &l);
        }
        self.y -= 3.0;
        stroke(
            &mut self.ops,
            &[(LEFT, self.y), (PAGE_W - LEFT, self.y)],
            brand(),
            1.0,
        );
        self.y -= 4.0;
    }

    /// A paragraph wrapped to the content width.
    fn text(&mut self, bold: bool, size: f32, color: Color, text: &str) {
        let font = if bold { self.bold } else { self.regular };
        let step = size * MM_PER_PT * 1.3;
        let max = fit(CONTENT_W, if bold { size * 1.08 } else { size });
        for l in lines_of(text, max) {
            self.ensure(step);
            self.y -= step;
            line(&mut self.ops, font, size, LEFT, self.y, color.clone(), &l);
        }
    }

    /// A subheading, kept on the page with the next `keep_with` millimetres.
    fn subheading(&mut self, text: &str, keep_with: f32) {
        self.ensure(9.0 + keep_with);
        self.y -= 6.0;
        line(&mut self.ops, self.bold, 11.0, LEFT, self.y, ink(), text);
        self.y -= 3.0;
    }

    /// A table: a shaded header row (repeated after a page break), then the rows, each as
    /// tall as its most wrapped cell.
    fn table(&mut self, cols: &[Col], rows: &[Vec<(String, Tone)>]) {
        let header: Vec<Vec<String>> = cols
            .iter()
            .map(|c| lines_of(c.header, fit(c.width - 2.0, HEADER_SIZE * 1.08)))
            .collect();
        let header_h = header.iter().map(Vec::len).max().unwrap_or(1) as f32 * CELL_STEP + 2.5;
        self.ensure(header_h + 10.0);
        self.table_header(cols, &header, header_h);
        for row in rows {
            let cells: Vec<Vec<String>> = cols
                .iter()
                .zip(row)
                .map(|(c, (text, _))| lines_of(text, fit(c.width - 2.0, TABLE_SIZE)))
                .collect();
            let height = cells.iter().map(Vec::len).max().unwrap_or(1) as f32 * CELL_STEP + 2.0;
            if self.ensure(height) {
                self.table_header(cols, &header, header_h);
            }
            let mut x = LEFT;
            for ((col, lines), (_, tone)) in cols.iter().zip(&cells).zip(row) {
                let (font, color) = match tone {
                    Tone::Plain => (self.regular, ink()),
                    Tone::Alert => (self.bold, alert()),
                    Tone::Good => (self.regular, good()),
                };
                for (i, l) in lines.iter().enumerate() {
                    let y = self.y - 3.2 - i as f32 * CELL_STEP;
                    line(
                        &mut self.ops,
                        font,
                        TABLE_SIZE,
                        x + 1.0,
                        y,
                        color.clone(),
                        l,
                    );
                }
                x += col.width;
            }
            self.y -= height;
            stroke(
                &mut self.ops,
                &[(LEFT, self.y), (LEFT + CONTENT_W, self.y)],
                rule(),
                0.4,
            );
        }
    }

    fn table_header(&mut self, cols: &[Col], header: &[Vec<String>], height: f32) {
        filled(
            &mut self.ops,
            LEFT,
            self.y - height,
            CONTENT_W,
            height,
            tint(),
        );
        let mut x = LEFT;
        for (col, lines) in cols.iter().zip(header) {
            for (i, l) in lines.iter().enumerate() {
                let y = self.y - 3.2 - i as f32 * CELL_STEP;
                line(
                    &mut self.ops,
                    self.bold,
                    HEADER_SIZE,
                    x + 1.0,
                    y,
                    brand(),
                    l,
                );
            }
            x += col.width;
        }
        self.y -= height;
    }

    /// The trend chart of one indicator, in a box `width` wide whose top is at `top`: the
    /// non-suppressed values as a line with dots, the target dashed, the first and last
    /// dates under the axis.
    fn chart(&mut self, x0: f32, top: f32, width: f32, indicator: &ReportIndicator) {
        let title = clip(
            lines_of(
                &format!("{} — {}", indicator.code, indicator.title),
                fit(width, 8.0 * 1.08),
            ),
            2,
        );
        for (i, l) in title.iter().enumerate() {
            let y = top - 3.0 - i as f32 * 3.4;
            line(&mut self.ops, self.bold, 8.0, x0, y, ink(), l);
        }
        let (px, pw) = (x0 + 11.0, width - 13.0);
        let (py, ph) = (top - 10.0 - PLOT_H, PLOT_H);
        let percent = indicator.unit == "percent";
        let hi = if percent {
            100.0
        } else {
            let max = indicator
                .trend
                .iter()
                .filter_map(|(_, v)| *v)
                .chain(indicator.target_value)
                .fold(0.0_f64, f64::max);
            if max > 0.0 {
                max * 1.1
            } else {
                1.0
            }
        };
        let to_y = |v: f64| py + ((v / hi).clamp(0.0, 1.0) as f32) * ph;

        // Scale: light lines at half and full height, labelled on the left.
        let suffix = if percent { " %" } else { "" };
        for (k, v) in [0.0, hi / 2.0, hi].into_iter().enumerate() {
            let y = to_y(v);
            if k > 0 {
                stroke(&mut self.ops, &[(px, y), (px + pw, y)], rule(), 0.3);
            }
            let label = format!("{}{suffix}", fr_number(v));
            line(
                &mut self.ops,
                self.regular,
                6.5,
                x0,
                y - 1.0,
                muted(),
                &label,
            );
        }
        stroke(
            &mut self.ops,
            &[(px, py + ph), (px, py), (px + pw, py)],
            ink(),
            0.6,
        );

        if let Some(target) = indicator.target_value {
            let y = to_y(target);
            self.ops.push(Op::SetLineDashPattern {
                dash: LineDashPattern::new(0.0, &[3.0, 2.0]),
            });
            stroke(&mut self.ops, &[(px, y), (px + pw, y)], accent(), 0.9);
            self.ops.push(Op::SetLineDashPattern {
                dash: LineDashPattern::solid(),
            });
            line(
                &mut self.ops,
                self.regular,
                6.5,
                px + pw - 8.0,
                y + 1.0,
                accent(),
                "cible",
            );
        }

        let (Some((first, _)), Some((last, _))) = (indicator.trend.first(), indicator.trend.last())
        else {
            return;
        };
        let span = last.signed_duration_since(*first).num_days();
        let count = indicator.trend.len();
        let to_x = |i: usize, date: NaiveDate| {
            let t = if span > 0 {
                date.signed_duration_since(*first).num_days() as f32 / span as f32
            } else if count > 1 {
                i as f32 / (count - 1) as f32
            } else {
                0.5
            };
            px + 2.0 + t.clamp(0.0, 1.0) * (pw - 4.0)
        };
        let points: Vec<(f32, f32)> = indicator
            .trend
            .iter()
            .enumerate()
            .filter_map(|(i, (date, v))| v.map(|v| (to_x(i, *date), to_y(v))))
            .collect();
        if points.len() >= 2 {
            stroke(&mut self.ops, &points, brand(), 1.2);
        }
        for &(x, y) in &points {
            filled(&mut self.ops, x - 0.75, y - 0.75, 1.5, 1.5, brand());
        }
        if points.is_empty() {
            line(
                &mut self.ops,
                self.regular,
                7.0,
                px + 3.0,
                py + ph / 2.0,
                muted(),
                "Valeurs masquées ou non calculables",
            );
        }
        let y = py - 4.0;
        line(
            &mut self.ops,
            self.regular,
            6.5,
            px,
            y,
            muted(),
            &short_date(*first),
        );
        line(
            &mut self.ops,
            self.regular,
            6.5,
            px + pw - 13.5,
            y,
            muted(),
            &short_date(*last),
        );
    }
}

fn action_rows(axis: &ReportAxis) -> Vec<Vec<(String, Tone)>> {
    axis.actions
        .iter()
        .map(|a| {
            let late = if a.late { Tone::Alert } else { Tone::Plain };
            vec![
                (a.title.clone(), Tone::Plain),
                (a.owner.clone(), Tone::Plain),
                (short_date(a.ends_on), late),
                (a.status.clone(), Tone::Plain),
                (format!("{} %", a.progress), Tone::Plain),
                (
                    if a.late { "en retard" } else { "" }.to_string(),
                    Tone::Alert,
                ),
            ]
        })
        .collect()
}

fn indicator_rows(axis: &ReportAxis) -> Vec<Vec<(String, Tone)>> {
    axis.indicators
        .iter()
        .map(|i| {
            let tone = match i.on_target {
                Some(true) => Tone::Good,
                Some(false) => Tone::Alert,
                None => Tone::Plain,
            };
            let target = if i.target.is_empty() {
                "—".to_string()
            } else {
                i.target.clone()
            };
            vec![
                (format!("{} — {}", i.code, i.title), Tone::Plain),
                (i.shown.clone(), Tone::Plain),
                (target, Tone::Plain),
                (
                    i.deadline.map(short_date).unwrap_or_else(|| "—".into()),
                    Tone::Plain,
                ),
                (attainment(i.on_target).to_string(), tone),
            ]
        })
        .collect()
}

/// The pages of the report, as drawing operations.
fn layout(report: &Report, regular: &FontId, bold: &FontId) -> Vec<Vec<Op>> {
    let mut p = Pages::new(regular, bold, report.title.clone());

    // Title page.
    filled(&mut p.ops, 0.0, 0.0, 8.0, PAGE_H, brand());
    p.y = 276.0;
    p.text(true, 11.0, brand(), &report.issuer);
    p.y -= 12.0;
    p.text(true, 22.0, ink(), &report.title);
    p.y -= 4.0;
    p.text(
        false,
        13.0,
        ink(),
        &format!("Instantané du {}", french_date(report.snapshot_on)),
    );
    if let Some(period) = period(report) {
        p.text(false, 11.0, muted(), &format!("Période du plan : {period}"));
    }
    p.y -= 6.0;
    stroke(
        &mut p.ops,
        &[(LEFT, p.y), (PAGE_W - LEFT, p.y)],
        rule(),
        0.6,
    );
    p.y -= 2.0;
    p.text(false, 10.0, ink(), &threshold_sentence(report.threshold));
    p.y -= 2.0;
    p.text(
        false,
        10.0,
        ink(),
        "Ce document, le tableur et le fichier CSV qui l'accompagnent reprennent les mêmes \
         chiffres, tous tirés de cet instantané.",
    );
    p.y -= 6.0;
    p.subheading("Synthèse par axe", 16.0);
    if report.axes.is_empty() {
        p.text(false, 9.5, muted(), "Aucun axe dans ce plan.");
    } else {
        let rows: Vec<Vec<(String, Tone)>> = report
            .axes
            .iter()
            .map(|axis| {
                let s = summary(axis);
                let late = if s.late > 0 { Tone::Alert } else { Tone::Plain };
                vec![
                    (axis.code.clone(), Tone::Plain),
                    (axis.title.clone(), Tone::Plain),
                    (format!("{} / {}", s.done, s.actions), Tone::Plain),
                    (s.late.to_string(), late),
                    (format!("{} / {}", s.on_target, s.with_target), Tone::Plain),
                ]
            })
            .collect();
        p.table(&SUMMARY_COLS, &rows);
    }

    // One section per axis.
    for axis in &report.axes {
        p.section(format!("Axe {} : {}", axis.code, axis.title));
        p.subheading("Actions", 16.0);
        if axis.actions.is_empty() {
            p.text(
                false,
                9.5,
                muted(),
                "Aucune action enregistrée pour cet axe.",
            );
        } else {
            p.table(&ACTION_COLS, &action_rows(axis));
        }
        p.y -= 5.0;
        p.subheading("Indicateurs", 16.0);
        if axis.indicators.is_empty() {
            p.text(false, 9.5, muted(), "Aucun indicateur pour cet axe.");
        } else {
            p.table(&INDICATOR_COLS, &indicator_rows(axis));
        }
        let charted: Vec<&ReportIndicator> = axis
            .indicators
            .iter()
            .filter(|i| i.trend.len() >= 2)
            .collect();
        if !charted.is_empty() {
            p.y -= 5.0;
            p.subheading("Évolution des indicateurs", CHART_BLOCK);
            for pair in charted.chunks(2) {
                p.ensure(CHART_BLOCK);
                let top = p.y;
                for (k, indicator) in pair.iter().enumerate() {
                    let x = LEFT + k as f32 * (CHART_W + CHART_GAP);
                    p.chart(x, top, CHART_W, indicator);
                }
                p.y -= CHART_BLOCK;
            }
        }
    }
    p.finish()
}

/// The PDF: A4 portrait, a title page with the summary per axis, then one section per axis
/// (actions, indicators, trend charts), running over several pages when needed. The same
/// report always gives the same bytes.
pub fn pdf(report: &Report) -> Result<Vec<u8>, String> {
    let (doc, regular, bold) = document(&Meta {
        title: report.title.clone(),
        author: report.issuer.clone(),
        subject: format!(
            "Suivi du plan d'égalité professionnelle — instantané du {}",
            french_date(report.snapshot_on)
        ),
        identifier: format!("egalite-{}", iso(report.snapshot_on)),
        at: report.taken_at,
    })?;
    let pages: Vec<PdfPage> = layout(report, &regular, &bold)
        .into_iter()
        .map(|ops| PdfPage::new(Mm(PAGE_W), Mm(PAGE_H), ops))
        .collect();
    let seed = format!(
        "{}|{}|{}",
        report.title,
        iso(report.snapshot_on),
        report.taken_at.timestamp()
    );
    Ok(save(doc, pages, &seed))
}

// ---------------------------------------------------------------------------------------
// ODS
// ---------------------------------------------------------------------------------------

/// A text cell; nothing for an empty text, so that the cell stays empty.
fn ods_text(sheet: &mut Sheet, row: u32, col: u32, text: &str) {
    if !text.is_empty() {
        sheet.set_value(row, col, Value::Text(text.to_string()));
    }
}

fn ods_number(sheet: &mut Sheet, row: u32, col: u32, value: f64) {
    sheet.set_value(row, col, Value::Number(value));
}

fn ods_header(sheet: &mut Sheet, row: u32, labels: &[&str]) {
    for (col, label) in (0u32..).zip(labels) {
        ods_text(sheet, row, col, label);
    }
}

/// The ODS spreadsheet: « Synthèse », « Actions », « Indicateurs », « Évolution ». Dates
/// are ISO text (`2026-12-01`); values are numbers rounded like the shown ones, empty when
/// suppressed.
pub fn ods(report: &Report) -> Result<Vec<u8>, String> {
    let mut wb = WorkBook::new_empty();

    let mut sheet = Sheet::new("Synthèse");
    let facts = [
        ("Rapport", report.title.clone()),
        ("Émetteur", report.issuer.clone()),
        ("Instantané du", iso(report.snapshot_on)),
        (
            "Début du plan",
            report.plan_from.map(iso).unwrap_or_default(),
        ),
        ("Fin du plan", report.plan_to.map(iso).unwrap_or_default()),
        ("Secret statistique", threshold_sentence(report.threshold)),
    ];
    for (row, (label, value)) in (0u32..).zip(&facts) {
        ods_text(&mut sheet, row, 0, label);
        ods_text(&mut sheet, row, 1, value);
    }
    // A blank row, then the summary table.
    let header_row = 7;
    ods_header(
        &mut sheet,
        header_row,
        &[
            "Axe",
            "Intitulé",
            "Actions",
            "Actions réalisées",
            "Actions en retard",
            "Indicateurs",
            "Indicateurs avec cible",
            "Indicateurs atteints",
        ],
    );
    for (row, axis) in (header_row + 1..).zip(&report.axes) {
        let s = summary(axis);
        ods_text(&mut sheet, row, 0, &axis.code);
        ods_text(&mut sheet, row, 1, &axis.title);
        let counts = [
            s.actions,
            s.done,
            s.late,
            s.indicators,
            s.with_target,
            s.on_target,
        ];
        for (col, count) in (2u32..).zip(counts) {
            ods_number(&mut sheet, row, col, count as f64);
        }
    }
    wb.push_sheet(sheet);

    let mut sheet = Sheet::new("Actions");
    ods_header(
        &mut sheet,
        0,
        &[
            "Axe",
            "Action",
            "Responsable",
            "Début",
            "Fin",
            "Statut",
            "Avancement (%)",
            "En retard",
        ],
    );
    let actions = report
        .axes
        .iter()
        .flat_map(|axis| axis.actions.iter().map(move |a| (axis, a)));
    for (row, (axis, a)) in (1u32..).zip(actions) {
        ods_text(&mut sheet, row, 0, &axis.code);
        ods_text(&mut sheet, row, 1, &a.title);
        ods_text(&mut sheet, row, 2, &a.owner);
        ods_text(&mut sheet, row, 3, &iso(a.starts_on));
        ods_text(&mut sheet, row, 4, &iso(a.ends_on));
        ods_text(&mut sheet, row, 5, &a.status);
        ods_number(&mut sheet, row, 6, f64::from(a.progress));
        ods_text(&mut sheet, row, 7, if a.late { "oui" } else { "non" });
    }
    wb.push_sheet(sheet);

    let mut sheet = Sheet::new("Indicateurs");
    ods_header(
        &mut sheet,
        0,
        &[
            "Axe",
            "Code",
            "Indicateur",
            "Valeur",
            "Valeur affichée",
            "Cible",
            "Échéance",
            "Atteinte",
            "Source",
        ],
    );
    let indicators = report
        .axes
        .iter()
        .flat_map(|axis| axis.indicators.iter().map(move |i| (axis, i)));
    for (row, (axis, i)) in (1u32..).zip(indicators) {
        ods_text(&mut sheet, row, 0, &axis.code);
        ods_text(&mut sheet, row, 1, &i.code);
        ods_text(&mut sheet, row, 2, &i.title);
        if let Some(value) = i.value {
            ods_number(&mut sheet, row, 3, round1(value));
        }
        ods_text(&mut sheet, row, 4, &i.shown);
        ods_text(&mut sheet, row, 5, &i.target);
        ods_text(&mut sheet, row, 6, &i.deadline.map(iso).unwrap_or_default());
        ods_text(&mut sheet, row, 7, attainment(i.on_target));
        ods_text(&mut sheet, row, 8, &i.source);
    }
    wb.push_sheet(sheet);

    let mut sheet = Sheet::new("Évolution");
    ods_header(&mut sheet, 0, &["Code", "Indicateur", "Date", "Valeur"]);
    let points = report
        .axes
        .iter()
        .flat_map(|axis| axis.indicators.iter())
        .flat_map(|i| i.trend.iter().map(move |(date, value)| (i, *date, *value)));
    for (row, (i, date, value)) in (1u32..).zip(points) {
        ods_text(&mut sheet, row, 0, &i.code);
        ods_text(&mut sheet, row, 1, &i.title);
        ods_text(&mut sheet, row, 2, &iso(date));
        if let Some(value) = value {
            ods_number(&mut sheet, row, 3, round1(value));
        }
    }
    wb.push_sheet(sheet);

    spreadsheet_ods::write_ods_buf(&mut wb, Vec::new()).map_err(|e| format!("ODS : {e}"))
}

// ---------------------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------------------

/// The CSV file: UTF-8 with a BOM, `;`-separated, every value quoted and neutralised by
/// [`crate::views::cell`]. The value of an indicator is its shown text (« < 5 » included).
pub fn csv(report: &Report) -> String {
    use crate::views::cell;
    let mut out = String::from("\u{feff}");
    out.push_str(&format!("{};{}\r\n", cell("Rapport"), cell(&report.title)));
    out.push_str(&format!(
        "{};{}\r\n",
        cell("Instantané du"),
        cell(&iso(report.snapshot_on))
    ));
    out.push_str("\r\n");
    out.push_str(
        "Axe;Type;Libellé;Responsable;Début;Fin;Statut;Avancement (%);Valeur;Cible;Échéance;\
         Atteinte;Source\r\n",
    );
    let mut push_row = |values: [String; 13]| {
        let cells: Vec<String> = values.iter().map(|v| cell(v)).collect();
        out.push_str(&cells.join(";"));
        out.push_str("\r\n");
    };
    for axis in &report.axes {
        for a in &axis.actions {
            let status = if a.late {
                format!("{} (en retard)", a.status)
            } else {
                a.status.clone()
            };
            push_row([
                axis.code.clone(),
                "Action".into(),
                a.title.clone(),
                a.owner.clone(),
                iso(a.starts_on),
                iso(a.ends_on),
                status,
                a.progress.to_string(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
        for i in &axis.indicators {
            push_row([
                axis.code.clone(),
                "Indicateur".into(),
                format!("{} — {}", i.code, i.title),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                i.shown.clone(),
                i.target.clone(),
                i.deadline.map(iso).unwrap_or_default(),
                attainment(i.on_target).into(),
                i.source.clone(),
            ]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn sample() -> Report {
        Report {
            title: "Plan d'égalité professionnelle — suivi au 1 décembre 2026".into(),
            snapshot_on: date(2026, 12, 1),
            taken_at: DateTime::parse_from_rfc3339("2026-12-01T06:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
            plan_from: Some(date(2024, 1, 1)),
            plan_to: Some(date(2026, 12, 31)),
            threshold: 5,
            issuer: "Ville de Nancy — Direction des ressources humaines".into(),
            axes: vec![
                ReportAxis {
                    code: "E1".into(),
                    title: "Évaluer, prévenir et, le cas échéant, traiter les écarts de \
                            rémunération"
                        .into(),
                    actions: vec![
                        ReportAction {
                            title: "=SOMME(A1)".into(),
                            owner: "Claire Martin".into(),
                            starts_on: date(2025, 1, 1),
                            ends_on: date(2026, 6, 30),
                            status: "En cours".into(),
                            progress: 40,
                            late: true,
                            done: false,
                            abandoned: false,
                        },
                        ReportAction {
                            title: "Publier l'index de l'égalité professionnelle".into(),
                            owner: "Direction des ressources humaines".into(),
                            starts_on: date(2025, 1, 1),
                            ends_on: date(2025, 3, 1),
                            status: "Réalisée".into(),
                            progress: 100,
                            late: false,
                            done: false,
                            abandoned: false,
                        },
                    ],
                    indicators: vec![
                        ReportIndicator {
                            code: "E1-01".into(),
                            title: "Part des femmes parmi les agents promus".into(),
                            value: Some(42.46),
                            shown: "42,5 %".into(),
                            target: "≥ 40 %".into(),
                            target_value: Some(40.0),
                            deadline: Some(date(2026, 12, 31)),
                            on_target: Some(true),
                            source: "Calcul automatique (Repères)".into(),
                            trend: vec![
                                (date(2026, 10, 1), Some(35.0)),
                                (date(2026, 11, 1), Some(38.2)),
                                (date(2026, 12, 1), Some(42.46)),
                            ],
                            unit: "percent".into(),
                        },
                        ReportIndicator {
                            code: "E1-02".into(),
                            title: "Agents à temps partiel de catégorie A".into(),
                            value: None,
                            shown: "< 5".into(),
                            target: String::new(),
                            target_value: None,
                            deadline: None,
                            on_target: None,
                            source: "Calcul automatique (Repères)".into(),
                            trend: vec![(date(2026, 11, 1), None), (date(2026, 12, 1), None)],
                            unit: "count".into(),
                        },
                    ],
                },
                ReportAxis {
                    code: "E2".into(),
                    title: "Garantir l'égal accès aux emplois".into(),
                    actions: vec![ReportAction {
                        title: "Former les jurys de recrutement".into(),
                        owner: "Service formation".into(),
                        starts_on: date(2026, 1, 1),
                        ends_on: date(2027, 6, 30),
                        status: "En cours".into(),
                        progress: 25,
                        late: false,
                        done: false,
                        abandoned: false,
                    }],
                    indicators: vec![ReportIndicator {
                        code: "E2-01".into(),
                        title: "Jurys formés".into(),
                        value: Some(12.0),
                        shown: "12".into(),
                        target: "≥ 20".into(),
                        target_value: Some(20.0),
                        deadline: Some(date(2027, 6, 30)),
                        on_target: Some(false),
                        source: "Saisie RH".into(),
                        trend: vec![(date(2026, 12, 1), Some(12.0))],
                        unit: "count".into(),
                    }],
                },
            ],
        }
    }

    #[test]
    fn the_pdf_is_the_same_at_every_rendering() {
        let report = sample();
        let a = super::pdf(&report).unwrap();
        let b = super::pdf(&report).unwrap();
        assert!(a.starts_with(b"%PDF"));
        assert_eq!(a, b, "identical at every download");
    }

    #[test]
    fn one_page_per_axis_and_more_when_an_axis_runs_over() {
        let (regular, bold) = (FontId("F1".into()), FontId("F2".into()));
        assert_eq!(layout(&sample(), &regular, &bold).len(), 3);

        let mut big = sample();
        let action = big.axes[0].actions[0].clone();
        big.axes[0].actions = vec![action; 80];
        let pages = layout(&big, &regular, &bold);
        assert!(pages.len() > 3, "{} pages", pages.len());
        let texts: Vec<String> = pages[2]
            .iter()
            .filter_map(|op| match op {
                Op::ShowText { items } => Some(
                    items
                        .iter()
                        .filter_map(|i| match i {
                            printpdf::TextItem::Text(t) => Some(t.clone()),
                            _ => None,
                        })
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect();
        assert!(texts.iter().any(|t| t.contains("(suite)")), "{texts:?}");
        assert!(texts.iter().any(|t| t.ends_with("— page 3")), "{texts:?}");

        // Many axes still render, and the same way twice.
        let a = super::pdf(&big).unwrap();
        assert_eq!(a, super::pdf(&big).unwrap());
    }

    #[test]
    fn the_ods_is_a_zip_with_its_mimetype() {
        let bytes = super::ods(&sample()).unwrap();
        assert!(bytes.starts_with(b"PK"));
        assert!(bytes.windows(8).any(|w| w == b"mimetype"));
    }

    #[test]
    fn the_csv_has_a_bom_semicolons_and_neutralised_cells() {
        let text = super::csv(&sample());
        assert!(text.starts_with('\u{feff}'));
        assert!(text.contains("\"Rapport\";\"Plan d'égalité professionnelle"));
        assert!(text.contains("\"Instantané du\";\"2026-12-01\""));
        assert!(text.contains("Axe;Type;Libellé;Responsable;Début;Fin;Statut;"));
        assert!(text.contains("\"< 5\""));
        assert!(text.contains("\"'=SOMME(A1)\""));
        assert!(text.contains("\"En cours (en retard)\""));
        assert!(text.contains("\"42,5 %\""));
        let table: Vec<&str> = text.lines().skip(4).collect();
        assert_eq!(table.len(), 3 + 3, "one line per action and indicator");
        assert!(
            table.iter().all(|l| l.split(';').count() == 13),
            "{table:?}"
        );
    }

    #[test]
    fn numbers_round_like_the_shown_values() {
        assert_eq!(fr_number(42.46), "42,5");
        assert_eq!(fr_number(12.0), "12");
        assert_eq!(fr_number(-0.01), "0");
        assert!((round1(38.25) - 38.3).abs() < 1e-9);
        assert_eq!(
            lines_of("abcdefghij court", 4),
            vec!["abcd", "efgh", "ij", "cour", "t"]
        );
        assert_eq!(lines_of("", 10), vec![String::new()]);
    }
}
