//! Cosmos DB: credential sources, client construction, query streaming, item operations.

pub mod client;
pub mod credential;
pub mod error;
pub mod items;
pub(crate) mod pipeline;
pub mod query;
pub(crate) mod rest;

pub use client::{Cosmos, CosmosAuth};
pub use error::{AuthFailure, CosmosError, Resource};
pub use query::{ExecOptions, QueryPlan, QueryStats};
