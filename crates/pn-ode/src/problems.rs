//! A catalogue of standard ODE test problems, with their usual parameters, time spans and
//! initial values, and independent reference solutions.
//!
//! Every problem is a small `Copy` struct implementing [`OdeFunction`] (so the solvers get exact
//! Jacobians and Taylor coefficients), with
//!
//! - `Default` — the usual parameters below, and `new(...)` taking them positionally;
//! - `with_params(&[(name, value)])` / `set_params` — override parameters **by name**, as
//!   written in the formulas below (so a command line can say `--param mu=1000`); an unknown
//!   name, a non-finite value or a value outside the parameter's range is an
//!   [`Error::InvalidParameter`];
//! - `params()`, the constant `PARAMS` (the names) and `NAME`;
//! - `info()` — a uniform [`ProblemInfo`]: name, time span, initial value, parameters, whether
//!   the problem is stiff, and a one-line description with the formula.
//!
//! [`Problem`] holds any of them (`Problem::by_name("van-der-pol", &[("mu", 1e3)])`) and
//! implements [`OdeFunction`] by dispatch; [`catalogue`] lists every problem's default
//! [`ProblemInfo`] and [`NAMES`] their names.
//!
//! # The problems
//!
//! | name | dim | formula (parameters with their defaults) | t-span, x₀ | stiff |
//! |---|---|---|---|---|
//! | `lotka-volterra` | 2 | x′ = a x − b x y, y′ = −c y + d x y; a = 0.5, b = 0.05, c = 0.5, d = 0.05 | \[0, 20\], (20, 20) | no |
//! | `fitzhugh-nagumo` | 2 | V′ = c (V − V³/3 + R), R′ = −(V − a + b R)/c; a = 0.2, b = 0.2, c = 3 | \[0, 20\], (−1, 1) | no |
//! | `van-der-pol` | 2 | x₁′ = x₂, x₂′ = μ ((1 − x₁²) x₂ − x₁); μ = `mu` = 1 | \[0, 6.3\], (2, 0) | if μ ≳ 53 |
//! | `rigid-body` | 3 | y₁′ = I₁ y₂ y₃, y₂′ = I₂ y₁ y₃, y₃′ = I₃ y₁ y₂; `I1` = −2, `I2` = 1.25, `I3` = −0.5 | \[0, 20\], (1, 0, 0.9) | no |
//! | `sir` | 3 | S′ = −β S I/N, I′ = β S I/N − γ I, R′ = γ I; `beta` = 0.3, `gamma` = 0.1, N = `population` = 1000 | \[0, 200\], (998, 1, 1) | no |
//! | `pleiades` | 28 | planar 7-body problem, masses mⱼ = j, G = 1 (no parameters) | \[0, 3\], see below | no |
//! | `hires` | 8 | the HIRES reaction kinetics, below (no parameters) | \[0, 321.8122\], (1, 0, …, 0, 0.0057) | yes |
//! | `rober` | 3 | y₁′ = −k₁ y₁ + k₃ y₂ y₃, y₂′ = k₁ y₁ − k₂ y₂² − k₃ y₂ y₃, y₃′ = k₂ y₂²; `k1` = 0.04, `k2` = 3·10⁷, `k3` = 10⁴ | \[0, 10⁵\], (1, 0, 0) | yes |
//! | `logistic` | 1 | x′ = r x (1 − x/K); `r` = 1, `K` = 1 (closed form: [`Logistic::exact`]) | \[0, 2.5\], 0.1 | no |
//! | `linear-100` | 100 | x′ = A x, A = ν (n+1)² tridiag(1, −2, 1), n = 100; ν = `nu` = 0.1 (closed form: [`Linear100::exact`]) | \[0, 1\], see below | if ρ(A)·(t₁ − t₀) ≥ 1000 (yes) |
//! | `lorenz` | 3 | x′ = σ (y − x), y′ = x (ρ − z) − y, z′ = x y − β z; `sigma` = 10, `rho` = 28, `beta` = 8/3 | \[0, 10\], (1, 1, 1) | no |
//!
//! Sources and details:
//!
//! - **Lotka–Volterra** (Lotka 1925, Volterra 1926): x prey, y predators. This exact setting is
//!   the one in our benchmarks (and in probdiffeq's/diffeqzoo's).
//! - **FitzHugh–Nagumo** in the form and setting of Ramsay et al. (2007, JRSS B): V membrane
//!   potential, R recovery variable. (diffeqzoo writes `−(V − a − b R)/c`; we follow Ramsay.)
//! - **Van der Pol** as in diffeqzoo/probdiffeq: x″ = μ ((1 − x²) x′ − x), the time-scaled form in
//!   which the limit cycle's period stays O(1) as μ grows (6.66 for μ = 1, tending to
//!   3 − 2 ln 2 ≈ 1.61), so that \[0, 6.3\] covers one to four periods for every μ. For μ = 1
//!   it is the classical equation. Stiff for large μ (the Jacobian's spectral radius is about
//!   3μ; μ = 10⁶ is the usual stiff benchmark).
//! - **Rigid body**: Euler's equations of a free rigid body, in the setting of Hairer, Nørsett &
//!   Wanner (1993, p. 244) and DiffEqProblemLibrary (`prob_ode_rigidbody` without forcing); the
//!   coefficients are `I1`, `I2`, `I3` there. Every Σ cᵢ yᵢ² with Σ cᵢ Iᵢ = 0 is conserved
//!   (two independent quadratic invariants).
//! - **SIR** (Kermack & McKendrick 1927), setting of diffeqzoo: S + I + R = N is conserved.
//! - **Pleiades** (Hairer, Nørsett & Wanner 1993, II.10): seven stars in the plane with masses
//!   mⱼ = j and accelerations xᵢ″ = Σ_{j≠i} mⱼ (xⱼ − xᵢ)/rᵢⱼ³ (same for y), as a first-order
//!   system with the state ordered (x₁…x₇, y₁…y₇, x₁′…x₇′, y₁′…y₇′). Initial positions
//!   x = (3, 3, −1, −3, 2, −2, 2), y = (3, −3, 2, 0, 0, −4, 4), velocities x′ = (0, 0, 0, 0, 0, 1.75,
//!   −1.5), y′ = (0, 0, 0, −1.25, 1, 0, 0). Close encounters near t ≈ 1.2 and 2.8 make it a test
//!   of step-size control.
//! - **HIRES** (Schäfer 1975; Hairer & Wanner 1996; the Test Set for IVP Solvers), with
//!   r = 280 y₆ y₈:
//!   y₁′ = −1.71 y₁ + 0.43 y₂ + 8.32 y₃ + 0.0007,
//!   y₂′ = 1.71 y₁ − 8.75 y₂,
//!   y₃′ = −10.03 y₃ + 0.43 y₄ + 0.035 y₅,
//!   y₄′ = 8.32 y₂ + 1.71 y₃ − 1.12 y₄,
//!   y₅′ = −1.745 y₅ + 0.43 y₆ + 0.43 y₇,
//!   y₆′ = −r + 0.69 y₄ + 1.71 y₅ − 0.43 y₆ + 0.69 y₇,
//!   y₇′ = r − 1.81 y₇,
//!   y₈′ = −r + 1.81 y₇.
//!   Its rate constants are fixed (they are not named in the literature), so it has no
//!   parameters.
//! - **ROBER** (Robertson 1966; Hairer & Wanner 1996): y₁ + y₂ + y₃ = 1 is conserved; y₂ stays
//!   below 4·10⁻⁵. The time span is \[0, 10⁵\] (diffeqzoo's; Hairer & Wanner and the Test Set go
//!   to 10¹¹, which only changes `T1`): the fast transient is over by t ≈ 10⁻².
//! - **Logistic**: setting of diffeqzoo; `x(t) = K / (1 + (K/x₀ − 1) e^{−r (t − t₀)})`.
//! - **linear-100**: the 1-D heat equation u_t = ν u_ξξ on (0, 1) with u = 0 at both ends,
//!   discretised by central differences on n = 100 interior points ξⱼ = j/(n+1). x₀ is a box:
//!   x₀ⱼ = 1 for 21 ≤ j ≤ 50 (ξⱼ ∈ (0.2, 0.5)), 0 otherwise (1-based j), which excites every mode.
//!   A is symmetric with eigenvalues λₖ = −4ν(n+1)² sin²(kπ/(2(n+1))) ∈ \[−4.08·10³, −0.987\]
//!   for ν = 0.1 (stiffness ratio ≈ 4·10³, independent of ν) and orthonormal eigenvectors
//!   vₖⱼ = √(2/(n+1)) sin(jkπ/(n+1)), which give the exact solution. Mildly stiff: an explicit
//!   method needs ≥ ~1500 steps for stability alone, ~30 suffice for accuracy.
//! - **Lorenz** (1963), the classical chaotic setting; errors grow like e^{0.9 t}, which is why
//!   the span is only \[0, 10\].
//!
//! "Stiff" is a recommendation for the solver (EK1 rather than EK0), decided by the rule
//! ρ·(t₁ − t₀) ≥ 1000 where ρ is (an estimate of) the spectral radius of the Jacobian: an
//! explicit method's stability limit h ≲ 3/ρ then costs hundreds of steps.
//!
//! # Reference solutions
//!
//! `crates/pn-ode/data/<name>.json` holds, for every problem, the solution at about 20 save
//! times and at t₁ computed independently with SciPy (DOP853 at rtol = atol = 10⁻¹³ for the
//! non-stiff problems, Radau at rtol = 10⁻¹² for the stiff ones, the eigendecomposition for
//! `linear-100`), cross-checked with a second method, and f evaluated at three points. They are
//! produced by `benches/ode_reference.sh` and checked by `tests/problems.rs`.

