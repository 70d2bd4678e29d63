//! Integration tests: one binary, modules per area. Every spawned cosmoscope runs with a cleared
//! environment and temporary HOME/XDG dirs (see `harness`), against real local peers.

mod fido2_fuse;
mod harness;
mod oidc;
mod soft_authenticator;

mod config;
mod docs;
mod fido2;
mod keyring;
mod login;
