//! `forensics._native`: the core's functions for Python. Arrays come in as any object with
//! `__arrow_c_array__` (a pyarrow array) and go out as `Arrow`, an object with
//! `__arrow_c_array__` that `polars.Series(...)` imports without a copy. The GIL is released
//! while a function runs, so two ingest workers parse in parallel.

use std::ffi::CStr;

use arrow_array::cast::AsArray;
use arrow_array::ffi::{FFI_ArrowArray, FFI_ArrowSchema, from_ffi};
use arrow_array::{Array, ArrayRef, Int64Array, StringViewArray, make_array};
use arrow_schema::{DataType, Field};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyTuple};

const SCHEMA: &CStr = c"arrow_schema";
const ARRAY: &CStr = c"arrow_array";

/// An Arrow array held for Python, exported through the Arrow PyCapsule interface.
#[pyclass(frozen, module = "forensics._native")]
struct Arrow {
    array: ArrayRef,
}

#[pymethods]
impl Arrow {
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let _ = requested_schema; // the array is handed over in its own type
        let field = Field::new("", self.array.data_type().clone(), true);
        let schema = FFI_ArrowSchema::try_from(&field).map_err(value_error)?;
        let array = FFI_ArrowArray::new(&self.array.to_data());
        let schema = PyCapsule::new_with_value(py, schema, SCHEMA)?;
        let array = PyCapsule::new_with_value(py, array, ARRAY)?;
        PyTuple::new(py, [schema.into_any(), array.into_any()])
    }

    fn __len__(&self) -> usize {
        self.array.len()
    }
}

impl Arrow {
    fn of(array: impl Array + 'static) -> Self {
        Self {
            array: std::sync::Arc::new(array),
        }
    }
}

fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Import an array from an object with `__arrow_c_array__`.
fn import(obj: &Bound<'_, PyAny>) -> PyResult<ArrayRef> {
    let pair = obj.call_method0("__arrow_c_array__")?;
    let (schema, array): (Bound<'_, PyCapsule>, Bound<'_, PyCapsule>) = pair.extract()?;
    let schema_ptr = schema
        .pointer_checked(Some(SCHEMA))?
        .cast::<FFI_ArrowSchema>();
    let array_ptr = array.pointer_checked(Some(ARRAY))?.cast::<FFI_ArrowArray>();
    // SAFETY: the capsules are named per the Arrow PyCapsule interface, so they hold a valid
    // ArrowSchema and ArrowArray; `from_raw` moves the array out (marking the capsule's one
    // released), and the schema is only borrowed while the capsule is alive.
    let data = unsafe {
        let array = FFI_ArrowArray::from_raw(array_ptr.as_ptr());
        from_ffi(array, schema_ptr.as_ref())
    }
    .map_err(value_error)?;
    Ok(make_array(data))
}

fn string_view(obj: &Bound<'_, PyAny>) -> PyResult<StringViewArray> {
    let array = import(obj)?;
    match array.data_type() {
        DataType::Utf8View => Ok(array.as_string_view().clone()),
        other => Err(PyTypeError::new_err(format!(
            "expected a string_view array, got {other}"
        ))),
    }
}

/// The lines of `buf[:end]` (see `lines::split_lines`) as a string_view array.
#[pyfunction]
fn split_lines(py: Python<'_>, buf: &[u8], end: usize) -> PyResult<Arrow> {
    let text = buf
        .get(..end)
        .ok_or_else(|| PyValueError::new_err("end is past the buffer"))?;
    let lines = py
        .detach(|| lines::split_lines(text))
        .map_err(PyValueError::new_err)?;
    Ok(Arrow::of(lines))
}

/// The `heroku logs` envelope of each raw line (see `envelope::cli_envelope`), as a struct.
#[pyfunction]
fn cli_envelope(py: Python<'_>, raw: &Bound<'_, PyAny>) -> PyResult<Arrow> {
    let raw = string_view(raw)?;
    let out = py.detach(|| crate::envelope::cli_envelope(&raw));
    Ok(Arrow::of(out))
}