use crate::OdeFunction;
use num_dual::DualNum;
use pn_core::Error;

type Result<T, E = Error> = std::result::Result<T, E>;

/// A uniform description of a test problem.
#[derive(Debug, Clone, PartialEq)]
pub struct ProblemInfo {
    /// The problem's name in kebab-case (see [`NAMES`]).
    pub name: &'static str,
    /// Start of the time span.
    pub t0: f64,
    /// End of the time span.
    pub t1: f64,
    /// The initial value `x(t0)`.
    pub x0: Vec<f64>,
    /// The parameters by name, as in the formula (may be empty).
    pub params: Vec<(&'static str, f64)>,
    /// Whether the problem is stiff with these parameters (use the EK1 rather than the EK0).
    pub stiff: bool,
    /// The problem in one line: the formula, with its parameter names.
    pub description: &'static str,
}

impl ProblemInfo {
    /// The problem's dimension, `x0.len()`.
    pub fn dim(&self) -> usize {
        self.x0.len()
    }

    /// The value of a parameter, by name.
    pub fn param(&self, name: &str) -> Option<f64> {
        self.params
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, v)| v)
    }
}

/// Every parameter name of some problem: an error about a name given to the wrong problem can
/// then show it (the error's `name` must be `'static`).
const ALL_PARAM_NAMES: &[&str] = &[
    "a",
    "b",
    "c",
    "d",
    "mu",
    "I1",
    "I2",
    "I3",
    "beta",
    "gamma",
    "population",
    "k1",
    "k2",
    "k3",
    "r",
    "K",
    "nu",
    "sigma",
    "rho",
];

fn unknown_param(name: &str, value: f64, reason: &'static str) -> Error {
    let name = ALL_PARAM_NAMES
        .iter()
        .copied()
        .find(|n| *n == name)
        .unwrap_or("(unknown name)");
    Error::InvalidParameter {
        name,
        value,
        reason,
    }
}

fn finite(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name,
            value,
            reason: "must be finite",
        })
    }
}

use pn_core::validate::positive;

/// Parameter handling by name: `PARAMS`, `with_params`, `set_params`, `params`. The struct
/// provides `check(&self) -> Result<()>` for the ranges of its values.
/// The default initial value of a problem as a vector (a constant array for most problems,
/// computed for `linear-100`).
trait InitialValue {
    fn initial(&self) -> Vec<f64>;
}

impl InitialValue for Linear100 {
    fn initial(&self) -> Vec<f64> {
        Self::initial_value()
    }
}

/// `InitialValue` from the `X0` constant.
macro_rules! initial_from_x0 {
    ($($ty:ident),*) => {$(
        impl InitialValue for $ty {
            fn initial(&self) -> Vec<f64> {
                Self::X0.to_vec()
            }
        }
    )*};
}

initial_from_x0!(
    LotkaVolterra,
    FitzHughNagumo,
    VanDerPol,
    RigidBody,
    Sir,
    Pleiades,
    Hires,
    Rober,
    Logistic,
    Lorenz
);

