//! `on_both_backends!`: run each test body (`fn name(backend: Backend)`)
//! as two tests, `name::io_uring` and `name::portable`.

/// Run a test body on both backends, as two tests.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn io_uring() {
                    super::$name(ferrovox_runtime::Backend::IoUring);
                }
                #[test]
                fn portable() {
                    super::$name(ferrovox_runtime::Backend::Portable);
                }
            }
        )*
    };
}
