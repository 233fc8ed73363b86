//! Large zeroed buffers backed by transparent huge pages where the OS offers them.
//!
//! A fresh `n × n` matrix of doubles at `n = 4000` is 128 MB; with 4 KiB pages the kernel takes
//! 32 000 page faults to hand it out, which measured here as more than half of the time to
//! assemble a kernel matrix. On Linux we ask for 2 MiB pages (`madvise(MADV_HUGEPAGE)`) on the
//! aligned interior of any buffer of 4 MiB or more before it is first written — as NumPy does
//! for its large arrays. Elsewhere, and if the advice is refused, this is a plain zeroed `Vec`.

/// Buffers at least this large (in bytes) get the huge-page advice.
const HUGE_THRESHOLD: usize = 4 << 20;

/// A zeroed `Vec<f64>` of length `len`, with huge-page advice when it is 4 MiB or more.
///
/// For buffers that are filled once and read many times (kernel matrices, the per-input states
/// of a state-space smoother); an empty `Vec` with this capacity is `zeroed(len)` then `clear()`.
pub fn zeroed(len: usize) -> Vec<f64> {
    let v = vec![0.0f64; len];
    advise_huge(&v);
    v
}

#[cfg(target_os = "linux")]
fn advise_huge(v: &[f64]) {
    const HUGE: usize = 2 << 20;
    let bytes = std::mem::size_of_val(v);
    if bytes < HUGE_THRESHOLD {
        return;
    }
    let start = v.as_ptr() as usize;
    let first = start.next_multiple_of(HUGE);
    let end = (start + bytes) / HUGE * HUGE;
    if end > first {
        // SAFETY: [first, end) lies inside the allocation of `v`, which outlives this call;
        // madvise only changes how the kernel backs the pages, never their contents (they are
        // still zero and not yet touched by calloc'd memory), and errors are ignored.
        unsafe {
            libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge(_v: &[f64]) {
    let _ = HUGE_THRESHOLD;
}