macro_rules! parameters {
    ($ty:ident, $unknown:literal, { $($key:literal => $field:ident),+ $(,)? }) => {
        impl $ty {
            /// The names of the parameters, as in the formula (see the module documentation).
            pub const PARAMS: &'static [&'static str] = &[$($key),+];

            /// The problem with its usual parameters, those named in `params` overridden.
            ///
            /// # Errors
            ///
            /// [`Error::InvalidParameter`] for a name not in [`Self::PARAMS`], or a value that is
            /// not finite or outside the parameter's range.
            pub fn with_params(params: &[(&str, f64)]) -> Result<Self> {
                let mut problem = Self::default();
                problem.set_params(params)?;
                Ok(problem)
            }

            /// Override parameters by name; on error `self` is left unchanged.
            ///
            /// # Errors
            ///
            /// As [`Self::with_params`].
            pub fn set_params(&mut self, params: &[(&str, f64)]) -> Result<()> {
                let mut next = *self;
                for &(name, value) in params {
                    match name {
                        $($key => {
                            finite($key, value)?;
                            next.$field = value;
                        })+
                        _ => return Err(unknown_param(name, value, $unknown)),
                    }
                }
                next.check()?;
                *self = next;
                Ok(())
            }

            /// The parameters by name, in the order of [`Self::PARAMS`].
            pub fn params(&self) -> Vec<(&'static str, f64)> {
                vec![$(($key, self.$field)),+]
            }

            /// The uniform description with the current parameters.
            pub fn info(&self) -> ProblemInfo {
                ProblemInfo {
                    name: Self::NAME,
                    t0: Self::T0,
                    t1: Self::T1,
                    x0: InitialValue::initial(self),
                    params: self.params(),
                    stiff: self.is_stiff(),
                    description: Self::DESCRIPTION,
                }
            }
        }
    };
    ($ty:ident, $unknown:literal, {}) => {
        impl $ty {
            /// This problem has no parameters.
            pub const PARAMS: &'static [&'static str] = &[];

            /// The problem; `params` must be empty (it has no parameters).
            ///
            /// # Errors
            ///
            /// [`Error::InvalidParameter`] for any name.
            pub fn with_params(params: &[(&str, f64)]) -> Result<Self> {
                let mut problem = Self::default();
                problem.set_params(params)?;
                Ok(problem)
            }

            /// Accepts only an empty list (the problem has no parameters).
            ///
            /// # Errors
            ///
            /// [`Error::InvalidParameter`] for any name.
            pub fn set_params(&mut self, params: &[(&str, f64)]) -> Result<()> {
                match params.first() {
                    Some(&(name, value)) => Err(unknown_param(name, value, $unknown)),
                    None => Ok(()),
                }
            }

            /// No parameters: an empty list.
            pub fn params(&self) -> Vec<(&'static str, f64)> {
                Vec::new()
            }

            /// The uniform description with the current parameters.
            pub fn info(&self) -> ProblemInfo {
                ProblemInfo {
                    name: Self::NAME,
                    t0: Self::T0,
                    t1: Self::T1,
                    x0: InitialValue::initial(self),
                    params: self.params(),
                    stiff: self.is_stiff(),
                    description: Self::DESCRIPTION,
                }
            }
        }
    };
}

// ----------------------------------------------------------------------------------------------
// Lotka–Volterra
// ----------------------------------------------------------------------------------------------

/// Lotka–Volterra predator–prey: `x' = a x − b x y`, `y' = −c y + d x y`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LotkaVolterra {
    /// Prey growth rate `a`.
    pub a: f64,
    /// Predation rate `b`.
    pub b: f64,
    /// Predator death rate `c`.
    pub c: f64,
    /// Predator growth per prey eaten `d`.
    pub d: f64,
}

impl Default for LotkaVolterra {
    fn default() -> Self {
        Self::new(0.5, 0.05, 0.5, 0.05)
    }
}

impl LotkaVolterra {
    /// `"lotka-volterra"`.
    pub const NAME: &'static str = "lotka-volterra";
    /// The usual time span's start.
    pub const T0: f64 = 0.0;
    /// The usual time span's end.
    pub const T1: f64 = 20.0;
    /// The usual initial value (prey, predators).
    pub const X0: [f64; 2] = [20.0, 20.0];
    /// The formula.
    pub const DESCRIPTION: &'static str =
        "Lotka-Volterra predator-prey: x' = a x - b x y, y' = -c y + d x y (x prey, y predators)";

    /// With the given parameters.
    pub fn new(a: f64, b: f64, c: f64, d: f64) -> Self {
        Self { a, b, c, d }
    }

    fn check(&self) -> Result<()> {
        Ok(())
    }

    /// Whether the problem is stiff with the current parameters (`ρ(J)·(t₁ − t₀) ≥ 1000`).
    fn is_stiff(&self) -> bool {
        false
    }
}

parameters!(LotkaVolterra, "not a parameter of lotka-volterra (its parameters: a, b, c, d)", {
    "a" => a, "b" => b, "c" => c, "d" => d,
});

impl OdeFunction for LotkaVolterra {
    fn dim(&self) -> usize {
        2
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _t: D, x: &[D], dx: &mut [D]) {
        let (prey, pred) = (x[0], x[1]);
        dx[0] = prey * self.a - prey * pred * self.b;
        dx[1] = prey * pred * self.d - pred * self.c;
    }
}

// ----------------------------------------------------------------------------------------------
// FitzHugh–Nagumo
// ----------------------------------------------------------------------------------------------

/// FitzHugh–Nagumo (Ramsay et al. 2007): `V' = c (V − V³/3 + R)`, `R' = −(V − a + b R)/c`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitzHughNagumo {
    /// `a`.
    pub a: f64,
    /// `b`.
    pub b: f64,
    /// Time-scale separation `c` (≠ 0).
    pub c: f64,
}

impl Default for FitzHughNagumo {
    fn default() -> Self {
        Self::new(0.2, 0.2, 3.0)
    }
}

impl FitzHughNagumo {
    /// `"fitzhugh-nagumo"`.
    pub const NAME: &'static str = "fitzhugh-nagumo";
    /// The usual time span's start.
    pub const T0: f64 = 0.0;
    /// The usual time span's end.
    pub const T1: f64 = 20.0;
    /// The usual initial value (V, R).
    pub const X0: [f64; 2] = [-1.0, 1.0];
    /// The formula.
    pub const DESCRIPTION: &'static str =
        "FitzHugh-Nagumo (Ramsay et al. 2007): V' = c (V - V^3/3 + R), R' = -(V - a + b R) / c";

