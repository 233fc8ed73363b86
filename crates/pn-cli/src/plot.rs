//! SVG figures of beliefs, shared by the subcommands.
//!
//! Only plotters' SVG backend is used: text is written as SVG `<text>` elements and laid out by
//! the viewer, so drawing needs no font files and no system libraries.

use std::path::Path;

use ndarray::{ArrayView1, ArrayView2};
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

use crate::error::{CliError, Result};

/// Size of every figure, in SVG pixels.
const SIZE: (u32, u32) = (900, 520);
/// Colour of the mean and its band.
const BELIEF: RGBColor = RGBColor(31, 119, 180);
/// Colour of observations.
const DATA: RGBColor = RGBColor(214, 39, 40);
/// Colours cycled through for samples.
const SAMPLES: [RGBColor; 4] = [
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// A 1-D Gaussian belief `f(x) ~ N(mean(x), std(x)²)` on a grid, with what to draw around it.
///
/// Built with [`Belief1d::new`] and the optional setters; drawn with [`belief_1d`].
#[derive(Debug, Clone)]
pub struct Belief1d<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    x: ArrayView1<'a, f64>,
    mean: ArrayView1<'a, f64>,
    std: ArrayView1<'a, f64>,
    samples: Option<ArrayView2<'a, f64>>,
    data: Option<(ArrayView1<'a, f64>, ArrayView1<'a, f64>)>,
    truth: Option<ArrayView1<'a, f64>>,
}

impl<'a> Belief1d<'a> {
    /// Mean and standard deviation of the belief at the (increasing) grid `x`.
    pub fn new(
        title: &'a str,
        x: ArrayView1<'a, f64>,
        mean: ArrayView1<'a, f64>,
        std: ArrayView1<'a, f64>,
    ) -> Self {
        Self {
            title,
            x_label: "x",
            y_label: "f(x)",
            x,
            mean,
            std,
            samples: None,
            data: None,
            truth: None,
        }
    }

    /// Axis descriptions (defaults: `x` and `f(x)`).
    pub fn labels(mut self, x_label: &'a str, y_label: &'a str) -> Self {
        self.x_label = x_label;
        self.y_label = y_label;
        self
    }

    /// Samples from the belief on the same grid, one sample per row.
    pub fn samples(mut self, samples: ArrayView2<'a, f64>) -> Self {
        self.samples = Some(samples);
        self
    }

    /// Observations `(x_i, y_i)`, drawn as points.
    pub fn data(mut self, x: ArrayView1<'a, f64>, y: ArrayView1<'a, f64>) -> Self {
        self.data = Some((x, y));
        self
    }

    /// The true function on the grid, drawn dashed.
    pub fn truth(mut self, truth: ArrayView1<'a, f64>) -> Self {
        self.truth = Some(truth);
        self
    }

    /// Shapes agree and every value is finite.
    fn validate(&self, path: &Path) -> Result<()> {
        let fail = |message: String| CliError::Plot {
            path: path.to_path_buf(),
            message,
        };
        let n = self.x.len();
        if n < 2 {
            return Err(fail(format!("need at least 2 grid points, got {n}")));
        }
        let mut columns: Vec<(&str, usize)> =
            vec![("mean", self.mean.len()), ("std", self.std.len())];
        if let Some(s) = &self.samples {
            columns.push(("samples (columns)", s.ncols()));
        }
        if let Some(t) = &self.truth {
            columns.push(("truth", t.len()));
        }
        for (what, len) in columns {
            if len != n {
                return Err(fail(format!("{what} has length {len}, the grid has {n}")));
            }
        }
        if let Some((dx, dy)) = &self.data
            && dx.len() != dy.len()
        {
            return Err(fail(format!(
                "data has {} inputs but {} outputs",
                dx.len(),
                dy.len()
            )));
        }
        if self.std.iter().any(|&s| s < 0.0) {
            return Err(fail("negative standard deviation".into()));
        }
        if !self.values().all(f64::is_finite) {
            return Err(fail("non-finite value in the belief or the data".into()));
        }
        Ok(())
    }

