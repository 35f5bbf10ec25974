//! The compiled per-line core of `forensics ingest`: pure functions from Arrow arrays (or a
//! batch's bytes) to Arrow arrays. The Python module (`forensics._native`, feature `python`)
//! passes arrays through the Arrow C data interface (PyCapsules), without copying them.

pub mod app_logs;
pub mod envelope;
pub mod families;
pub mod lines;
pub mod metrics;
pub mod papertrail;
pub mod router;
pub mod routes;
pub mod syslog;
mod views;

#[cfg(feature = "python")]
mod python;