    /// With the given parameters.
    pub fn new(a: f64, b: f64, c: f64) -> Self {
        Self { a, b, c }
    }

    fn check(&self) -> Result<()> {
        if self.c == 0.0 {
            return Err(Error::InvalidParameter {
                name: "c",
                value: self.c,
                reason: "must be non-zero",
            });
        }
        Ok(())
    }

    /// Whether the problem is stiff with the current parameters (`ρ(J)·(t₁ − t₀) ≥ 1000`).
    fn is_stiff(&self) -> bool {
        false
    }
}

parameters!(FitzHughNagumo, "not a parameter of fitzhugh-nagumo (its parameters: a, b, c)", {
    "a" => a, "b" => b, "c" => c,
});

impl OdeFunction for FitzHughNagumo {
    fn dim(&self) -> usize {
        2
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _t: D, x: &[D], dx: &mut [D]) {
        let (v, r) = (x[0], x[1]);
        dx[0] = (v - v.powi(3) / 3.0 + r) * self.c;
        dx[1] = -(v - self.a + r * self.b) / self.c;
    }
}

// ----------------------------------------------------------------------------------------------
// Van der Pol
// ----------------------------------------------------------------------------------------------

/// Van der Pol: `x₁' = x₂`, `x₂' = μ ((1 − x₁²) x₂ − x₁)` (parameter `mu`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VanDerPol {
    /// The stiffness constant `μ` (> 0).
    pub mu: f64,
}

impl Default for VanDerPol {
    fn default() -> Self {
        Self::new(1.0)
    }
}

impl VanDerPol {
    /// `"van-der-pol"`.
    pub const NAME: &'static str = "van-der-pol";
    /// The usual time span's start.
    pub const T0: f64 = 0.0;
    /// The usual time span's end.
    pub const T1: f64 = 6.3;
    /// The usual initial value (x, x').
    pub const X0: [f64; 2] = [2.0, 0.0];
    /// The formula.
    pub const DESCRIPTION: &'static str = "Van der Pol: x'' = mu ((1 - x^2) x' - x), as x1' = x2, x2' = mu ((1 - x1^2) x2 - x1); stiff for large mu";

    /// With stiffness constant `mu`.
    pub fn new(mu: f64) -> Self {
        Self { mu }
    }

    fn check(&self) -> Result<()> {
        positive("mu", self.mu)
    }

    /// Stiff when `3 μ (t₁ − t₀) ≥ 1000`
    /// (μ ≳ 53).
    fn is_stiff(&self) -> bool {
        3.0 * self.mu * (Self::T1 - Self::T0) >= STIFF_THRESHOLD
    }
}

/// ρ·(t₁ − t₀) above which a problem counts as stiff.
const STIFF_THRESHOLD: f64 = 1000.0;

parameters!(VanDerPol, "not a parameter of van-der-pol (its parameter: mu)", { "mu" => mu });

impl OdeFunction for VanDerPol {
    fn dim(&self) -> usize {
        2
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _t: D, x: &[D], dx: &mut [D]) {
        let (pos, vel) = (x[0], x[1]);
        dx[0] = vel;
        dx[1] = ((-(pos * pos) + 1.0) * vel - pos) * self.mu;
    }
}

// ----------------------------------------------------------------------------------------------
// Rigid body
// ----------------------------------------------------------------------------------------------

/// Euler's equations of a free rigid body: `y₁' = I₁ y₂ y₃`, `y₂' = I₂ y₁ y₃`, `y₃' = I₃ y₁ y₂`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RigidBody {
    /// `I1`.
    pub i1: f64,
    /// `I2`.
    pub i2: f64,
    /// `I3`.
    pub i3: f64,
}

impl Default for RigidBody {
    fn default() -> Self {
        Self::new(-2.0, 1.25, -0.5)
    }
}

impl RigidBody {
    /// `"rigid-body"`.
    pub const NAME: &'static str = "rigid-body";
    /// The usual time span's start.
    pub const T0: f64 = 0.0;
    /// The usual time span's end.
    pub const T1: f64 = 20.0;
    /// The usual initial value.
    pub const X0: [f64; 3] = [1.0, 0.0, 0.9];
    /// The formula.
    pub const DESCRIPTION: &'static str = "rigid body (Euler's equations; Hairer, Norsett & Wanner I): y1' = I1 y2 y3, y2' = I2 y1 y3, y3' = I3 y1 y2";

    /// With the given coefficients.
    pub fn new(i1: f64, i2: f64, i3: f64) -> Self {
        Self { i1, i2, i3 }
    }

    fn check(&self) -> Result<()> {
        Ok(())
    }

    /// Whether the problem is stiff with the current parameters (`ρ(J)·(t₁ − t₀) ≥ 1000`).
    fn is_stiff(&self) -> bool {
        false
    }
}

parameters!(RigidBody, "not a parameter of rigid-body (its parameters: I1, I2, I3)", {
    "I1" => i1, "I2" => i2, "I3" => i3,
});

impl OdeFunction for RigidBody {
    fn dim(&self) -> usize {
        3
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _t: D, x: &[D], dx: &mut [D]) {
        dx[0] = x[1] * x[2] * self.i1;
        dx[1] = x[0] * x[2] * self.i2;
        dx[2] = x[0] * x[1] * self.i3;
    }
}

// ----------------------------------------------------------------------------------------------
// SIR
// ----------------------------------------------------------------------------------------------

/// SIR epidemic: `S' = −β S I/N`, `I' = β S I/N − γ I`, `R' = γ I`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sir {
    /// Infection rate `beta`.
    pub beta: f64,
    /// Recovery rate `gamma`.
    pub gamma: f64,
    /// Population `N` (`population`, > 0).
    pub population: f64,
}

impl Default for Sir {
    fn default() -> Self {
        Self::new(0.3, 0.1, 1000.0)
    }
}

