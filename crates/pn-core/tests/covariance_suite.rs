//! One generic suite for every covariance structure: each is checked against a dense matrix
//! built independently in this file (products, solves, log-determinants, diagonals, and the
//! sample covariance of many seeded draws).

mod common;

use common::{inv, logabsdet, randn, randn1, rng, sample_cov, spd};
use ndarray::{Array1, Array2};
use pn_core::testing::assert_allclose;
use pn_core::{Covariance, Gaussian, LinearOperator, LinearOperatorExt};

fn kron(a: &Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
    let (m, p) = (a.nrows(), b.nrows());
    Array2::from_shape_fn((m * p, m * p), |(i, j)| {
        a[[i / p, j / p]] * b[[i % p, j % p]]
    })
}

fn lower_chol(a: &Array2<f64>) -> Array2<f64> {
    // Cholesky–Banachiewicz, independent of the library's backend.
    let n = a.nrows();
    let mut l = Array2::<f64>::zeros((n, n));
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = (0..j).map(|k| l[[i, k]] * l[[j, k]]).sum();
            if i == j {
                l[[i, i]] = (a[[i, i]] - s).sqrt();
            } else {
                l[[i, j]] = (a[[i, j]] - s) / l[[j, j]];
            }
        }
    }
    l
}

/// Every structure, with its dense matrix computed here.
fn cases() -> Vec<(&'static str, Covariance, Array2<f64>)> {
    let mut r = rng(11);
    let a6 = spd(&mut r, 6, 0.5);
    let b6 = spd(&mut r, 6, 0.3);
    let d6 = randn1(&mut r, 6).mapv(|v| 0.2 + v.abs());
    let a2 = spd(&mut r, 2, 0.5);
    let a3 = spd(&mut r, 3, 0.5);
    let d3 = randn1(&mut r, 3).mapv(|v| 0.5 + v.abs());
    let u = randn(&mut r, 6, 2);
    let w = Array1::from(vec![0.7, 1.3]);
    let small_u = randn(&mut r, 6, 2) * 0.25;
    let w_neg = Array1::from(vec![-0.5, -0.3]);
    let l6 = lower_chol(&b6);

    let mut out = vec![
        ("dense", Covariance::dense(a6.clone()).unwrap(), a6.clone()),
        (
            "cholesky",
            Covariance::cholesky_factor(l6.clone()).unwrap(),
            b6.clone(),
        ),
        (
            "diagonal",
            Covariance::diagonal(d6.clone()).unwrap(),
            Array2::from_diag(&d6),
        ),
        (
            "scaled-identity",
            Covariance::scaled_identity(6, 1.7).unwrap(),
            Array2::eye(6) * 1.7,
        ),
        (
            "kronecker(dense, dense)",
            Covariance::kronecker(
                Covariance::dense(a2.clone()).unwrap(),
                Covariance::dense(a3.clone()).unwrap(),
            ),
            kron(&a2, &a3),
        ),
        (
            "kronecker(diagonal, cholesky)",
            Covariance::kronecker(
                Covariance::diagonal(d3.clone()).unwrap(),
                Covariance::cholesky_factor(lower_chol(&a2)).unwrap(),
            ),
            kron(&Array2::from_diag(&d3), &a2),
        ),
        (
            "low-rank update of diagonal",
            Covariance::low_rank_update(
                Covariance::diagonal(d6.clone()).unwrap(),
                u.clone(),
                w.clone(),
            )
            .unwrap(),
            Array2::from_diag(&d6) + u.dot(&Array2::from_diag(&w)).dot(&u.t()),
        ),
        (
            "low-rank downdate of dense",
            Covariance::low_rank_update(
                Covariance::dense(a6.clone()).unwrap(),
                small_u.clone(),
                w_neg.clone(),
            )
            .unwrap(),
            &a6 + &small_u.dot(&Array2::from_diag(&w_neg)).dot(&small_u.t()),
        ),
    ];
    // A nested structure: (low-rank update of scaled identity) ⊗ dense.
    let u3 = randn(&mut r, 3, 1);
    let inner = Covariance::low_rank_update(
        Covariance::scaled_identity(3, 0.8).unwrap(),
        u3.clone(),
        Array1::from(vec![0.6]),
    )
    .unwrap();
    let inner_dense = Array2::eye(3) * 0.8 + u3.dot(&u3.t()) * 0.6;
    out.push((
        "kronecker(low-rank, dense)",
        Covariance::kronecker(inner, Covariance::dense(a2.clone()).unwrap()),
        kron(&inner_dense, &a2),
    ));
    out
}

