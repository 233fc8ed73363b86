//! `pn gp`: Gaussian-process regression on a CSV file.
//!
//! ```text
//! pn gp --train train.csv [--test test.csv] [--target COLUMN] [--kernel EXPR]
//!       [--solver auto|cholesky|cg|itergp|state-space] [--json] [--plot out.svg]
//! ```
//!
//! The CSV files have a header line; the target is the column named by `--target` (default: the
//! last column) and every other numeric column is an input (a column without a single number in
//! it, such as a label, is ignored and reported). The inputs are centred (not scaled, so
//! lengthscales are in the inputs' units) and the targets standardised; the kernel's
//! hyperparameters and the noise variance are fitted by maximising the exact log marginal
//! likelihood (L-BFGS with seeded restarts, [`pn_linalg::fit`]); the GP is conditioned by the
//! chosen solver and predicts at the test rows — or, without a test file, on a grid (1-D inputs)
//! or at the training rows. Everything reported is in the units of the data.
//!
//! **Kernel expressions** (`--kernel`): `se` (alias `rbf`), `matern12`, `matern32`, `matern52`,
//! `rq`, `periodic`, `linear`, combined with `+` and `*` and parentheses (`*` binds tighter).
//! Each may take initial values, `name(key=value, …)`: `l` (lengthscale, input units), `var`
//! (output variance, target units²), `p` (period, input units), `alpha` (RQ shape), `bias`
//! (linear, target units²). Stationary and periodic kernels get one lengthscale per input (ARD)
//! when there are several inputs (`--isotropic`: one for all). In a product, the output variance
//! of every factor after the first is fixed to 1 (it would only duplicate the first's).
//!
//! Defaults from the data: lengthscales a quarter of each input's range, output variances
//! sharing the standardised targets' unit variance over the summands, noise variance 0.1 of the
//! targets' variance (fitted, kept within `[1e-6, 10]` times it), periods a fifth of the range,
//! `alpha = 1`.
//!
//! Without arguments `pn gp` fits the motorcycle-accident data (`mcycle`) with every fifth point
//! held out and reports the held-out RMSE and NLPD.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::{Array1, Array2, ArrayView1, Axis};
use plotters::prelude::*;
use pn_core::kernels::{
    Kernel, Linear, Matern12, Matern32, Matern52, Periodic, Product, RationalQuadratic,
    SquaredExponential, Sum,
};
use pn_linalg::fit::FitOptions;
use pn_linalg::gp::{GpOptions, GpPosterior, GpRegression, Method, datasets};
use pn_linalg::state_space::{MaternComponent, Nu};
use serde_json::{Value, json};

use crate::common::{Common, ensure_dir, print_stdout};
use crate::error::{CliError, Result};
use crate::plot::{Belief1d, belief_1d};

/// How the GP is conditioned on the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SolverArg {
    /// The front door's choice: Cholesky up to 5000 points, then state space (1-D Matérn),
    /// Toeplitz (regular 1-D grid) or IterGP.
    Auto,
    /// Exact: dense Cholesky factorisation of K + σ²I.
    Cholesky,
    /// Preconditioned conjugate gradients (rank-100 pivoted Cholesky), matrix-free.
    Cg,
    /// Computation-aware GP (IterGP): the variance includes the solver's own error.
    Itergp,
    /// Kalman filter and smoother, O(n): 1-D inputs and Matérn kernels (or sums of them).
    StateSpace,
}

impl SolverArg {
    fn method(self) -> Method {
        match self {
            Self::Auto => Method::Auto,
            Self::Cholesky => Method::Exact,
            Self::Cg => Method::Cg,
            Self::Itergp => Method::IterGp,
            Self::StateSpace => Method::StateSpace,
        }
    }
}

/// Name of a front-door method in the output.
fn method_name(m: Method) -> &'static str {
    match m {
        Method::Exact => "cholesky",
        Method::StateSpace => "state-space",
        Method::Toeplitz => "toeplitz",
        Method::IterGp => "itergp",
        Method::Cg => "cg",
        _ => "auto",
    }
}

/// Arguments of `pn gp`.
#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Kernel expressions: se (rbf), matern12, matern32, matern52, rq, periodic, \
    linear, with + and * and parentheses; initial values as name(l=…, var=…, p=…, alpha=…, bias=…) \
    in the data's units. ARD lengthscales when d > 1.\n\n\
    Examples:\n  \
    pn gp\n  \
    pn gp --train data.csv --test new.csv --target y --json\n  \
    pn gp --train co2.csv --holdout 10 --kernel 'se(l=50) + se(l=100)*periodic(p=1) + rq(l=1)'\n  \
    pn gp --train big.csv --solver cg --predictions pred.csv --plot fit.svg"
)]
pub struct GpArgs {
    /// Training data: CSV with a header line [default: the shipped mcycle data, every 5th row
    /// held out].
    #[arg(long, value_name = "FILE.csv")]
    pub train: Option<PathBuf>,

    /// Rows to predict at: CSV with the training file's columns (the target column optional;
    /// when present, the test RMSE and NLPD are reported).
    #[arg(long, value_name = "FILE.csv")]
    pub test: Option<PathBuf>,

    /// The target column [default: the last column].
    #[arg(long, value_name = "COLUMN")]
    pub target: Option<String>,

    /// Kernel expression, e.g. `se`, `matern52 + periodic(p=12)`, `(se + linear) * rq`.
    #[arg(long, value_name = "EXPR", default_value = "se")]
    pub kernel: String,

    /// How to condition the GP.
    #[arg(long, value_enum, default_value_t = SolverArg::Auto)]
    pub solver: SolverArg,

    /// Random restarts of the hyperparameter fit (in addition to the data-based start).
    #[arg(long, value_name = "N", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(0..=100))]
    pub restarts: u32,

    /// Initial noise variance in target units² [default: 0.1 × the targets' variance].
    #[arg(long, value_name = "VAR", allow_hyphen_values = true)]
    pub noise: Option<f64>,

    /// Keep the noise variance at its initial value instead of fitting it.
    #[arg(long)]
    pub fix_noise: bool,

    /// Use the kernel's initial hyperparameters as given; do not fit them.
    #[arg(long)]
    pub no_fit: bool,

    /// One lengthscale for all inputs instead of one per input (ARD).
    #[arg(long)]
    pub isotropic: bool,

    /// Hold out every K-th training row (rows i with i mod K = K/2) as the test set.
    #[arg(long, value_name = "K", conflicts_with = "test",
          value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
    pub holdout: Option<u32>,

    /// With a solver other than cholesky, fit the hyperparameters on at most N evenly spaced
    /// rows (each evaluation of the exact fit costs O(N³): the fit took ~100 s at N = 2000,
    /// d = 2, two starts; ~1 s at N = 500).
    #[arg(long, value_name = "N", default_value_t = 2000,
          value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
    pub fit_rows: u32,

    /// Prediction grid size for 1-D inputs when there are no test rows.
    #[arg(long, value_name = "N", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
    pub grid: u32,

    /// Also write every prediction (inputs, mean, std, std_noisy[, target]) to this CSV file.
    #[arg(long, value_name = "FILE.csv")]
    pub predictions: Option<PathBuf>,

    #[command(flatten)]
    pub common: Common,
}

fn bad(arg: &'static str, reason: impl Into<String>) -> CliError {
    CliError::InvalidArgument {
        arg,
        reason: reason.into(),
    }
}

/// pn-linalg's errors: pn-core's pass through; the others (no convergence, jitter exhausted,
/// a failed fit) are reported against the flag that chose the computation.
fn gp_error(arg: &'static str) -> impl Fn(pn_linalg::Error) -> CliError {
    move |e| match e {
        pn_linalg::Error::Core(c) => CliError::Core(c),
        source => CliError::Gp { arg, source },
    }
}

