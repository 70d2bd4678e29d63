//! cosmoscope: an access broker for Azure Cosmos DB.
//!
//! The binary (`src/main.rs`) is a thin shell around [`run`]; everything else lives here so that
//! tests, benchmarks and fuzz targets reach the same code.

pub mod app;
pub mod audit;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod cosmos;
pub mod env;
pub mod error;
pub mod fido2;
pub mod fsutil;
pub mod identity;
pub mod output;
pub mod policy;
pub mod secret;
pub mod session;
pub mod settings;

#[cfg(test)]
mod testing;
