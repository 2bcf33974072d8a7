//! What `use_mimalloc!(without_transparent_huge_pages)` does to a bootstrap process: this test binary is built with
//! it, so its constructor ran before `main` — nothing else in the process turns transparent huge pages off.

shared::use_mimalloc!(without_transparent_huge_pages);

#[cfg(target_os = "linux")]
#[test]
fn transparent_huge_pages_are_off_before_main() {
    // SAFETY: PR_GET_THP_DISABLE takes integer arguments only and returns the flag.
    let disabled = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
    assert_eq!(disabled, 1, "the ELF constructor did not run");
    // The allocator is mimalloc's (a heap allocation through it works; the global allocator is the macro's).
    let v: Vec<u64> = (0..1_000).collect();
    assert_eq!(v.iter().sum::<u64>(), 499_500);
}