// ---------------------------------------------------------------------------------------------
// CSV

/// A parsed CSV file: header and raw cells (trimmed, unquoted), with their line numbers.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    name: String,
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
    lines: Vec<usize>,
}

/// The separator of a header line: `,` unless only `;` or tabs occur.
fn separator(header: &str) -> char {
    if header.contains(',') {
        ','
    } else if header.contains(';') {
        ';'
    } else if header.contains('\t') {
        '\t'
    } else {
        ','
    }
}

fn split(line: &str, sep: char) -> Vec<String> {
    line.split(sep)
        .map(|f| {
            let f = f.trim();
            let f = f
                .strip_prefix('"')
                .and_then(|g| g.strip_suffix('"'))
                .unwrap_or(f);
            f.trim().to_string()
        })
        .collect()
}

impl Table {
    /// Parses CSV text (`name` is used in error messages). Blank lines and lines starting with
    /// `#` are skipped; fields may be wrapped in double quotes but may not contain the separator.
    pub(crate) fn parse(name: &str, text: &str, arg: &'static str) -> Result<Self> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
            .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
        let Some((hline, header)) = lines.next() else {
            return Err(bad(
                arg,
                format!("`{name}` is empty: expected a header line and data rows"),
            ));
        };
        let sep = separator(header);
        let columns = split(header, sep);
        if columns.iter().all(|c| c.parse::<f64>().is_ok()) {
            return Err(bad(
                arg,
                format!(
                    "`{name}` has no header: line {hline} (`{}`) is all numbers; add a first line naming the columns",
                    header.trim()
                ),
            ));
        }
        let mut seen = HashSet::new();
        for (j, c) in columns.iter().enumerate() {
            if c.is_empty() {
                return Err(bad(
                    arg,
                    format!("`{name}` line {hline}: column {} has an empty name", j + 1),
                ));
            }
            if !seen.insert(c.as_str()) {
                return Err(bad(
                    arg,
                    format!("`{name}` line {hline}: column name `{c}` appears twice"),
                ));
            }
        }
        let mut rows = Vec::new();
        let mut nums = Vec::new();
        for (ln, l) in lines {
            let cells = split(l, sep);
            if cells.len() != columns.len() {
                return Err(bad(
                    arg,
                    format!(
                        "`{name}` line {ln}: {} fields, but the header has {} columns",
                        cells.len(),
                        columns.len()
                    ),
                ));
            }
            rows.push(cells);
            nums.push(ln);
        }
        Ok(Self {
            name: name.to_string(),
            columns,
            rows,
            lines: nums,
        })
    }

    /// Reads and parses a file.
    pub(crate) fn read(path: &Path, arg: &'static str) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| CliError::Io {
            action: "read",
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&path.display().to_string(), &text, arg)
    }

    fn index(&self, column: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == column)
    }

    /// Whether column `j` holds at least one number.
    fn has_numbers(&self, j: usize) -> bool {
        self.rows.iter().any(|r| r[j].parse::<f64>().is_ok())
    }

    /// Column `j` as finite numbers, or an error naming the first bad cell.
    fn numbers(&self, j: usize, role: &str, arg: &'static str) -> Result<Array1<f64>> {
        let mut out = Array1::zeros(self.rows.len());
        for (i, r) in self.rows.iter().enumerate() {
            let cell = &r[j];
            let fail = |what: String| {
                bad(
                    arg,
                    format!(
                        "`{}` line {}, {role} column `{}`: {what}",
                        self.name, self.lines[i], self.columns[j]
                    ),
                )
            };
            if cell.is_empty() {
                return Err(fail("empty cell (missing values are not supported)".into()));
            }
            match cell.parse::<f64>() {
                Ok(v) if v.is_finite() => out[i] = v,
                Ok(_) => return Err(fail(format!("`{cell}` is not a finite number"))),
                Err(_) => return Err(fail(format!("`{cell}` is not a number"))),
            }
        }
        Ok(out)
    }
}

/// Training (and test) data ready for the GP.
#[derive(Debug, Clone)]
pub(crate) struct Data {
    /// Where the training data came from.
    pub source: String,
    pub inputs: Vec<String>,
    pub target: String,
    pub ignored: Vec<String>,
    pub x: Array2<f64>,
    pub y: Array1<f64>,
    /// Test inputs and, if known, targets.
    pub test: Option<(Array2<f64>, Option<Array1<f64>>)>,
    pub test_source: Option<String>,
}

fn columns_matrix(t: &Table, idx: &[usize], arg: &'static str) -> Result<Array2<f64>> {
    let mut x = Array2::zeros((t.rows.len(), idx.len()));
    for (k, &j) in idx.iter().enumerate() {
        x.column_mut(k).assign(&t.numbers(j, "input", arg)?);
    }
    Ok(x)
}

/// Builds [`Data`] from a training table and an optional test table.
pub(crate) fn data_from_tables(
    train: &Table,
    test: Option<&Table>,
    target: Option<&str>,
) -> Result<Data> {
    if train.rows.len() < 2 {
        return Err(bad(
            "--train",
            format!(
                "`{}` has {} data row(s); a GP fit needs at least 2",
                train.name,
                train.rows.len()
            ),
        ));
    }
    let ti = match target {
        Some(name) => train.index(name).ok_or_else(|| {
            bad(
                "--target",
                format!(
                    "`{}` has no column `{name}`; its columns are: {}",
                    train.name,
                    train.columns.join(", ")
                ),
            )
        })?,
        None => train.columns.len() - 1,
    };
    let y = train.numbers(ti, "target", "--train")?;
    let mut inputs = Vec::new();
    let mut ignored = Vec::new();
    for j in 0..train.columns.len() {
        if j == ti {
            continue;
        }
        if train.has_numbers(j) {
            inputs.push(j);
        } else {
            ignored.push(train.columns[j].clone());
        }
    }
    if inputs.is_empty() {
        return Err(bad(
            "--train",
            format!(
                "`{}` has no numeric input column besides the target `{}`",
                train.name, train.columns[ti]
            ),
        ));
    }
    let x = columns_matrix(train, &inputs, "--train")?;
    let input_names: Vec<String> = inputs.iter().map(|&j| train.columns[j].clone()).collect();
    let target_name = train.columns[ti].clone();
    let test_data = match test {
        None => None,
        Some(t) => {
            let want: HashSet<&str> = train.columns.iter().map(String::as_str).collect();
            let have: HashSet<&str> = t.columns.iter().map(String::as_str).collect();
            let mut missing: Vec<&str> = want
                .difference(&have)
                .copied()
                .filter(|c| *c != target_name)
                .collect();
            let mut extra: Vec<&str> = have.difference(&want).copied().collect();
            if !missing.is_empty() || !extra.is_empty() {
                missing.sort_unstable();
                extra.sort_unstable();
                let mut why = format!(
                    "`{}` must have the training file's columns ({}; the target optional)",
                    t.name,
                    train.columns.join(", ")
                );
                if !missing.is_empty() {
                    let _ = write!(why, "; missing: {}", missing.join(", "));
                }
                if !extra.is_empty() {
                    let _ = write!(why, "; not in the training file: {}", extra.join(", "));
                }
                return Err(bad("--test", why));
            }
            if t.rows.is_empty() {
                return Err(bad("--test", format!("`{}` has no data rows", t.name)));
            }
            let idx: Vec<usize> = input_names
                .iter()
                .map(|c| t.index(c).expect("checked above"))
                .collect();
            let xt = columns_matrix(t, &idx, "--test")?;
            let yt = match t.index(&target_name) {
                Some(j) => Some(t.numbers(j, "target", "--test")?),
                None => None,
            };
            Some((xt, yt))
        }
    };
    Ok(Data {
        source: train.name.clone(),
        inputs: input_names,
        target: target_name,
        ignored,
        x,
        y,
        test: test_data,
        test_source: test.map(|t| t.name.clone()),
    })
}