    /// Every number that will be drawn.
    fn values(&self) -> impl Iterator<Item = f64> + '_ {
        let data = self
            .data
            .iter()
            .flat_map(|(dx, dy)| dx.iter().chain(dy.iter()));
        self.x
            .iter()
            .chain(self.mean.iter())
            .chain(self.std.iter())
            .chain(self.samples.iter().flat_map(|s| s.iter()))
            .chain(self.truth.iter().flat_map(|t| t.iter()))
            .chain(data)
            .copied()
    }

    /// Horizontal and vertical extent of everything drawn, padded by 4 %.
    fn ranges(&self) -> ((f64, f64), (f64, f64)) {
        let mut xs = Extent::default();
        let mut ys = Extent::default();
        xs.extend(self.x.iter().copied());
        for (m, s) in self.mean.iter().zip(self.std.iter()) {
            ys.extend([m - 2.0 * s, m + 2.0 * s]);
        }
        if let Some(s) = &self.samples {
            ys.extend(s.iter().copied());
        }
        if let Some(t) = &self.truth {
            ys.extend(t.iter().copied());
        }
        if let Some((dx, dy)) = &self.data {
            xs.extend(dx.iter().copied());
            ys.extend(dy.iter().copied());
        }
        (xs.padded(0.0), ys.padded(0.04))
    }
}

/// Running minimum and maximum.
#[derive(Debug, Clone, Copy)]
struct Extent {
    lo: f64,
    hi: f64,
}

impl Default for Extent {
    fn default() -> Self {
        Self {
            lo: f64::INFINITY,
            hi: f64::NEG_INFINITY,
        }
    }
}

impl Extent {
    fn extend(&mut self, values: impl IntoIterator<Item = f64>) {
        for v in values {
            self.lo = self.lo.min(v);
            self.hi = self.hi.max(v);
        }
    }

    /// The range widened by `frac` of its width on each side (and made non-empty).
    fn padded(self, frac: f64) -> (f64, f64) {
        let width = (self.hi - self.lo).max(1e-12 * self.hi.abs().max(1.0));
        (self.lo - frac * width, self.lo + width + frac * width)
    }
}

/// Draw a 1-D belief to the SVG file `path`: the mean as a line, a shaded band of ±2 standard
/// deviations, samples as thin lines, the true function dashed and observations as points, with
/// a legend.
///
/// The parent directory of `path` must exist.
pub fn belief_1d(path: &Path, plot: &Belief1d<'_>) -> Result<()> {
    plot.validate(path)?;
    draw_belief_1d(path, plot).map_err(|message| CliError::Plot {
        path: path.to_path_buf(),
        message,
    })
}

/// The grid, labels and axis descriptions of the linear-axis figures.
fn linear_mesh(
    chart: &mut ChartContext<'_, SVGBackend<'_>, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    x_label: &str,
    y_label: &str,
) -> Result<(), String> {
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .light_line_style(RGBColor(235, 235, 235))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .map_err(|e| e.to_string())
}

