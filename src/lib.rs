//! cosmoscope: an access broker for Azure Cosmos DB.
//!
//! The binary (`src/main.rs`) is a thin shell around [`commands::run`]; everything else lives here
//! so that tests, benchmarks and fuzz targets reach the same code. Modules nothing outside the
//! crate needs are `pub(crate)`, so the compiler reports what became dead.

pub mod app;
pub(crate) mod audit;
pub mod cli;
pub(crate) mod clock;
pub mod commands;
pub mod cosmos;
pub mod env;
pub mod error;
pub mod fido2;
pub(crate) mod fsutil;
pub mod identity;
pub mod output;
pub mod policy;
pub(crate) mod secret;
#[cfg(unix)]
pub mod serve;
pub mod session;
pub mod settings;
pub mod text;

#[cfg(test)]
mod testing;
