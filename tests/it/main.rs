//! Integration tests: one binary, modules per area. Every spawned cosmoscope runs with a cleared
//! environment and temporary HOME/XDG dirs (see `harness`), against real local peers.

mod harness;
mod oidc;

mod ci_login;
mod config;
mod docs;
mod doctor;
mod init_tty;
mod keyring;
mod login;
mod policy;
mod policy_corpus;
mod policy_props;
mod token;