fn draw_belief_1d(path: &Path, plot: &Belief1d<'_>) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<_>| e.to_string();
    let ((x0, x1), (y0, y1)) = plot.ranges();

    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(plot.title, ("sans-serif", 26))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    linear_mesh(&mut chart, plot.x_label, plot.y_label)?;

    // ±2σ band: the upper edge left to right, then the lower edge back.
    let band_style = BELIEF.mix(0.2).filled();
    let upper = plot
        .x
        .iter()
        .zip(plot.mean.iter().zip(plot.std.iter()))
        .map(|(&x, (&m, &s))| (x, m + 2.0 * s));
    let lower = plot
        .x
        .iter()
        .zip(plot.mean.iter().zip(plot.std.iter()))
        .rev()
        .map(|(&x, (&m, &s))| (x, m - 2.0 * s));
    let band: Vec<(f64, f64)> = upper.chain(lower).collect();
    chart
        .draw_series(std::iter::once(Polygon::new(band, band_style)))
        .map_err(err)?
        .label("mean ± 2σ")
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 20, y + 6)], band_style));

    if let Some(samples) = &plot.samples {
        for (i, row) in samples.rows().into_iter().enumerate() {
            let colour = SAMPLES[i % SAMPLES.len()];
            let series = chart
                .draw_series(LineSeries::new(
                    plot.x.iter().copied().zip(row.iter().copied()),
                    colour.stroke_width(1),
                ))
                .map_err(err)?;
            if i == 0 {
                series.label("samples").legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(1))
                });
            }
        }
    }

    if let Some(truth) = &plot.truth {
        let style = BLACK.stroke_width(1);
        chart
            .draw_series(DashedLineSeries::new(
                plot.x.iter().copied().zip(truth.iter().copied()),
                6,
                4,
                style,
            ))
            .map_err(err)?
            .label("truth")
            .legend(move |(x, y)| DashedPathElement::new([(x, y), (x + 20, y)], 6, 4, style));
    }

    let mean_style = BELIEF.stroke_width(2);
    chart
        .draw_series(LineSeries::new(
            plot.x.iter().copied().zip(plot.mean.iter().copied()),
            mean_style,
        ))
        .map_err(err)?
        .label("mean")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], mean_style));

    if let Some((dx, dy)) = &plot.data {
        let style = DATA.filled();
        chart
            .draw_series(
                dx.iter()
                    .zip(dy.iter())
                    .map(|(&x, &y)| Circle::new((x, y), 3, style)),
            )
            .map_err(err)?
            .label("data")
            .legend(move |(x, y)| Circle::new((x + 10, y), 3, style));
    }

    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .label_font(("sans-serif", 16))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Colours of the components of a trajectory (matplotlib's first six), the first being
/// [`BELIEF`]'s blue.
const COMPONENTS: [RGBColor; 6] = [
    BELIEF,
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// The most components a [`Trajectory`] figure draws (one colour each).
pub const MAX_COMPONENTS: usize = COMPONENTS.len();

/// The most decades the log-scale chart of standard deviations spans.
const LOG_DECADES: i32 = 8;

/// Above this many points a reference or an error curve is drawn as a line, not as markers.
const MAX_MARKERS: usize = 60;

/// Values of the components at some times, to compare the belief with: `values` is
/// `times × components`.
#[derive(Debug, Clone)]
struct Overlay<'a> {
    label: &'a str,
    t: ArrayView1<'a, f64>,
    values: ArrayView2<'a, f64>,
}

/// A Gaussian belief over a vector-valued trajectory `x(t)` (e.g. an ODE solution): per
/// component a mean with a ±2σ band against `t`, and optionally a second, log-scale chart of the
/// standard deviations (where bands too thin to see at the scale of the solution become
/// readable) with the actual errors against a reference.
///
/// Built with [`Trajectory::new`] and the optional setters; drawn with [`trajectory`].
#[derive(Debug, Clone)]
pub struct Trajectory<'a> {
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    t: ArrayView1<'a, f64>,
    mean: ArrayView2<'a, f64>,
    std: ArrayView2<'a, f64>,
    names: Vec<String>,
    reference: Option<Overlay<'a>>,
    errors: Option<Overlay<'a>>,
    std_chart: Option<&'a str>,
}

impl<'a> Trajectory<'a> {
    /// Means and standard deviations (`times × components`, at most [`MAX_COMPONENTS`]
    /// columns) at the increasing times `t`, the components called `names` in the legend.
    pub fn new(
        title: &'a str,
        t: ArrayView1<'a, f64>,
        mean: ArrayView2<'a, f64>,
        std: ArrayView2<'a, f64>,
        names: Vec<String>,
    ) -> Self {
        Self {
            title,
            x_label: "t",
            y_label: "x(t)",
            t,
            mean,
            std,
            names,
            reference: None,
            errors: None,
            std_chart: None,
        }
    }

