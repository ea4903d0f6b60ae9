//! `--plot`: latency-by-percentile curves of several `--json` results in one SVG.
//!
//! The chart follows the HdrHistogram plotter: the x axis is logarithmic in
//! `1 / (1 - percentile)`, so 90%, 99%, 99.9%, 99.99% and 99.999% are evenly spaced and
//! the tail gets as much room as the median; the y axis is latency in milliseconds,
//! linear from zero. Each input file is one curve (its all-commands total), labelled
//! with the file name. The SVG is written by hand; it needs no plotting library.

use crate::error::Error;
use crate::report::{PercentilePoint, RunReport, REPORT_FORMAT};
use std::fmt::Write;
use std::path::{Path, PathBuf};

const WIDTH_PX: f64 = 960.0;
const HEIGHT_PX: f64 = 540.0;
const MARGIN_LEFT_PX: f64 = 80.0;
const MARGIN_RIGHT_PX: f64 = 30.0;
const MARGIN_TOP_PX: f64 = 50.0;
const MARGIN_BOTTOM_PX: f64 = 60.0;
/// The x axis ends at 99.999%: five nines, five decades of `1 / (1 - p)`.
const X_DECADES: u32 = 5;
/// Roughly how many latency grid lines to draw.
const Y_TICKS_TARGET: f64 = 6.0;
/// Most curves in one chart; beyond that the legend and colours stop being readable.
pub const PLOT_INPUTS_MAX: usize = 16;
const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// One curve: a label and its points.
pub struct Series {
    pub label: String,
    pub points: Vec<PercentilePoint>,
}

/// Reads `--json` results and writes the chart to `out`.
pub fn plot_files(inputs: &[PathBuf], out: &Path) -> Result<(), Error> {
    let series = inputs
        .iter()
        .map(|path| read_series(path))
        .collect::<Result<Vec<_>, _>>()?;
    std::fs::write(out, render(&series)).map_err(|source| Error::Output {
        path: out.to_path_buf(),
        source,
    })
}

fn read_series(path: &Path) -> Result<Series, Error> {
    let input_error = |message: String| Error::PlotInput {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| input_error(e.to_string()))?;
    let report: RunReport = serde_json::from_str(&text)
        .map_err(|e| input_error(format!("not a corekv-loadgen --json result: {e}")))?;
    if report.format != REPORT_FORMAT {
        return Err(input_error(format!(
            "format '{}', expected '{REPORT_FORMAT}'",
            report.format
        )));
    }
    if report.total.percentiles.is_empty() {
        return Err(input_error("the run recorded no latencies".to_string()));
    }
    let label = path
        .file_stem()
        .unwrap_or(path.as_os_str())
        .to_string_lossy()
        .into_owned();
    Ok(Series {
        label,
        points: report.total.percentiles,
    })
}

/// The whole SVG document.
pub fn render(series: &[Series]) -> String {
    let y_max_ms = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.latency_ms))
        .fold(0.0, f64::max);
    let (y_step_ms, y_top_ms) = nice_axis(y_max_ms);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH_PX}" height="{HEIGHT_PX}" viewBox="0 0 {WIDTH_PX} {HEIGHT_PX}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="28" text-anchor="middle" font-size="16">Latency by Percentile Distribution</text>"#,
        WIDTH_PX / 2.0
    );
    draw_x_axis(&mut svg);
    draw_y_axis(&mut svg, y_step_ms, y_top_ms);
    for (index, s) in series.iter().enumerate() {
        draw_series(&mut svg, s, COLORS[index % COLORS.len()], y_top_ms);
        draw_legend_entry(&mut svg, index, &s.label, COLORS[index % COLORS.len()]);
    }
    svg.push_str("</svg>\n");
    svg
}

fn plot_width_px() -> f64 {
    WIDTH_PX - MARGIN_LEFT_PX - MARGIN_RIGHT_PX
}

fn plot_height_px() -> f64 {
    HEIGHT_PX - MARGIN_TOP_PX - MARGIN_BOTTOM_PX
}

/// Horizontal position of `percentile` (0 to 100); 100 is drawn at the axis end.
fn x_px(percentile: f64) -> f64 {
    let remaining = (1.0 - percentile / 100.0).max(10f64.powi(-(X_DECADES as i32)));
    let decades = -remaining.log10();
    MARGIN_LEFT_PX + decades / f64::from(X_DECADES) * plot_width_px()
}

fn y_px(latency_ms: f64, y_top_ms: f64) -> f64 {
    MARGIN_TOP_PX + plot_height_px() * (1.0 - latency_ms / y_top_ms)
}

/// A round grid step (1, 2 or 5 times a power of ten) and the axis top it gives.
fn nice_axis(max_ms: f64) -> (f64, f64) {
    let max_ms = if max_ms > 0.0 { max_ms } else { 1.0 };
    let raw_step = max_ms / Y_TICKS_TARGET;
    let magnitude = 10f64.powf(raw_step.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&step| step >= raw_step)
        .unwrap_or(10.0 * magnitude);
    (step, (max_ms / step).ceil() * step)
}

