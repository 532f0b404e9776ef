//! Cross-crate test support lives in the test files themselves.