    /// Reference values of the components (`t.len() × components`), drawn as black markers
    /// (or dashed lines when there are many) on the main chart, listed as `label`.
    pub fn reference(
        mut self,
        label: &'a str,
        t: ArrayView1<'a, f64>,
        values: ArrayView2<'a, f64>,
    ) -> Self {
        self.reference = Some(Overlay { label, t, values });
        self
    }

    /// Add a log-scale chart of the standard deviations below the main one, with `caption`.
    pub fn std_chart(mut self, caption: &'a str) -> Self {
        self.std_chart = Some(caption);
        self
    }

    /// Absolute errors of the mean (`t.len() × components`), drawn on the standard-deviation
    /// chart (which this turns on) as markers, or dashed lines when there are many, listed as
    /// `label`. Errors too small for the log scale (e.g. zero at the initial value) are left
    /// out.
    pub fn errors(
        mut self,
        label: &'a str,
        t: ArrayView1<'a, f64>,
        values: ArrayView2<'a, f64>,
    ) -> Self {
        self.errors = Some(Overlay { label, t, values });
        if self.std_chart.is_none() {
            self.std_chart = Some("standard deviation and error (log scale)");
        }
        self
    }

    /// Shapes agree and every value is finite.
    fn validate(&self, path: &Path) -> Result<()> {
        let fail = |message: String| CliError::Plot {
            path: path.to_path_buf(),
            message,
        };
        let (n, k) = self.mean.dim();
        if n < 2 || self.t.len() != n {
            return Err(fail(format!(
                "need at least 2 times and one mean row per time, got {} times and {n} rows",
                self.t.len()
            )));
        }
        if k == 0 || k > MAX_COMPONENTS {
            return Err(fail(format!(
                "can draw 1 to {MAX_COMPONENTS} components, got {k}"
            )));
        }
        if self.std.dim() != (n, k) {
            return Err(fail(format!(
                "std is {:?}, the mean is {:?}",
                self.std.dim(),
                (n, k)
            )));
        }
        if self.names.len() != k {
            return Err(fail(format!(
                "{} component names for {k} components",
                self.names.len()
            )));
        }
        for o in self.reference.iter().chain(self.errors.iter()) {
            if o.values.dim() != (o.t.len(), k) {
                return Err(fail(format!(
                    "{} is {:?}, expected {:?}",
                    o.label,
                    o.values.dim(),
                    (o.t.len(), k)
                )));
            }
        }
        if self.std.iter().any(|&s| s < 0.0) {
            return Err(fail("negative standard deviation".into()));
        }
        let overlays = self
            .reference
            .iter()
            .chain(self.errors.iter())
            .flat_map(|o| o.t.iter().chain(o.values.iter()));
        if !self
            .t
            .iter()
            .chain(self.mean.iter())
            .chain(self.std.iter())
            .chain(overlays)
            .all(|v| v.is_finite())
        {
            return Err(fail(
                "non-finite value in the belief or the reference".into(),
            ));
        }
        Ok(())
    }
}

/// Draw a trajectory belief to the SVG file `path`: per component the mean as a line with a
/// shaded ±2σ band, reference values in black, and, if asked for, a log-scale chart below of
/// each component's σ (solid lines) and actual errors (dots or dashed lines).
///
/// The parent directory of `path` must exist.
pub fn trajectory(path: &Path, plot: &Trajectory<'_>) -> Result<()> {
    plot.validate(path)?;
    draw_trajectory(path, plot).map_err(|message| CliError::Plot {
        path: path.to_path_buf(),
        message,
    })
}

/// The runs of consecutive points with `y ≥ lo`: what a log scale from `lo` can show, as lines.
fn drawable_runs(x: ArrayView1<'_, f64>, y: ArrayView1<'_, f64>, lo: f64) -> Vec<Vec<(f64, f64)>> {
    let mut runs = vec![Vec::new()];
    for (&x, &y) in x.iter().zip(y.iter()) {
        if y >= lo && y > 0.0 {
            runs.last_mut().expect("never empty").push((x, y));
        } else if !runs.last().expect("never empty").is_empty() {
            runs.push(Vec::new());
        }
    }
    runs.retain(|r| !r.is_empty());
    runs
}

