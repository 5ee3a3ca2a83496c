//! The run drawn as an SVG by hand: users in their rooms (left axis) and delivery p99
//! per progress window (right axis) over time, so a latency knee lines up with the
//! user count that caused it. With node RSS samples (a `--data-dir` run) the highest
//! node RSS per tick is a third, dashed series on its own scale, named in the legend
//! with that scale and labelled with its peak, so memory growth lines up with load too.

use std::fmt::Write;

use super::report::Point;
use super::usage::round1;

const W: f64 = 900.0;
const H: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 70.0;
/// Room above the frame for the title and, below it, the legend row.
const TOP: f64 = 56.0;
const LEGEND_Y: f64 = 42.0;
const BOTTOM: f64 = 50.0;
const USERS: &str = "#1f77b4";
const P99: &str = "#d62728";
const RSS: &str = "#9467bd";

/// A round step that splits `max` into about `parts` intervals (1, 2 or 5 times a
/// power of ten).
fn nice_step(max: f64, parts: f64) -> f64 {
    let raw = (max / parts).max(1e-9);
    let magnitude = 10f64.powf(raw.log10().floor());
    let unit = [1.0, 2.0, 5.0, 10.0].into_iter().find(|m| m * magnitude >= raw).unwrap_or(10.0);
    unit * magnitude
}

/// The axis top: `max` rounded up to a whole step, and the step.
fn axis(max: f64) -> (f64, f64) {
    let step = nice_step(max.max(1.0), 5.0);
    ((max.max(1.0) / step).ceil() * step, step)
}