impl Sir {
    /// `"sir"`.
    pub const NAME: &'static str = "sir";
    /// The usual time span's start.
    pub const T0: f64 = 0.0;
    /// The usual time span's end.
    pub const T1: f64 = 200.0;
    /// The usual initial value (S, I, R), summing to the default population.
    pub const X0: [f64; 3] = [998.0, 1.0, 1.0];
    /// The formula.
    pub const DESCRIPTION: &'static str = "SIR epidemic (Kermack & McKendrick): S' = -beta S I / N, I' = beta S I / N - gamma I, R' = gamma I, N = population";

    /// With the given parameters.
    pub fn new(beta: f64, gamma: f64, population: f64) -> Self {
        Self {
            beta,
            gamma,
            population,
        }
    }

    fn check(&self) -> Result<()> {
        positive("population", self.population)
    }

    /// Whether the problem is stiff with the current parameters (`ρ(J)·(t₁ − t₀) ≥ 1000`).
    fn is_stiff(&self) -> bool {
        false
    }
}

parameters!(Sir, "not a parameter of sir (its parameters: beta, gamma, population)", {
    "beta" => beta, "gamma" => gamma, "population" => population,
});

impl OdeFunction for Sir {
    fn dim(&self) -> usize {
        3
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _t: D, x: &[D], dx: &mut [D]) {
        let (s, i) = (x[0], x[1]);
        let infection = s * i * (self.beta / self.population);
        let recovery = i * self.gamma;
        dx[0] = -infection;
        dx[1] = infection - recovery;
        dx[2] = recovery;
    }
}

// ----------------------------------------------------------------------------------------------
// Pleiades
// ----------------------------------------------------------------------------------------------

/// The Pleiades: seven stars in the plane (masses `mⱼ = j`, `G = 1`), as a 28-dimensional
/// first-order system `(x₁…x₇, y₁…y₇, x₁'…x₇', y₁'…y₇')`. No parameters.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Pleiades;

impl Pleiades {
    /// `"pleiades"`.
    pub const NAME: &'static str = "pleiades";
    /// The usual time span's start.
    pub const T0: f64 = 0.0;
    /// The usual time span's end.
    pub const T1: f64 = 3.0;
    /// The usual initial value: positions x, y, then velocities x', y'.
    pub const X0: [f64; 28] = [
        3.0, 3.0, -1.0, -3.0, 2.0, -2.0, 2.0, // x
        3.0, -3.0, 2.0, 0.0, 0.0, -4.0, 4.0, // y
        0.0, 0.0, 0.0, 0.0, 0.0, 1.75, -1.5, // x'
        0.0, 0.0, 0.0, -1.25, 1.0, 0.0, 0.0, // y'
    ];
    /// The formula.
    pub const DESCRIPTION: &'static str = "Pleiades (Hairer, Norsett & Wanner I): 7 bodies in the plane, m_j = j, x_i'' = sum_j m_j (x_j - x_i) / r_ij^3 (same for y); state (x1..x7, y1..y7, x1'..x7', y1'..y7')";

    /// The problem (it has no parameters).
    pub fn new() -> Self {
        Self
    }

    /// Whether the problem is stiff (fixed: it has no parameters).
    fn is_stiff(&self) -> bool {
        false
    }
}

parameters!(Pleiades, "pleiades has no parameters", {});

impl OdeFunction for Pleiades {
    fn dim(&self) -> usize {
        28
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _t: D, x: &[D], dx: &mut [D]) {
        const N: usize = 7;
        dx[..2 * N].copy_from_slice(&x[2 * N..]);
        for v in &mut dx[2 * N..] {
            *v = D::from(0.0);
        }
        for i in 0..N {
            let mi = (i + 1) as f64;
            for j in (i + 1)..N {
                let mj = (j + 1) as f64;
                let ddx = x[j] - x[i];
                let ddy = x[N + j] - x[N + i];
                let r2 = ddx * ddx + ddy * ddy;
                let inv_r3 = (r2 * r2.sqrt()).recip();
                let (fx, fy) = (ddx * inv_r3, ddy * inv_r3);
                dx[2 * N + i] += fx * mj;
                dx[3 * N + i] += fy * mj;
                dx[2 * N + j] -= fx * mi;
                dx[3 * N + j] -= fy * mi;
            }
        }
    }
}

// ----------------------------------------------------------------------------------------------
// HIRES
// ----------------------------------------------------------------------------------------------

/// HIRES: the "high irradiance response" reaction kinetics (8 species, stiff). No parameters;
/// the formula is in the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Hires;

impl Hires {
    /// `"hires"`.
    pub const NAME: &'static str = "hires";
    /// The usual time span's start.
    pub const T0: f64 = 0.0;
    /// The usual time span's end.
    pub const T1: f64 = 321.8122;
    /// The usual initial value.
    pub const X0: [f64; 8] = [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0057];
    /// The formula.
    pub const DESCRIPTION: &'static str = "HIRES (Schaefer 1975; Hairer & Wanner II), r = 280 y6 y8: y1' = -1.71 y1 + 0.43 y2 + 8.32 y3 + 0.0007, y2' = 1.71 y1 - 8.75 y2, y3' = -10.03 y3 + 0.43 y4 + 0.035 y5, y4' = 8.32 y2 + 1.71 y3 - 1.12 y4, y5' = -1.745 y5 + 0.43 y6 + 0.43 y7, y6' = -r + 0.69 y4 + 1.71 y5 - 0.43 y6 + 0.69 y7, y7' = r - 1.81 y7, y8' = -r + 1.81 y7";

    /// The problem (it has no parameters).
    pub fn new() -> Self {
        Self
    }

    /// Whether the problem is stiff (fixed: it has no parameters).
    fn is_stiff(&self) -> bool {
        true
    }
}

parameters!(Hires, "hires has no parameters", {});

impl OdeFunction for Hires {
    fn dim(&self) -> usize {
        8
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _t: D, y: &[D], dy: &mut [D]) {
        let r = y[5] * y[7] * 280.0;
        dy[0] = y[0] * -1.71 + y[1] * 0.43 + y[2] * 8.32 + 0.0007;
        dy[1] = y[0] * 1.71 - y[1] * 8.75;
        dy[2] = y[2] * -10.03 + y[3] * 0.43 + y[4] * 0.035;
        dy[3] = y[1] * 8.32 + y[2] * 1.71 - y[3] * 1.12;
        dy[4] = y[4] * -1.745 + y[5] * 0.43 + y[6] * 0.43;
        dy[5] = -r + y[3] * 0.69 + y[4] * 1.71 - y[5] * 0.43 + y[6] * 0.69;
        dy[6] = r - y[6] * 1.81;
        dy[7] = -r + y[6] * 1.81;
    }
}