fn draw_trajectory(path: &Path, plot: &Trajectory<'_>) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<_>| e.to_string();
    let k = plot.mean.ncols();
    let size = if plot.std_chart.is_some() {
        (SIZE.0, 800)
    } else {
        SIZE
    };
    let root = SVGBackend::new(path, size).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let (top, bottom) = match plot.std_chart {
        Some(_) => {
            let (a, b) = root.split_vertically(500);
            (a, Some(b))
        }
        None => (root.clone(), None),
    };

    // Main chart: x from the grid (and any reference times), y from the bands and references.
    let mut xs = Extent::default();
    let mut ys = Extent::default();
    xs.extend(plot.t.iter().copied());
    for (m, s) in plot.mean.iter().zip(plot.std.iter()) {
        ys.extend([m - 2.0 * s, m + 2.0 * s]);
    }
    if let Some(r) = &plot.reference {
        xs.extend(r.t.iter().copied());
        ys.extend(r.values.iter().copied());
    }
    let (x0, x1) = xs.padded(0.0);
    let (y0, y1) = ys.padded(0.04);
    // Head room for the legend, which sits in the upper right corner.
    let y1 = y1 + 0.08 * (k + 1) as f64 * (y1 - y0);

    let mut chart = ChartBuilder::on(&top)
        .caption(plot.title, ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(err)?;
    linear_mesh(&mut chart, plot.x_label, plot.y_label)?;

    for i in 0..k {
        let colour = COMPONENTS[i];
        let (mean, std) = (plot.mean.column(i), plot.std.column(i));
        let upper = plot
            .t
            .iter()
            .zip(mean.iter().zip(std.iter()))
            .map(|(&t, (&m, &s))| (t, m + 2.0 * s));
        let lower = plot
            .t
            .iter()
            .zip(mean.iter().zip(std.iter()))
            .rev()
            .map(|(&t, (&m, &s))| (t, m - 2.0 * s));
        let band: Vec<(f64, f64)> = upper.chain(lower).collect();
        let band_style = colour.mix(0.25).filled();
        chart
            .draw_series(std::iter::once(Polygon::new(band, band_style)))
            .map_err(err)?;
        let line = colour.stroke_width(2);
        chart
            .draw_series(LineSeries::new(
                plot.t.iter().copied().zip(mean.iter().copied()),
                line,
            ))
            .map_err(err)?
            .label(format!("{}: mean ± 2σ", plot.names[i]))
            .legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + Rectangle::new([(0, -6), (20, 6)], band_style)
                    + PathElement::new([(0, 0), (20, 0)], line)
            });
    }

    if let Some(r) = &plot.reference {
        let style = BLACK.stroke_width(1);
        let many = r.t.len() > MAX_MARKERS;
        for i in 0..k {
            let column = r.values.column(i);
            let points = r.t.iter().copied().zip(column.iter().copied());
            let series = if many {
                chart.draw_series(DashedLineSeries::new(points, 6, 4, style))
            } else {
                chart.draw_series(points.map(|p| Circle::new(p, 3, style)))
            }
            .map_err(err)?;
            if i == 0 {
                let series = series.label(r.label);
                if many {
                    series.legend(move |(x, y)| {
                        DashedPathElement::new([(x, y), (x + 20, y)], 6, 4, style)
                    });
                } else {
                    series.legend(move |(x, y)| Circle::new((x + 10, y), 3, style));
                }
            }
        }
    }

    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(err)?;

    if let (Some(area), Some(caption)) = (bottom, plot.std_chart) {
        draw_std_chart(&area, plot, caption, (x0, x1))?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// The log-scale chart of σ (and errors) below the main chart.
fn draw_std_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    plot: &Trajectory<'_>,
    caption: &str,
    (x0, x1): (f64, f64),
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let k = plot.mean.ncols();
    let mut ys = Extent::default();
    ys.extend(plot.std.iter().copied().filter(|&v| v > 0.0));
    if let Some(e) = &plot.errors {
        ys.extend(e.values.iter().copied().filter(|&v| v > 0.0));
    }
    // Whole decades, at least two and at most LOG_DECADES of them below the largest value
    // (nothing positive to show: an empty range rather than a failure).
    let (lo, hi) = if ys.lo.is_finite() {
        let hi = 10f64.powf(ys.hi.log10().ceil());
        let lo = 10f64.powf(ys.lo.log10().floor());
        (lo.clamp(hi * 10f64.powi(-LOG_DECADES), hi * 1e-2), hi)
    } else {
        (1e-16, 1.0)
    };
    // A little room beyond the outer decades, so that their ticks are drawn and labelled.
    let (lo, hi) = (lo / 1.3, hi * 1.3);

    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(x0..x1, (lo..hi).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(plot.x_label)
        .y_desc("σ, |error|")
        .y_label_formatter(&|v| {
            // Label the powers of ten only: a log axis offers every 1–9 multiple.
            let e = v.log10();
            if (e - e.round()).abs() < 1e-6 {
                format!("1e{}", e.round())
            } else {
                String::new()
            }
        })
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 17))
        .light_line_style(TRANSPARENT)
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .map_err(err)?;

    for i in 0..k {
        let line = COMPONENTS[i].stroke_width(2);
        for (j, run) in drawable_runs(plot.t, plot.std.column(i), lo)
            .into_iter()
            .enumerate()
        {
            let series = chart.draw_series(LineSeries::new(run, line)).map_err(err)?;
            if i == 0 && j == 0 {
                let grey = RGBColor(90, 90, 90).stroke_width(2);
                series
                    .label("σ (one colour per component)")
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], grey));
            }
        }
    }
    if let Some(e) = &plot.errors {
        let many = e.t.len() > MAX_MARKERS;
        let grey = RGBColor(90, 90, 90);
        for i in 0..k {
            let colour = COMPONENTS[i];
            let mut first = true;
            for run in drawable_runs(e.t, e.values.column(i), lo) {
                let series = if many {
                    chart.draw_series(DashedLineSeries::new(run, 5, 4, colour.stroke_width(1)))
                } else {
                    chart.draw_series(run.into_iter().map(|p| Circle::new(p, 3, colour.filled())))
                }
                .map_err(err)?;
                if i == 0 && first {
                    let series = series.label(e.label);
                    if many {
                        series.legend(move |(x, y)| {
                            DashedPathElement::new([(x, y), (x + 20, y)], 5, 4, grey)
                        });
                    } else {
                        series.legend(move |(x, y)| Circle::new((x + 10, y), 3, grey.filled()));
                    }
                }
                first = false;
            }
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(180, 180, 180))
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2};

    #[test]
    fn draws_every_element() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.svg");
        let x = Array1::linspace(0.0, 1.0, 50);
        let mean = x.mapv(f64::sin);
        let std = Array1::from_elem(50, 0.1);
        let samples = Array2::from_shape_fn((2, 50), |(i, j)| mean[j] + 0.05 * i as f64);
        let dx = ndarray::array![0.2, 0.5];
        let dy = ndarray::array![0.2, 0.48];
        let plot = Belief1d::new("test", x.view(), mean.view(), std.view())
            .samples(samples.view())
            .data(dx.view(), dy.view())
            .truth(mean.view());
        belief_1d(&path, &plot).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.contains("<polygon"), "band");
        assert!(svg.matches("<polyline").count() >= 3, "mean and samples");
        assert!(svg.matches("<circle").count() >= 2, "data");
        assert!(
            svg.contains("<text") && svg.contains("\ntest\n</text>"),
            "title"
        );
    }

    #[test]
    fn rejects_mismatched_lengths_without_panicking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.svg");
        let x = Array1::linspace(0.0, 1.0, 5);
        let short = Array1::zeros(4);
        let plot = Belief1d::new("t", x.view(), short.view(), x.view());
        assert!(matches!(
            belief_1d(&path, &plot),
            Err(CliError::Plot { .. })
        ));
    }
}
