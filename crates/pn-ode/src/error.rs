//! Errors of pn-ode.

/// What can go wrong in an ODE solve. Every variant says at which time.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An error of the filtering machinery or of pn-core.
    #[error(transparent)]
    Filter(#[from] pn_filter::Error),
    /// The vector field returned NaN or ±∞.
    #[error("the vector field returned a non-finite value at t = {t} (component {component})")]
    NonFiniteField {
        /// Time of the evaluation.
        t: f64,
        /// First offending component.
        component: usize,
    },
    /// The step size fell below what floating point can resolve at `t`.
    #[error("step size underflow at t = {t}: h = {h:e}")]
    StepSizeUnderflow {
        /// Where the solver got stuck.
        t: f64,
        /// The last step size tried.
        h: f64,
    },
    /// The maximum number of steps was used up.
    #[error("maximum number of steps ({steps}) reached at t = {t}{hint}")]
    MaxSteps {
        /// Where the solver stopped.
        t: f64,
        /// Steps taken.
        steps: usize,
        /// A hint on the likely cause.
        hint: &'static str,
    },
    /// The EK0 (which ignores the Jacobian) met a stiff problem: its steps are limited by
    /// stability, not accuracy.
    #[error(
        "the problem is stiff at t = {t}: ρ(∂f/∂x)·(t1 − t0) ≈ {span:.0}, and the EK0 is stability-limited (h·ρ ≈ {stiffness:.2}); use the EK1"
    )]
    Stiff {
        /// Where stiffness was detected.
        t: f64,
        /// The estimated `h · ρ(∂f/∂x)` of the last step.
        stiffness: f64,
        /// The estimated `ρ(∂f/∂x) · (t₁ − t₀)`.
        span: f64,
    },
    /// With [`Calibration::Global`](crate::Calibration::Global) or
    /// [`Calibration::Fixed`](crate::Calibration::Fixed), the update kept moving the extrapolated
    /// solution by more than the tolerance however small the step: the one diffusion does not fit
    /// the problem's local diffusions (which can span many orders of magnitude, e.g. close
    /// encounters in n-body problems), the carried covariance dominates the prediction, and the
    /// filter mean drifts away from the solution. Use [`Calibration::Dynamic`](crate::Calibration::Dynamic).
    #[error(
        "the filter with one diffusion for all steps breaks down at t = {t}: the update moved the solution by {correction:.1e}× the tolerance however small the step; use Calibration::Dynamic"
    )]
    CalibrationBreakdown {
        /// Where the solver stopped.
        t: f64,
        /// The update's correction of the solution in units of the tolerances (RMS) at the
        /// last try.
        correction: f64,
    },
    /// Invalid solver input (initial value, time span, tolerances…).
    #[error("invalid input: {what} = {value}: {reason}")]
    InvalidInput {
        /// The argument.
        what: &'static str,
        /// Its value.
        value: f64,
        /// What was expected.
        reason: &'static str,
    },
}

impl From<pn_core::Error> for Error {
    fn from(e: pn_core::Error) -> Self {
        Error::Filter(pn_filter::Error::Core(e))
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