#[test]
fn every_structure_matches_its_dense_matrix() {
    let mut r = rng(12);
    for (name, cov, dense) in cases() {
        let n = dense.nrows();
        assert_eq!(cov.shape(), (n, n), "{name}");
        assert_allclose(&cov.to_dense(), &dense, 1e-12, 1e-12);
        assert_allclose(&cov.diagonal(), &dense.diag(), 1e-12, 1e-12);
        let x = randn1(&mut r, n);
        let xm = randn(&mut r, n, 3);
        assert_allclose(&cov.apply(x.view()).unwrap(), &dense.dot(&x), 1e-12, 1e-12);
        assert_allclose(
            &cov.apply_transpose(x.view()).unwrap(),
            &dense.t().dot(&x),
            1e-12,
            1e-12,
        );
        assert_allclose(
            &cov.apply_mat(xm.view()).unwrap(),
            &dense.dot(&xm),
            1e-12,
            1e-12,
        );
        let dinv = inv(&dense);
        assert_allclose(&cov.solve(x.view()).unwrap(), &dinv.dot(&x), 1e-9, 1e-10);
        assert_allclose(
            &cov.solve_mat(xm.view()).unwrap(),
            &dinv.dot(&xm),
            1e-9,
            1e-10,
        );
        let ld = cov.logdet().unwrap();
        assert!(
            (ld - logabsdet(&dense)).abs() < 1e-9,
            "{name}: logdet {ld} vs {}",
            logabsdet(&dense)
        );
        let root = cov.root_dense().unwrap();
        assert_allclose(&root.dot(&root.t()), &dense, 1e-10, 1e-11);
        // scaling keeps structure and scales the matrix
        let scaled = cov.scale(2.5).unwrap();
        assert_eq!(scaled.structure(), cov.structure(), "{name}");
        assert_allclose(&scaled.to_dense(), &(&dense * 2.5), 1e-12, 1e-12);
    }
}

/// Draws from `N(μ, Σ)` through each structure's square root: the sample mean and covariance of
/// `N = 40 000` draws must be within 5 standard errors of the truth, entry by entry (standard
/// error of a covariance entry: `√((Σᵢᵢ Σⱼⱼ + Σᵢⱼ²) / N)`).
#[test]
fn samples_have_the_stated_covariance() {
    const N: usize = 40_000;
    for (k, (name, cov, dense)) in cases().into_iter().enumerate() {
        let n = dense.nrows();
        let mean = Array1::linspace(-1.0, 1.0, n);
        let g = Gaussian::new(mean.clone(), cov).unwrap();
        let mut r = rng(100 + k as u64);
        let x = g.sample(&mut r, N).unwrap();
        assert_eq!(x.dim(), (N, n));
        let (m, c) = sample_cov(&x);
        for i in 0..n {
            let se_m = (dense[[i, i]] / N as f64).sqrt();
            assert!((m[i] - mean[i]).abs() < 5.0 * se_m, "{name}: mean[{i}]");
            for j in 0..n {
                let se =
                    ((dense[[i, i]] * dense[[j, j]] + dense[[i, j]].powi(2)) / N as f64).sqrt();
                assert!(
                    (c[[i, j]] - dense[[i, j]]).abs() < 5.0 * se,
                    "{name}: cov[{i},{j}] = {} vs {} (se {se})",
                    c[[i, j]],
                    dense[[i, j]]
                );
            }
        }
        // Same seed, same draws.
        let again = g.sample(&mut rng(100 + k as u64), N).unwrap();
        assert_eq!(x, again);
    }
}

#[test]
fn kronecker_solves_and_logdet_via_factors_only() {
    // Larger Kronecker: solve must agree with the dense solve.
    let mut r = rng(13);
    let a = spd(&mut r, 7, 0.4);
    let b = spd(&mut r, 5, 0.4);
    let cov = Covariance::kronecker(
        Covariance::dense(a.clone()).unwrap(),
        Covariance::dense(b.clone()).unwrap(),
    );
    let k = kron(&a, &b);
    let rhs = randn(&mut r, 35, 2);
    assert_allclose(
        &cov.solve_mat(rhs.view()).unwrap(),
        &inv(&k).dot(&rhs),
        1e-9,
        1e-10,
    );
    assert!((cov.logdet().unwrap() - logabsdet(&k)).abs() < 1e-9);
}