/// Moves every `k`-th row (`i mod k = k/2`) of the training data into the test set.
fn hold_out(data: &mut Data, k: usize) -> Result<()> {
    let n = data.y.len();
    let (test_idx, train_idx): (Vec<usize>, Vec<usize>) = (0..n).partition(|i| i % k == k / 2);
    if train_idx.len() < 2 || test_idx.is_empty() {
        return Err(bad(
            "--holdout",
            format!("holding out every {k}-th of {n} rows leaves too few training or test rows"),
        ));
    }
    let xt = data.x.select(Axis(0), &test_idx);
    let yt = data.y.select(Axis(0), &test_idx);
    data.x = data.x.select(Axis(0), &train_idx);
    data.y = data.y.select(Axis(0), &train_idx);
    data.test = Some((xt, Some(yt)));
    data.test_source = Some(format!("1 in {k} rows held out, i mod {k} = {}", k / 2));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Kernel expressions

/// A base kernel of the expression language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Base {
    Se,
    Matern12,
    Matern32,
    Matern52,
    Rq,
    Periodic,
    Linear,
}

impl Base {
    const NAMES: &'static str = "se (rbf), matern12, matern32, matern52, rq, periodic, linear";

    fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "se" | "rbf" => Self::Se,
            "matern12" => Self::Matern12,
            "matern32" => Self::Matern32,
            "matern52" => Self::Matern52,
            "rq" => Self::Rq,
            "periodic" => Self::Periodic,
            "linear" => Self::Linear,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Se => "se",
            Self::Matern12 => "matern12",
            Self::Matern32 => "matern32",
            Self::Matern52 => "matern52",
            Self::Rq => "rq",
            Self::Periodic => "periodic",
            Self::Linear => "linear",
        }
    }

    fn keys(self) -> &'static [&'static str] {
        match self {
            Self::Se | Self::Matern12 | Self::Matern32 | Self::Matern52 => &["l", "var"],
            Self::Rq => &["l", "alpha", "var"],
            Self::Periodic => &["l", "p", "var"],
            Self::Linear => &["var", "bias"],
        }
    }

    fn nu(self) -> Option<Nu> {
        match self {
            Self::Matern12 => Some(Nu::Half),
            Self::Matern32 => Some(Nu::ThreeHalves),
            Self::Matern52 => Some(Nu::FiveHalves),
            _ => None,
        }
    }
}

/// A parsed kernel expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Atom(Base, Vec<(String, f64)>),
    Sum(Vec<Expr>),
    Product(Vec<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Num(f64),
    Sym(char),
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<(usize, Tok)>,
    pos: usize,
}

fn kernel_err(src: &str, at: Option<usize>, what: impl std::fmt::Display) -> CliError {
    let reason = match at {
        Some(p) => format!("{what} at character {} of `{src}`", p + 1),
        None => format!("{what} in `{src}`"),
    };
    bad("--kernel", reason)
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Result<Self> {
        let mut toks = Vec::new();
        let b: Vec<char> = src.chars().collect();
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            if c.is_whitespace() {
                i += 1;
            } else if c.is_ascii_alphabetic() || c == '_' {
                let s = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '_') {
                    i += 1;
                }
                let name: String = b[s..i].iter().collect::<String>().to_ascii_lowercase();
                toks.push((s, Tok::Name(name)));
            } else if c.is_ascii_digit() || c == '.' {
                let s = i;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == '.'
                        || ((b[i] == '-' || b[i] == '+') && matches!(b[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                let text: String = b[s..i].iter().collect();
                let v = text
                    .parse::<f64>()
                    .map_err(|_| kernel_err(src, Some(s), format!("`{text}` is not a number")))?;
                toks.push((s, Tok::Num(v)));
            } else if "+*(),=".contains(c) {
                toks.push((i, Tok::Sym(c)));
                i += 1;
            } else {
                return Err(kernel_err(src, Some(i), format!("unexpected `{c}`")));
            }
        }
        Ok(Self { src, toks, pos: 0 })
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.1)
    }

    fn at(&self) -> Option<usize> {
        self.toks.get(self.pos).map(|t| t.0)
    }

    fn expect(&mut self, c: char) -> Result<()> {
        match self.peek() {
            Some(Tok::Sym(s)) if *s == c => {
                self.pos += 1;
                Ok(())
            }
            _ => Err(kernel_err(self.src, self.at(), format!("expected `{c}`"))),
        }
    }

    fn expr(&mut self) -> Result<Expr> {
        let mut terms = vec![self.term()?];
        while self.peek() == Some(&Tok::Sym('+')) {
            self.pos += 1;
            terms.push(self.term()?);
        }
        Ok(if terms.len() == 1 {
            terms.pop().expect("one term")
        } else {
            Expr::Sum(terms)
        })
    }

    fn term(&mut self) -> Result<Expr> {
        let mut factors = vec![self.factor()?];
        while self.peek() == Some(&Tok::Sym('*')) {
            self.pos += 1;
            factors.push(self.factor()?);
        }
        Ok(if factors.len() == 1 {
            factors.pop().expect("one factor")
        } else {
            Expr::Product(factors)
        })
    }

    fn factor(&mut self) -> Result<Expr> {
        let at = self.at();
        match self.peek().cloned() {
            Some(Tok::Sym('(')) => {
                self.pos += 1;
                let e = self.expr()?;
                self.expect(')')?;
                Ok(e)
            }
            Some(Tok::Name(name)) => {
                self.pos += 1;
                let base = Base::from_name(&name).ok_or_else(|| {
                    kernel_err(
                        self.src,
                        at,
                        format!("unknown kernel `{name}` (known: {})", Base::NAMES),
                    )
                })?;
                let mut args = Vec::new();
                if self.peek() == Some(&Tok::Sym('(')) {
                    self.pos += 1;
                    while self.peek() != Some(&Tok::Sym(')')) {
                        let kat = self.at();
                        let key = match self.peek().cloned() {
                            Some(Tok::Name(k)) => k,
                            _ => {
                                return Err(kernel_err(self.src, kat, "expected a parameter name"));
                            }
                        };
                        let key = match key.as_str() {
                            "lengthscale" => "l".to_string(),
                            "variance" | "outputscale" => "var".to_string(),
                            "period" => "p".to_string(),
                            _ => key,
                        };
                        if !base.keys().contains(&key.as_str()) {
                            return Err(kernel_err(
                                self.src,
                                kat,
                                format!(
                                    "`{}` has no parameter `{key}` (it takes: {})",
                                    base.name(),
                                    base.keys().join(", ")
                                ),
                            ));
                        }
                        self.pos += 1;
                        self.expect('=')?;
                        let vat = self.at();
                        let v = match self.peek() {
                            Some(Tok::Num(v)) => *v,
                            _ => return Err(kernel_err(self.src, vat, "expected a number")),
                        };
                        if !(v.is_finite() && v > 0.0) {
                            return Err(kernel_err(
                                self.src,
                                vat,
                                format!("`{key}` must be finite and > 0, got {v}"),
                            ));
                        }
                        self.pos += 1;
                        args.push((key, v));
                        if self.peek() == Some(&Tok::Sym(',')) {
                            self.pos += 1;
                        } else if self.peek() != Some(&Tok::Sym(')')) {
                            return Err(kernel_err(self.src, self.at(), "expected `,` or `)`"));
                        }
                    }
                    self.pos += 1;
                }
                Ok(Expr::Atom(base, args))
            }
            Some(_) => Err(kernel_err(self.src, at, "expected a kernel name or `(`")),
            None => Err(kernel_err(
                self.src,
                None,
                "unexpected end of the expression",
            )),
        }
    }
}

