//! The dense backend against independent references, on contiguous, transposed and strided views.

mod common;

use common::{inv, logabsdet, randn, rng, spd};
use ndarray::{Array2, ArrayView2, ShapeBuilder, array, s};
use pn_core::Error;
use pn_core::dense::{self, Triangle};
use pn_core::testing::{RTOL_DENSE, assert_allclose};

/// The same SPD matrix in three memory layouts: row-major, column-major (a transposed view of
/// row-major data) and a strided view into a larger buffer.
fn layouts(a: &Array2<f64>) -> (Array2<f64>, Array2<f64>, Array2<f64>) {
    let n = a.nrows();
    let mut f = Array2::zeros((n, n).f());
    f.assign(a);
    let mut big = Array2::from_elem((2 * n, 3 * n), f64::NAN);
    big.slice_mut(s![..;2, ..;3]).assign(a);
    (a.clone(), f, big)
}

#[test]
fn cholesky_reconstructs_on_every_layout() {
    let mut r = rng(1);
    let a = spd(&mut r, 12, 0.5);
    let (c, f, big) = layouts(&a);
    let views: [ArrayView2<'_, f64>; 4] = [c.view(), f.view(), big.slice(s![..;2, ..;3]), c.t()];
    for v in views {
        let ch = dense::cholesky(v).unwrap();
        let l = ch.l();
        for i in 0..12 {
            for j in i + 1..12 {
                assert_eq!(l[[i, j]], 0.0);
            }
        }
        assert_allclose(&l.dot(&l.t()), &a, RTOL_DENSE, 1e-12);
        assert!((ch.logdet() - logabsdet(&a)).abs() < 1e-10);
        assert!((dense::logdet_spd(v).unwrap() - logabsdet(&a)).abs() < 1e-10);
    }
}

#[test]
fn cholesky_owned_equals_the_borrowing_factorisation_on_every_layout() {
    let mut r = rng(11);
    let a = spd(&mut r, 70, 0.5); // larger than one 64-wide tile of the checking pass
    let reference = dense::cholesky(a.view()).unwrap();
    let (c, f, big) = layouts(&a);
    // An owned array that is neither row- nor column-major: every second row of a larger one.
    let mut tall = Array2::from_elem((140, 70), f64::NAN);
    tall.slice_mut(s![..;2, ..]).assign(&a);
    tall.slice_collapse(s![..;2, ..]);
    assert!(!tall.is_standard_layout() && !tall.t().is_standard_layout());
    for owned in [c, f, big.slice(s![..;2, ..;3]).to_owned(), tall] {
        let ch = dense::cholesky_owned(owned).unwrap();
        assert_allclose(&ch.l(), &reference.l(), 1e-12, 1e-12);
        let l = ch.l();
        assert!((0..70).all(|i| (i + 1..70).all(|j| l[[i, j]] == 0.0)));
    }
}

/// Orders above the size where the blocked factorisation takes over (1024), with ragged edges
/// for every block size, on one thread and on the global pool: `L` lower triangular with a
/// positive diagonal and `L Lᵀ = A` determine the factor uniquely.
#[test]
fn large_cholesky_reconstructs_on_one_and_several_threads() {
    let n = 1100;
    let mut r = rng(12);
    let a = spd(&mut r, n, 1.0);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let seq = one.install(|| dense::cholesky(a.view()).unwrap());
    let par = dense::cholesky(a.view()).unwrap();
    for ch in [&seq, &par] {
        let l = ch.l();
        assert!((0..n).all(|i| l[[i, i]] > 0.0 && (i + 1..n).all(|j| l[[i, j]] == 0.0)));
        assert_allclose(&l.dot(&l.t()), &a, 1e-10, 1e-10);
    }
    assert_allclose(&seq.l(), &par.l(), 1e-10, 1e-12);
    // A failing pivot beyond the first panel is reported at its index.
    let mut bad = Array2::<f64>::eye(n);
    bad[[700, 701]] = 2.0;
    bad[[701, 700]] = 2.0;
    assert_eq!(
        one.install(|| dense::cholesky(bad.view())).unwrap_err(),
        Error::NotPositiveDefinite { pivot: 701 }
    );
    assert_eq!(
        dense::cholesky_owned(bad).unwrap_err(),
        Error::NotPositiveDefinite { pivot: 701 }
    );
}

/// Large triangular solves (the blocked path: order ≥ 1024, ≥ 24 right-hand sides) against
/// plain forward substitution, for a column-major factor and for the transpose of a row-major
/// upper-triangular one, on one thread and on the global pool.
#[test]
fn large_lower_triangular_solve_equals_forward_substitution() {
    // 29 columns: one group; 61: split over the threads of a two-thread pool.
    for m in [29, 61] {
        large_lower_triangular_solve_case(1030, m);
    }
}

fn large_lower_triangular_solve_case(n: usize, m: usize) {
    let mut r = rng(13 + m as u64);
    let mut lower = randn(&mut r, n, n) / (n as f64).sqrt();
    for i in 0..n {
        lower[[i, i]] = 1.0 + lower[[i, i]].abs();
        for j in i + 1..n {
            lower[[i, j]] = 0.0;
        }
    }
    let b = randn(&mut r, n, m);
    let mut reference = b.clone();
    for c in 0..m {
        for i in 0..n {
            let s: f64 = (0..i).map(|j| lower[[i, j]] * reference[[j, c]]).sum();
            reference[[i, c]] = (reference[[i, c]] - s) / lower[[i, i]];
        }
    }
    let mut column_major = Array2::zeros((n, n).f());
    column_major.assign(&lower);
    let upper = lower.t().to_owned(); // row-major storage of Lᵀ
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let two = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    for x in [
        one.install(|| {
            dense::solve_triangular(column_major.view(), b.view(), Triangle::Lower, false)
        }),
        two.install(|| {
            dense::solve_triangular(column_major.view(), b.view(), Triangle::Lower, false)
        }),
        dense::solve_triangular(column_major.view(), b.view(), Triangle::Lower, false),
        dense::solve_triangular(upper.view(), b.view(), Triangle::Upper, true),
    ] {
        assert_allclose(&x.unwrap(), &reference, 1e-10, 1e-10);
    }
}

#[test]
fn cholesky_owned_rejects_bad_input() {
    let a = array![[4.0, 2.0, 0.0], [2.0, 2.0, 3.0], [0.0, 3.0, 1.0]];
    assert_eq!(
        dense::cholesky_owned(a).unwrap_err(),
        Error::NotPositiveDefinite { pivot: 2 }
    );
    let not_symmetric = array![[4.0, 1.0], [0.0, 3.0]];
    assert!(matches!(
        dense::cholesky_owned(not_symmetric).unwrap_err(),
        Error::NotSymmetric { .. }
    ));
    let nan = array![[4.0, f64::NAN], [f64::NAN, 3.0]];
    assert!(matches!(
        dense::cholesky_owned(nan).unwrap_err(),
        Error::NonFinite { .. }
    ));
    assert!(matches!(
        dense::cholesky_owned(Array2::zeros((2, 3))).unwrap_err(),
        Error::ShapeMismatch { .. }
    ));
}

#[test]
fn cholesky_reports_failing_pivot() {
    // Leading 2×2 minor is PD, the 3×3 one is not.
    let a = array![[4.0, 2.0, 0.0], [2.0, 2.0, 3.0], [0.0, 3.0, 1.0]];
    assert_eq!(
        dense::cholesky(a.view()).unwrap_err(),
        Error::NotPositiveDefinite { pivot: 2 }
    );
    assert_eq!(
        dense::cholesky(array![[-1.0]].view()).unwrap_err(),
        Error::NotPositiveDefinite { pivot: 0 }
    );
}

#[test]
fn cholesky_solves() {
    let mut r = rng(2);
    let a = spd(&mut r, 9, 0.3);
    let b = randn(&mut r, 9, 3);
    let ch = dense::cholesky(a.view()).unwrap();
    assert_allclose(
        &ch.solve_mat(b.view()).unwrap(),
        &inv(&a).dot(&b),
        1e-9,
        1e-12,
    );
    let x = ch.solve(b.column(1)).unwrap();
    assert_allclose(&a.dot(&x), &b.column(1), 1e-10, 1e-12);
    let w = ch.solve_l(b.view()).unwrap();
    assert_allclose(&ch.l().dot(&w), &b, 1e-10, 1e-12);
    assert_allclose(&ch.reconstruct(), &a, 1e-12, 1e-12);
}

#[test]
fn triangular_solves_all_four_cases_and_layouts() {
    let mut r = rng(3);
    let g = randn(&mut r, 7, 7);
    let mut low = Array2::<f64>::zeros((7, 7));
    for i in 0..7 {
        for j in 0..=i {
            low[[i, j]] = g[[i, j]];
        }
        low[[i, i]] = 2.0 + g[[i, i]].abs();
    }
    // Garbage in the ignored triangle must not matter.
    let mut low_dirty = low.clone();
    for i in 0..7 {
        for j in i + 1..7 {
            low_dirty[[i, j]] = 1e3;
        }
    }
    let up = low.t().to_owned();
    let b = randn(&mut r, 7, 4);
    let cases = [
        (low_dirty.view(), Triangle::Lower, false, low.clone()),
        (low_dirty.view(), Triangle::Lower, true, low.t().to_owned()),
        (up.view(), Triangle::Upper, false, up.clone()),
        (up.view(), Triangle::Upper, true, up.t().to_owned()),
        (low.t(), Triangle::Upper, false, up.clone()),
    ];
    for (t, tri, tr, effective) in cases {
        let x = dense::solve_triangular(t, b.view(), tri, tr).unwrap();
        assert_allclose(&effective.dot(&x), &b, 1e-10, 1e-12);
    }
    // Right-hand side given as a strided view.
    let mut bbig = Array2::from_elem((14, 12), f64::NAN);
    bbig.slice_mut(s![..;2, ..;3]).assign(&b);
    let x = dense::solve_triangular(
        low.view(),
        bbig.slice(s![..;2, ..;3]),
        Triangle::Lower,
        false,
    )
    .unwrap();
    assert_allclose(&low.dot(&x), &b, 1e-10, 1e-12);
}

#[test]
fn qr_thin_tall_and_wide() {
    let mut r = rng(4);
    for (m, n) in [(9, 4), (4, 9), (6, 6)] {
        let a = randn(&mut r, m, n);
        let k = m.min(n);
        for v in [a.view(), a.t().t()] {
            let (q, rr) = dense::qr(v).unwrap();
            assert_eq!(q.dim(), (m, k));
            assert_eq!(rr.dim(), (k, n));
            assert_allclose(&q.t().dot(&q), &Array2::eye(k), 1e-12, 1e-12);
            assert_allclose(&q.dot(&rr), &a, 1e-11, 1e-12);
            for i in 0..k {
                for j in 0..i.min(n) {
                    assert_eq!(rr[[i, j]], 0.0);
                }
            }
            let ronly = dense::qr_r(v).unwrap();
            assert_allclose(&ronly.t().dot(&ronly), &a.t().dot(&a), 1e-10, 1e-10);
        }
        // transposed input
        let (q, rr) = dense::qr(a.t()).unwrap();
        assert_allclose(&q.dot(&rr), &a.t(), 1e-11, 1e-12);
    }
}

#[test]
fn eigh_reconstructs_and_sorts() {
    let mut r = rng(5);
    let a = spd(&mut r, 10, -0.2); // indefinite is fine for eigh
    let (_, f, big) = layouts(&a);
    for v in [a.view(), f.view(), big.slice(s![..;2, ..;3])] {
        let (vals, vecs) = dense::eigh(v).unwrap();
        assert!(vals.windows(2).into_iter().all(|w| w[0] <= w[1]));
        assert_allclose(&vecs.t().dot(&vecs), &Array2::eye(10), 1e-11, 1e-11);
        let rec = vecs.dot(&Array2::from_diag(&vals)).dot(&vecs.t());
        assert_allclose(&rec, &a, 1e-10, 1e-11);
    }
    // Known spectrum: [[2, 1], [1, 2]] has eigenvalues 1 and 3.
    let (vals, _) = dense::eigh(array![[2.0, 1.0], [1.0, 2.0]].view()).unwrap();
    assert_allclose(&vals, &array![1.0, 3.0], 1e-14, 1e-14);
}

#[test]
fn cholesky_of_sum_equals_factor_of_the_sum() {
    let mut r = rng(6);
    let f1 = randn(&mut r, 6, 6);
    let f2 = randn(&mut r, 6, 3);
    let l = dense::cholesky_of_sum(&[f1.view(), f2.view()]).unwrap();
    let sum = f1.dot(&f1.t()) + f2.dot(&f2.t());
    let reference = dense::cholesky(sum.view()).unwrap();
    assert_allclose(&l, &reference.l(), 1e-9, 1e-10);
}

#[test]
fn matmul_matches_ndarray_dot_on_views() {
    let mut r = rng(7);
    let a = randn(&mut r, 5, 8);
    let b = randn(&mut r, 8, 3);
    assert_allclose(
        &dense::matmul(a.view(), b.view()).unwrap(),
        &a.dot(&b),
        1e-13,
        1e-13,
    );
    assert_allclose(
        &dense::matmul(b.t(), a.t()).unwrap(),
        &b.t().dot(&a.t()),
        1e-13,
        1e-13,
    );
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let rect = Array2::<f64>::zeros((2, 3));
    assert!(matches!(
        dense::cholesky(rect.view()),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        dense::eigh(rect.view()),
        Err(Error::ShapeMismatch { .. })
    ));
    let nan = array![[1.0, f64::NAN], [f64::NAN, 1.0]];
    match dense::cholesky(nan.view()).unwrap_err() {
        Error::NonFinite { what, index, value } => {
            assert_eq!((what, index), ("A", vec![0, 1]));
            assert!(value.is_nan());
        }
        e => panic!("unexpected {e:?}"),
    }
    assert!(matches!(
        dense::qr(nan.view()),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        dense::eigh(nan.view()),
        Err(Error::NonFinite { .. })
    ));
    let asym = array![[1.0, 0.5], [0.0, 1.0]];
    assert!(matches!(
        dense::cholesky(asym.view()),
        Err(Error::NotSymmetric { i: 1, j: 0, .. })
    ));
    assert!(matches!(
        dense::eigh(asym.view()),
        Err(Error::NotSymmetric { .. })
    ));
    let sing = array![[1.0, 0.0], [2.0, 0.0]];
    assert_eq!(
        dense::solve_triangular(sing.view(), Array2::eye(2).view(), Triangle::Lower, false)
            .unwrap_err(),
        Error::Singular {
            index: 1,
            value: 0.0
        }
    );
    assert!(matches!(
        dense::solve_triangular(
            Array2::eye(2).view(),
            Array2::eye(3).view(),
            Triangle::Lower,
            false
        ),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        dense::matmul(Array2::eye(2).view(), Array2::eye(3).view()),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        dense::cholesky_of_sum(&[]),
        Err(Error::Empty { .. })
    ));
    let ch = dense::cholesky(Array2::eye(3).view()).unwrap();
    assert!(matches!(
        ch.solve(ndarray::Array1::zeros(2).view()),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(matches!(
        pn_core::dense::Cholesky::from_factor(array![[1.0, 0.0], [1.0, -1.0]]),
        Err(Error::Singular { index: 1, .. })
    ));
    // Empty matrices are fine.
    let e = Array2::<f64>::zeros((0, 0));
    assert_eq!(dense::cholesky(e.view()).unwrap().logdet(), 0.0);
    assert_eq!(dense::eigh(e.view()).unwrap().0.len(), 0);
}
