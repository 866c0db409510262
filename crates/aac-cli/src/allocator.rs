//! The process's memory allocator: mimalloc, keeping what it frees.
//!
//! Training frees and re-allocates tensors of megabytes every step. The
//! system allocator (glibc) hands large blocks back to the kernel and faults
//! them in again on the next step, and mimalloc by default does the same a
//! second after a free: about a sixth of a training's CPU time went to the kernel
//! zeroing pages (docs/segmentation.md, "Memory allocator"). Keeping freed
//! memory for reuse costs some peak memory and changes no result: bundles
//! and scores are the same to the bit.

/// The allocator of every allocation the `aac` binary makes.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its `mi_option_e` in `mimalloc.h`,
/// the same place in versions 2 and 3), which the Rust bindings leave out of
/// their constants.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Never give freed memory back to the kernel while the process runs, unless
/// the environment says otherwise (`MIMALLOC_PURGE_DELAY=<ms>` still wins).
/// Call first thing in `main`, before any other thread starts.
pub fn keep_freed_memory() {
    // SAFETY: `mi_option_set_default` only writes mimalloc's option table; it
    // is not thread-safe, and `main` calls it before starting any thread.
    unsafe { libmimalloc_sys::mi_option_set_default(MI_OPTION_PURGE_DELAY, -1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purge_delay() -> std::ffi::c_long {
        // SAFETY: reads mimalloc's option table; only this test writes it.
        unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) }
    }

    #[test]
    fn freed_memory_is_kept_unless_the_environment_says_otherwise() {
        match std::env::var("MIMALLOC_PURGE_DELAY") {
            Ok(ms) => {
                keep_freed_memory();
                assert_eq!(Some(purge_delay()), ms.trim().parse().ok());
            }
            Err(_) => {
                // mimalloc 3's default purge delay, 1 s: the option at this
                // index is the purge delay of the version built.
                assert_eq!(purge_delay(), 1000);
                keep_freed_memory();
                assert_eq!(purge_delay(), -1);
            }
        }
    }
}
