//! The trend of an indicator as an SVG drawn on the server: no chart script in the page.
//! The picture is decorative for screen readers (`aria-hidden`): the page gives the same
//! figures as a sentence and a data table.

use chrono::NaiveDate;

use super::Unit;

const WIDTH: f64 = 480.0;
const HEIGHT: f64 = 180.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The scale's top: 100 for a share, otherwise a round number above the largest value and
/// the target.
fn top(unit: Unit, values: &[f64], target: Option<f64>) -> f64 {
    if unit == Unit::Percent {
        return 100.0;
    }
    let max = values
        .iter()
        .copied()
        .chain(target)
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let magnitude = 10f64.powf(max.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= max / 4.0)
        .unwrap_or(magnitude * 10.0);
    (max / step).ceil() * step
}

/// The chart of `points` (oldest first; `None`: not shown, as in the table), with the
/// target as a dashed line.
pub fn trend(points: &[(NaiveDate, Option<f64>)], unit: Unit, target: Option<f64>) -> String {
    let values: Vec<f64> = points.iter().filter_map(|(_, v)| *v).collect();
    let min = values.iter().copied().fold(0.0_f64, f64::min);
    let max = top(unit, &values, target);
    let span = (max - min).max(1e-9);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |i: usize| {
        if points.len() <= 1 {
            LEFT + plot_w / 2.0
        } else {
            LEFT + plot_w * i as f64 / (points.len() - 1) as f64
        }
    };
    let y = |v: f64| TOP + plot_h * (1.0 - (v - min) / span);
    let mut svg = format!(
        r#"<svg class="trend" viewBox="0 0 {WIDTH} {HEIGHT}" aria-hidden="true" focusable="false" xmlns="http://www.w3.org/2000/svg">"#
    );
    // Grid: the bottom, the middle and the top of the scale, labelled.
    for v in [min, min + span / 2.0, max] {
        svg.push_str(&format!(
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#c8c8c8" stroke-width="1"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#333">{}</text>"##,
            WIDTH - RIGHT,
            y(v),
            y(v),
            LEFT - 4.0,
            y(v) + 4.0,
            esc(&unit.format(v))
        ));
    }
    if let Some(t) = target {
        svg.push_str(&format!(
            r##"<line x1="{LEFT}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#a4133c" stroke-width="1.5" stroke-dasharray="6 4"/>"##,
            WIDTH - RIGHT,
            y(t),
            y(t)
        ));
    }
    // The line, broken where a value is not shown.
    let mut run: Vec<String> = Vec::new();
    let mut runs: Vec<Vec<String>> = Vec::new();
    for (i, (_, v)) in points.iter().enumerate() {
        match v {
            Some(v) => run.push(format!("{:.1},{:.1}", x(i), y(*v))),
            None => {
                if !run.is_empty() {
                    runs.push(std::mem::take(&mut run));
                }
            }
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    for r in runs {
        svg.push_str(&format!(
            r##"<polyline fill="none" stroke="#00467f" stroke-width="2" points="{}"/>"##,
            r.join(" ")
        ));
    }
    for (i, (_, v)) in points.iter().enumerate() {
        if let Some(v) = v {
            svg.push_str(&format!(
                r##"<circle cx="{:.1}" cy="{:.1}" r="3" fill="#00467f"/>"##,
                x(i),
                y(*v)
            ));
        }
    }
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        svg.push_str(&format!(
            r##"<text x="{LEFT}" y="{:.1}" font-size="11" fill="#333">{}</text>"##,
            HEIGHT - 8.0,
            first.0.format("%d/%m/%Y")
        ));
        if points.len() > 1 {
            svg.push_str(&format!(
                r##"<text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#333">{}</text>"##,
                WIDTH - RIGHT,
                HEIGHT - 8.0,
                last.0.format("%d/%m/%Y")
            ));
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_trend_draws_one_dot_per_shown_value_and_breaks_at_hidden_ones() {
        let svg = trend(
            &[
                (d("2026-01-01"), Some(40.0)),
                (d("2026-02-01"), None),
                (d("2026-03-01"), Some(55.0)),
                (d("2026-04-01"), Some(60.0)),
            ],
            Unit::Percent,
            Some(80.0),
        );
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<circle").count(), 3);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("stroke-dasharray"));
        assert!(svg.contains("aria-hidden=\"true\""));
        assert!(svg.contains("100 %"));
    }

    #[test]
    fn counts_get_a_round_scale_above_the_largest_value() {
        assert_eq!(top(Unit::Count, &[37.0], None), 40.0);
        assert_eq!(top(Unit::Count, &[3.0], Some(12.0)), 20.0);
    }
}
