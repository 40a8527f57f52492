//! The UDP path allocates nothing per message once warm: a counting
//! global allocator watches a steady echo on each backend. (Alone in its
//! test binary so no other test's allocations are counted.)

#[path = "support/echo.rs"]
mod echo;

use echo::{echo_client, echo_runtime, exchange};
use ferrovox_runtime::Backend;
use ferrovox_testkit::counting_alloc::{CountingAllocator, allocations_during};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

#[test]
fn udp_echo_allocates_nothing_per_message() {
    for backend in [Backend::IoUring, Backend::Portable] {
        let (rt, server) = echo_runtime(backend);
        let c = echo_client();
        exchange(&c, server, 32, 2_000);
        const MESSAGES: usize = 5_000;
        let ((), allocations) = allocations_during(|| exchange(&c, server, 32, MESSAGES));
        assert!(
            allocations == 0,
            "{backend}: {allocations} allocations for {MESSAGES} messages"
        );
        rt.shutdown().expect("shutdown");
    }
}