#[test]
fn bad_covariances_are_rejected() {
    use ndarray::array;
    use pn_core::Error;
    assert!(matches!(
        Covariance::dense(Array2::zeros((2, 3))),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        Covariance::dense(array![[1.0, f64::INFINITY], [f64::INFINITY, 1.0]]),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        Covariance::dense(array![[1.0, 2.0], [0.0, 1.0]]),
        Err(Error::NotSymmetric { .. })
    ));
    assert_eq!(
        Covariance::dense(array![[1.0, 2.0], [2.0, 1.0]]).unwrap_err(),
        Error::NotPositiveDefinite { pivot: 1 }
    );
    // PSD but singular is a valid covariance; solving with it is an error.
    let psd = Covariance::dense(array![[1.0, 1.0], [1.0, 1.0]]).unwrap();
    assert!(matches!(
        psd.solve(array![1.0, 0.0].view()),
        Err(Error::NotPositiveDefinite { .. })
    ));
    assert!(matches!(
        psd.logdet(),
        Err(Error::NotPositiveDefinite { .. })
    ));
    assert!(matches!(
        Covariance::cholesky_factor(array![[1.0, 0.0], [0.0, -1.0]]),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(matches!(
        Covariance::cholesky_factor(Array2::zeros((3, 2))),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        Covariance::diagonal(array![1.0, -1.0]),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(matches!(
        Covariance::diagonal(array![1.0, f64::NAN]),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        Covariance::scaled_identity(3, -1.0),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(matches!(
        Covariance::scaled_identity(3, f64::NAN),
        Err(Error::InvalidParameter { .. })
    ));
    let zero = Covariance::scaled_identity(2, 0.0).unwrap();
    assert!(matches!(
        zero.solve(array![1.0, 1.0].view()),
        Err(Error::Singular { .. })
    ));
    let base = Covariance::scaled_identity(3, 1.0).unwrap();
    assert!(matches!(
        Covariance::low_rank_update(base.clone(), Array2::ones((2, 1)), array![1.0]),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        Covariance::low_rank_update(base.clone(), Array2::ones((3, 1)), array![1.0, 2.0]),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        Covariance::low_rank_update(base.clone(), Array2::ones((3, 1)), array![0.0]),
        Err(Error::InvalidParameter { .. })
    ));
    // I − 2·(1 1 1)ᵀ(1 1 1)/3 has eigenvalue −1: not a covariance.
    assert!(matches!(
        Covariance::low_rank_update(base.clone(), Array2::ones((3, 1)), array![-2.0 / 3.0]),
        Err(Error::NotPositiveDefinite { .. })
    ));
    let ok = Covariance::dense(Array2::eye(3)).unwrap();
    assert!(matches!(
        ok.solve(array![1.0].view()),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        ok.solve(array![1.0, f64::NAN, 0.0].view()),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        ok.apply(array![1.0].view()),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        ok.apply(array![1.0, 0.0, f64::NAN].view()),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        ok.apply_transpose(array![1.0].view()),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        ok.apply_mat(Array2::zeros((2, 2)).view()),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        ok.scale(-1.0),
        Err(Error::InvalidParameter { .. })
    ));
}

/// Every structured linear map against the dense matrix written out here.
#[test]
fn every_linear_map_matches_its_dense_matrix() {
    use pn_core::LinearMap;
    let mut r = rng(14);
    let a = randn(&mut r, 3, 4);
    let b = randn(&mut r, 2, 3);
    let d = randn1(&mut r, 4);
    let mut sel = Array2::<f64>::zeros((3, 5));
    for (row, &i) in [4usize, 0, 4].iter().enumerate() {
        sel[[row, i]] = 1.0;
    }
    let maps = vec![
        (LinearMap::dense(a.clone()).unwrap(), a.clone()),
        (LinearMap::identity(3), Array2::eye(3)),
        (
            LinearMap::diagonal(d.clone()).unwrap(),
            Array2::from_diag(&d),
        ),
        (LinearMap::selection(vec![4, 0, 4], 5).unwrap(), sel),
        (
            LinearMap::kronecker(
                LinearMap::dense(a.clone()).unwrap(),
                LinearMap::dense(b.clone()).unwrap(),
            ),
            {
                let (q, t) = (b.nrows(), b.ncols());
                Array2::from_shape_fn((3 * q, 4 * t), |(i, j)| {
                    a[[i / q, j / t]] * b[[i % q, j % t]]
                })
            },
        ),
    ];
    for (map, dense) in maps {
        let (m, n) = dense.dim();
        assert_eq!(map.shape(), (m, n));
        let x = randn1(&mut r, n);
        let y = randn1(&mut r, m);
        let xm = randn(&mut r, n, 2);
        assert_allclose(&map.apply(x.view()).unwrap(), &dense.dot(&x), 1e-12, 1e-12);
        assert_allclose(
            &map.apply_transpose(y.view()).unwrap(),
            &dense.t().dot(&y),
            1e-12,
            1e-12,
        );
        assert_allclose(
            &map.apply_mat(xm.view()).unwrap(),
            &dense.dot(&xm),
            1e-12,
            1e-12,
        );
        assert_allclose(&map.to_dense(), &dense, 1e-15, 0.0);
        let k = m.min(n);
        assert_allclose(
            &map.diagonal(),
            &dense.diag().slice(ndarray::s![..k]),
            1e-15,
            0.0,
        );
    }
    // A dense matrix and a view are operators too.
    let x = randn1(&mut r, 4);
    assert_allclose(&a.apply(x.view()).unwrap(), &a.dot(&x), 1e-14, 0.0);
    assert_allclose(&a.view().apply(x.view()).unwrap(), &a.dot(&x), 1e-14, 0.0);
    let boxed: Box<dyn LinearOperator> = Box::new(a.clone());
    assert_allclose(&boxed.apply(x.view()).unwrap(), &a.dot(&x), 1e-14, 0.0);
}