fn label(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The highest RSS among the tracked processes at each tick that has samples, as
/// (time, MB); empty when nothing was sampled (no `--data-dir`).
fn max_rss(points: &[Point]) -> Vec<(f64, f64)> {
    points
        .iter()
        .filter(|p| !p.node_rss_mb.is_empty())
        .map(|p| (p.t_s, p.node_rss_mb.iter().copied().fold(0.0, f64::max)))
        .collect()
}

/// A dash pattern for the RSS series, so it reads apart from the two solid lines.
const RSS_DASH: &str = r#" stroke-dasharray="6 3""#;

/// One row of swatches (colour, dash attribute or "") and names between the title and
/// the frame; a name is assumed about 7 px a character wide, enough at font size 12.
fn legend(s: &mut String, entries: &[(&str, &str, String)]) {
    let mut x = LEFT;
    for (colour, dash, name) in entries {
        let _ = writeln!(
            s,
            r#"<line x1="{x:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="2"{dash}/>
<text x="{:.1}" y="{LEGEND_Y:.1}">{}</text>"#,
            LEGEND_Y - 4.0,
            x + 20.0,
            LEGEND_Y - 4.0,
            x + 26.0,
            escape(name)
        );
        x += 26.0 + name.chars().count() as f64 * 7.0 + 20.0;
    }
}

/// The SVG document for `points`; `title` goes on top.
pub fn svg(title: &str, points: &[Point]) -> String {
    let t_max = points.iter().map(|p| p.t_s).fold(0.0, f64::max);
    let (t_top, t_step) = axis(t_max);
    let (u_top, u_step) = axis(points.iter().map(|p| p.users as f64).fold(0.0, f64::max));
    let (l_top, l_step) = axis(points.iter().map(|p| p.p99_ms).fold(0.0, f64::max));
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let x = |t: f64| LEFT + t / t_top * pw;
    let y_users = |u: f64| TOP + ph - u / u_top * ph;
    let y_lat = |l: f64| TOP + ph - l / l_top * ph;
    let rss = max_rss(points);
    let rss_peak = rss.iter().map(|&(_, r)| r).fold(0.0, f64::max);
    let (r_top, _) = axis(rss_peak);
    let y_rss = |r: f64| TOP + ph - r / r_top * ph;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(s, r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#, W / 2.0, escape(title));
    let mut entries = vec![(USERS, "", "users in room".to_string()), (P99, "", "delivery p99 (ms)".to_string())];
    if !rss.is_empty() {
        entries.push((RSS, RSS_DASH, format!("highest node RSS (MB, frame height = {})", label(r_top))));
    }
    legend(&mut s, &entries);
    // Grid and axes.
    let mut v = 0.0;
    while v <= u_top + 1e-9 {
        let y = y_users(v);
        let _ = writeln!(s, r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e5e5e5"/>"##, LEFT + pw);
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="{USERS}">{}</text>"#,
            LEFT - 6.0,
            y + 4.0,
            label(v)
        );
        v += u_step;
    }
    let mut v = 0.0;
    while v <= l_top + 1e-9 {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" fill="{P99}">{}</text>"#,
            LEFT + pw + 6.0,
            y_lat(v) + 4.0,
            label(v)
        );
        v += l_step;
    }
    let mut t = 0.0;
    while t <= t_top + 1e-9 {
        let _ =
            writeln!(s, r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#, x(t), TOP + ph + 18.0, label(t));
        t += t_step;
    }
    let _ = writeln!(
        s,
        r#"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="black"/>
<text x="{:.1}" y="{:.1}" text-anchor="middle">time (s)</text>
<text x="18" y="{:.1}" fill="{USERS}" transform="rotate(-90 18 {:.1})" text-anchor="middle">users in room</text>
<text x="{:.1}" y="{:.1}" fill="{P99}" transform="rotate(90 {:.1} {:.1})" text-anchor="middle">delivery p99 (ms)</text>"#,
        LEFT + pw / 2.0,
        H - 12.0,
        TOP + ph / 2.0,
        TOP + ph / 2.0,
        W - 18.0,
        TOP + ph / 2.0,
        W - 18.0,
        TOP + ph / 2.0
    );
    let line = |f: &dyn Fn(&Point) -> f64| -> String {
        points.iter().map(|p| format!("{:.1},{:.1}", x(p.t_s), f(p))).collect::<Vec<_>>().join(" ")
    };
    let _ = writeln!(
        s,
        r#"<polyline fill="none" stroke="{USERS}" stroke-width="2" points="{}"/>"#,
        line(&|p| y_users(p.users as f64))
    );
    let _ = writeln!(
        s,
        r#"<polyline fill="none" stroke="{P99}" stroke-width="2" points="{}"/>"#,
        line(&|p| y_lat(p.p99_ms))
    );
    if !rss.is_empty() {
        rss_series(&mut s, &rss, rss_peak, &x, &y_rss);
    }
    s.push_str("</svg>\n");
    s
}

/// The dashed RSS line and a label with its peak next to the peak's point, on the
/// side of it that stays inside the frame, since this series has no axis of its own.
fn rss_series(s: &mut String, rss: &[(f64, f64)], peak: f64, x: &dyn Fn(f64) -> f64, y: &dyn Fn(f64) -> f64) {
    let points = rss.iter().map(|&(t, r)| format!("{:.1},{:.1}", x(t), y(r))).collect::<Vec<_>>().join(" ");
    let _ = writeln!(s, r#"<polyline fill="none" stroke="{RSS}" stroke-width="2"{RSS_DASH} points="{points}"/>"#);
    let Some(&(t, r)) = rss.iter().find(|&&(_, r)| r == peak) else { return };
    let (px, py) = (x(t), y(r));
    let (lx, anchor) = if px > LEFT + (W - LEFT - RIGHT) / 2.0 { (px - 4.0, "end") } else { (px + 4.0, "start") };
    let _ = writeln!(
        s,
        r#"<text x="{lx:.1}" y="{:.1}" text-anchor="{anchor}" fill="{RSS}">peak {} MB</text>"#,
        (py - 6.0).max(TOP + 14.0),
        label(round1(peak))
    );
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(t_s: f64, users: usize, p99_ms: f64) -> Point {
        Point {
            t_s,
            users,
            sent_per_s: 0.0,
            delivered_per_s: 0.0,
            p50_ms: 0.0,
            p99_ms,
            generator_cpu_pct: 0.0,
            node_rss_mb: Vec::new(),
        }
    }

    /// The (x, y) pairs of the polyline drawn in `colour`.
    fn series(doc: &str, colour: &str) -> Vec<(f64, f64)> {
        let line = doc.lines().find(|l| l.starts_with("<polyline") && l.contains(colour)).expect("the series");
        let points = line.split("points=\"").nth(1).unwrap().split('"').next().unwrap();
        points
            .split(' ')
            .map(|xy| {
                let (x, y) = xy.split_once(',').unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(axis(3000.0), (3000.0, 1000.0));
        assert_eq!(axis(870.0), (1000.0, 200.0));
        assert_eq!(axis(43.7), (50.0, 10.0));
        assert_eq!(axis(0.0), (1.0, 0.2));
    }

    #[test]
    fn draws_both_series_inside_the_frame() {
        let points = [point(0.0, 0, 0.0), point(5.0, 100, 12.5), point(10.0, 300, 40.0)];
        let doc = svg("bench <300>", &points);
        assert!(doc.starts_with("<svg") && doc.trim_end().ends_with("</svg>"));
        assert!(doc.contains("bench &lt;300&gt;"));
        assert_eq!(doc.matches("<polyline").count(), 2);
        // The last point of each series touches the top of the plot area.
        assert!(doc.contains(&format!("{:.1},{:.1}", W - RIGHT, TOP)));
        assert!(doc.contains("delivery p99 (ms)") && doc.contains("users in room"));
    }

    #[test]
    fn draws_the_highest_node_rss_inside_the_frame_when_sampled() {
        let mut points = vec![point(0.0, 0, 0.0), point(5.0, 100, 12.5), point(10.0, 300, 40.0)];
        for (p, rss) in points.iter_mut().zip([[80.0, 95.5, 3.0], [120.0, 340.2, 3.1], [150.0, 310.0, 3.1]]) {
            p.node_rss_mb = rss.to_vec();
        }
        let doc = svg("bench", &points);
        assert_eq!(doc.matches("<polyline").count(), 3);
        assert!(doc.contains("highest node RSS (MB, frame height = 400)"), "{doc}");
        assert!(doc.contains("peak 340.2 MB"), "{doc}");
        let rss = series(&doc, RSS);
        assert_eq!(rss.len(), 3);
        for &(x, y) in &rss {
            assert!((LEFT..=W - RIGHT).contains(&x) && (TOP..=H - BOTTOM).contains(&y), "({x}, {y}) outside the frame");
        }
        // The series follows the highest process per tick: 340.2 of 400 MB at 5 s.
        let ph = H - TOP - BOTTOM;
        assert_eq!(rss[1], (LEFT + (W - LEFT - RIGHT) / 2.0, ((TOP + ph - 340.2 / 400.0 * ph) * 10.0).round() / 10.0));
    }

    #[test]
    fn no_rss_series_without_samples() {
        let points = [point(0.0, 0, 0.0), point(5.0, 100, 12.5)];
        let doc = svg("bench", &points);
        assert_eq!(doc.matches("<polyline").count(), 2);
        assert!(!doc.contains(RSS) && !doc.contains("RSS") && !doc.contains("peak"));
        assert!(doc.contains("users in room") && doc.contains("delivery p99 (ms)"));
    }
}
