//! Inline SVG bar charts: stacked counts, or stacked shares of 100 %. No script, no fonts or
//! styles fetched from anywhere: the report opens offline and prints as it shows.

use std::fmt::Write as _;

use super::escape;

/// One stacked series: its name, its colour and a value per bar.
pub struct Series<'a> {
    pub name: &'a str,
    pub colour: &'a str,
    pub values: Vec<u64>,
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 28.0;
const TOP: f64 = 12.0;

/// Bars labelled `labels` (every `label_every`-th shown), each the stack of `series`.
/// With `shares`, each bar is the series' share of its total (an empty bar stays empty).
pub fn stacked_bars(labels: &[String], series: &[Series<'_>], shares: bool, label_every: usize) -> String {
    let totals: Vec<u64> = (0..labels.len()).map(|i| series.iter().map(|s| s.values[i]).sum()).collect();
    let max = if shares { 100 } else { nice_max(totals.iter().copied().max().unwrap_or(0)) };
    let plot_width = WIDTH - LEFT - 8.0;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let slot = plot_width / labels.len().max(1) as f64;
    let bar = (slot * 0.72).max(1.0);
    let mut svg = String::new();
    let _ = write!(svg, r#"<svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" class="chart">"#);
    // Gridlines and their values: nought, half, the top.
    for step in 0..=2u64 {
        let value = max * step / 2;
        let y = TOP + plot_height - plot_height * step as f64 / 2.0;
        let shown = if shares { format!("{value}%") } else { value.to_string() };
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#e5e7eb"/><text x="{}" y="{:.1}" class="axis" text-anchor="end">{shown}</text>"##,
            WIDTH - 8.0,
            LEFT - 6.0,
            y + 4.0
        );
    }
    for (i, label) in labels.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let mut y = TOP + plot_height;
        let mut tip = vec![escape(label)];
        for s in series {
            let value = s.values[i];
            if value == 0 {
                continue;
            }
            let height = if shares {
                plot_height * value as f64 / totals[i].max(1) as f64
            } else {
                plot_height * value as f64 / max.max(1) as f64
            };
            y -= height;
            tip.push(format!("{}: {value}", escape(s.name)));
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{height:.1}" fill="{}"><title>{}: {value}</title></rect>"#,
                s.colour,
                escape(s.name)
            );
        }
        if i % label_every.max(1) == 0 {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" class="axis" text-anchor="middle">{}</text>"#,
                x + bar / 2.0,
                HEIGHT - 8.0,
                escape(label)
            );
        }
    }
    svg.push_str("</svg>");
    svg.push_str(&legend(series));
    svg
}

fn legend(series: &[Series<'_>]) -> String {
    let mut out = String::from(r#"<div class="legend">"#);
    for s in series {
        let _ = write!(out, r#"<span><i style="background:{}"></i>{}</span>"#, s.colour, escape(s.name));
    }
    out.push_str("</div>");
    out
}

/// A round number at or above `max`, so gridlines read easily (0, 5, 10, 20, 50, 100...).
fn nice_max(max: u64) -> u64 {
    let mut nice = 2u64;
    loop {
        for step in [1, 2, 5] {
            if nice * step / 2 >= max {
                return nice * step / 2;
            }
        }
        nice *= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gridlines_land_on_round_numbers() {
        let cases = [(0, 1), (1, 1), (3, 5), (7, 10), (11, 20), (42, 50), (99, 100), (180, 200), (730, 1000)];
        for (max, nice) in cases {
            assert_eq!(nice_max(max), nice, "{max}");
        }
    }

    #[test]
    fn bars_stack_their_series_and_name_them() {
        let labels = vec!["Mon".to_owned(), "Tue <b>".to_owned()];
        let series = [
            Series { name: "x", colour: "#111", values: vec![3, 0] },
            Series { name: "facebook", colour: "#22f", values: vec![1, 4] },
        ];
        let svg = stacked_bars(&labels, &series, false, 1);
        assert_eq!(svg.matches("<rect").count(), 3, "no rectangle for a zero");
        assert!(svg.contains("<title>facebook: 4</title>"));
        assert!(svg.contains("Tue &lt;b&gt;") && !svg.contains("<b>"), "labels are escaped");
        let shares = stacked_bars(&labels, &series, true, 1);
        assert!(shares.contains(">100%<") && shares.contains(">50%<"));
    }
}