// ----------------------------------------------------------------------------------------------
// ROBER
// ----------------------------------------------------------------------------------------------

/// Robertson's chemical kinetics: `y₁' = −k₁ y₁ + k₃ y₂ y₃`, `y₂' = k₁ y₁ − k₂ y₂² − k₃ y₂ y₃`,
/// `y₃' = k₂ y₂²`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rober {
    /// `k1`.
    pub k1: f64,
    /// `k2`.
    pub k2: f64,
    /// `k3`.
    pub k3: f64,
}

impl Default for Rober {
    fn default() -> Self {
        Self::new(0.04, 3e7, 1e4)
    }
}

impl Rober {
    /// `"rober"`.
    pub const NAME: &'static str = "rober";
    /// The usual time span's start.
    pub const T0: f64 = 0.0;
    /// The time span's end used here (diffeqzoo's; Hairer & Wanner integrate to 10¹¹).
    pub const T1: f64 = 1e5;
    /// The usual initial value.
    pub const X0: [f64; 3] = [1.0, 0.0, 0.0];
    /// The formula.
    pub const DESCRIPTION: &'static str = "ROBER (Robertson 1966): y1' = -k1 y1 + k3 y2 y3, y2' = k1 y1 - k2 y2^2 - k3 y2 y3, y3' = k2 y2^2";

    /// With the given rate constants.
    pub fn new(k1: f64, k2: f64, k3: f64) -> Self {
        Self { k1, k2, k3 }
    }

    fn check(&self) -> Result<()> {
        Ok(())
    }

    /// Whether the problem is stiff with the current parameters (`ρ(J)·(t₁ − t₀) ≥ 1000`).
    fn is_stiff(&self) -> bool {
        true
    }
}

parameters!(Rober, "not a parameter of rober (its parameters: k1, k2, k3)", {
    "k1" => k1, "k2" => k2, "k3" => k3,
});

impl OdeFunction for Rober {
    fn dim(&self) -> usize {
        3
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _t: D, y: &[D], dy: &mut [D]) {
        let r1 = y[0] * self.k1;
        let r2 = y[1] * y[1] * self.k2;
        let r3 = y[1] * y[2] * self.k3;
        dy[0] = r3 - r1;
        dy[1] = r1 - r2 - r3;
        dy[2] = r2;
    }
}

// ----------------------------------------------------------------------------------------------
// Logistic
// ----------------------------------------------------------------------------------------------

/// The logistic equation `x' = r x (1 − x/K)`, with a closed-form solution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Logistic {
    /// Growth rate `r`.
    pub r: f64,
    /// Carrying capacity `K` (> 0).
    pub k: f64,
}

impl Default for Logistic {
    fn default() -> Self {
        Self::new(1.0, 1.0)
    }
}

impl Logistic {
    /// `"logistic"`.
    pub const NAME: &'static str = "logistic";
    /// The usual time span's start.
    pub const T0: f64 = 0.0;
    /// The usual time span's end.
    pub const T1: f64 = 2.5;
    /// The usual initial value.
    pub const X0: [f64; 1] = [0.1];
    /// The formula.
    pub const DESCRIPTION: &'static str =
        "logistic: x' = r x (1 - x / K); x(t) = K / (1 + (K / x0 - 1) exp(-r (t - t0)))";

    /// With growth rate `r` and carrying capacity `k`.
    pub fn new(r: f64, k: f64) -> Self {
        Self { r, k }
    }

    fn check(&self) -> Result<()> {
        positive("K", self.k)
    }

    /// The exact solution through `x(t0) = x0` at `t`:
    /// `K / (1 + (K/x0 − 1) e^{−r (t − t0)})` (0 if `x0 = 0`).
    pub fn solution(&self, t0: f64, x0: f64, t: f64) -> f64 {
        if x0 == 0.0 {
            return 0.0;
        }
        self.k / (1.0 + (self.k / x0 - 1.0) * (-self.r * (t - t0)).exp())
    }

    /// The exact solution from the usual initial value, `x(T0) = X0`, at `t`.
    pub fn exact(&self, t: f64) -> Vec<f64> {
        vec![self.solution(Self::T0, Self::X0[0], t)]
    }

    /// Whether the problem is stiff with the current parameters (`ρ(J)·(t₁ − t₀) ≥ 1000`).
    fn is_stiff(&self) -> bool {
        false
    }
}

parameters!(Logistic, "not a parameter of logistic (its parameters: r, K)", {
    "r" => r, "K" => k,
});

impl OdeFunction for Logistic {
    fn dim(&self) -> usize {
        1
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _t: D, x: &[D], dx: &mut [D]) {
        dx[0] = x[0] * (-(x[0] / self.k) + 1.0) * self.r;
    }
}

// ----------------------------------------------------------------------------------------------
// linear-100
// ----------------------------------------------------------------------------------------------

/// The 100-dimensional linear system `x' = A x`, `A = ν (n+1)² tridiag(1, −2, 1)`: the 1-D heat
/// equation with zero boundary values, discretised on `n = 100` interior points. Symmetric,
/// negative definite, mildly stiff; exact solution by its known eigendecomposition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Linear100 {
    /// Diffusion coefficient `nu` (> 0).
    pub nu: f64,
}

impl Default for Linear100 {
    fn default() -> Self {
        Self::new(0.1)
    }
}

impl Linear100 {
    /// `"linear-100"`.
    pub const NAME: &'static str = "linear-100";
    /// The dimension `n`.
    pub const N: usize = 100;
    /// The usual time span's start.
    pub const T0: f64 = 0.0;
    /// The usual time span's end.
    pub const T1: f64 = 1.0;
    /// The formula.
    pub const DESCRIPTION: &'static str = "linear: x' = A x, A = nu (n+1)^2 tridiag(1, -2, 1), n = 100 (1-D heat equation, zero boundary values); x0_j = 1 for 21 <= j <= 50, else 0";

    /// With diffusion coefficient `nu`.
    pub fn new(nu: f64) -> Self {
        Self { nu }
    }

    fn check(&self) -> Result<()> {
        positive("nu", self.nu)
    }

