//! State-space GP regression against the dense GP computed with pn-core's kernels and
//! Gaussian conditioning.

use ndarray::{Array1, Array2, Axis, concatenate};
use pn_core::kernels::{Kernel, Matern12, Matern32, Matern52};
use pn_core::{Covariance, Gaussian, LinearMap};
use pn_linalg::state_space::{MaternComponent, Nu, StateSpaceGp};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;
use rand_pcg::Pcg64;

fn kernel_of(c: &MaternComponent) -> Box<dyn Kernel> {
    match c.nu {
        Nu::Half => Box::new(Matern12::new(c.lengthscale, c.variance).unwrap()),
        Nu::ThreeHalves => Box::new(Matern32::new(c.lengthscale, c.variance).unwrap()),
        _ => Box::new(Matern52::new(c.lengthscale, c.variance).unwrap()),
    }
}

/// Dense reference: joint prior over [train; test], conditioned on noisy train values.
fn dense(
    comps: &[MaternComponent],
    noise: f64,
    x: &Array1<f64>,
    y: &Array1<f64>,
    xs: &Array1<f64>,
) -> (Array1<f64>, Array1<f64>, f64) {
    let all = concatenate(Axis(0), &[x.view(), xs.view()]).unwrap();
    let pts = all.view().insert_axis(Axis(1));
    let n = all.len();
    let mut k = Array2::<f64>::zeros((n, n));
    for c in comps {
        k = k + kernel_of(c).matrix(pts, pts).unwrap();
    }
    let prior = Gaussian::new(Array1::zeros(n), Covariance::dense(k).unwrap()).unwrap();
    let h = LinearMap::selection((0..x.len()).collect(), n).unwrap();
    let out = prior
        .condition(
            h,
            y.view(),
            &Covariance::scaled_identity(x.len(), noise).unwrap(),
        )
        .unwrap();
    let test: Vec<usize> = (x.len()..n).collect();
    let m = out.posterior.marginal(&test).unwrap();
    (m.mean().to_owned(), m.var(), out.log_marginal_likelihood)
}

#[test]
fn state_space_equals_dense_gp() {
    let cases: Vec<Vec<MaternComponent>> = vec![
        vec![MaternComponent {
            nu: Nu::Half,
            lengthscale: 0.7,
            variance: 1.3,
        }],
        vec![MaternComponent {
            nu: Nu::ThreeHalves,
            lengthscale: 0.4,
            variance: 0.8,
        }],
        vec![MaternComponent {
            nu: Nu::FiveHalves,
            lengthscale: 1.1,
            variance: 2.0,
        }],
        vec![
            MaternComponent {
                nu: Nu::FiveHalves,
                lengthscale: 2.0,
                variance: 1.0,
            },
            MaternComponent {
                nu: Nu::Half,
                lengthscale: 0.2,
                variance: 0.3,
            },
            MaternComponent {
                nu: Nu::ThreeHalves,
                lengthscale: 0.5,
                variance: 0.5,
            },
        ],
    ];
    let mut rng = Pcg64::seed_from_u64(17);
    for comps in cases {
        // Unsorted inputs with a repeated value.
        let mut x = Array1::from_shape_simple_fn(25, || rng.random_range(-2.0..3.0));
        x[7] = x[3];
        let y = x.mapv(|v: f64| (2.0 * v).sin())
            + Array1::from_shape_simple_fn(25, || 0.1 * rng.sample::<f64, _>(StandardNormal));
        // Test points inside, outside (left and right) and on a training input.
        let xs = Array1::from(vec![-3.0, -1.0, 0.123, x[5], 2.5, 4.0]);
        let noise = 0.02;
        let post = StateSpaceGp::new(&comps, noise)
            .unwrap()
            .fit(x.view(), y.view())
            .unwrap();
        let (m, v) = post.predict(xs.view()).unwrap();
        let (md, vd, lml) = dense(&comps, noise, &x, &y, &xs);
        for i in 0..xs.len() {
            assert!(
                (m[i] - md[i]).abs() < 1e-9 * (1.0 + md[i].abs()),
                "mean at {}: {} vs {}",
                xs[i],
                m[i],
                md[i]
            );
            assert!(
                (v[i] - vd[i]).abs() < 1e-9 * (1.0 + vd[i]),
                "var at {}: {} vs {}",
                xs[i],
                v[i],
                vd[i]
            );
        }
        let got = post.log_marginal_likelihood();
        assert!(
            (got - lml).abs() < 1e-9 * (1.0 + lml.abs()),
            "lml {got} vs {lml}"
        );
    }
}

#[test]
fn bad_input() {
    let c = [MaternComponent {
        nu: Nu::Half,
        lengthscale: 1.0,
        variance: 1.0,
    }];
    assert!(StateSpaceGp::new(&[], 0.1).is_err());
    assert!(StateSpaceGp::new(&c, -0.1).is_err());
    assert!(
        StateSpaceGp::new(
            &[MaternComponent {
                nu: Nu::Half,
                lengthscale: 0.0,
                variance: 1.0
            }],
            0.1
        )
        .is_err()
    );
    let gp = StateSpaceGp::new(&c, 0.1).unwrap();
    assert!(
        gp.fit(Array1::zeros(3).view(), Array1::zeros(2).view())
            .is_err()
    );
    assert!(
        gp.fit(Array1::zeros(0).view(), Array1::zeros(0).view())
            .is_err()
    );
    assert!(
        gp.fit(
            ndarray::array![0.0, f64::NAN].view(),
            Array1::zeros(2).view()
        )
        .is_err()
    );
    let post = gp
        .fit(
            ndarray::array![0.0, 1.0].view(),
            ndarray::array![1.0, 2.0].view(),
        )
        .unwrap();
    assert!(post.predict(ndarray::array![f64::NAN].view()).is_err());
}
