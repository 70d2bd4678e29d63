//! Integration tests: one binary, modules per area. Every spawned cosmoscope runs with a cleared
//! environment and temporary HOME/XDG dirs (see `harness`), against real local peers.

mod cosmos_peer;
mod fido2_fuse;
mod fixtures;
mod harness;
mod oidc;
mod soft_authenticator;

mod architecture;
mod attacks;
mod audit_count;
mod ci_login;
mod config;
mod cosmos;
mod cross_partition;
mod deploy;
mod docs;
mod doctor;
mod faults;
mod fido2;
mod gateway;
mod help;
mod init_tty;
mod keyring;
mod login;
mod mcp;
mod policy;
mod policy_corpus;
mod policy_props;
mod providers;
mod robustness;
mod scoped;
mod secrets_audit;
mod token;