/// The canonical router columns of each message (see `router::router_canonical`), as a struct.
#[pyfunction]
fn router_canonical(py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<Arrow> {
    let message = string_view(message)?;
    let out = py.detach(|| crate::router::router_canonical(&message));
    Ok(Arrow::of(out))
}

/// The default route template of each path (see `routes::route_templates`), as a struct.
#[pyfunction]
fn route_templates(py: Python<'_>, paths: &Bound<'_, PyAny>) -> PyResult<Arrow> {
    let paths = string_view(paths)?;
    let out = py.detach(|| crate::routes::route_templates(&paths));
    Ok(Arrow::of(out))
}

/// The family of each envelope row (see `families::families`), as an int8 array.
#[pyfunction]
fn families(
    py: Python<'_>,
    origin: &Bound<'_, PyAny>,
    dyno: &Bound<'_, PyAny>,
    message: &Bound<'_, PyAny>,
) -> PyResult<Arrow> {
    let (origin, dyno, message) = (
        string_view(origin)?,
        string_view(dyno)?,
        string_view(message)?,
    );
    if origin.len() != message.len() || dyno.len() != message.len() {
        return Err(PyValueError::new_err("columns of different lengths"));
    }
    let out = py.detach(|| crate::families::families(&origin, &dyno, &message));
    Ok(Arrow::of(out))
}

/// The request id of each app message (see `app_logs::request_ids`).
#[pyfunction]
fn request_ids(py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<Arrow> {
    let message = string_view(message)?;
    let out = py.detach(|| crate::app_logs::request_ids(&message));
    Ok(Arrow::of(out))
}

/// The columns of each usual runtime-metrics message (see `metrics::runtime_metrics`).
#[pyfunction]
fn runtime_metrics(py: Python<'_>, message: &Bound<'_, PyAny>) -> PyResult<Arrow> {
    let message = string_view(message)?;
    let out = py.detach(|| crate::metrics::runtime_metrics(&message));
    Ok(Arrow::of(out))
}

/// The RFC 5424 envelope of each text after its first `skip` bytes (see
/// `syslog::rfc5424_envelope`), as a struct.
#[pyfunction]
#[pyo3(signature = (raw, skip=None))]
fn rfc5424_envelope(
    py: Python<'_>,
    raw: &Bound<'_, PyAny>,
    skip: Option<&Bound<'_, PyAny>>,
) -> PyResult<Arrow> {
    let raw = string_view(raw)?;
    let skip = skip.map(int64).transpose()?;
    if skip.as_ref().is_some_and(|k| k.len() != raw.len()) {
        return Err(PyValueError::new_err("columns of different lengths"));
    }
    let out = py.detach(|| crate::syslog::rfc5424_envelope(&raw, skip.as_ref()));
    Ok(Arrow::of(out))
}

/// The envelope of each Papertrail archive row (see `papertrail::tsv_envelope`), as a struct.
#[pyfunction]
fn papertrail_tsv(py: Python<'_>, raw: &Bound<'_, PyAny>) -> PyResult<Arrow> {
    let raw = string_view(raw)?;
    let out = py.detach(|| crate::papertrail::tsv_envelope(&raw));
    Ok(Arrow::of(out))
}

fn int64(obj: &Bound<'_, PyAny>) -> PyResult<Int64Array> {
    let array = import(obj)?;
    match array.data_type() {
        DataType::Int64 => Ok(array
            .as_primitive::<arrow_array::types::Int64Type>()
            .clone()),
        other => Err(PyTypeError::new_err(format!(
            "expected an int64 array, got {other}"
        ))),
    }
}

use crate::lines;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Arrow>()?;
    m.add_function(wrap_pyfunction!(split_lines, m)?)?;
    m.add_function(wrap_pyfunction!(cli_envelope, m)?)?;
    m.add_function(wrap_pyfunction!(router_canonical, m)?)?;
    m.add_function(wrap_pyfunction!(route_templates, m)?)?;
    m.add_function(wrap_pyfunction!(families, m)?)?;
    m.add_function(wrap_pyfunction!(request_ids, m)?)?;
    m.add_function(wrap_pyfunction!(runtime_metrics, m)?)?;
    m.add_function(wrap_pyfunction!(rfc5424_envelope, m)?)?;
    m.add_function(wrap_pyfunction!(papertrail_tsv, m)?)?;
    Ok(())
}