/// Parses a kernel expression (see the module docs).
pub(crate) fn parse_kernel(src: &str) -> Result<Expr> {
    if src.trim().is_empty() {
        return Err(bad("--kernel", "empty kernel expression"));
    }
    let mut p = Parser::new(src)?;
    let e = p.expr()?;
    if p.pos != p.toks.len() {
        return Err(kernel_err(src, p.at(), "unexpected input"));
    }
    Ok(e)
}

/// What a hyperparameter is, to report it in the data's units.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// Lengthscale of input `k` (or of all inputs, `None`), input units.
    Lengthscale(Option<usize>),
    /// Output variance in target units² (scaled by the standardisation).
    Variance,
    /// A variance made dimensionless (fixed to 1, or a factor after the first of a product).
    Relative,
    /// Period, input units.
    Period,
    /// RQ shape.
    Alpha,
    /// Linear weight variance: target units² per input unit².
    LinearVariance,
    /// Linear bias, target units².
    Bias,
}

#[derive(Debug, Clone)]
struct ParamInfo {
    name: String,
    kind: Kind,
    fixed: bool,
}

/// The data scales the initial values are drawn from.
struct Scales {
    d: usize,
    ard: bool,
    /// Range of each (centred) input.
    range: Vec<f64>,
    /// Mean squared norm of the centred inputs.
    mean_sq_norm: f64,
    /// Variance of the targets (to convert target-unit variances).
    y_var: f64,
}

/// The kernel of an expression with data-based initial values and what each parameter is.
struct Built {
    kernel: Box<dyn Kernel>,
    params: Vec<ParamInfo>,
    /// Matérn components, when the expression is a (sum of) Matérn kernel(s).
    matern: Option<Vec<MaternComponent>>,
}

fn build_kernel(e: &Expr, s: &Scales) -> Result<Built> {
    let mut count = 0;
    let n_atoms = count_atoms(e);
    let mut params = Vec::new();
    let kernel = build(e, s, 1.0, true, &mut count, n_atoms, &mut params)?;
    if kernel.n_params() != params.len() {
        return Err(bad(
            "--kernel",
            format!(
                "internal mismatch: {} parameters described, {} in the kernel",
                params.len(),
                kernel.n_params()
            ),
        ));
    }
    let matern = matern_components(e, s);
    Ok(Built {
        kernel,
        params,
        matern,
    })
}

fn count_atoms(e: &Expr) -> usize {
    match e {
        Expr::Atom(..) => 1,
        Expr::Sum(v) | Expr::Product(v) => v.iter().map(count_atoms).sum(),
    }
}

fn arg(args: &[(String, f64)], key: &str) -> Option<f64> {
    args.iter().find(|(k, _)| k == key).map(|&(_, v)| v)
}

/// Initial lengthscales: given (the same for every input) or a quarter of each input's range.
fn lengthscales(args: &[(String, f64)], s: &Scales) -> Vec<f64> {
    let dims = if s.ard { s.d } else { 1 };
    (0..dims)
        .map(|k| {
            arg(args, "l").unwrap_or_else(|| {
                let r = if s.ard {
                    s.range[k]
                } else {
                    s.range.iter().copied().fold(0.0, f64::max)
                };
                if r > 0.0 { 0.25 * r } else { 1.0 }
            })
        })
        .collect()
}

fn build(
    e: &Expr,
    s: &Scales,
    share: f64,
    scaled: bool,
    count: &mut usize,
    n_atoms: usize,
    params: &mut Vec<ParamInfo>,
) -> Result<Box<dyn Kernel>> {
    let core = |r: pn_core::Result<Box<dyn Kernel>>| r.map_err(|e| bad("--kernel", e.to_string()));
    match e {
        Expr::Sum(parts) => {
            let mut ks = Vec::new();
            for p in parts {
                ks.push(build(
                    p,
                    s,
                    share / parts.len() as f64,
                    scaled,
                    count,
                    n_atoms,
                    params,
                )?);
            }
            core(Sum::new(ks).map(|k| Box::new(k) as Box<dyn Kernel>))
        }
        Expr::Product(parts) => {
            let mut ks = Vec::new();
            for (i, p) in parts.iter().enumerate() {
                let first = i == 0;
                // Factors after the first: a plain stationary/periodic atom gets its output
                // variance fixed to 1 (it would only duplicate the first factor's).
                let k = if !first && matches!(p, Expr::Atom(b, _) if *b != Base::Linear) {
                    let Expr::Atom(b, args) = p else {
                        unreachable!("matched above")
                    };
                    let mut args = args.clone();
                    args.retain(|(k, _)| k != "var");
                    args.push(("var".into(), 1.0));
                    let start = params.len();
                    let k = build(&Expr::Atom(*b, args), s, 1.0, false, count, n_atoms, params)?;
                    if let Some(last) = params[start..].last_mut() {
                        last.fixed = true;
                    }
                    k
                } else {
                    build(
                        p,
                        s,
                        if first { share } else { 1.0 },
                        scaled && first,
                        count,
                        n_atoms,
                        params,
                    )?
                };
                ks.push(k);
            }
            core(Product::new(ks).map(|k| Box::new(k) as Box<dyn Kernel>))
        }
        Expr::Atom(base, args) => {
            *count += 1;
            let prefix = if n_atoms == 1 {
                base.name().to_string()
            } else {
                format!("{}{}", base.name(), count)
            };
            // Variances are given in target units²; the GP sees standardised targets.
            let var_given = arg(args, "var");
            let var = if scaled {
                var_given.map_or(share, |v| v / s.y_var)
            } else {
                var_given.unwrap_or(1.0)
            };
            let var_kind = if scaled {
                Kind::Variance
            } else {
                Kind::Relative
            };
            let mut push = |name: String, kind: Kind| {
                params.push(ParamInfo {
                    name: format!("{prefix}.{name}"),
                    kind,
                    fixed: false,
                })
            };
            let ls = lengthscales(args, s);
            let push_ls = |push: &mut dyn FnMut(String, Kind)| {
                if s.ard {
                    for k in 0..s.d {
                        push(format!("lengthscale[{k}]"), Kind::Lengthscale(Some(k)));
                    }
                } else {
                    push("lengthscale".into(), Kind::Lengthscale(None));
                }
            };
            let k: pn_core::Result<Box<dyn Kernel>> = match base {
                Base::Se | Base::Matern12 | Base::Matern32 | Base::Matern52 => {
                    push_ls(&mut push);
                    push("variance".into(), var_kind);
                    let l = ls.clone();
                    match (base, s.ard) {
                        (Base::Se, true) => {
                            SquaredExponential::ard(l, var).map(|k| Box::new(k) as _)
                        }
                        (Base::Se, false) => {
                            SquaredExponential::new(l[0], var).map(|k| Box::new(k) as _)
                        }
                        (Base::Matern12, true) => Matern12::ard(l, var).map(|k| Box::new(k) as _),
                        (Base::Matern12, false) => {
                            Matern12::new(l[0], var).map(|k| Box::new(k) as _)
                        }
                        (Base::Matern32, true) => Matern32::ard(l, var).map(|k| Box::new(k) as _),
                        (Base::Matern32, false) => {
                            Matern32::new(l[0], var).map(|k| Box::new(k) as _)
                        }
                        (_, true) => Matern52::ard(l, var).map(|k| Box::new(k) as _),
                        (_, false) => Matern52::new(l[0], var).map(|k| Box::new(k) as _),
                    }
                }
                Base::Rq => {
                    push_ls(&mut push);
                    push("alpha".into(), Kind::Alpha);
                    push("variance".into(), var_kind);
                    let alpha = arg(args, "alpha").unwrap_or(1.0);
                    if s.ard {
                        RationalQuadratic::ard(ls, alpha, var).map(|k| Box::new(k) as _)
                    } else {
                        RationalQuadratic::new(ls[0], alpha, var).map(|k| Box::new(k) as _)
                    }
                }
                Base::Periodic => {
                    push_ls(&mut push);
                    push("period".into(), Kind::Period);
                    push("variance".into(), var_kind);
                    let max_range = s.range.iter().copied().fold(0.0, f64::max);
                    let period = arg(args, "p").unwrap_or(if max_range > 0.0 {
                        0.2 * max_range
                    } else {
                        1.0
                    });
                    // The periodic lengthscale is relative to the period (sin² units).
                    let l = arg(args, "l").unwrap_or(1.0);
                    if s.ard {
                        Periodic::ard(vec![l; s.d], period, var).map(|k| Box::new(k) as _)
                    } else {
                        Periodic::new(l, period, var).map(|k| Box::new(k) as _)
                    }
                }
                Base::Linear => {
                    push(
                        "variance".into(),
                        if scaled {
                            Kind::LinearVariance
                        } else {
                            Kind::Relative
                        },
                    );
                    let w = match var_given {
                        Some(v) if scaled => v / s.y_var,
                        Some(v) => v,
                        None => share / s.mean_sq_norm.max(f64::MIN_POSITIVE),
                    };
                    match arg(args, "bias") {
                        Some(b) => {
                            push(
                                "bias".into(),
                                if scaled { Kind::Bias } else { Kind::Relative },
                            );
                            let b = if scaled { b / s.y_var } else { b };
                            Linear::with_bias(w, b).map(|k| Box::new(k) as _)
                        }
                        None => Linear::new(w).map(|k| Box::new(k) as _),
                    }
                }
            };
            core(k)
        }
    }
}