    /// The usual initial value: `x0ⱼ = 1` for `21 ≤ j ≤ 50` (1-based; grid points in
    /// (0.2, 0.5)), 0 otherwise.
    pub fn initial_value() -> Vec<f64> {
        (1..=Self::N)
            .map(|j| if (21..=50).contains(&j) { 1.0 } else { 0.0 })
            .collect()
    }

    /// `ν (n+1)²`, the scale of the stencil.
    fn scale(&self) -> f64 {
        let h = 1.0 / (Self::N as f64 + 1.0);
        self.nu / (h * h)
    }

    /// The `k`-th eigenvalue (k = 1…n): `−4 ν (n+1)² sin²(kπ / (2(n+1)))`.
    pub fn eigenvalue(&self, k: usize) -> f64 {
        let s = (k as f64 * std::f64::consts::PI / (2.0 * (Self::N as f64 + 1.0))).sin();
        -4.0 * self.scale() * s * s
    }

    /// Entry `j` (1-based) of the `k`-th orthonormal eigenvector: `√(2/(n+1)) sin(jkπ/(n+1))`.
    pub fn eigenvector_entry(k: usize, j: usize) -> f64 {
        let n1 = Self::N as f64 + 1.0;
        (2.0 / n1).sqrt() * ((j * k) as f64 * std::f64::consts::PI / n1).sin()
    }

    /// The spectral radius of `A`, `|λₙ|`.
    pub fn spectral_radius(&self) -> f64 {
        -self.eigenvalue(Self::N)
    }

    /// The matrix `A` (dense, `n × n`).
    pub fn matrix(&self) -> ndarray::Array2<f64> {
        let n = Self::N;
        let c = self.scale();
        ndarray::Array2::from_shape_fn((n, n), |(i, j)| match i.abs_diff(j) {
            0 => -2.0 * c,
            1 => c,
            _ => 0.0,
        })
    }

    /// The exact solution through `x(t0) = x0` at `t`, `Σₖ vₖ (vₖᵀ x0) e^{λₖ (t − t0)}`.
    ///
    /// # Panics
    ///
    /// If `x0.len() != 100`.
    pub fn solution(&self, t0: f64, x0: &[f64], t: f64) -> Vec<f64> {
        let n = Self::N;
        assert_eq!(x0.len(), n, "linear-100: x0 must have 100 entries");
        let mut x = vec![0.0; n];
        for k in 1..=n {
            let v: Vec<f64> = (1..=n).map(|j| Self::eigenvector_entry(k, j)).collect();
            let coeff: f64 = v.iter().zip(x0).map(|(a, b)| a * b).sum();
            let c = coeff * (self.eigenvalue(k) * (t - t0)).exp();
            for (xi, vi) in x.iter_mut().zip(&v) {
                *xi += c * vi;
            }
        }
        x
    }

    /// The exact solution from the usual initial value at `t`.
    pub fn exact(&self, t: f64) -> Vec<f64> {
        self.solution(Self::T0, &Self::initial_value(), t)
    }

    /// Stiff when `ρ(A) (t₁ − t₀) ≥ 1000` (ν ≳ 0.0245).
    fn is_stiff(&self) -> bool {
        self.spectral_radius() * (Self::T1 - Self::T0) >= STIFF_THRESHOLD
    }
}

parameters!(Linear100, "not a parameter of linear-100 (its parameter: nu)", { "nu" => nu });

impl OdeFunction for Linear100 {
    fn dim(&self) -> usize {
        Self::N
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _t: D, x: &[D], dx: &mut [D]) {
        let n = Self::N;
        let c = self.scale();
        let zero = D::from(0.0);
        for i in 0..n {
            let left = if i > 0 { x[i - 1] } else { zero };
            let right = if i + 1 < n { x[i + 1] } else { zero };
            dx[i] = (left + right - x[i] * 2.0) * c;
        }
    }
}

// ----------------------------------------------------------------------------------------------
// Lorenz
// ----------------------------------------------------------------------------------------------

/// The Lorenz (1963) system: `x' = σ (y − x)`, `y' = x (ρ − z) − y`, `z' = x y − β z`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lorenz {
    /// `sigma`.
    pub sigma: f64,
    /// `rho`.
    pub rho: f64,
    /// `beta`.
    pub beta: f64,
}

impl Default for Lorenz {
    fn default() -> Self {
        Self::new(10.0, 28.0, 8.0 / 3.0)
    }
}

impl Lorenz {
    /// `"lorenz"`.
    pub const NAME: &'static str = "lorenz";
    /// The usual time span's start.
    pub const T0: f64 = 0.0;
    /// The time span's end (short: the system is chaotic).
    pub const T1: f64 = 10.0;
    /// The usual initial value.
    pub const X0: [f64; 3] = [1.0, 1.0, 1.0];
    /// The formula.
    pub const DESCRIPTION: &'static str =
        "Lorenz (1963): x' = sigma (y - x), y' = x (rho - z) - y, z' = x y - beta z; chaotic";

    /// With the given parameters.
    pub fn new(sigma: f64, rho: f64, beta: f64) -> Self {
        Self { sigma, rho, beta }
    }

    fn check(&self) -> Result<()> {
        Ok(())
    }

    /// Whether the problem is stiff with the current parameters (`ρ(J)·(t₁ − t₀) ≥ 1000`).
    fn is_stiff(&self) -> bool {
        false
    }
}

parameters!(Lorenz, "not a parameter of lorenz (its parameters: sigma, rho, beta)", {
    "sigma" => sigma, "rho" => rho, "beta" => beta,
});

impl OdeFunction for Lorenz {
    fn dim(&self) -> usize {
        3
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, _t: D, u: &[D], du: &mut [D]) {
        let (x, y, z) = (u[0], u[1], u[2]);
        du[0] = (y - x) * self.sigma;
        du[1] = x * (-z + self.rho) - y;
        du[2] = x * y - z * self.beta;
    }
}

// ----------------------------------------------------------------------------------------------
// The catalogue
// ----------------------------------------------------------------------------------------------

/// The names of all problems, in catalogue order.
pub const NAMES: [&str; 11] = [
    LotkaVolterra::NAME,
    FitzHughNagumo::NAME,
    VanDerPol::NAME,
    RigidBody::NAME,
    Sir::NAME,
    Pleiades::NAME,
    Hires::NAME,
    Rober::NAME,
    Logistic::NAME,
    Linear100::NAME,
    Lorenz::NAME,
];

