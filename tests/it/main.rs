//! Integration tests: one binary, one module per area (STYLE.md).

mod cosmos;
mod cosmos_peer;