/// Matérn components of an expression that is a Matérn kernel or a sum of them, on 1-D inputs.
fn matern_components(e: &Expr, s: &Scales) -> Option<Vec<MaternComponent>> {
    if s.d != 1 {
        return None;
    }
    let atoms: Vec<&Expr> = match e {
        Expr::Atom(..) => vec![e],
        Expr::Sum(v) => v.iter().collect(),
        Expr::Product(_) => return None,
    };
    let share = 1.0 / atoms.len() as f64;
    atoms
        .iter()
        .map(|a| match a {
            Expr::Atom(b, args) => b.nu().map(|nu| MaternComponent {
                nu,
                lengthscale: lengthscales(args, s)[0],
                variance: arg(args, "var").map_or(share, |v| v / s.y_var),
            }),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The run

/// One fitted hyperparameter in the data's units.
#[derive(Debug, Clone)]
pub(crate) struct Hyper {
    pub name: String,
    pub value: f64,
    pub unit: String,
    pub fixed: bool,
}

/// Everything `pn gp` computes.
pub(crate) struct Outcome {
    pub data: Data,
    pub kernel: String,
    pub method: Method,
    pub posterior: GpPosterior,
    pub hypers: Vec<Hyper>,
    pub fit_points: usize,
    pub predict_at: &'static str,
    pub xs: Array2<f64>,
    pub mean: Array1<f64>,
    pub std: Array1<f64>,
    pub std_noisy: Array1<f64>,
    pub metrics: Option<(f64, f64, f64)>,
    pub seconds_fit: f64,
    pub seconds_predict: f64,
}

fn load(args: &GpArgs) -> Result<Data> {
    let mut data = match &args.train {
        None => {
            if args.test.is_some() || args.target.is_some() {
                return Err(bad(
                    "--train",
                    "--test and --target need a training file (--train FILE.csv)",
                ));
            }
            let (x, y) = datasets::mcycle();
            let mut d = Data {
                source: "mcycle (shipped; MASS::mcycle)".into(),
                inputs: vec!["times_ms".into()],
                target: "accel_g".into(),
                ignored: vec![],
                x,
                y,
                test: None,
                test_source: None,
            };
            if args.holdout.is_none() {
                hold_out(&mut d, 5)?;
            }
            d
        }
        Some(path) => {
            let train = Table::read(path, "--train")?;
            let test = match &args.test {
                Some(p) => Some(Table::read(p, "--test")?),
                None => None,
            };
            data_from_tables(&train, test.as_ref(), args.target.as_deref())?
        }
    };
    if let Some(k) = args.holdout {
        hold_out(&mut data, k as usize)?;
    }
    Ok(data)
}

/// Fits and predicts; everything but the output.
pub(crate) fn compute(args: &GpArgs) -> Result<Outcome> {
    if let Some(v) = args.noise
        && !(v.is_finite() && v > 0.0)
    {
        return Err(bad("--noise", format!("must be finite and > 0, got {v}")));
    }
    let expr = parse_kernel(&args.kernel)?;
    let data = load(args)?;
    let (n, d) = data.x.dim();
    if args.solver == SolverArg::StateSpace && d != 1 {
        return Err(bad(
            "--solver",
            format!(
                "state-space needs 1-D inputs, but there are {d} input columns ({})",
                data.inputs.join(", ")
            ),
        ));
    }
    // Centre the inputs (lengthscales stay in the inputs' units).
    let x_mean = data.x.mean_axis(Axis(0)).expect("n >= 2");
    let xc = &data.x - &x_mean;
    let y_mean = data.y.mean().unwrap_or(0.0);
    let y_var = data.y.mapv(|v| (v - y_mean).powi(2)).mean().unwrap_or(0.0);
    let y_var_eff = if y_var > 0.0 { y_var } else { 1.0 };
    let scales = Scales {
        d,
        ard: d > 1 && !args.isotropic,
        range: (0..d)
            .map(|k| {
                let c = xc.column(k);
                c.fold(f64::NEG_INFINITY, |a, &b| a.max(b))
                    - c.fold(f64::INFINITY, |a, &b| a.min(b))
            })
            .collect(),
        mean_sq_norm: xc.rows().into_iter().map(|r| r.dot(&r)).sum::<f64>() / n as f64,
        y_var: y_var_eff,
    };
    let built = build_kernel(&expr, &scales)?;
    if args.solver == SolverArg::StateSpace && built.matern.is_none() {
        return Err(bad(
            "--solver",
            format!(
                "state-space needs a Matérn kernel or a sum of them (matern12, matern32, matern52), got `{}`",
                args.kernel
            ),
        ));
    }
    let noise0 = args.noise.map_or(0.1, |v| v / y_var_eff);
    let (lo, hi) = (1e-6f64, 10.0f64);
    let mut fit = FitOptions::default()
        .restarts(args.restarts as usize)
        .seed(args.common.seed);
    if args.fix_noise {
        fit = fit.fix_noise();
    } else if !args.no_fit {
        if !(lo < noise0 && noise0 < hi) {
            return Err(bad(
                "--noise",
                format!(
                    "a fitted noise variance is kept within [1e-6, 10] × the targets' variance ({y_var_eff:.4e}); the initial {} is outside (use --fix-noise to keep it as given)",
                    noise0 * y_var_eff
                ),
            ));
        }
        fit = fit.bound(built.kernel.n_params(), lo.ln(), hi.ln());
    }
    for (i, p) in built.params.iter().enumerate() {
        if p.fixed {
            fit = fit.fix(i);
        }
    }
    let mut options = GpOptions::default();
    options.fit_max_n = args.fit_rows as usize;
    let reg = match &built.matern {
        Some(comps) => GpRegression::matern(comps, noise0).map_err(gp_error("--kernel"))?,
        None => GpRegression::new(built.kernel.clone(), noise0),
    }
    .options(options)
    .method(args.solver.method())
    .optimize(!args.no_fit)
    .fit_options(fit);
    let chosen = reg.choose(n, d);
    let fit_points = if chosen == Method::Exact {
        n
    } else {
        n.min(args.fit_rows as usize)
    };

    let t0 = Instant::now();
    let arg_of_failure = if args.solver == SolverArg::Auto {
        "--kernel"
    } else {
        "--solver"
    };
    let post = reg
        .fit(xc.view(), data.y.view())
        .map_err(gp_error(arg_of_failure))?;
    let seconds_fit = t0.elapsed().as_secs_f64();

    // Where to predict.
    let (xs, predict_at) = match &data.test {
        Some((xt, _)) => (xt.clone(), "test rows"),
        None if d == 1 => {
            let c = data.x.column(0);
            let lo = c.fold(f64::INFINITY, |a, &b| a.min(b));
            let hi = c.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
            let pad = 0.05 * (hi - lo);
            let g = Array1::linspace(lo - pad, hi + pad, args.grid as usize);
            (g.insert_axis(Axis(1)), "grid")
        }
        None => (data.x.clone(), "training rows"),
    };
    let t1 = Instant::now();
    let xs_c = &xs - &x_mean;
    let (mean, var) = post.predict(xs_c.view()).map_err(gp_error("--solver"))?;
    let (_, var_noisy) = post
        .predict_noisy(xs_c.view())
        .map_err(gp_error("--solver"))?;
    let metrics = match &data.test {
        Some((_, Some(yt))) => {
            let rmse = (mean
                .iter()
                .zip(yt)
                .map(|(m, y)| (m - y).powi(2))
                .sum::<f64>()
                / yt.len() as f64)
                .sqrt();
            let nlpd = post
                .nlpd(xs_c.view(), yt.view())
                .map_err(gp_error("--solver"))?;
            let inside = mean
                .iter()
                .zip(&var_noisy)
                .zip(yt)
                .filter(|((m, v), y)| (*y - *m).abs() <= 1.959_963_985 * v.sqrt())
                .count();
            Some((rmse, nlpd, inside as f64 / yt.len() as f64))
        }
        _ => None,
    };
    let seconds_predict = t1.elapsed().as_secs_f64();
    let hypers = hyperparameters(&post, &built.params, &data.inputs, &data.target);
    let method = post.method();
    Ok(Outcome {
        data,
        kernel: args.kernel.clone(),
        method,
        hypers,
        fit_points,
        predict_at,
        xs,
        mean,
        std: var.mapv(f64::sqrt),
        std_noisy: var_noisy.mapv(f64::sqrt),
        metrics,
        seconds_fit,
        seconds_predict,
        posterior: post,
    })
}

/// The fitted kernel hyperparameters in the data's units, then the noise variance.
fn hyperparameters(
    post: &GpPosterior,
    params: &[ParamInfo],
    inputs: &[String],
    target: &str,
) -> Vec<Hyper> {
    let (_, scale) = post.y_transform();
    let s2 = scale * scale;
    let lp = post.kernel().log_params();
    let mut out: Vec<Hyper> = params
        .iter()
        .zip(lp.iter())
        .map(|(p, &l)| {
            let v = l.exp();
            let (value, unit) = match &p.kind {
                Kind::Lengthscale(Some(k)) => (v, inputs[*k].to_string()),
                Kind::Lengthscale(None) | Kind::Period => (
                    v,
                    if inputs.len() == 1 {
                        inputs[0].clone()
                    } else {
                        "input units".into()
                    },
                ),
                Kind::Variance | Kind::Bias => (v * s2, format!("{target}²")),
                Kind::LinearVariance => (v * s2, format!("{target}² per input unit²")),
                Kind::Relative | Kind::Alpha => (v, "1".into()),
            };
            let name = match &p.kind {
                Kind::Lengthscale(Some(k)) => p
                    .name
                    .replace(&format!("[{k}]"), &format!("[{}]", inputs[*k])),
                _ => p.name.clone(),
            };
            Hyper {
                name,
                value,
                unit,
                fixed: p.fixed,
            }
        })
        .collect();
    out.push(Hyper {
        name: "noise_variance".into(),
        value: post.noise_variance_original(),
        unit: format!("{target}²"),
        fixed: false,
    });
    out
}

/// Run `pn gp`.
///
/// The JSON document (`--json`) has `mean`, `std` (the latent function's posterior standard
/// deviation) and `std_noisy` (of a new noisy observation), one per prediction row, in the
/// target's units; `x` (the prediction rows' inputs) and `predict_at` (`test rows`, `grid` or
/// `training rows`); `hyperparameters` (name, value, unit, fixed — in the data's units),
/// `noise_variance`, `prior_mean`, `log_marginal_likelihood` (null for the CG / IterGP /
/// Toeplitz paths); `method`, `solver_iterations`, `fit` (how the hyperparameters were found);
/// `test` (RMSE, NLPD, 95 % coverage; null without test targets); the data's description and
/// `seconds`.
pub fn run(args: &GpArgs) -> Result<()> {
    let common = &args.common;
    let plot_path = common.plot_path()?;
    if let Some(p) = plot_path {
        ensure_dir(p.parent().unwrap_or(Path::new("")))?;
    }
    if let Some(p) = &args.predictions {
        ensure_dir(p.parent().unwrap_or(Path::new("")))?;
    }
    let reporter = common.reporter();
    let t0 = Instant::now();
    let out = compute(args)?;
    let total = t0.elapsed().as_secs_f64();
    if let Some(p) = &args.predictions {
        write_predictions(p, &out)?;
        reporter.say(format!("wrote {}", p.display()));
    }
    if let Some(p) = plot_path {
        plot(p, &out)?;
        reporter.say(format!("wrote {}", p.display()));
    }
    if common.json {
        common.emit_json(&to_json(&out, args, total))?;
    } else {
        print_stdout(&summary(&out, args, total))?;
    }
    Ok(())
}

fn fit_json(out: &Outcome, args: &GpArgs) -> Value {
    let n = out.data.y.len();
    match out.posterior.fit_info() {
        None => json!({"optimized": false}),
        Some(info) => {
            let best = &info.starts[info.best_start];
            json!({
                "optimized": true,
                "by": "exact GP (Cholesky), L-BFGS on the log marginal likelihood",
                "points": out.fit_points,
                "of": n,
                "restarts": args.restarts,
                "best_start": info.best_start,
                "converged": best.converged,
                "evaluations": info.evaluations,
            })
        }
    }
}

fn to_json(out: &Outcome, args: &GpArgs, total: f64) -> Value {
    let (y_mean, y_scale) = out.posterior.y_transform();
    json!({
        "train": out.data.source,
        "test": out.data.test_source,
        "n_train": out.data.y.len(),
        "d": out.data.inputs.len(),
        "inputs": out.data.inputs,
        "target": out.data.target,
        "ignored_columns": out.data.ignored,
        "kernel": out.kernel,
        "solver": method_name(args.solver.method()),
        "method": method_name(out.method),
        "solver_iterations": out.posterior.solver_iterations(),
        "fit": fit_json(out, args),
        "hyperparameters": out.hypers.iter().map(|h| json!({
            "name": h.name, "value": h.value, "unit": h.unit, "fixed": h.fixed,
        })).collect::<Vec<_>>(),
        "noise_variance": out.posterior.noise_variance_original(),
        "prior_mean": y_mean,
        "target_std": y_scale,
        "jitter": out.posterior.exact().map(|g| g.jitter() * y_scale * y_scale),
        "log_marginal_likelihood": out.posterior.log_marginal_likelihood(),
        "predict_at": out.predict_at,
        "x": out.xs.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
        "mean": out.mean.to_vec(),
        "std": out.std.to_vec(),
        "std_noisy": out.std_noisy.to_vec(),
        "test_metrics": out.metrics.map(|(rmse, nlpd, cov)| json!({
            "rmse": rmse, "nlpd": nlpd, "coverage_95": cov,
        })),
        "seconds": {"fit": out.seconds_fit, "predict": out.seconds_predict, "total": total},
    })
}

fn fmt_num(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e5 || v.abs() < 1e-3) {
        format!("{v:.4e}")
    } else {
        format!("{v:.5}")
    }
}

fn summary(out: &Outcome, args: &GpArgs, total: f64) -> String {
    let dt = &out.data;
    let n = dt.y.len();
    let mut s = String::new();
    let _ = writeln!(s, "pn gp: {}", dt.source);
    let _ = writeln!(
        s,
        "  n = {n} training rows, d = {} input(s): {}; target: {}{}",
        dt.inputs.len(),
        dt.inputs.join(", "),
        dt.target,
        if dt.ignored.is_empty() {
            String::new()
        } else {
            format!(" (ignored, not numeric: {})", dt.ignored.join(", "))
        }
    );
    let _ = writeln!(
        s,
        "  kernel: {}   method: {}{}",
        out.kernel,
        method_name(out.method),
        out.posterior
            .solver_iterations()
            .map_or(String::new(), |k| format!(" ({k} iterations)"))
    );
    match out.posterior.fit_info() {
        Some(info) => {
            let best = &info.starts[info.best_start];
            let by = if out.method == Method::Exact {
                String::new()
            } else if out.fit_points == n {
                format!(
                    " (by the exact GP on all {n} rows, then conditioned by {})",
                    method_name(out.method)
                )
            } else {
                format!(
                    " (by the exact GP on {} evenly spaced of {n} rows, then conditioned by {} on all)",
                    out.fit_points,
                    method_name(out.method)
                )
            };
            let _ = writeln!(
                s,
                "  hyperparameters fitted{by}: {} starts, best start {}{}",
                info.starts.len(),
                info.best_start,
                if best.converged {
                    ""
                } else {
                    " (not converged)"
                }
            );
        }
        None => {
            let _ = writeln!(s, "  hyperparameters as given (--no-fit)");
        }
    }
    for h in &out.hypers {
        let _ = writeln!(
            s,
            "    {:<28} {:>14} {}{}",
            h.name,
            fmt_num(h.value),
            h.unit,
            if h.fixed { "  (fixed)" } else { "" }
        );
    }
    let _ = writeln!(
        s,
        "    {:<28} {:>14} {}",
        "noise std",
        fmt_num(out.posterior.noise_variance_original().sqrt()),
        dt.target
    );
    match out.posterior.log_marginal_likelihood() {
        Some(l) => {
            let _ = writeln!(s, "  log marginal likelihood: {l:.4}");
        }
        None => {
            let _ = writeln!(
                s,
                "  log marginal likelihood: not computed by the {} path",
                method_name(out.method)
            );
        }
    }
    if let Some((rmse, nlpd, cov)) = out.metrics {
        let _ = writeln!(
            s,
            "  test ({}, {} rows): RMSE {} {}, NLPD {:.4}, {:.0}% inside the 95% band",
            dt.test_source.as_deref().unwrap_or(""),
            out.mean.len(),
            fmt_num(rmse),
            dt.target,
            nlpd,
            100.0 * cov
        );
    }
    let _ = writeln!(
        s,
        "  predictions at the {} ({} rows; mean ± std of f, std of a new observation):",
        out.predict_at,
        out.mean.len()
    );
    let m = out.mean.len();
    let show: Vec<usize> = if m <= 8 {
        (0..m).collect()
    } else {
        (0..8).map(|i| i * (m - 1) / 7).collect()
    };
    let truth = match &dt.test {
        Some((_, Some(yt))) if out.predict_at == "test rows" => Some(yt),
        _ => None,
    };
    let _ = writeln!(
        s,
        "    {:<24} {:>12} {:>12} {:>12}{}",
        dt.inputs.join(", "),
        "mean",
        "std",
        "std_noisy",
        if truth.is_some() {
            format!(" {:>12}", dt.target)
        } else {
            String::new()
        }
    );
    for i in show {
        let xs: Vec<String> = out.xs.row(i).iter().map(|v| fmt_num(*v)).collect();
        let _ = writeln!(
            s,
            "    {:<24} {:>12} {:>12} {:>12}{}",
            xs.join(", "),
            fmt_num(out.mean[i]),
            fmt_num(out.std[i]),
            fmt_num(out.std_noisy[i]),
            truth.map_or(String::new(), |t| format!(" {:>12}", fmt_num(t[i])))
        );
    }
    let _ = write!(
        s,
        "  time: fit {:.3} s, predict {:.3} s, total {:.3} s (seed {}, {} restarts)",
        out.seconds_fit, out.seconds_predict, total, args.common.seed, args.restarts
    );
    s
}

fn write_predictions(path: &Path, out: &Outcome) -> Result<()> {
    let dt = &out.data;
    let truth = match &dt.test {
        Some((_, Some(yt))) if out.predict_at == "test rows" => Some(yt),
        _ => None,
    };
    let mut s = dt.inputs.join(",");
    s.push_str(",mean,std,std_noisy");
    if truth.is_some() {
        let _ = write!(s, ",{}", dt.target);
    }
    s.push('\n');
    for i in 0..out.mean.len() {
        let xs: Vec<String> = out.xs.row(i).iter().map(|v| format!("{v}")).collect();
        let _ = write!(
            s,
            "{},{},{},{}",
            xs.join(","),
            out.mean[i],
            out.std[i],
            out.std_noisy[i]
        );
        if let Some(t) = truth {
            let _ = write!(s, ",{}", t[i]);
        }
        s.push('\n');
    }
    std::fs::write(path, s).map_err(|source| CliError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    })
}

// ---------------------------------------------------------------------------------------------
// Plots

fn plot(path: &Path, out: &Outcome) -> Result<()> {
    let dt = &out.data;
    // Long kernel expressions are shortened so that the title fits the figure.
    let kernel: String = if out.kernel.chars().count() > 48 {
        out.kernel
            .chars()
            .take(47)
            .chain(std::iter::once('…'))
            .collect()
    } else {
        out.kernel.clone()
    };
    let title = format!("pn gp: {kernel} ({})", method_name(out.method));
    if dt.inputs.len() == 1 {
        // Mean ± 2σ on a grid over the data, with the training data.
        let c = dt.x.column(0);
        let mut lo = c.fold(f64::INFINITY, |a, &b| a.min(b));
        let mut hi = c.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
        if let Some((xt, _)) = &dt.test {
            lo = lo.min(xt.fold(f64::INFINITY, |a, &b| a.min(b)));
            hi = hi.max(xt.fold(f64::NEG_INFINITY, |a, &b| a.max(b)));
        }
        let pad = 0.05 * (hi - lo);
        let g = Array1::linspace(lo - pad, hi + pad, 300);
        // The GP saw centred inputs (the training inputs' mean subtracted).
        let x_mean = dt.x.mean().unwrap_or(0.0);
        let gc = g.mapv(|v| v - x_mean).insert_axis(Axis(1));
        let (m, v) = out
            .posterior
            .predict(gc.view())
            .map_err(gp_error("--plot"))?;
        let sd = v.mapv(f64::sqrt);
        let ylab = dt.target.as_str();
        let xlab = dt.inputs[0].as_str();
        let belief = Belief1d::new(&title, g.view(), m.view(), sd.view())
            .labels(xlab, ylab)
            .data(dt.x.column(0), dt.y.view());
        belief_1d(path, &belief)
    } else {
        let (xs_rows, truth, what) = match &dt.test {
            Some((_, Some(yt))) => (out.mean.view(), yt.view(), "test rows"),
            _ => {
                // No test targets: in-sample predictions at the training rows.
                return predicted_vs_actual_in_sample(path, out, &title);
            }
        };
        predicted_vs_actual(
            path,
            &title,
            xs_rows,
            out.std_noisy.view(),
            truth,
            what,
            &dt.target,
        )
    }
}

fn predicted_vs_actual_in_sample(path: &Path, out: &Outcome, title: &str) -> Result<()> {
    let dt = &out.data;
    let x_mean = dt.x.mean_axis(Axis(0)).expect("n >= 2");
    let xc = &dt.x - &x_mean;
    let (m, v) = out
        .posterior
        .predict_noisy(xc.view())
        .map_err(gp_error("--plot"))?;
    predicted_vs_actual(
        path,
        title,
        m.view(),
        v.mapv(f64::sqrt).view(),
        dt.y.view(),
        "training rows",
        &dt.target,
    )
}

/// Predicted mean ± 2σ (of a new observation) against the actual value at each row.
fn predicted_vs_actual(
    path: &Path,
    title: &str,
    mean: ArrayView1<'_, f64>,
    std: ArrayView1<'_, f64>,
    actual: ArrayView1<'_, f64>,
    what: &str,
    target: &str,
) -> Result<()> {
    draw_pva(path, title, mean, std, actual, what, target).map_err(|message| CliError::Plot {
        path: path.to_path_buf(),
        message,
    })
}

fn draw_pva(
    path: &Path,
    title: &str,
    mean: ArrayView1<'_, f64>,
    std: ArrayView1<'_, f64>,
    actual: ArrayView1<'_, f64>,
    what: &str,
    target: &str,
) -> std::result::Result<(), String> {
    let err = |e: DrawingAreaErrorKind<_>| e.to_string();
    let lo = actual
        .iter()
        .chain(mean.iter())
        .zip(std.iter().chain(std.iter()))
        .map(|(m, s)| m - 2.0 * s)
        .fold(f64::INFINITY, f64::min);
    let hi = actual
        .iter()
        .chain(mean.iter())
        .zip(std.iter().chain(std.iter()))
        .map(|(m, s)| m + 2.0 * s)
        .fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if hi > lo && lo.is_finite() && hi.is_finite() {
        (lo, hi)
    } else {
        (lo - 1.0, lo + 1.0)
    };
    let root = SVGBackend::new(path, (700, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{title}: predicted vs actual at the {what}"),
            ("sans-serif", 18),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(lo..hi, lo..hi)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(format!("actual {target}"))
        .y_desc(format!(
            "predicted {target} (mean ± 2σ of a new observation)"
        ))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(err)?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            vec![(lo, lo), (hi, hi)],
            BLACK.mix(0.5).stroke_width(1),
        )))
        .map_err(err)?;
    let blue = RGBColor(31, 119, 180);
    chart
        .draw_series(actual.iter().zip(mean).zip(std).map(|((&a, &m), &s)| {
            PathElement::new(vec![(a, m - 2.0 * s), (a, m + 2.0 * s)], blue.mix(0.4))
        }))
        .map_err(err)?;
    chart
        .draw_series(
            actual
                .iter()
                .zip(mean)
                .map(|(&a, &m)| Circle::new((a, m), 3, blue.filled())),
        )
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_expressions_parse_with_precedence_and_arguments() {
        let e = parse_kernel("se + Matern32(l=2, var=0.5) * periodic(p=1)").unwrap();
        match e {
            Expr::Sum(v) => {
                assert_eq!(v.len(), 2);
                assert_eq!(v[0], Expr::Atom(Base::Se, vec![]));
                match &v[1] {
                    Expr::Product(f) => {
                        assert_eq!(
                            f[0],
                            Expr::Atom(
                                Base::Matern32,
                                vec![("l".into(), 2.0), ("var".into(), 0.5)]
                            )
                        );
                        assert_eq!(f[1], Expr::Atom(Base::Periodic, vec![("p".into(), 1.0)]));
                    }
                    other => panic!("not a product: {other:?}"),
                }
            }
            other => panic!("not a sum: {other:?}"),
        }
        let e = parse_kernel("(se + linear) * rq(alpha=1e-1)").unwrap();
        assert!(matches!(e, Expr::Product(ref f) if matches!(f[0], Expr::Sum(_))));
        for bad in [
            "",
            "sq",
            "se +",
            "se(l=)",
            "se(l=-1)",
            "se(p=1)",
            "(se",
            "se)",
            "se $ rq",
            "se(l=1 var=2)",
        ] {
            let e = parse_kernel(bad).unwrap_err().to_string();
            assert!(e.contains("--kernel"), "{bad}: {e}");
        }
        assert!(
            parse_kernel("foo")
                .unwrap_err()
                .to_string()
                .contains("unknown kernel `foo`")
        );
    }

    #[test]
    fn built_kernels_describe_every_parameter() {
        let s = Scales {
            d: 2,
            ard: true,
            range: vec![4.0, 8.0],
            mean_sq_norm: 3.0,
            y_var: 4.0,
        };
        let e = parse_kernel("se(var=2) + matern52 * periodic + linear(bias=1) + rq").unwrap();
        let b = build_kernel(&e, &s).unwrap();
        assert_eq!(b.kernel.n_params(), b.params.len());
        assert!(b.matern.is_none());
        let lp = b.kernel.log_params();
        // se: lengthscales a quarter of the ranges, variance 2 / 4 in standardised units.
        assert!((lp[0].exp() - 1.0).abs() < 1e-12 && (lp[1].exp() - 2.0).abs() < 1e-12);
        assert!((lp[2].exp() - 0.5).abs() < 1e-12);
        // The periodic factor's variance is fixed (and 1).
        let fixed: Vec<&str> = b
            .params
            .iter()
            .filter(|p| p.fixed)
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(fixed, vec!["periodic3.variance"]);
        let s1 = Scales {
            d: 1,
            ard: false,
            range: vec![10.0],
            mean_sq_norm: 1.0,
            y_var: 1.0,
        };
        let m = build_kernel(&parse_kernel("matern12 + matern52(l=3)").unwrap(), &s1).unwrap();
        let comps = m.matern.unwrap();
        assert_eq!(comps.len(), 2);
        assert_eq!(comps[1].lengthscale, 3.0);
        assert_eq!(comps[0].lengthscale, 2.5);
    }

    #[test]
    fn csv_tables_report_bad_cells_by_line_and_column() {
        let t = Table::parse("t.csv", "a,b,y\n1,2,3\n# note\n\n4,x,6\n", "--train").unwrap();
        assert_eq!(t.lines, vec![2, 5]);
        let e = t.numbers(1, "input", "--train").unwrap_err().to_string();
        assert!(
            e.contains("line 5") && e.contains("`b`") && e.contains("`x`"),
            "{e}"
        );
        let e = Table::parse("t.csv", "1,2\n3,4\n", "--train")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no header"), "{e}");
        let e = Table::parse("t.csv", "a,b\n1,2,3\n", "--train")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("3 fields"), "{e}");
        let t = Table::parse("t.csv", "\u{feff}\"a\";\"y\"\n1;2\n3;4\n", "--train").unwrap();
        assert_eq!(t.columns, vec!["a", "y"]);
        let d = data_from_tables(&t, None, None).unwrap();
        assert_eq!(d.x.column(0).to_vec(), vec![1.0, 3.0]);
        assert_eq!(d.y.to_vec(), vec![2.0, 4.0]);
    }
}