/// Any problem of the catalogue; implements [`OdeFunction`] by dispatch.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Problem {
    /// `lotka-volterra`.
    LotkaVolterra(LotkaVolterra),
    /// `fitzhugh-nagumo`.
    FitzHughNagumo(FitzHughNagumo),
    /// `van-der-pol`.
    VanDerPol(VanDerPol),
    /// `rigid-body`.
    RigidBody(RigidBody),
    /// `sir`.
    Sir(Sir),
    /// `pleiades`.
    Pleiades(Pleiades),
    /// `hires`.
    Hires(Hires),
    /// `rober`.
    Rober(Rober),
    /// `logistic`.
    Logistic(Logistic),
    /// `linear-100`.
    Linear100(Linear100),
    /// `lorenz`.
    Lorenz(Lorenz),
}

macro_rules! dispatch {
    ($value:expr, $p:ident => $body:expr) => {
        match $value {
            Problem::LotkaVolterra($p) => $body,
            Problem::FitzHughNagumo($p) => $body,
            Problem::VanDerPol($p) => $body,
            Problem::RigidBody($p) => $body,
            Problem::Sir($p) => $body,
            Problem::Pleiades($p) => $body,
            Problem::Hires($p) => $body,
            Problem::Rober($p) => $body,
            Problem::Logistic($p) => $body,
            Problem::Linear100($p) => $body,
            Problem::Lorenz($p) => $body,
        }
    };
}

impl Problem {
    /// The problem called `name` (see [`NAMES`]) with its usual parameters, those in `params`
    /// overridden by name.
    ///
    /// ```
    /// use pn_ode::problems::Problem;
    /// let vdp = Problem::by_name("van-der-pol", &[("mu", 1e3)])?;
    /// assert!(vdp.info().stiff);
    /// assert!(Problem::by_name("van-der-pol", &[("nu", 1.0)]).is_err());
    /// # Ok::<(), pn_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] for an unknown problem name; [`Error::InvalidParameter`] for a
    /// parameter name the problem does not have or an invalid value.
    pub fn by_name(name: &str, params: &[(&str, f64)]) -> Result<Self> {
        Ok(match name {
            LotkaVolterra::NAME => Self::LotkaVolterra(LotkaVolterra::with_params(params)?),
            FitzHughNagumo::NAME => Self::FitzHughNagumo(FitzHughNagumo::with_params(params)?),
            VanDerPol::NAME => Self::VanDerPol(VanDerPol::with_params(params)?),
            RigidBody::NAME => Self::RigidBody(RigidBody::with_params(params)?),
            Sir::NAME => Self::Sir(Sir::with_params(params)?),
            Pleiades::NAME => Self::Pleiades(Pleiades::with_params(params)?),
            Hires::NAME => Self::Hires(Hires::with_params(params)?),
            Rober::NAME => Self::Rober(Rober::with_params(params)?),
            Logistic::NAME => Self::Logistic(Logistic::with_params(params)?),
            Linear100::NAME => Self::Linear100(Linear100::with_params(params)?),
            Lorenz::NAME => Self::Lorenz(Lorenz::with_params(params)?),
            _ => {
                return Err(Error::Unsupported {
                    what: "unknown ODE test problem (known: lotka-volterra, fitzhugh-nagumo, van-der-pol, rigid-body, sir, pleiades, hires, rober, logistic, linear-100, lorenz)",
                });
            }
        })
    }

    /// Every problem with its usual parameters, in catalogue order.
    pub fn all() -> Vec<Self> {
        NAMES
            .iter()
            .map(|name| Self::by_name(name, &[]).expect("the defaults are valid"))
            .collect()
    }

    /// The problem's name.
    pub fn name(&self) -> &'static str {
        self.info().name
    }

    /// The uniform description with the current parameters.
    pub fn info(&self) -> ProblemInfo {
        dispatch!(self, p => p.info())
    }

    /// The parameters by name.
    pub fn params(&self) -> Vec<(&'static str, f64)> {
        dispatch!(self, p => p.params())
    }

    /// The names of the parameters.
    pub fn param_names(&self) -> &'static [&'static str] {
        match self {
            Self::LotkaVolterra(_) => LotkaVolterra::PARAMS,
            Self::FitzHughNagumo(_) => FitzHughNagumo::PARAMS,
            Self::VanDerPol(_) => VanDerPol::PARAMS,
            Self::RigidBody(_) => RigidBody::PARAMS,
            Self::Sir(_) => Sir::PARAMS,
            Self::Pleiades(_) => Pleiades::PARAMS,
            Self::Hires(_) => Hires::PARAMS,
            Self::Rober(_) => Rober::PARAMS,
            Self::Logistic(_) => Logistic::PARAMS,
            Self::Linear100(_) => Linear100::PARAMS,
            Self::Lorenz(_) => Lorenz::PARAMS,
        }
    }

    /// Override parameters by name; on error `self` is left unchanged.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] for a name the problem does not have or an invalid value.
    pub fn set_params(&mut self, params: &[(&str, f64)]) -> Result<()> {
        dispatch!(self, p => p.set_params(params))
    }

    /// The exact solution from the usual initial value at `t`, for the problems that have one
    /// in closed form (`logistic`, `linear-100`).
    pub fn exact(&self, t: f64) -> Option<Vec<f64>> {
        match self {
            Self::Logistic(p) => Some(p.exact(t)),
            Self::Linear100(p) => Some(p.exact(t)),
            _ => None,
        }
    }
}

impl OdeFunction for Problem {
    fn dim(&self) -> usize {
        dispatch!(self, p => p.dim())
    }
    fn eval<D: DualNum<Primitive = f64> + Copy>(&self, t: D, x: &[D], dx: &mut [D]) {
        dispatch!(self, p => p.eval(t, x, dx))
    }
}

macro_rules! from_problem {
    ($($ty:ident),+) => {
        $(impl From<$ty> for Problem {
            fn from(p: $ty) -> Self {
                Self::$ty(p)
            }
        })+
    };
}

from_problem!(
    LotkaVolterra,
    FitzHughNagumo,
    VanDerPol,
    RigidBody,
    Sir,
    Pleiades,
    Hires,
    Rober,
    Logistic,
    Linear100,
    Lorenz
);

/// The default [`ProblemInfo`] of every problem, in catalogue order ([`NAMES`]).
pub fn catalogue() -> Vec<ProblemInfo> {
    Problem::all().iter().map(Problem::info).collect()
}