fn draw_x_axis(svg: &mut String) {
    let bottom = MARGIN_TOP_PX + plot_height_px();
    for decade in 0..=X_DECADES {
        let percentile = 100.0 * (1.0 - 10f64.powi(-(decade as i32)));
        let x = x_px(percentile);
        let label = match decade {
            0 => "0%".to_string(),
            d => format!(
                "{}%",
                format_percentile(percentile, (d as usize).saturating_sub(2))
            ),
        };
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{MARGIN_TOP_PX}" x2="{x:.1}" y2="{bottom}" stroke="#ddd"/>"##
        );
        let _ = writeln!(
            svg,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
            bottom + 18.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">Percentile</text>"#,
        MARGIN_LEFT_PX + plot_width_px() / 2.0,
        HEIGHT_PX - 15.0
    );
}

fn format_percentile(percentile: f64, decimals: usize) -> String {
    format!("{percentile:.decimals$}")
}

fn draw_y_axis(svg: &mut String, step_ms: f64, top_ms: f64) {
    let right = MARGIN_LEFT_PX + plot_width_px();
    let ticks = (top_ms / step_ms).round() as usize;
    let decimals = (-step_ms.log10().floor()).max(0.0) as usize;
    for tick in 0..=ticks {
        let value = tick as f64 * step_ms;
        let y = y_px(value, top_ms);
        let _ = writeln!(
            svg,
            r##"<line x1="{MARGIN_LEFT_PX}" y1="{y:.1}" x2="{right}" y2="{y:.1}" stroke="#ddd"/>"##
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{value:.decimals$}</text>"#,
            MARGIN_LEFT_PX - 6.0,
            y + 4.0
        );
    }
    let middle = MARGIN_TOP_PX + plot_height_px() / 2.0;
    let _ = writeln!(
        svg,
        r#"<text x="20" y="{middle:.1}" text-anchor="middle" transform="rotate(-90 20 {middle:.1})">Latency (milliseconds)</text>"#
    );
    let _ = writeln!(
        svg,
        r##"<rect x="{MARGIN_LEFT_PX}" y="{MARGIN_TOP_PX}" width="{}" height="{}" fill="none" stroke="#444"/>"##,
        plot_width_px(),
        plot_height_px()
    );
}

fn draw_series(svg: &mut String, series: &Series, color: &str, y_top_ms: f64) {
    let mut points = String::new();
    for point in &series.points {
        let _ = write!(
            points,
            "{:.1},{:.1} ",
            x_px(point.percentile),
            y_px(point.latency_ms, y_top_ms)
        );
    }
    let _ = writeln!(
        svg,
        r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
        points.trim_end()
    );
}

fn draw_legend_entry(svg: &mut String, index: usize, label: &str, color: &str) {
    let x = MARGIN_LEFT_PX + 16.0;
    let y = MARGIN_TOP_PX + 20.0 + 18.0 * index as f64;
    let _ = writeln!(
        svg,
        r#"<line x1="{x}" y1="{:.1}" x2="{}" y2="{:.1}" stroke="{color}" stroke-width="3"/>"#,
        y - 4.0,
        x + 24.0,
        y - 4.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{y:.1}">{}</text>"#,
        x + 30.0,
        xml_escape(label)
    );
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(percentile: f64, latency_ms: f64) -> PercentilePoint {
        PercentilePoint {
            percentile,
            latency_ms,
            count: 0,
        }
    }

    #[test]
    fn x_axis_is_logarithmic_in_the_tail() {
        let step = plot_width_px() / f64::from(X_DECADES);
        assert!((x_px(0.0) - MARGIN_LEFT_PX).abs() < 1e-9);
        assert!((x_px(90.0) - (MARGIN_LEFT_PX + step)).abs() < 1e-6);
        assert!((x_px(99.9) - (MARGIN_LEFT_PX + 3.0 * step)).abs() < 1e-6);
        assert!((x_px(100.0) - (MARGIN_LEFT_PX + plot_width_px())).abs() < 1e-6);
    }

    #[test]
    fn nice_axis_rounds_up_to_a_round_step() {
        assert_eq!(nice_axis(9.3), (2.0, 10.0));
        assert_eq!(nice_axis(0.42), (0.1, 0.5));
        assert_eq!(nice_axis(1_000.0), (200.0, 1_000.0));
        assert_eq!(nice_axis(0.0), (0.2, 1.0));
    }

    #[test]
    fn renders_one_curve_and_legend_entry_per_series() {
        let series = [
            Series {
                label: "redis <7>".to_string(),
                points: vec![point(0.0, 0.1), point(99.0, 0.5), point(100.0, 2.0)],
            },
            Series {
                label: "corekv".to_string(),
                points: vec![point(0.0, 0.05), point(100.0, 1.0)],
            },
        ];
        let svg = render(&series);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("redis &lt;7&gt;"));
        for label in ["0%", "90%", "99%", "99.9%", "99.99%", "99.999%"] {
            assert!(svg.contains(&format!(">{label}</text>")), "{label}");
        }
    }
}
